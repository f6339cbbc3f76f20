"""The deployment files, checked without Docker: compose against the Compose schema, promtool on the
Prometheus configuration, the dashboards' JSON and PromQL, and the metric catalogue against the code."""

from __future__ import annotations

import copy
import importlib
import json
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.test import Client
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from compose import validate
from core.topology import QUEUES
from tests.support.scrape import METRICS_AUTH, family_names

ROOT = Path(__file__).resolve().parent.parent
METRIC_MODULES = [
    "core.task_metrics",
    "core.gauges",
    "cameras.gauges",
    "detection.metrics",
    "analysis.metrics",
    "alerts.metrics",
    "alerts.gauges",
]


@pytest.fixture(scope="module")
def compose() -> tuple[dict, dict]:
    return validate.load_compose()


# -- compose ---------------------------------------------------------------------------------------
def test_the_compose_file_follows_the_compose_specification(compose) -> None:
    raw, doc = compose
    assert validate.compose_problems(raw, doc) == []


def test_the_schema_check_catches_a_misspelt_key_and_a_wrong_type(compose) -> None:
    _, doc = compose
    broken = copy.deepcopy(doc)
    broken["services"]["web"]["restart_policy"] = "always"
    broken["services"]["redis"]["healthcheck"]["retries"] = "many"
    problems = validate.schema_problems(broken)
    assert any(p.startswith("compose schema: services/web:") and "restart_policy" in p for p in problems), problems
    assert any(p.startswith("compose schema: services/redis/healthcheck/retries:") for p in problems), problems


def test_every_queue_has_its_worker_and_the_stack_is_complete(compose) -> None:
    _, doc = compose
    services = doc["services"]
    for queue in ("detect", "llm", "alerts", "maintenance"):
        assert services[f"worker-{queue}"]["command"][:2] == ["compose/start/worker", queue]
        assert services[f"worker-{queue}"]["environment"]["METRICS_PORT"] == "9100"
    assert services["capture"]["command"] == ["compose/start/capture"]
    assert services["beat"]["command"] == ["compose/start/beat"]
    assert services["flower"]["command"] == ["compose/start/flower"]
    assert services["web"]["command"] == ["compose/start/web"]
    assert services["prometheus"]["image"].startswith("prom/prometheus:v")
    assert services["grafana"]["image"].startswith("grafana/grafana:")
    # Everything that uses the database waits for the one migration run.
    for name in ("web", "capture", "beat", "flower", "worker-detect"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    # Web, beat and Flower must not write multiprocess files they never serve.
    for name in ("web", "beat", "flower", "migrate"):
        assert "PROMETHEUS_MULTIPROC_DIR" not in services[name]["environment"]


def test_the_celery_queues_are_on_a_durable_rabbitmq_with_a_health_check(compose) -> None:
    """Compose runs on several containers (and hosts): RabbitMQ, not Redis, is its broker (core/broker.py)."""
    raw, doc = compose
    rabbitmq = doc["services"]["rabbitmq"]
    assert rabbitmq["image"].startswith("rabbitmq:3.")
    assert "rabbitmq-data:/var/lib/rabbitmq" in rabbitmq["volumes"] and "rabbitmq-data" in doc["volumes"]
    assert rabbitmq["hostname"] == "rabbitmq"  # the node name, and so the data folder, survives re-creation
    assert rabbitmq["healthcheck"]["test"][:2] == ["CMD", "rabbitmq-diagnostics"]
    assert raw["services"]["rabbitmq"]["environment"]["RABBITMQ_DEFAULT_PASS"].startswith("${RABBITMQ_PASSWORD:?")
    user, vhost = rabbitmq["environment"]["RABBITMQ_DEFAULT_USER"], rabbitmq["environment"]["RABBITMQ_DEFAULT_VHOST"]
    for name in ("web", "capture", "beat", "flower", *(f"worker-{queue}" for queue in QUEUES)):
        service = doc["services"][name]
        url = urlsplit(service["environment"]["CELERY_BROKER_URL"])
        assert (url.scheme, url.hostname, url.username, url.path) == ("amqp", "rabbitmq", user, f"/{vhost}"), name
        assert url.password == doc["services"]["rabbitmq"]["environment"]["RABBITMQ_DEFAULT_PASS"]
        assert service["depends_on"]["rabbitmq"] == {"condition": "service_healthy"}, name
        assert service["environment"]["REDIS_URL"].startswith("redis://"), name  # results, frames, leases


def test_secrets_come_from_the_environment_and_are_required(compose) -> None:
    raw, doc = compose
    assert doc["services"]["flower"]["environment"]["FLOWER_BASIC_AUTH"] == "ops:change-me-flower-password"
    assert raw["services"]["flower"]["environment"]["FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH:?")
    with pytest.raises(validate.InterpolationError, match="DJANGO_SECRET_KEY"):
        validate.load_compose(env={})
    leaky = {"environment": {"GF_SECURITY_ADMIN_PASSWORD": "admin", "LOG_LEVEL": "INFO"}}
    assert validate._secret_problems("grafana", leaky) == [
        "compose: grafana sets GF_SECURITY_ADMIN_PASSWORD to a literal: secrets come from compose/.env"
    ]


def test_consoles_are_published_on_loopback_only(compose) -> None:
    raw, doc = compose
    exposed = copy.deepcopy(doc)
    exposed["services"]["flower"]["ports"] = ["5555:5555"]
    assert "compose: flower publishes 5555:5555: consoles listen on 127.0.0.1 only" in validate.compose_problems(
        raw, exposed
    )


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A:-x}", {"A": ""}, "x"),
        ("${A-x}", {"A": ""}, ""),
        ("${A-x}", {}, "x"),
        ("$$HOME and $A", {"A": "1"}, "$HOME and 1"),
        ("${A:?need A}", {"A": "ok"}, "ok"),
    ],
)
def test_interpolation_follows_compose(text: str, env: dict[str, str], expected: str) -> None:
    assert validate.interpolate(text, env) == expected


