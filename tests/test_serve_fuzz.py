"""A fuzzer generated from the server's own OpenAPI schema (Schemathesis, hypothesis underneath):
valid and invalid requests to every route of a real server, a bounded number each. None may get a
5xx or take the server down; every 4xx is in OpenAI's error schema; ``/health`` answers within a
second throughout."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode

from conftest import Server
from test_serve_hostile import HealthWatch

KEY = "fuzz-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def fuzzed():
    # A small context and token budget: a generated request that is valid generates a few tokens.
    running = Server("--parallel", "2", "--threads", "2", "--ctx-size", "256", "--api-key", KEY,
                     "--max-request-tokens", "48", "--timeout", "10")
    with HealthWatch(running) as watch:
        yield running
    assert watch.answers > 0 and watch.slowest < 1.0, watch.slowest
    assert running.stop() == 0, running.logs()
    assert "Traceback" not in running.logs()


@pytest.fixture(scope="module")
def api_schema(fuzzed):
    return schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json", headers=AUTH)


OPERATIONS = [("POST", "/v1/completions"), ("POST", "/v1/chat/completions"), ("GET", "/v1/models"),
              ("GET", "/v1/strategies"), ("GET", "/health"), ("GET", "/metrics"),
              ("POST", "/completion"), ("POST", "/tokenize"), ("POST", "/detokenize"), ("POST", "/apply-template"),
              ("GET", "/props"), ("GET", "/slots"), ("POST", "/api/v1/generate"), ("POST", "/api/extra/generate/stream"),
              ("GET", "/api/v1/model"), ("GET", "/api/v1/info/version"), ("GET", "/api/extra/version"),
              ("POST", "/api/extra/tokencount"), ("POST", "/api/extra/abort"),
              ("GET", "/api/extra/true_max_context_length"), ("GET", "/api/v1/config/max_context_length")]
WITH_BODY = {"/v1/completions", "/v1/chat/completions", "/completion", "/tokenize", "/detokenize", "/apply-template",
             "/api/v1/generate", "/api/extra/generate/stream", "/api/extra/tokencount"}


def test_the_schema_has_every_route(api_schema):
    listed = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert listed == set(OPERATIONS)


# Invalid requests of the routes that take a body; a GET has no parameters to get wrong.
CASES = [(method, path, GenerationMode.POSITIVE) for method, path in OPERATIONS] + [
    (method, path, GenerationMode.NEGATIVE) for method, path in OPERATIONS if path in WITH_BODY]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(data=st.data())
def test_no_request_from_the_schema_breaks_the_server(api_schema, fuzzed, method, path, mode, data):
    case = data.draw(api_schema[path][method].as_strategy(generation_mode=mode))
    response = case.call(base_url=fuzzed.url, headers=AUTH, timeout=60)
    assert response.status_code < 500, (case.as_curl_command(), response.text)
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["message"], response.text
    assert fuzzed.process.poll() is None
