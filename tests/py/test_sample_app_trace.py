"""End to end: the seed's sample app under the `opentelemetry` probe sends a
trace to the local Jaeger, holding an HTTP server span and an LLM span whose
attributes carry the question and the answer.

Needs the local cluster: run after `eval "$(tests/cluster/up)"`, which exports
TRACEVAL_OTLP_ENDPOINT (OTLP/HTTP base URL), TRACEVAL_OTLP_GRPC_ENDPOINT and
TRACEVAL_JAEGER_QUERY (Jaeger query base URL). Without them the test fails
(it does not skip): the suite always runs with the cluster up.

Set TRACEVAL_SAVE_TRACE=<file> to keep the matching Jaeger api_v3 response.
"""

import datetime
import json
import os
import socket
import sys
import uuid

import pytest
import requests

from conftest import SAMPLE_APP, VENV_BIN, start_standin, wait_until

QUERY = "capital of china"
ANSWER = "The capital of China is Beijing."
ROUTE = "/api/trace_demo"

# Extra environment the probe needs for LLM content on spans: the loongsuite
# DashScope instrumentation records gen_ai.input.messages /
# gen_ai.output.messages only when GenAI semconv opt-in and content capture
# are on.
GENAI_CONTENT_ENV = {
    "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
}

PROTOCOLS = {
    # protocol: env var holding the collector endpoint
    "http/protobuf": "TRACEVAL_OTLP_ENDPOINT",
    "grpc": "TRACEVAL_OTLP_GRPC_ENDPOINT",
}


def required_env(name):
    value = os.environ.get(name, "").strip()
    if not value:
        pytest.fail("%s is not set: start the local cluster first "
                    "(eval \"$(tests/cluster/up)\") so the trace store is reachable" % name,
                    pytrace=False)
    return value.rstrip("/")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rfc3339(t):
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---------------------------------------------------------------- OTLP JSON helpers

def any_value(v):
    """Decode an OTLP/JSON AnyValue."""
    if not isinstance(v, dict):
        return v
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in v:
            return v[key]
    if "intValue" in v:
        return int(v["intValue"])
    if "arrayValue" in v:
        return [any_value(x) for x in v["arrayValue"].get("values", [])]
    if "kvlistValue" in v:
        return {kv["key"]: any_value(kv.get("value")) for kv in v["kvlistValue"].get("values", [])}
    if "bytesValue" in v:
        return v["bytesValue"]
    return None


def attrs(obj):
    return {kv["key"]: any_value(kv.get("value")) for kv in obj.get("attributes", [])}


