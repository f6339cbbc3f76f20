"""Where the apps above core register their periodic gauges (``core.gauges.collect`` runs them).

Kept apart from core/gauges.py on purpose: registering (every process, in ``AppConfig.ready``) must
not define the gauges themselves, whose zero value files would then appear in every process.
"""

from __future__ import annotations

# name -> dotted path of a function that sets its gauges and returns what it set.
COLLECTORS: dict[str, str] = {}


def register(name: str, collector_path: str) -> None:
    """Add an app's periodic gauges, by the dotted path of a function imported only when collecting."""
    COLLECTORS[name] = collector_path
