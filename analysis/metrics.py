"""Metric families of LLM verification. Labels are bounded: statuses, reasons, risk types, key ids.

A key's label is ``key_id`` (a short hash, see ``core.redact.key_id``), never the key. Gauges that
describe the shared pool (Redis state, the same seen from every worker) use ``mostrecent`` so the
merged view shows the latest reading rather than a sum over processes.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0)

REQUESTS = Counter(
    "trafficsite_llm_requests",
    "Calls to DashScope by outcome: ok, malformed (reply not a valid verdict), blocked, throttled, key_refused, "
    "server_error, timeout, connection_error, bad_request, bad_response",
    ["status"],
)
LATENCY = Histogram("trafficsite_llm_latency_seconds", "Duration of one DashScope call", buckets=LATENCY_BUCKETS)
TOKENS = Counter("trafficsite_llm_tokens", "Tokens billed by DashScope, by kind: text_in, image_in, out", ["kind"])
COST = Counter(
    "trafficsite_llm_cost_estimated",
    "Estimated cost of the calls, in the currency of LLM_PRICE_INPUT_PER_1K / LLM_PRICE_OUTPUT_PER_1K",
)
CONCURRENT = Gauge("trafficsite_llm_concurrent_calls", "DashScope calls in flight", multiprocess_mode="livesum")

KEY_POOL_SIZE = Gauge(
    "trafficsite_llm_key_pool_size", "API keys in the pool by state: active, cooling, disabled", ["state"],
    multiprocess_mode="mostrecent",
)  # fmt: skip
KEY_STATUS = Gauge(
    "trafficsite_llm_key_status", "1 for the state each key is in (active, cooling, disabled)", ["key_id", "state"],
    multiprocess_mode="mostrecent",
)  # fmt: skip
KEY_SUCCESS_RATIO = Gauge(
    "trafficsite_llm_key_success_ratio", "Share of a key's calls that the service accepted (over its lifetime)",
    ["key_id"], multiprocess_mode="mostrecent",
)  # fmt: skip
KEY_CALLS = Counter("trafficsite_llm_key_calls", "Calls per key and result: success, failure", ["key_id", "result"])

TASKS_PROCESSED = Counter(
    "trafficsite_llm_tasks_processed",
    "Analyze task runs by outcome: confirmed, rejected, unverified (rules only), duplicate (earlier verdict), "
    "already (analysed before), dropped (camera gone), retried, failed",
    ["outcome"],
)
FALLBACKS = Counter("trafficsite_llm_fallbacks", "Events that went out without an LLM verdict, by reason", ["reason"])
RISK_TYPES = Counter("trafficsite_llm_risk_types", "Risk types named in dangerous verdicts", ["risk_type"])
BUDGET_WAIT = Histogram(
    "trafficsite_llm_budget_wait_seconds", "Time spent waiting for the global requests/tokens budget",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0),
)  # fmt: skip
