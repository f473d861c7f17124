"""GET /metrics: Prometheus text whose hia_ counters follow a known sequence of requests."""

import urllib.error
import urllib.request

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hia.serving import ProxyServer
from hia.serving.profiles import ProfileStore
from tests.support.loopback import Faults, LoopbackServer

MESSAGES = [{"role": "user", "content": "Why is the sky blue?"}]
TOKEN = "proxy-token-abcdefghijklmnop"
UPSTREAM_KEY = "sk-upstream-PLANTED-metrics-0123456789"


def scrape(proxy: ProxyServer, token: str | None = TOKEN) -> tuple[str, dict[tuple[str, tuple], float]]:
    request = urllib.request.Request(proxy.base_url.replace("/v1", "/metrics"),
                                     headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request) as r:
        assert r.headers["Content-Type"].startswith("text/plain")
        text = r.read().decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    return text, samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_the_counters_follow_a_known_sequence_of_requests_and_hold_no_key(tmp_path):
    profiles = ProfileStore(tmp_path / "p.sqlite")
    profiles.set("ana", "verbosity=1", budget=1, method="best_of_n", daily_calls=3)
    with LoopbackServer(script=["ok", "ok", "ok", "rate_limit"]) as upstream, \
            ProxyServer(upstream_url=upstream.base_url, model="m", api_key=UPSTREAM_KEY, token=TOKEN,
                        profiles=profiles) as proxy:
        client = openai.OpenAI(base_url=proxy.base_url, api_key=TOKEN, max_retries=0)
        client.chat.completions.create(model="m", messages=MESSAGES, max_tokens=4,
                                       extra_body={"goal": "verbosity=1", "budget": 2, "method": "best_of_n"})
        client.chat.completions.create(model="m", messages=MESSAGES, max_tokens=4, user="ana")  # 1 of ana's 3
        # the upstream answers 429 once, then ok: one retry, still one call
        client.chat.completions.create(model="m", messages=MESSAGES, max_tokens=4,
                                       extra_body={"goal": "verbosity=2", "budget": 1, "method": "best_of_n"})
        client.chat.completions.create(model="m", messages=MESSAGES, max_tokens=4)  # passed through
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="m", messages=MESSAGES, extra_body={"goal": "verbosity=9"})
        text, samples = scrape(proxy)
        with pytest.raises(urllib.error.HTTPError) as info:
            scrape(proxy, token=None)
        assert info.value.code == 401  # behind the token like every route
    route = "/v1/chat/completions"
    assert value(samples, "hia_requests_total", route=route, status="200") == 4
    assert value(samples, "hia_requests_total", route=route, status="400") == 1
    assert value(samples, "hia_alignments_total", method="best_of_n", outcome="ok") == 3
    assert value(samples, "hia_calls_total", role="policy") == 4  # 2 + 1 + 1 aligned; passthrough is not a search
    assert value(samples, "hia_retries_total", role="policy") == 1
    assert value(samples, "hia_budget_given_calls_total") == 4 and value(samples, "hia_budget_spent_calls_total") == 4
    assert value(samples, "hia_user_daily_calls_spent", user="ana") == 1
    assert value(samples, "hia_user_daily_calls_limit", user="ana") == 3
    assert value(samples, "hia_request_seconds_count", route=route) == 5
    assert value(samples, "hia_stage_seconds_count", stage="policy") == 3
    assert UPSTREAM_KEY not in text and TOKEN not in text


def test_metrics_can_be_public_and_upstream_errors_are_counted_by_kind():
    with LoopbackServer(faults=Faults(server_error=1.0)) as failing, \
            ProxyServer(upstream_url=failing.base_url, model="m", token=TOKEN, metrics_public=True,
                        upstream_timeout_s=2) as proxy:
        client = openai.OpenAI(base_url=proxy.base_url, api_key=TOKEN, max_retries=0)
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(model="m", messages=MESSAGES, max_tokens=4)  # passed through: a 500
        _, samples = scrape(proxy, token=None)
    assert value(samples, "hia_upstream_errors_total", kind="InternalServerError") == 1