def test_start_scripts_are_strict_and_exec_their_process() -> None:
    for script in sorted((ROOT / "compose" / "start").iterdir()):
        text = script.read_text()
        assert text.startswith("#!/usr/bin/env bash\n"), script
        assert validate.START_SCRIPT_HEADER in text, script
        assert "\nexec " in text, script
        result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr


# -- Prometheus ------------------------------------------------------------------------------------
def test_promtool_accepts_the_prometheus_configuration_and_its_rules() -> None:
    assert validate.prometheus_problems() == []


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    (tmp_path / "prometheus.yml").write_text("rule_files: [rules.yml]\n")
    (tmp_path / "rules.yml").write_text("groups:\n- name: x\n  rules:\n  - alert: X\n    expr: rate(up[5m]\n")
    [problem] = validate.prometheus_problems(tmp_path / "prometheus.yml")
    assert problem.startswith("promtool check config:") and "parse" in problem


def test_every_process_that_serves_metrics_is_scraped(compose, tmp_path: Path) -> None:
    _, doc = compose
    assert validate.scrape_problems(doc) == []
    config = validate.PROMETHEUS_FILE.read_text().replace('"worker-llm", ', "")
    (tmp_path / "prometheus.yml").write_text(config)
    assert validate.scrape_problems(doc, tmp_path / "prometheus.yml") == [
        "prometheus: no scrape target for service 'worker-llm'"
    ]


# -- Grafana ---------------------------------------------------------------------------------------
def test_dashboards_are_valid_and_query_only_documented_metrics() -> None:
    families = validate.documented_families()
    assert validate.dashboard_problems(validate.dashboards(), validate.known_samples(families)) == []


def test_the_dashboards_show_what_operators_asked_for() -> None:
    queries = " ".join(validate.dashboard_queries(validate.dashboards()).values())
    wanted = [
        "trafficsite_frames_read_total",  # per-camera fps
        "trafficsite_detect_round_trip_seconds_count",  # fps detected
        "trafficsite_frames_dropped_total",
        "trafficsite_camera_reconnects_total",
        "trafficsite_detect_latency_seconds_bucket",
        "trafficsite_queue_depth",
        "trafficsite_llm_latency_seconds_bucket",
        "trafficsite_llm_tokens_total",
        'trafficsite_llm_requests_total{status!="ok"}',  # errors
        "trafficsite_llm_key_pool_size",
        "sum by (event_type) (increase(trafficsite_alerts_recorded_total",
        "sum by (severity) (increase(trafficsite_alerts_recorded_total",
    ]
    assert [item for item in wanted if item not in queries] == []


