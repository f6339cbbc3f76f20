"""Checks of the deployment files that need no Docker: ``python -m compose.validate``.

- ``docker-compose.yml`` against the Compose specification's JSON schema (vendored in
  ``compose/schema/``), after interpolating ``compose/.env.example`` the way Compose does, plus
  what the schema cannot see: every queue has a worker, start scripts exist and are executable,
  secrets only come from the environment, consoles listen on loopback, every process with metrics
  is scraped.
- ``prometheus/prometheus.yml`` and its rules with ``promtool check config``.
- The Grafana dashboards: valid JSON, the provisioned data source, PromQL that promtool parses, and
  only metric names that docs/metrics.md documents (that catalogue is checked against the code and
  real scrapes by tests/test_deploy_files.py and tests/test_observability.py).

Each check returns a list of problems (empty: fine); ``main`` prints them and exits 1 if any.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from core.topology import QUEUES

COMPOSE_DIR = Path(__file__).resolve().parent
ROOT = COMPOSE_DIR.parent
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
SCHEMA_FILE = COMPOSE_DIR / "schema" / "compose-spec.json"
PROMETHEUS_FILE = COMPOSE_DIR / "prometheus" / "prometheus.yml"
DASHBOARD_DIR = COMPOSE_DIR / "grafana" / "dashboards"
DATASOURCE_FILE = COMPOSE_DIR / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
METRICS_DOC = ROOT / "docs" / "metrics.md"

# Processes of the platform besides one worker per queue; consoles that must stay on loopback.
REQUIRED_SERVICES = {"postgres", "redis", "rabbitmq", "migrate", "web", "capture", "beat", "flower", "prometheus",
                     "grafana"}  # fmt: skip
LOOPBACK_ONLY = {"flower", "prometheus", "grafana"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|_KEYS?$|BASIC_AUTH")
START_SCRIPT_HEADER = "set -o errexit -o pipefail -o nounset"


# -- Compose ---------------------------------------------------------------------------------------
def read_env_file(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    return env


_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


class InterpolationError(ValueError):
    pass


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's variable syntax: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}."""

    def repl(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        current = env.get(name)
        # With a colon an empty value counts as unset, as in Compose and the shell.
        missing = not current if op in (":-", ":?") else current is None
        if missing and op in (":-", "-"):
            return arg
        if missing and op in (":?", "?"):
            raise InterpolationError(f"{name}: {arg or 'required'}")
        return current or ""

    return _VARIABLE.sub(repl, value)


def interpolate_tree(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [interpolate_tree(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolate_tree(item, env) for key, item in node.items()}
    return node


def load_compose(env: dict[str, str] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The compose file as written (merge keys resolved) and as Compose sees it (interpolated)."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    return raw, interpolate_tree(raw, read_env_file() if env is None else env)


def schema_problems(doc: dict[str, Any]) -> list[str]:
    schema = json.loads(SCHEMA_FILE.read_text())
    validator = jsonschema.Draft201909Validator(schema)
    return [
        f"compose schema: {'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    ]


def compose_problems(raw: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    problems = schema_problems(doc)
    services: dict[str, Any] = doc.get("services", {})
    expected = REQUIRED_SERVICES | {f"worker-{queue}" for queue in QUEUES}
    problems += [f"compose: service {name!r} is missing" for name in sorted(expected - set(services))]
    problems += _required_variables_problems(raw)
    volumes = set(doc.get("volumes") or {})
    for name, service in services.items():
        problems += _start_script_problems(name, service)
        problems += _secret_problems(name, raw["services"][name])
        for dependency in service.get("depends_on") or {}:
            if dependency not in services:
                problems.append(f"compose: {name} depends on unknown service {dependency!r}")
        for mount in service.get("volumes") or []:
            source = str(mount).split(":", 1)[0]
            if source.startswith((".", "/")):
                if not (COMPOSE_DIR / source).exists():
                    problems.append(f"compose: {name} mounts {source}, which does not exist")
            elif source not in volumes:
                problems.append(f"compose: {name} uses volume {source!r}, not declared under volumes")
        if name in LOOPBACK_ONLY:
            for port in service.get("ports") or []:
                if not str(port).startswith("127.0.0.1:"):
                    problems.append(f"compose: {name} publishes {port}: consoles listen on 127.0.0.1 only")
    return problems


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [text for item in node for text in _strings(item)]
    if isinstance(node, dict):
        return [text for item in node.values() for text in _strings(item)]
    return []


def _required_variables_problems(raw: dict[str, Any]) -> list[str]:
    """Every ${VAR:?...} of the compose file has a line in compose/.env.example."""
    required = {name for text in _strings(raw) for name in re.findall(r"\$\{([A-Za-z_]\w*):?\?", text)}
    missing = sorted(required - set(read_env_file()))
    return [f"compose: {name} is required but compose/.env.example does not list it" for name in missing]


def _start_script_problems(name: str, service: dict[str, Any]) -> list[str]:
    command = service.get("command")
    if not isinstance(command, list) or not command or not str(command[0]).startswith("compose/start/"):
        return []
    script = ROOT / str(command[0])
    if not script.is_file():
        return [f"compose: {name} runs {command[0]}, which does not exist"]
    problems = []
    if not os.access(script, os.X_OK):
        problems.append(f"compose: {command[0]} is not executable")
    text = script.read_text()
    if START_SCRIPT_HEADER not in text:
        problems.append(f"compose: {command[0]} lacks '{START_SCRIPT_HEADER}'")
    if not re.search(r"^exec ", text, re.MULTILINE):
        problems.append(f"compose: {command[0]} does not exec its process (signals would not reach it)")
    return problems


def _secret_problems(name: str, raw_service: dict[str, Any]) -> list[str]:
    environment = raw_service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) if "=" in item else (item, "") for item in environment)
    problems = []
    for variable, value in environment.items():
        text = "" if value is None else str(value)
        if SECRET_NAME.search(variable) and text and not text.startswith("${"):
            problems.append(f"compose: {name} sets {variable} to a literal: secrets come from compose/.env")
    return problems


# -- Prometheus ------------------------------------------------------------------------------------
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        raise RuntimeError("promtool is missing: scripts/system-deps.sh installs Debian's prometheus package")
    return path


def prometheus_problems(path: Path = PROMETHEUS_FILE) -> list[str]:
    result = subprocess.run(
        [promtool(), "check", "config", str(path)], capture_output=True, text=True, check=False, timeout=60
    )
    if result.returncode != 0:
        return [f"promtool check config: {(result.stdout + result.stderr).strip()}"]
    return []


def scrape_problems(doc: dict[str, Any], path: Path = PROMETHEUS_FILE) -> list[str]:
    """Every process that serves metrics (web, Flower, METRICS_PORT services) is a scrape target."""
    config = yaml.safe_load(path.read_text())
    hosts: set[str] = set()
    for job in config.get("scrape_configs", []):
        for static in job.get("static_configs", []):
            hosts |= {str(target).rsplit(":", 1)[0] for target in static.get("targets", [])}
        for dns in job.get("dns_sd_configs", []):
            hosts |= set(dns.get("names", []))
    expected = {"web", "flower"}
    for name, service in doc.get("services", {}).items():
        environment = service.get("environment") or {}
        if isinstance(environment, dict) and environment.get("METRICS_PORT"):
            expected.add(name)
    return [f"prometheus: no scrape target for service {name!r}" for name in sorted(expected - hosts)]


# -- the metric catalogue (docs/metrics.md) --------------------------------------------------------
@dataclass(frozen=True)
class Family:
    name: str  # as exposed: counters end in _total
    type: str
    labels: tuple[str, ...]
    source: str

    def samples(self) -> set[str]:
        if self.type == "histogram":
            return {f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count"}
        return {self.name}


_ROW = re.compile(
    r"^\|\s*`(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|\s*(?P<type>counter|gauge|histogram)\s*\|(?P<rest>.*)$"
)


def documented_families(path: Path = METRICS_DOC) -> dict[str, Family]:
    """Table rows of the form | `name` | type | `label`, `label` (or —) | source | meaning |."""
    families: dict[str, Family] = {}
    for line in path.read_text().splitlines():
        match = _ROW.match(line.strip())
        if not match:
            continue
        cells = [cell.strip() for cell in match.group("rest").split("|")]
        labels = tuple(re.findall(r"`([a-zA-Z_][a-zA-Z0-9_]*)`", cells[0]))
        families[match.group("name")] = Family(match.group("name"), match.group("type"), labels, cells[1])
    return families


# -- PromQL ----------------------------------------------------------------------------------------
_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
    "inf", "nan", "atan2",
}  # fmt: skip
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (not functions, keywords, label names or numbers)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery durations
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(?!\w)(\s*\()?", text):
        name, is_call = match.group(1), match.group(2)
        if not is_call and name not in _KEYWORDS:
            names.add(name)
    return names


def substitute_variables(expr: str) -> str:
    """Grafana's template variables as promtool can parse them."""
    return re.sub(r"\$\{?(?:camera|__all)\}?", ".*", expr).replace("$__rate_interval", "5m")


def promql_problems(exprs: dict[str, str]) -> list[str]:
    """Parse each expression with promtool, as a recording rule (the only offline PromQL parser)."""
    rules = {
        "groups": [
            {"name": "dashboards", "rules": [{"record": f"check:{i}", "expr": e} for i, e in enumerate(exprs.values())]}
        ]
    }
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rules.yml"
        path.write_text(yaml.safe_dump(rules))
        result = subprocess.run(
            [promtool(), "check", "rules", str(path)], capture_output=True, text=True, check=False, timeout=60
        )
    if result.returncode == 0:
        return []
    where = list(exprs)
    problems = []
    for line in (result.stdout + result.stderr).splitlines():
        found = re.search(r"group \"dashboards\", rule (\d+)", line)
        if found:
            problems.append(f"{where[int(found.group(1)) - 1]}: {line.strip()}")
    return problems or [f"promtool check rules: {(result.stdout + result.stderr).strip()}"]


# -- Grafana ---------------------------------------------------------------------------------------
def dashboards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARD_DIR.glob("*.json"))}


def dashboard_queries(boards: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Every query of every panel and template variable, keyed by where it is."""
    queries: dict[str, str] = {}
    for file, board in boards.items():
        for panel in board.get("panels", []):
            for target in panel.get("targets", []):
                queries[f"{file}: panel {panel.get('title')!r} {target.get('refId')}"] = str(target.get("expr", ""))
        for variable in board.get("templating", {}).get("list", []):
            query = variable.get("query")
            text = query.get("query", "") if isinstance(query, dict) else str(query or "")
            found = re.fullmatch(r"\s*label_values\((.*),\s*[a-zA-Z_]\w*\s*\)\s*", text)
            queries[f"{file}: variable {variable.get('name')!r}"] = found.group(1) if found else text
    return queries


def dashboard_problems(boards: dict[str, dict[str, Any]], known_samples: set[str]) -> list[str]:
    datasource = yaml.safe_load(DATASOURCE_FILE.read_text())["datasources"][0]["uid"]
    problems = []
    uids: dict[str, str] = {}
    for file, board in boards.items():
        uid = str(board.get("uid", ""))
        if not uid or uid in uids:
            problems.append(f"{file}: uid {uid!r} missing or also used by {uids.get(uid)}")
        uids[uid] = file
        if not board.get("title") or not board.get("panels"):
            problems.append(f"{file}: a dashboard needs a title and panels")
        ids = [panel.get("id") for panel in board.get("panels", [])]
        if len(ids) != len(set(ids)):
            problems.append(f"{file}: panel ids repeat")
        for panel in board.get("panels", []):
            title = panel.get("title")
            for target in [panel, *panel.get("targets", [])]:
                source = target.get("datasource") or {}
                if source.get("uid") != datasource:
                    problems.append(f"{file}: panel {title!r} uses data source {source!r}, not {datasource!r}")
            if not panel.get("targets"):
                problems.append(f"{file}: panel {title!r} has no query")
    queries = {where: substitute_variables(expr) for where, expr in dashboard_queries(boards).items()}
    problems += [f"{where}: empty query" for where, expr in queries.items() if not expr.strip()]
    problems += promql_problems({where: expr for where, expr in queries.items() if expr.strip()})
    for where, expr in queries.items():
        for name in sorted(metric_names(expr) - known_samples):
            problems.append(f"{where}: metric {name!r} is not documented in docs/metrics.md")
    return problems


def known_samples(families: dict[str, Family]) -> set[str]:
    samples = {"up"}  # Prometheus's own, per target
    for family in families.values():
        samples |= family.samples()
    return samples


# -- all of it -------------------------------------------------------------------------------------
def all_problems() -> dict[str, list[str]]:
    raw, doc = load_compose()
    families = documented_families()
    boards = dashboards()
    return {
        f"compose file ({len(doc.get('services', {}))} services)": compose_problems(raw, doc),
        "prometheus configuration and rules": prometheus_problems() + scrape_problems(doc),
        f"grafana dashboards ({len(boards)})": dashboard_problems(boards, known_samples(families)),
    }


def main() -> int:
    failed = False
    for what, problems in all_problems().items():
        print(f"[validate] {what}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
        for problem in problems:
            print(f"  - {problem}")
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
