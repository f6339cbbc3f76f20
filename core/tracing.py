"""Optional OpenTelemetry tracing, switched on by ``OTEL_ENABLED=true``.

A trace starts where a person or an event starts work: a web request (:class:`TracingMiddleware`)
or a block of code wrapped in :func:`span` (the camera process around a candidate event). Publishing
a Celery task inside a trace adds a producer span and carries the context in the message headers
(W3C ``traceparent``); the worker continues the trace in a consumer span around the task, so the
task's own spans (``span("dashscope.call", ...)`` in the LLM step) and the tasks it sends in turn
hang below it. Tasks published outside any trace (every frame of every camera on the detect queue)
are not traced: at ten frames a second per camera they would swamp the collector, and the metrics
already cover them.

Spans go to an OTLP/HTTP collector (``OTEL_EXPORTER_OTLP_ENDPOINT``, default
``http://localhost:4318``; the SDK reads the standard ``OTEL_*`` variables for headers, timeouts
and sampling) or, with ``OTEL_TRACES_EXPORTER=console``, to standard output. When tracing is off
every helper here is a cheap no-op.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_provider: TracerProvider | None = None
_tracer: trace.Tracer | None = None
# Consumer spans of the tasks running in this process, by task id (a prefork child runs one).
_task_spans: dict[str, tuple[trace.Span, object]] = {}

AttributeValue = str | bool | int | float


def enabled() -> bool:
    return _tracer is not None


def configure(exporter: SpanExporter, *, service_name: str = "trafficsite", batch: bool = True) -> None:
    """Send this process's spans to ``exporter`` (tests pass an in-memory one)."""
    global _provider, _tracer
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    with _lock:
        if _provider is not None:
            _provider.shutdown()
        # Resource.create merges OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES over this default.
        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        # The batch processor's thread is re-created in forked children (prefork pool, camera
        # processes) by the SDK's at-fork hook; children flush it in flush() before they exit.
        provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
        _provider, _tracer = provider, provider.get_tracer("trafficsite")


def disable() -> None:
    """Flush and stop tracing in this process."""
    global _provider, _tracer
    with _lock:
        if _provider is not None:
            _provider.shutdown()
        _provider = _tracer = None
        _task_spans.clear()


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
    """A span around a block, below the current one; a no-op yielding None when tracing is off.

    Use it around work worth seeing in a trace, e.g. in the LLM step::

        with tracing.span("dashscope.call", model=model, key_id=key_id) as s:
            response = MultiModalConversation.call(...)
            if s is not None:
                s.set_attribute("dashscope.request_id", response.request_id)

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
    if not ctx.is_valid:
        return {}
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}


# -- Celery: context through the message headers -----------------------------------------------
def on_before_publish(
    sender: str | None = None, headers: dict[str, Any] | None = None, routing_key: str | None = None, **_: Any
) -> None:
    if _tracer is None or headers is None or not trace.get_current_span().get_span_context().is_valid:
        return
    attributes = {
        "messaging.system": "celery",
        "celery.task_name": str(sender),
        "celery.task_id": str(headers.get("id")),
    }
    if routing_key:
        attributes["messaging.destination.name"] = routing_key
    with _tracer.start_as_current_span(f"send {sender}", kind=SpanKind.PRODUCER, attributes=attributes):
        # Custom message headers become attributes of ``task.request`` in the worker.
        propagate.inject(headers)


def on_task_prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    if _tracer is None or task_id is None or task is None:
        return
    parent = propagate.extract(task.request)  # Celery's request Context has .get(key, default)
    if not trace.get_current_span(parent).get_span_context().is_valid:
        return  # published outside a trace: not traced (see the module's docstring)
    delivery = task.request.delivery_info or {}
    current = _tracer.start_span(
        f"run {task.name}",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "celery",
            "messaging.destination.name": str(delivery.get("routing_key") or ""),
            "celery.task_name": str(task.name),
            "celery.task_id": task_id,
            "celery.retries": int(task.request.retries or 0),
        },
    )
    token = otel_context.attach(trace.set_span_in_context(current, parent))
    _task_spans[task_id] = (current, token)


def on_task_failure(task_id: str | None = None, exception: BaseException | None = None, **_: Any) -> None:
    entry = _task_spans.get(task_id or "")
    if entry is not None and exception is not None:
        entry[0].record_exception(exception)
        entry[0].set_status(Status(StatusCode.ERROR, type(exception).__name__))


def on_task_retry(request: Any = None, reason: object = None, **_: Any) -> None:
    entry = _task_spans.get(str(getattr(request, "id", "")))
    if entry is not None:
        entry[0].add_event("retry", {"reason": type(reason).__name__ if isinstance(reason, BaseException) else "retry"})


def on_task_postrun(task_id: str | None = None, state: str | None = None, **_: Any) -> None:
    entry = _task_spans.pop(task_id or "", None)
    if entry is None:
        return
    current, token = entry
    current.set_attribute("celery.state", str(state))
    current.end()
    otel_context.detach(token)  # type: ignore[arg-type]


# -- Django: a server span per request ---------------------------------------------------------
class TracingMiddleware:
    """Continues the caller's trace (``traceparent``) or starts one, named after the URL route."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _tracer is None:
            return self.get_response(request)
        parent = propagate.extract(request.headers)
        # Only method and route: paths and query strings may carry ids or tokens of no use here.
        with _tracer.start_as_current_span(
            request.method or "HTTP", context=parent, kind=SpanKind.SERVER,
            attributes={"http.request.method": request.method or ""},
        ) as current:  # fmt: skip
            response = self.get_response(request)
            match = request.resolver_match
            if match is not None and match.route:
                current.update_name(f"{request.method} {match.route}")
                current.set_attribute("http.route", match.route)
            current.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                current.set_status(Status(StatusCode.ERROR))
            return response
