"""Unit tests of tests/cluster/llm_standin.py (the deterministic LLM stand-in)."""

import json
import shutil
import time

import pytest
import requests

from conftest import start_standin

AUTH = {"Authorization": "Bearer test-token"}
DS_PATH = "/api/v1/services/aigc/text-generation/generation"
OAI_PATHS = ("/v1/chat/completions", "/compatible-mode/v1/chat/completions")


def ds_body(question, result_format="message"):
    return {"model": "qwen-plus",
            "input": {"messages": [{"role": "system", "content": "You are a helpful assistant."},
                                   {"role": "user", "content": question}]},
            "parameters": {"result_format": result_format}}


def oai_body(*contents, **extra):
    msgs = [{"role": "system", "content": contents[0]}] if len(contents) > 1 else []
    msgs.append({"role": "user", "content": contents[-1]})
    body = {"model": "qwen-max", "messages": msgs}
    body.update(extra)
    return body


def oai(standin, body, path=OAI_PATHS[0], headers=AUTH, timeout=10):
    return requests.post(standin.url + path, json=body, headers=headers, timeout=timeout)


def oai_content(standin, body, **kw):
    r = oai(standin, body, **kw)
    assert r.status_code == 200, r.text
    return r.json()["choices"][0]["message"]["content"]


# ---------------------------------------------------------------- basics

def test_healthz_and_stats(standin):
    r = requests.get(standin.url + "/healthz", timeout=5)
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    s = standin.stats()
    assert s["by_path"]["/healthz"] == 1
    assert s["total"] == 1


def test_runs_with_plain_python3(procs):
    python3 = shutil.which("python3")
    if python3 is None:
        pytest.fail("python3 not on PATH")
    s = start_standin(procs, python=python3)
    assert requests.get(s.url + "/healthz", timeout=5).status_code == 200


def test_env_configures_port_and_faults(procs, tmp_path):
    import os
    import sys
    from conftest import STANDIN
    env = dict(os.environ, LLM_STANDIN_FAULT_RATE_500="1")
    p = procs("standin-env", [sys.executable, str(STANDIN)], env=env, capture_stdout=True)
    line = p.read_line(timeout=20).strip()
    assert line.startswith("listening on 127.0.0.1:"), line
    url = "http://" + line.split(" ")[-1]
    r = requests.post(url + OAI_PATHS[0], json=oai_body("hi"), headers=AUTH, timeout=5)
    assert r.status_code == 500


# ---------------------------------------------------------------- DashScope shape

def test_dashscope_sdk_generation(standin, monkeypatch):
    dashscope = pytest.importorskip("dashscope")
    monkeypatch.setattr(dashscope, "base_http_api_url", standin.dashscope_base)
    resp = dashscope.Generation.call(
        api_key="dummy", model="qwen-plus",
        messages=[{"role": "system", "content": "You are a helpful assistant."},
                  {"role": "user", "content": "capital of china"}],
        result_format="message")
    assert resp.status_code == 200, resp
    assert resp.output.choices[0].message.content == "The capital of China is Beijing."
    assert resp.output.choices[0].finish_reason == "stop"
    assert resp.usage.input_tokens == 8 and resp.usage.output_tokens == 6
    assert resp.usage.total_tokens == 14
    assert resp.request_id
    assert standin.stats()["by_path_fault"][DS_PATH] == {"none": 1}


def test_dashscope_sdk_sees_429(standin, monkeypatch):
    dashscope = pytest.importorskip("dashscope")
    monkeypatch.setattr(dashscope, "base_http_api_url", standin.dashscope_base)
    resp = dashscope.Generation.call(
        api_key="dummy", model="qwen-plus",
        messages=[{"role": "user", "content": "hello"}], result_format="message",
        headers={"X-Standin-Fault": "429"})
    assert resp.status_code == 429
    assert resp.code == "Throttling.RateQuota"


def test_dashscope_raw_shape_and_text_format(standin):
    r = requests.post(standin.url + DS_PATH, json=ds_body("what is 2+2?"), headers=AUTH, timeout=5)
    assert r.status_code == 200
    j = r.json()
    assert set(j) >= {"request_id", "status_code", "output", "usage"}
    assert j["status_code"] == 200
    assert j["output"]["choices"] == [{"finish_reason": "stop", "message": {
        "role": "assistant", "content": "Stand-in answer to: what is 2+2?"}}]
    assert set(j["usage"]) == {"input_tokens", "output_tokens", "total_tokens"}
    r = requests.post(standin.url + DS_PATH, json=ds_body("capital of China?", "text"),
                      headers=AUTH, timeout=5)
    assert r.json()["output"] == {"text": "The capital of China is Beijing.", "finish_reason": "stop"}
    r = requests.post(standin.url + DS_PATH, headers=AUTH, timeout=5,
                      json={"model": "qwen-plus", "input": {"prompt": "capital of china"}})
    assert r.json()["output"]["text"] == "The capital of China is Beijing."


