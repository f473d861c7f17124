"""The proxy's trace is bounded: a huge request adds a record of bounded size, the file rotates,
and candidate texts can be left out."""

import json

import openai

from hia.serving import ProxyServer
from hia.serving.trace import TraceOptions
from tests.support.loopback import LoopbackServer


def ask(proxy: ProxyServer, content: str) -> None:
    client = openai.OpenAI(base_url=proxy.base_url, api_key="unused", max_retries=0)
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": content}], max_tokens=4,
                                   extra_body={"goal": "verbosity=1", "budget": 2, "method": "hia"})


def test_a_3_mb_request_adds_a_bounded_record_and_the_file_rotates(tmp_path):
    trace = tmp_path / "trace.jsonl"
    options = TraceOptions(max_bytes=200_000, backups=2, record_max_bytes=100_000)
    with LoopbackServer() as upstream, ProxyServer(upstream_url=upstream.base_url, model="m", trace=trace,
                                                   trace_options=options) as proxy:
        ask(proxy, "Why is the sky blue? " + "very " * 600_000)  # 3 MB, repeated in every rewrite
        records = [json.loads(line) for line in trace.read_text().splitlines()]
        assert len(records) == 1 and records[0]["truncated"] is True
        assert trace.stat().st_size <= options.record_max_bytes + 1  # it grew 35 times the request before
        assert records[0]["result"]["method"] == "hia"
        for i in range(300):  # until the file has rotated twice, and a few more
            ask(proxy, f"Question {i}: " + "why " * 3_000)
            if (tmp_path / "trace.jsonl.2").exists() and i % 10 == 9:
                break
        assert (tmp_path / "trace.jsonl.2").exists()
    sizes = [p.stat().st_size for p in sorted(tmp_path.glob("trace.jsonl*")) if not p.name.endswith(".lock")]
    assert len(sizes) == 3 and all(size <= options.max_bytes for size in sizes)  # the file and two backups


def test_without_texts_a_record_keeps_scores_and_the_chosen_answer_only(tmp_path):
    trace = tmp_path / "trace.jsonl"
    with LoopbackServer() as upstream, ProxyServer(upstream_url=upstream.base_url, model="m", trace=trace,
                                                   trace_options=TraceOptions(texts=False)) as proxy:
        ask(proxy, "How do I keep a secret basil plant alive?")
    record = json.loads(trace.read_text())
    assert "basil" not in trace.read_text()
    result = record["result"]
    chosen = [c for c in result["candidates"] if c["id"] == result["chosen_id"]]
    assert chosen[0]["evaluation"]["response"] and chosen[0]["evaluation"]["rewards"]
    assert all("prompt" not in c for c in result["candidates"])
