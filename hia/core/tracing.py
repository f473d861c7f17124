"""OpenTelemetry spans, when its API is installed (the `otel` extra); nothing at all otherwise.

An aligned request is one `hia.request` span (the proxy's), holding one `hia.align` span, which
holds a span per stage (`hia.stage.optimize`, `.filter`, `.policy`, `.reward`), and each policy,
optimizer or judge call is a `hia.call` span inside its stage. Attributes are ids, counts, names
and the goal: never a key, never the text of a prompt or an answer.

Spans go nowhere until a tracer provider is set: `configure_from_env()` sets one from the
standard OTEL_* variables (OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME,
...), as `hia serve`, `hia align` and `hia batch` call it; a program may set its own instead.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator

try:
    from opentelemetry import trace as _trace
except ImportError:  # the otel extra is not installed: spans cost nothing
    _trace = None  # type: ignore[assignment]

Value = str | int | float | bool


def _recording() -> bool:
    """Whether a tracer provider is set; without one every span would be a no-op, at a tenth of a
    millisecond each (about 2% of a busy batch's CPU), so none is made."""
    return _trace is not None and not isinstance(_trace.get_tracer_provider(),
                                                 (_trace.ProxyTracerProvider, _trace.NoOpTracerProvider))


@contextmanager
def span(name: str, **attributes: Value | None) -> Iterator[Any]:
    """A span named `name` around the block, a child of the current one (None without OpenTelemetry,
    or with no tracer provider set)."""
    if not _recording():
        yield None
        return
    given = {f"hia.{k}": v for k, v in attributes.items() if v is not None}
    with _trace.get_tracer("hia").start_as_current_span(name, attributes=given) as current:
        yield current


def capture() -> Any:
    """The current trace context, to carry into work that runs after its span ends (a stream)."""
    if not _recording():
        return None
    from opentelemetry import context

    return context.get_current()


@contextmanager
def within(captured: Any) -> Iterator[None]:
    """Spans made in the block are children of `captured`'s span (nothing when it is None)."""
    if captured is None:
        yield
        return
    from opentelemetry import context

    token = context.attach(captured)
    try:
        yield
    finally:
        context.detach(token)


def annotate(current: Any, **attributes: Value | None) -> None:
    """Add attributes to a span from `span` (nothing when it is None)."""
    if current is not None:
        current.set_attributes({f"hia.{k}": v for k, v in attributes.items() if v is not None})


def configure_from_env() -> bool:
    """Export spans as the OTEL_* variables say, when any is set and the SDK is installed; True if set up."""
    if _trace is None or not any(k.startswith("OTEL_") for k in os.environ) or os.environ.get("OTEL_SDK_DISABLED") == "true":
        return False
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        return False
    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "otlp")
    if exporter_name == "none":
        return False
    if exporter_name == "console":
        exporter: Any = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "hia")}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    _trace.set_tracer_provider(provider)
    return True