def test_a_typo_or_a_syntax_error_in_a_panel_is_caught() -> None:
    boards = validate.dashboards()
    broken = copy.deepcopy(boards)
    targets = broken["llm.json"]["panels"][0]["targets"]
    targets[0]["expr"] = "sum(rate(trafficsite_llm_request_total[5m]))"
    targets.append(
        {"refId": "B", "expr": "sum(rate(trafficsite_llm_tokens_total[5m])", "datasource": {"uid": "prometheus"}}
    )
    problems = validate.dashboard_problems(broken, validate.known_samples(validate.documented_families()))
    assert any("metric 'trafficsite_llm_request_total' is not documented" in p for p in problems), problems
    assert any("panel 'Calls by status' B" in p and "parse" in p for p in problems), problems


def test_the_provisioning_points_grafana_at_the_committed_dashboards(compose) -> None:
    import yaml

    _, doc = compose
    provider = yaml.safe_load((ROOT / "compose/grafana/provisioning/dashboards/trafficsite.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert f"./grafana/dashboards:{path}:ro" in doc["services"]["grafana"]["volumes"]
    assert all(json.loads(p.read_text())["uid"] for p in validate.DASHBOARD_DIR.glob("*.json"))


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (camera, le) (rate(a_bucket{camera=~"$camera"}[5m]))', {"a_bucket"}),
        ("time() - max(b_timestamp_seconds) > 120 or absent(b_timestamp_seconds)", {"b_timestamp_seconds"}),
        ("sum(rate(c_total[5m])) / clamp_min(sum(rate(d_total[5m])), 1e-9)", {"c_total", "d_total"}),
        ("max(e) == 0 and on () sum(max by (state) (f)) > 0", {"e", "f"}),
    ],
)
def test_metric_names_are_read_out_of_promql(expr: str, names: set[str]) -> None:
    assert validate.metric_names(expr) == names


# -- the metric catalogue --------------------------------------------------------------------------
def registered_families() -> dict[str, tuple[str, tuple[str, ...]]]:
    for module in METRIC_MODULES:
        importlib.import_module(module)
    found = {}
    for collector in list(REGISTRY._collector_to_names):
        if isinstance(collector, MetricWrapperBase) and collector._name.startswith("trafficsite_"):
            name = collector._name + ("_total" if collector._type == "counter" else "")
            found[name] = (str(collector._type), tuple(collector._labelnames))
    return found


def test_docs_list_every_metric_family_of_the_code_with_its_type_and_labels() -> None:
    documented = {
        name: (family.type, family.labels)
        for name, family in validate.documented_families().items()
        if name.startswith("trafficsite_")
    }
    assert documented == registered_families()


@pytest.mark.django_db
def test_the_documented_web_families_are_in_a_real_scrape(client: Client) -> None:
    from core.models import FailedJob

    FailedJob.objects.count()  # a query, so the database families have a sample
    client.get("/healthz")
    scraped = family_names(client.get("/metrics", **METRICS_AUTH).content.decode())
    web = [f for f in validate.documented_families().values() if f.source == "web"]
    assert web
    for family in web:
        base = family.name.removesuffix("_total")
        assert base in scraped, family.name


def test_no_metric_label_is_unbounded() -> None:
    # Labels whose values are fixed lists or ids of the installation; never a URL, key or frame id.
    allowed = {"camera", "reason", "queue", "cls", "outcome", "task", "status", "kind", "state", "key_id", "result",
               "risk_type", "severity", "event_type", "verification", "verified"}  # fmt: skip
    used = {label for _, labels in registered_families().values() for label in labels}
    assert used <= allowed, used - allowed


def test_validate_deploy_script_passes_its_static_checks() -> None:
    result = subprocess.run(
        ["scripts/validate-deploy.sh", "--static"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[validate] compose file (14 services): ok" in result.stdout
    assert "[validate] prometheus configuration and rules: ok" in result.stdout
    assert "[validate] grafana dashboards (4): ok" in result.stdout
