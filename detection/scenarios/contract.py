"""The truth contract of the scenario format (docs/scenario-format.md), stated here on purpose.

The generator computes true events from scripted trajectories with these thresholds and this
visibility rule. They are copied from the format's table, not imported from the rule engine's
``RULE_DEFAULTS``: if someone tunes the engine, the truth must not move with it.
"""

from __future__ import annotations

from typing import Final

# The "default threshold" column of the format's table, per event type.
THRESHOLDS: Final[dict[str, dict[str, float]]] = {
    "speeding": {"over_limit_factor": 1.10, "min_duration_s": 0.5},
    "wrong_way": {"min_distance_m": 5.0},
    "tailgating": {"headway_s": 0.8, "min_duration_s": 1.0, "min_speed_kmh": 15.0},
    "near_miss": {"ttc_s": 1.5, "distance_m": 1.5, "min_speed_kmh": 10.0},
    "hard_braking": {"deceleration_mps2": 6.0, "min_speed_kmh": 30.0},
    "stalled_vehicle": {"max_speed_kmh": 2.0, "min_duration_s": 10.0},
    "crosswalk_stop": {"max_speed_kmh": 2.0, "min_duration_s": 3.0},
}
EVENT_TYPES: Final = tuple(THRESHOLDS)

# A road user is in view while its ground point is inside the frame and its box is this high.
MIN_BOX_PX: Final = 12.0

VEHICLES: Final = frozenset({"car", "truck", "bus", "motorcycle"})
# Near misses are between a car, truck or bus and one of these.
VULNERABLE: Final = frozenset({"person", "bicycle", "motorcycle"})
NEAR_MISS_VEHICLES: Final = frozenset({"car", "truck", "bus"})
