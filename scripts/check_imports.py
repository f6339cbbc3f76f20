"""Fail when imports between our top-level packages go against the data flow, or form a circle.

    python scripts/check_imports.py [-v]

Every import counts, including those inside function bodies (they are how circles used to hide).
The layers, lowest first; a package may import only from the packages its entry lists:

    core        the base: Redis, Celery task plumbing, topology, health, logging, metrics helpers
    cameras     the Camera model, its configuration, its live state, the event payload
    detection   capture, detection, tracking, rules, scenarios   (the first pipeline stages)
    analysis    LLM verification                                 (the next stage, by task name)
    alerts      alerts, dashboards, API, notifications           (the last stage; links analyses)
    trafficsite the project: settings, Celery app, URLs, ASGI, launcher

``-v`` prints every edge between packages with the modules that make it.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "cameras": {"core"},
    "detection": {"core", "cameras"},
    "analysis": {"core", "cameras"},
    "alerts": {"core", "cameras", "analysis"},
    "trafficsite": {"core", "cameras", "detection", "analysis", "alerts"},
    # Tools at the top, importing whatever they check or measure.
    "compose": {"core"},
    "bench": {"core", "cameras", "detection", "alerts", "trafficsite"},  # chaos.py counts alerts
}
# Top-level modules that belong to a package's layer.
MODULE_LAYER = {"celeryconfig": "trafficsite", "manage": "trafficsite"}
SKIP_PARTS = {"migrations", ".venv", "var", "tests", "node_modules"}


def owner(path: Path) -> str | None:
    rel = path.relative_to(ROOT)
    if len(rel.parts) == 1:
        return MODULE_LAYER.get(rel.stem)
    return rel.parts[0] if rel.parts[0] in ALLOWED else None


def imported_packages(tree: ast.AST) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, node.lineno))
    return found


def edges() -> dict[tuple[str, str], list[str]]:
    graph: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(ROOT.rglob("*.py")):
        if SKIP_PARTS & set(path.relative_to(ROOT).parts):
            continue
        source = owner(path)
        if source is None:
            continue
        for module, line in imported_packages(ast.parse(path.read_text(), str(path))):
            target = MODULE_LAYER.get(module.split(".")[0], module.split(".")[0])
            if target in ALLOWED and target != source:
                graph[(source, target)].append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return graph


def circles(graph: dict[tuple[str, str], list[str]]) -> list[list[str]]:
    succ: dict[str, set[str]] = defaultdict(set)
    for a, b in graph:
        succ[a].add(b)
    found: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        for nxt in sorted(succ[node]):
            if nxt == path[0]:
                found.append([*path, nxt])
            elif nxt not in path and nxt > path[0]:  # each circle once, from its smallest name
                walk(nxt, [*path, nxt])

    for start in sorted(succ):
        walk(start, [start])
    return found


def main(argv: list[str]) -> int:
    graph = edges()
    problems = []
    for (a, b), where in sorted(graph.items()):
        if b not in ALLOWED[a]:
            problems.append(f"{a} -> {b} goes against the layers:\n    " + "\n    ".join(where))
    problems += [f"import circle: {' -> '.join(circle)}" for circle in circles(graph)]
    if "-v" in argv:
        for (a, b), where in sorted(graph.items()):
            print(f"{a} -> {b} ({len(where)} imports)")
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"imports follow the layers: {len(graph)} edges between packages, no circle")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
