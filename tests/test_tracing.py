"""OpenTelemetry: the span tree of one aligned request, caught by the SDK's in-memory exporter."""

import openai
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hia.serving import ProxyServer
from tests.support.loopback import LoopbackServer

KEY = "sk-upstream-PLANTED-tracing-0123456789"
PROMPT = "How do I keep a secret basil plant alive?"


@pytest.fixture(scope="module")
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # once per process: the global provider cannot be replaced
    yield exporter


def test_one_aligned_request_is_a_tree_of_request_align_stages_and_calls(spans):
    spans.clear()
    with LoopbackServer() as upstream, ProxyServer(upstream_url=upstream.base_url, model="m", api_key=KEY) as proxy:
        client = openai.OpenAI(base_url=proxy.base_url, api_key="unused", max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": PROMPT}], max_tokens=5,
            extra_body={"goal": "verbosity=1", "budget": 2, "method": "hia"}, extra_headers={"X-Request-ID": "req-42"})
    finished = spans.get_finished_spans()
    by_id = {s.context.span_id: s for s in finished}
    request = [s for s in finished if s.name == "hia.request"]
    assert len(request) == 1 and request[0].attributes["hia.request_id"] == raw.headers["X-Request-ID"] == "req-42"
    assert request[0].attributes["hia.status"] == 200
    align = [s for s in finished if s.name == "hia.align"]
    assert len(align) == 1 and align[0].parent.span_id == request[0].context.span_id
    attributes = align[0].attributes
    assert attributes["hia.method"] == "hia" and attributes["hia.budget"] == 2 and attributes["hia.goal"] == "verbosity=1"
    assert attributes["hia.policy_calls"] == 2 and isinstance(attributes["hia.chosen"], int)

    def ancestors(span) -> list[str]:
        names = []
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            names.append(span.name)
        return names

    stages = {s.name for s in finished if s.name.startswith("hia.stage.")}
    assert {"hia.stage.optimize", "hia.stage.filter", "hia.stage.policy", "hia.stage.reward"} <= stages
    assert all(ancestors(s)[-2:] == ["hia.align", "hia.request"] for s in finished if s.name.startswith("hia.stage."))
    calls = [s for s in finished if s.name == "hia.call" and s.attributes["hia.role"] == "policy"]
    assert len(calls) == 2 and all(ancestors(c)[:1] == ["hia.stage.policy"] for c in calls)
    assert all(c.attributes["hia.completion_tokens"] == 5 for c in calls)
    # ids, counts and names only: no key, no prompt text, anywhere
    text = repr([(s.name, dict(s.attributes), [dict(e.attributes or {}) for e in s.events]) for s in finished])
    assert KEY not in text and "basil" not in text


def test_a_streamed_requests_search_stays_in_the_requests_trace(spans):
    spans.clear()
    with LoopbackServer() as upstream, ProxyServer(upstream_url=upstream.base_url, model="m", api_key=KEY) as proxy:
        client = openai.OpenAI(base_url=proxy.base_url, api_key="unused", max_retries=0)
        list(client.chat.completions.create(model="m", messages=[{"role": "user", "content": PROMPT}], max_tokens=5,
                                            stream=True, extra_body={"goal": "verbosity=1", "budget": 1}))
    finished = spans.get_finished_spans()
    [request] = [s for s in finished if s.name == "hia.request"]
    [align] = [s for s in finished if s.name == "hia.align"]
    assert align.parent is not None and align.parent.span_id == request.context.span_id
    assert align.context.trace_id == request.context.trace_id