# ---------------------------------------------------------------- OpenAI shape

@pytest.mark.parametrize("path", OAI_PATHS)
def test_openai_shape(standin, path):
    r = oai(standin, oai_body("You are helpful.", "capital of china"), path=path)
    assert r.status_code == 200
    j = r.json()
    assert j["object"] == "chat.completion"
    assert j["id"].startswith("chatcmpl-")
    assert isinstance(j["created"], int)
    assert j["model"] == "qwen-max"
    assert j["choices"] == [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": "The capital of China is Beijing."}}]
    assert j["usage"] == {"prompt_tokens": 6, "completion_tokens": 6, "total_tokens": 12}


def test_openai_content_parts_and_stream_refused(standin):
    body = {"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "capital of "}, {"type": "text", "text": "china"}]}]}
    assert oai_content(standin, body) == "The capital of China is Beijing."
    r = oai(standin, dict(oai_body("hi"), stream=True))
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"


# ---------------------------------------------------------------- auth

@pytest.mark.parametrize("path", (DS_PATH,) + OAI_PATHS)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer "}, {"Authorization": "Basic x"}])
def test_401_without_bearer_token(standin, path, headers):
    body = ds_body("hi") if path == DS_PATH else oai_body("hi")
    r = requests.post(standin.url + path, json=body, headers=headers, timeout=5)
    assert r.status_code == 401
    if path == DS_PATH:
        assert r.json()["code"] == "InvalidApiKey"
    else:
        assert r.json()["error"]["code"] == "invalid_api_key"


def test_token_never_logged(standin):
    secret = "sk-do-not-log-me-123"
    oai(standin, oai_body("hi"), headers={"Authorization": "Bearer " + secret})
    requests.post(standin.url + DS_PATH, json=ds_body("hi"),
                  headers={"Authorization": "Bearer " + secret}, timeout=5)
    standin.stats()  # the log line of the POST is written before this answers
    log = standin.proc.err_path.read_text()
    assert "POST " + OAI_PATHS[0] + " 200" in log
    assert secret not in log and "Bearer" not in log


# ---------------------------------------------------------------- faults (header)

@pytest.mark.parametrize("path", (DS_PATH, OAI_PATHS[0]))
def test_fault_header_429(standin, path):
    body = ds_body("hi") if path == DS_PATH else oai_body("hi")
    r = requests.post(standin.url + path, json=body, timeout=5,
                      headers=dict(AUTH, **{"X-Standin-Fault": "429"}))
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "1"
    if path == DS_PATH:
        assert r.json()["code"] == "Throttling.RateQuota"
    else:
        assert r.json()["error"]["type"] == "rate_limit_error"
    s = standin.stats()
    assert s["by_fault"] == {"429": 1}
    assert s["by_path_fault"][path] == {"429": 1}
    assert s["by_status"]["429"] == 1


def test_fault_header_500(standin):
    r = oai(standin, oai_body("hi"), headers=dict(AUTH, **{"X-Standin-Fault": "500"}))
    assert r.status_code == 500
    assert r.json()["error"]["type"] == "server_error"


def test_fault_header_malformed(standin):
    r = oai(standin, oai_body("hi"), headers=dict(AUTH, **{"X-Standin-Fault": "malformed"}))
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    with pytest.raises(ValueError):
        json.loads(r.text)
    assert r.text.startswith('{"id": "chatcmpl-')


def test_fault_header_truncated(standin):
    r = requests.post(standin.url + OAI_PATHS[0], json=oai_body("hi"), timeout=10, stream=True,
                      headers=dict(AUTH, **{"X-Standin-Fault": "truncated"}))
    assert r.status_code == 200
    announced = int(r.headers["Content-Length"])
    received = b""
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for chunk in r.iter_content(64):
            received += chunk
    assert 0 < len(received) < announced
    assert standin.stats()["by_fault"] == {"truncated": 1}


def test_fault_header_nonjson(standin):
    r = oai(standin, oai_body("hi"), headers=dict(AUTH, **{"X-Standin-Fault": "nonjson"}))
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html"
    assert r.text.startswith("<html>")
    with pytest.raises(ValueError):
        json.loads(r.text)


def test_fault_header_timeout(procs):
    s = start_standin(procs, "--hang-s", "3")
    t0 = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        oai(s, oai_body("hi"), headers=dict(AUTH, **{"X-Standin-Fault": "timeout"}), timeout=0.5)
    assert time.monotonic() - t0 < 2
    # Bounded: a patient client gets a 504 once the hang is over.
    r = oai(s, oai_body("hi"), headers=dict(AUTH, **{"X-Standin-Fault": "timeout"}), timeout=10)
    assert r.status_code == 504
    # The server keeps serving others while one request hangs.
    assert oai_content(s, oai_body("capital of china")) == "The capital of China is Beijing."


def test_fault_header_none_overrides_rates(procs):
    s = start_standin(procs, "--fault-rate-500", "1")
    assert oai(s, oai_body("hi")).status_code == 500
    assert oai(s, oai_body("hi"), headers=dict(AUTH, **{"X-Standin-Fault": "none"})).status_code == 200


# ---------------------------------------------------------------- faults (rates, seed)

def _fault_sequence(procs, name, n=40):
    s = start_standin(procs, "--seed", "7", "--fault-rate-429", "0.2", "--fault-rate-500", "0.2",
                      "--fault-rate-malformed", "0.2", "--retry-after", "3", name=name)
    seq = []
    for _ in range(n):
        r = oai(s, oai_body("hi"))
        if r.status_code == 200:
            try:
                r.json()
                seq.append("ok")
            except ValueError:
                seq.append("malformed")
        else:
            if r.status_code == 429:
                assert r.headers["Retry-After"] == "3"
            seq.append(str(r.status_code))
    return seq, s.stats()


def test_seeded_fault_rates_are_deterministic(procs):
    a, stats = _fault_sequence(procs, "standin-a")
    b, _ = _fault_sequence(procs, "standin-b")
    assert a == b
    assert set(a) == {"ok", "429", "500", "malformed"}
    assert stats["by_fault"] == {k: a.count(k) for k in ("429", "500", "malformed") if a.count(k)}


def test_fault_rate_timeout(procs):
    s = start_standin(procs, "--fault-rate-timeout", "1", "--hang-s", "2")
    with pytest.raises(requests.exceptions.ReadTimeout):
        oai(s, oai_body("hi"), timeout=0.3)


def test_latency(procs):
    s = start_standin(procs, "--latency-ms", "300")
    t0 = time.monotonic()
    assert oai(s, oai_body("hi")).status_code == 200
    assert time.monotonic() - t0 >= 0.3


def test_bad_rates_rejected(procs):
    import subprocess
    import sys
    from conftest import STANDIN
    r = subprocess.run([sys.executable, str(STANDIN), "--fault-rate-429", "0.7",
                        "--fault-rate-500", "0.7"], capture_output=True, timeout=20)
    assert r.returncode != 0 and b"more than 1" in r.stderr


# ---------------------------------------------------------------- determinism + judge

def test_answers_are_deterministic(procs, standin):
    other = start_standin(procs, name="standin-2")
    body = oai_body("You are helpful.", "tell me about rivers")
    a = oai(standin, body).json()
    b = oai(other, body).json()
    assert a["choices"] == b["choices"] and a["usage"] == b["usage"]
    assert a["choices"][0]["message"]["content"] == "Stand-in answer to: tell me about rivers"


JUDGE_SYS = "You are a strict grader. Reply with JSON {\"score\": 0..1, \"explanation\": str}."


def test_judge_marker_score(standin):
    prompt = "Question: capital of china EXPECT_SCORE=0.25\nAnswer: The capital of China is Beijing."
    v = json.loads(oai_content(standin, oai_body(JUDGE_SYS, prompt)))
    assert v == {"score": 0.25, "explanation": "stand-in verdict (marker)"}
    v = json.loads(oai_content(standin, oai_body(JUDGE_SYS, "q EXPECT_SCORE=7")))
    assert v["score"] == 1.0
    assert standin.stats()["judge"] == 2


def test_judge_hash_score_is_deterministic(standin):
    body = oai_body(JUDGE_SYS, "Question: why is the sky blue?\nAnswer: Rayleigh scattering.")
    v1 = json.loads(oai_content(standin, body))
    v2 = json.loads(oai_content(standin, body))
    assert v1 == v2
    assert 0.0 <= v1["score"] <= 1.0 and v1["explanation"] == "stand-in verdict (hash)"
    other = json.loads(oai_content(standin, oai_body(JUDGE_SYS, "Question: x\nAnswer: y")))
    assert other["explanation"] == "stand-in verdict (hash)"


def test_judge_by_response_format(standin):
    body = oai_body("grade this EXPECT_SCORE=0.5", response_format={"type": "json_object"})
    assert json.loads(oai_content(standin, body))["score"] == 0.5


def test_judge_invalid_verdict(standin):
    assert oai_content(standin, oai_body(JUDGE_SYS, "q EXPECT_SCORE=invalid")) == \
        "I cannot provide a score for this."


def test_markers_do_not_make_app_calls_judge(standin):
    r = requests.post(standin.url + DS_PATH, json=ds_body("capital of china EXPECT_SCORE=0.25 JUDGE_FAULT=429"),
                      headers=AUTH, timeout=5)
    assert r.status_code == 200
    assert r.json()["output"]["choices"][0]["message"]["content"] == "The capital of China is Beijing."
    assert standin.stats()["judge"] == 0


def test_judge_fault_marker_with_budget(standin):
    body = oai_body(JUDGE_SYS, "Question: q JUDGE_FAULT=429*2 EXPECT_SCORE=0.75")
    assert oai(standin, body).status_code == 429
    assert oai(standin, body).status_code == 429
    assert json.loads(oai_content(standin, body))["score"] == 0.75
    # a different prompt has its own budget
    other = oai_body(JUDGE_SYS, "Question: other JUDGE_FAULT=500*1")
    assert oai(standin, other).status_code == 500
    assert oai(standin, other).status_code == 200
    # no budget: always
    always = oai_body(JUDGE_SYS, "Question: z JUDGE_FAULT=500")
    assert [oai(standin, always).status_code for _ in range(3)] == [500, 500, 500]


def test_unknown_path_404(standin):
    assert requests.post(standin.url + "/v2/whatever", json={}, headers=AUTH, timeout=5).status_code == 404
    assert requests.get(standin.url + "/nope", timeout=5).status_code == 404


@pytest.mark.parametrize("rails", [("correct", "incorrect"), ("faithful", "hallucinated"),
                                   ("relevant", "irrelevant")])
def test_judge_label_follows_the_prompts_rails(standin, rails):
    positive, negative = rails
    system = 'Reply with JSON {"label", "score", "explanation"}; label is "%s" or "%s".' % rails
    high = json.loads(oai_content(standin, oai_body(system, "q EXPECT_SCORE=0.9")))
    low = json.loads(oai_content(standin, oai_body(system, "q EXPECT_SCORE=0.1")))
    assert (high["label"], high["score"]) == (positive, 0.9)
    assert (low["label"], low["score"]) == (negative, 0.1)


def test_judge_metric_marker_beats_score_marker(standin):
    system = 'Answer "relevant" or "irrelevant" as JSON with a score.'
    user = "Query: EXPECT_SCORE=1 what is tracing\nDocument: EXPECT_RELEVANT=0 bananas"
    v = json.loads(oai_content(standin, oai_body(system, user)))
    assert (v["label"], v["score"]) == ("irrelevant", 0.0)
    # A marker for another metric is ignored.
    system = 'Answer "correct" or "incorrect" as JSON with a score.'
    v = json.loads(oai_content(standin, oai_body(system, "EXPECT_RELEVANT=0 EXPECT_CORRECT=1 q")))
    assert (v["label"], v["score"]) == ("correct", 1.0)


def test_judge_follows_listed_rails_and_their_scores(standin):
    # traceval's system message for a task's own metric with three rails.
    system = ('Reply with one JSON object and nothing else: {"label": "concise", "ok" or "verbose", '
              '"score": 1 for "concise", 0.5 for "ok" or 0 for "verbose", "explanation": "..."}. '
              'The label must be exactly one of "concise", "ok" and "verbose".')
    labels = {score: json.loads(oai_content(standin, oai_body(system, "a EXPECT_SCORE=%s" % score)))["label"]
              for score in ("0.9", "0.6", "0.4", "0.1")}
    assert labels == {"0.9": "concise", "0.6": "ok", "0.4": "ok", "0.1": "verbose"}
    # EXPECT_<LABEL> names the highest-scored rail.
    v = json.loads(oai_content(standin, oai_body(system, "EXPECT_CONCISE=0 EXPECT_SCORE=1 a")))
    assert (v["label"], v["score"]) == ("verbose", 0.0)