def span_kind(span):
    k = span.get("kind")
    names = {1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
    if isinstance(k, int):
        return names.get(k, str(k))
    return str(k or "").replace("SPAN_KIND_", "")


def spans_by_trace(doc, service):
    """{traceId: [span dict with decoded '_attrs']} for one service."""
    out = {}
    result = doc.get("result", doc)
    for rs in result.get("resourceSpans", []):
        if attrs(rs.get("resource", {})).get("service.name") != service:
            continue
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                span = dict(span, _attrs=attrs(span), _scope=ss.get("scope", {}).get("name"))
                out.setdefault(span["traceId"], []).append(span)
    return out


def is_server_span(span):
    a = span["_attrs"]
    return span_kind(span) == "SERVER" and (
        a.get("http.route") == ROUTE or a.get("http.target") == ROUTE
        or a.get("url.path") == ROUTE or span.get("name", "").endswith(ROUTE))


def is_llm_span(span):
    a = span["_attrs"]
    return a.get("gen_ai.span.kind") == "LLM" or "gen_ai.operation.name" in a


def strings_of(a):
    for v in a.values():
        if isinstance(v, str):
            yield v
        elif isinstance(v, list):
            for x in v:
                if isinstance(x, str):
                    yield x


def find_matching_trace(doc, service):
    for trace_id, spans in spans_by_trace(doc, service).items():
        servers = [s for s in spans if is_server_span(s)]
        llms = [s for s in spans if is_llm_span(s)
                and any(QUERY in v for v in strings_of(s["_attrs"]))
                and any(ANSWER in v for v in strings_of(s["_attrs"]))]
        if servers and llms:
            return trace_id, spans, servers[0], llms[0]
    return None


def is_descendant(span, ancestor, spans):
    by_id = {s["spanId"]: s for s in spans}
    seen = set()
    cur = span
    while cur.get("parentSpanId") and cur["parentSpanId"] not in seen:
        if cur["parentSpanId"] == ancestor["spanId"]:
            return True
        seen.add(cur["parentSpanId"])
        cur = by_id.get(cur["parentSpanId"])
        if cur is None:
            return False
    return False


# ---------------------------------------------------------------- the test

@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_sample_app_trace_reaches_jaeger(procs, protocol):
    jaeger = required_env("TRACEVAL_JAEGER_QUERY")
    otlp_endpoint = required_env(PROTOCOLS[protocol])
    required_env("TRACEVAL_OTLP_ENDPOINT")

    standin = start_standin(procs)
    service = "sample-app-%s-%s" % (protocol.split("/")[0], uuid.uuid4().hex[:10])
    app_port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTEL_", "DASHSCOPE_", "LLM_STANDIN_"))}
    env.update({
        "OTEL_SERVICE_NAME": service,
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "DASHSCOPE_HTTP_BASE_URL": standin.dashscope_base,
        "DASHSCOPE_API_KEY": "dummy",
        "HOST": "127.0.0.1",
        "PORT": str(app_port),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(GENAI_CONTENT_ENV)
    t_start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)
    app = procs("app", [str(VENV_BIN / "opentelemetry-instrument"), sys.executable, str(SAMPLE_APP)],
                env=env)

    url = "http://127.0.0.1:%d%s" % (app_port, ROUTE)

    def ask():
        assert app.alive(), "app exited with code %s" % app.popen.returncode
        r = requests.post(url, data=json.dumps({"query": QUERY}), timeout=10)
        return r.status_code == 200 and r.text

    answer = wait_until(ask, timeout=90, interval=0.2, what="the sample app to answer")
    assert answer == ANSWER
    assert standin.stats()["by_path_fault"]["/api/v1/services/aigc/text-generation/generation"] == {"none": 1}

    last = {}

    def poll_jaeger():
        now = datetime.datetime.now(datetime.timezone.utc)
        r = requests.get(jaeger + "/api/v3/traces", timeout=10, params={
            "query.service_name": service,
            "query.start_time_min": rfc3339(t_start),
            "query.start_time_max": rfc3339(now + datetime.timedelta(minutes=1)),
            # Jaeger's memory store answers 500 ("search depth must be greater
            # than 0") without it.
            "query.num_traces": "20",
        })
        last["status"], last["body"] = r.status_code, r.text[:2000]
        if r.status_code == 404:  # "No traces found" (yet)
            return None
        r.raise_for_status()
        doc = r.json()
        found = find_matching_trace(doc, service)
        return (doc, found) if found else None

    try:
        doc, (trace_id, spans, server, llm) = wait_until(
            poll_jaeger, timeout=60, interval=0.5, what="the trace in Jaeger")
    except AssertionError as exc:
        raise AssertionError("%s; last Jaeger answer: %s %s" % (
            exc, last.get("status"), last.get("body"))) from None

    save = os.environ.get("TRACEVAL_SAVE_TRACE")
    (procs.logdir / "jaeger-trace.json").write_text(json.dumps(doc, indent=2))
    if save:
        with open(save, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")

    # The HTTP server span of the request.
    assert server["_attrs"].get("http.route", ROUTE) == ROUTE
    assert server.get("parentSpanId", "") == ""
    # The LLM span: loongsuite DashScope instrumentation, GenAI semconv.
    a = llm["_attrs"]
    assert llm["name"] == "chat qwen-plus"
    assert span_kind(llm) == "CLIENT"
    assert a["gen_ai.span.kind"] == "LLM"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == "qwen-plus"
    assert a["gen_ai.provider.name"] == "dashscope"
    assert a["gen_ai.usage.input_tokens"] == 8 and a["gen_ai.usage.output_tokens"] == 6
    inp = json.loads(a["gen_ai.input.messages"])
    out = json.loads(a["gen_ai.output.messages"])
    assert [m["role"] for m in inp] == ["system", "user"]
    assert inp[1]["parts"][0] == {"type": "text", "content": QUERY}
    assert out[0]["role"] == "assistant"
    assert out[0]["parts"][0] == {"type": "text", "content": ANSWER}
    assert is_descendant(llm, server, spans), "LLM span is not under the server span"
    assert llm["traceId"] == server["traceId"] == trace_id
