"""Optional OpenTelemetry tracing, switched on by ``OTEL_ENABLED=true``, through the official
instrumentations.

What is traced when it is on: Django (a server span per request, named after its URL route),
Celery (a producer span per published task and a consumer span per run; the context travels in the
message headers as W3C ``traceparent``), redis-py and requests (client spans), and the domain steps
wrapped in :func:`span` (``camera.event`` in the capture process around a candidate event,
``dashscope.call`` around the SDK call). So one camera event reads as one trace: the capture
process, the LLM task, its Redis calls and the DashScope HTTP call, and the alerts task it sends.
There is no psycopg instrumentation: its newest release does not install beside this SDK
(requirements.txt).

A trace starts only where a person or an event starts work: a web request or a :func:`span` block.
The sampler drops any other span that has no parent (a task published outside a trace, a Redis
call of the capture loop, a beat task), and whatever happens below a dropped span is dropped with
it. That keeps the per-frame detect tasks and their Redis calls out of traces: at ten frames a
second per camera they would swamp the collector, and the metrics already cover them. Within that
rule the SDK's own sampler applies (``OTEL_TRACES_SAMPLER``, e.g. ``parentbased_traceidratio``).

Outgoing HTTP spans keep only the scheme, host and port of the URL: webhook URLs often carry a token
in their path or query, and spans leave the process.

Spans go to an OTLP/HTTP collector (``OTEL_EXPORTER_OTLP_ENDPOINT``, default
``http://localhost:4318``; the SDK reads the standard ``OTEL_*`` variables for headers and timeouts)
or, with ``OTEL_TRACES_EXPORTER=console``, to standard output. When tracing is off nothing is
instrumented and :func:`span` is a cheap no-op.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace.span import TraceState

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_provider: TracerProvider | None = None
_tracer: trace.Tracer | None = None

AttributeValue = str | bool | int | float

# Kinds of span that may start a trace: a request served (SERVER) and our own span() blocks (INTERNAL).
_TRACE_STARTS = (SpanKind.SERVER, SpanKind.INTERNAL)


class WorkStartsSampler(Sampler):
    """Drops a span without a parent unless it is a request served or a :func:`span` block; anything
    else goes to ``inner`` (the SDK's sampler, which follows the parent's decision for the rest)."""

    def __init__(self, inner: Sampler) -> None:
        self.inner = inner

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        has_parent = trace.get_current_span(parent_context).get_span_context().is_valid
        if not has_parent and kind not in _TRACE_STARTS:
            return SamplingResult(Decision.DROP)
        return self.inner.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"WorkStarts{{{self.inner.get_description()}}}"


class _Instrumentor(Protocol):
    """What this module uses of an instrumentation (``BaseInstrumentor``)."""

    def instrument(self, **kwargs: Any) -> None: ...

    def uninstrument(self, **kwargs: Any) -> None: ...


def enabled() -> bool:
    return _tracer is not None


def configure(exporter: SpanExporter, *, service_name: str = "trafficsite", batch: bool = True) -> None:
    """Trace this process into ``exporter`` (tests pass an in-memory one or a local receiver's)."""
    global _provider, _tracer
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    with _lock:
        _stop()
        # Resource.create merges OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES over this default.
        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        # The SDK chose its sampler from OTEL_TRACES_SAMPLER(_ARG); ours only adds where a trace may
        # start. Set before any tracer exists: each tracer keeps the provider's sampler of its birth.
        provider.sampler = WorkStartsSampler(provider.sampler)
        # The batch processor's thread is re-created in forked children (prefork pool, camera
        # processes) by the SDK's at-fork hook; children flush it in flush() before they exit.
        provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
        for instrumentor, options in _instrumentors():
            instrumentor.instrument(tracer_provider=provider, **options)
        _provider, _tracer = provider, provider.get_tracer("trafficsite")


def disable() -> None:
    """Flush and stop tracing in this process, and take the instrumentations out again."""
    with _lock:
        _stop()


def _stop() -> None:
    global _provider, _tracer
    if _provider is None:
        return
    for instrumentor, _ in _instrumentors():
        instrumentor.uninstrument()
    _provider.shutdown()
    _provider = _tracer = None


def _instrumentors() -> list[tuple[_Instrumentor, dict[str, Any]]]:
    # Imported here: with tracing off (the default) no process loads them. Each is a singleton.
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    return [
        (DjangoInstrumentor(), {}),
        (CeleryInstrumentor(), {}),  # type: ignore[no-untyped-call]  # its __init__ has no annotations
        (RedisInstrumentor(), {}),
        (RequestsInstrumentor(), {"request_hook": _public_url_only}),
    ]


def _public_url_only(current: trace.Span, request: Any) -> None:
    """Outgoing HTTP spans keep scheme, host and port only: a webhook's path or query may hold a token."""
    if not current.is_recording():
        return
    parts = urlsplit(str(request.url))
    public = f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}/"
    recorded = getattr(current, "attributes", None) or {}
    for name in ("http.url", "url.full"):  # the old and the stable semantic conventions
        if name in recorded:
            current.set_attribute(name, public)


def flush(timeout_ms: int = 5000) -> None:
    """Export what is buffered now: a prefork child exits with ``os._exit``, skipping atexit."""
    if _provider is not None:
        _provider.force_flush(timeout_ms)


def setup_from_settings() -> None:
    """Called once per process at start-up (``CoreConfig.ready``): on when ``OTEL_ENABLED`` says so."""
    from django.conf import settings

    if not getattr(settings, "OTEL_ENABLED", False) or enabled():
        return
    configure(_exporter_from_settings(), service_name=settings.OTEL_SERVICE_NAME)
    logger.info("tracing on: service %s, exporter %s", settings.OTEL_SERVICE_NAME, settings.OTEL_TRACES_EXPORTER)


def _exporter_from_settings() -> SpanExporter:
    from django.conf import settings

    if settings.OTEL_TRACES_EXPORTER == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    # The exporter reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _HEADERS and _TIMEOUT itself.
    return OTLPSpanExporter()


@contextmanager
def span(name: str, **attributes: AttributeValue | None) -> Iterator[trace.Span | None]:
    """A span around a block, below the current one (or starting a trace); a no-op yielding None
    when tracing is off.

    Use it around a domain step worth seeing in a trace, e.g. in the LLM step::

        with tracing.span("dashscope.call", model=model, key_id=key_id) as s:
            response = MultiModalConversation.call(...)

    Attributes must not carry secrets (no API keys, no camera URLs): spans leave the process.
    An exception escaping the block is recorded on the span and re-raised.
    """
    if _tracer is None:
        yield None
        return
    clean = {key: value for key, value in attributes.items() if value is not None}
    with _tracer.start_as_current_span(name, attributes=clean) as current:
        yield current


def current_ids() -> dict[str, str]:
    """Trace and span id of the current span, for log lines (empty outside a trace)."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid or not ctx.trace_flags.sampled:
        return {}  # a dropped span (a detect task) has ids too, of a trace nobody will find
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}
