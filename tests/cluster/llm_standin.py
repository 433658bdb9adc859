#!/usr/bin/env python3
"""Deterministic local stand-in for the LLM APIs traceval talks to.

Standard library only (runs with any python3 >= 3.8). Loopback only by
default. Never logs request headers (so never an API key).

Endpoints
---------
POST /api/v1/services/aigc/text-generation/generation
    DashScope generation (what ``dashscope.Generation.call`` sends when
    DASHSCOPE_HTTP_BASE_URL=http://HOST:PORT/api/v1). Body
    ``{"model", "input": {"messages": [...]} | {"prompt": "..."},
    "parameters": {"result_format": "message"|"text"}}``. Reply (result_format
    "message")::

        {"request_id": "...", "status_code": 200,
         "output": {"choices": [{"finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "..."}}]},
         "usage": {"input_tokens": N, "output_tokens": N, "total_tokens": N}}

    (result_format "text": ``"output": {"text": "...", "finish_reason": "stop"}``).
POST /v1/chat/completions and /compatible-mode/v1/chat/completions
    OpenAI chat completions (non-streaming): ``{"id", "object":
    "chat.completion", "created", "model", "choices": [{"index": 0,
    "message": {"role": "assistant", "content": "..."}, "finish_reason":
    "stop"}], "usage": {"prompt_tokens", "completion_tokens",
    "total_tokens"}}``. ``"stream": true`` is refused with 400.
GET /healthz   -> 200 ``{"status": "ok"}``
GET /stats     -> 200 JSON counters (see "Stats" below)

Both APIs require an ``Authorization: Bearer <token>`` header (any non-empty
token); without it they answer 401 in the real API's error shape.

Answers (deterministic; same messages -> same content and usage)
------------------------------------------------------------------
The "question" is the content of the last ``user`` message (or the DashScope
``prompt``). If the request is a *judge* request (below) the reply is a verdict;
otherwise:

* question mentions "capital" and "china" (any case) ->
  ``The capital of China is Beijing.``
* anything else -> ``Stand-in answer to: <question>``

Usage counts are whitespace-separated words: input = all message contents,
output = the reply.

Judge convention (for evaluators)
---------------------------------
A request is a judge request when, after removing the markers below, any
message content contains the word ``score`` (case-insensitive), or when the
OpenAI body has ``"response_format": {"type": "json_object"}`` (or
``json_schema``). The reply content is then exactly one JSON object::

    {"label": <rail>, "score": <float in [0, 1], 2 decimals>, "explanation": "stand-in verdict (<source>)"}

``label`` is present when the prompt names its labels (rails): the labels a
traceval judge system message lists (``The label must be exactly one of "a",
"b" and "c"``, with their scores ``1 for "a", 0.5 for "b" or 0 for "c"``),
else a pair found by its negative word: ``hallucinated`` ->
faithful/hallucinated, ``irrelevant`` -> relevant/irrelevant, ``incorrect`` ->
correct/incorrect (checked in that order). With listed scores it is the rail
whose score is nearest the chosen score (ties: the higher one); otherwise the
positive label when score >= 0.5, else the negative one. ``EXPECT_<LABEL>``
below names the highest-scored rail.

The score is chosen as follows, over the concatenated message contents:

* ``EXPECT_<LABEL>=<number>`` naming the prompt's positive label
  (``EXPECT_CORRECT``, ``EXPECT_FAITHFUL``, ``EXPECT_RELEVANT``): that number,
  first such marker wins; it lets one trace steer each metric separately
  (a document saying ``EXPECT_RELEVANT=0`` is judged irrelevant whatever the
  query says). source = ``marker``.
* else ``EXPECT_SCORE=<number>`` present: that number clamped to [0, 1] (first
  marker wins). source = ``marker``.
* ``EXPECT_SCORE=invalid`` present: the content is the non-JSON text
  ``I cannot provide a score for this.`` (to test verdict-parse failures).
* otherwise: ``int(sha256(joined contents)[:8], 16) % 101 / 100``.
  source = ``hash``.

Because an evaluator's judge prompt quotes the traced query and answer, a test
can put ``EXPECT_SCORE=0.25`` into the query sent to the sample app and expect
that score back from the judge. (The marker does not make the app's own call a
judge request: markers are removed before looking for ``score``.)

``JUDGE_FAULT=<kind>[*N]`` in a judge request's messages injects fault
``<kind>`` (429, 500, timeout, malformed, truncated, nonjson) into the first N judge requests with
the same messages (N omitted = every one), then answers normally: e.g.
``JUDGE_FAULT=429*2`` exercises a retry path end to end. It is ignored in
non-judge requests, so it passes through the sample app untouched.

Faults
------
Applied to the two APIs only (after the auth check), in this precedence:

1. header ``X-Standin-Fault: 429|500|timeout|malformed|truncated|nonjson|none``;
2. a ``JUDGE_FAULT`` marker (above);
3. random draw: one ``random.Random(seed)`` draw per authorised, well-formed
   API request (drawn even when 1. or 2. decide), compared against the
   cumulative rates 429, 500, timeout, malformed, truncated, nonjson (in that
   order; the last two were added after the others, so older seeds repeat). With a
   fixed seed and the same request order the fault sequence repeats.

Kinds: ``429`` -> status 429 with ``Retry-After: <--retry-after>`` and the API's
rate-limit error body; ``500`` -> status 500 with an internal-error body;
``timeout`` -> the response is held for ``--hang-s`` seconds (default 30,
bounded; released early on shutdown) and then answered 504; ``malformed`` ->
status 200, JSON content type, body cut to half of a valid reply (not JSON);
``truncated`` -> status 200 with the full reply's Content-Length, but only
half of the body is sent before the connection is closed (a reply cut in
transit); ``nonjson`` -> status 200, ``text/html`` content type, an HTML error
page (what a misconfigured proxy or gateway answers).

Stats
-----
``GET /stats`` -> ``{"total": N, "by_path": {path: N}, "by_status": {"200": N},
"by_fault": {"429": N, ...}, "by_path_fault": {path: {fault: N}},
"unauthorized": N, "judge": N}``. Faults count under their kind; normal
answers count under ``"none"`` in ``by_path_fault``.

Configuration (flag, env var, default)
--------------------------------------
--host LLM_STANDIN_HOST 127.0.0.1; --port LLM_STANDIN_PORT 0 (0 = pick a free
port); --latency-ms LLM_STANDIN_LATENCY_MS 0; --seed LLM_STANDIN_SEED 0;
--fault-rate-429 / -500 / -timeout / -malformed / -truncated / -nonjson
(LLM_STANDIN_FAULT_RATE_429, ..._500, ..._TIMEOUT, ..._MALFORMED,
..._TRUNCATED, ..._NONJSON) 0; --retry-after LLM_STANDIN_RETRY_AFTER 1;
--hang-s LLM_STANDIN_HANG_S 30.

On start it prints exactly one line ``listening on HOST:PORT`` to stdout and
flushes; request logs (method, path, status, fault; never headers) go to
stderr.
"""

import argparse
import hashlib
import json
import os
import random
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DASHSCOPE_PATH = "/api/v1/services/aigc/text-generation/generation"
OPENAI_PATHS = ("/v1/chat/completions", "/compatible-mode/v1/chat/completions")
FAULT_KINDS = ("429", "500", "timeout", "malformed", "truncated", "nonjson")
MAX_BODY = 8 * 1024 * 1024

_SCORE_RE = re.compile(r"EXPECT_SCORE=([A-Za-z]+|[-+]?\d+(?:\.\d+)?)")
_JUDGE_FAULT_RE = re.compile(r"JUDGE_FAULT=(429|500|timeout|malformed|truncated|nonjson)(?:\*(\d+))?")
_SCORE_WORD_RE = re.compile(r"\bscore\b", re.IGNORECASE)


# --------------------------------------------------------------------------
# Deterministic content
# --------------------------------------------------------------------------

def _text_of(content):
    """Message content as text (OpenAI allows a list of parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                parts.append(str(part.get("text", "")))
            else:
                parts.append(str(part))
        return "".join(parts)
    return str(content)


def normalize_messages(body, api):
    """Return a list of {"role", "content"} dicts from a request body."""
    if api == "dashscope":
        inp = body.get("input") or {}
        msgs = inp.get("messages")
        if not msgs and inp.get("prompt") is not None:
            msgs = [{"role": "user", "content": inp.get("prompt")}]
    else:
        msgs = body.get("messages")
    out = []
    for m in msgs or []:
        if isinstance(m, dict):
            out.append({"role": str(m.get("role", "")), "content": _text_of(m.get("content"))})
    return out


def _strip_markers(text):
    return _JUDGE_FAULT_RE.sub(" ", _SCORE_RE.sub(" ", text))


def is_judge_request(messages, body):
    rf = body.get("response_format")
    if isinstance(rf, dict) and rf.get("type") in ("json_object", "json_schema"):
        return True
    return any(_SCORE_WORD_RE.search(_strip_markers(m["content"])) for m in messages)


def _joined(messages):
    return "\n".join("%s: %s" % (m["role"], m["content"]) for m in messages)


def judge_reply(messages):
    joined = _joined(messages)
    rails = _rails(joined)
    # A marker naming the metric (EXPECT_CORRECT=, EXPECT_FAITHFUL=,
    # EXPECT_RELEVANT=) wins over EXPECT_SCORE=, so one prompt quoting a
    # query, documents and an answer can steer each metric separately.
    m = rails and re.search(r"EXPECT_%s=([-+]?\d+(?:\.\d+)?)" % rails[0].upper(), joined)
    m = m or _SCORE_RE.search(joined)
    if m and m.group(1).lower() == "invalid":
        return "I cannot provide a score for this."
    if m and not m.group(1).isalpha():
        score, source = min(1.0, max(0.0, float(m.group(1)))), "marker"
    else:
        digest = hashlib.sha256(joined.encode("utf-8")).hexdigest()
        score, source = (int(digest[:8], 16) % 101) / 100.0, "hash"
    verdict = {"score": round(score, 2),
               "explanation": "stand-in verdict (%s)" % source}
    if rails:
        verdict = {"label": _label_for(rails, score, joined), **verdict}
    return json.dumps(verdict)


# Label pairs (positive, negative) an evaluator's judge prompt may name; the
# first pair whose negative label appears in the prompt is used.
_RAILS = (("faithful", "hallucinated"), ("relevant", "irrelevant"),
          ("correct", "incorrect"))

# traceval's judge system message: 'The label must be exactly one of "a",
# "b" and "c".' and '"score": 1 for "a", 0.5 for "b" or 0 for "c"'.
_LISTED_RAILS_RE = re.compile(r'exactly one of ((?:"[^"]+"(?:, | and | or )?)+)')
_RAIL_SCORE_RE = re.compile(r'(\d+(?:\.\d+)?) for "([^"]+)"')


def _rails(joined):
    """The prompt's labels, the highest-scored first: the listed ones
    (``exactly one of "a", "b" and "c"``), else a known pair."""
    listed = _LISTED_RAILS_RE.search(joined)
    if listed:
        labels = re.findall(r'"([^"]+)"', listed.group(1))
        scores = {label: float(score) for score, label in _RAIL_SCORE_RE.findall(joined)}
        if len(labels) >= 2:
            return sorted(labels, key=lambda l: -scores.get(l, 0.0)) if scores else labels
    lowered = joined.lower()
    for positive, negative in _RAILS:
        if re.search(r"\b%s\b" % negative, lowered):
            return positive, negative
    return None


def _label_for(rails, score, joined):
    """The rail whose listed score is nearest to ``score`` (ties: the higher
    rail); without listed scores, the first rail when score >= 0.5, else the
    last."""
    scores = {label: float(s) for s, label in _RAIL_SCORE_RE.findall(joined)}
    if all(r in scores for r in rails):
        return min(rails, key=lambda r: (abs(scores[r] - score), -scores[r]))
    return rails[0] if score >= 0.5 else rails[-1]


def answer_reply(messages):
    question = ""
    for m in messages:
        if m["role"] == "user":
            question = m["content"]
    low = question.lower()
    if "capital" in low and "china" in low:
        return "The capital of China is Beijing."
    return "Stand-in answer to: %s" % question


def count_tokens(text):
    return len(text.split())


# --------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------

class Config(object):
    def __init__(self, args):
        self.latency_ms = args.latency_ms
        self.retry_after = args.retry_after
        self.hang_s = args.hang_s
        self.rates = [("429", args.fault_rate_429), ("500", args.fault_rate_500),
                      ("timeout", args.fault_rate_timeout),
                      ("malformed", args.fault_rate_malformed),
                      ("truncated", args.fault_rate_truncated),
                      ("nonjson", args.fault_rate_nonjson)]


class StandinServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, config, seed):
        ThreadingHTTPServer.__init__(self, addr, Handler)
        self.config = config
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.judge_fault_seen = {}
        self.stats = {"total": 0, "by_path": {}, "by_status": {}, "by_fault": {},
                      "by_path_fault": {}, "unauthorized": 0, "judge": 0}

    def draw_fault(self):
        with self.lock:
            r = self.rng.random()
        acc = 0.0
        for kind, rate in self.config.rates:
            acc += rate
            if r < acc:
                return kind
        return None

    def judge_fault(self, messages):
        """Fault from a JUDGE_FAULT marker, honouring its *N budget."""
        joined = _joined(messages)
        m = _JUDGE_FAULT_RE.search(joined)
        if not m:
            return None
        kind, budget = m.group(1), m.group(2)
        key = hashlib.sha256(joined.encode("utf-8")).hexdigest()
        with self.lock:
            seen = self.judge_fault_seen.get(key, 0)
            self.judge_fault_seen[key] = seen + 1
        if budget is not None and seen >= int(budget):
            return None
        return kind

    def count(self, path, status, fault=None, unauthorized=False, judge=False):
        with self.lock:
            s = self.stats
            s["total"] += 1
            s["by_path"][path] = s["by_path"].get(path, 0) + 1
            key = str(status)
            s["by_status"][key] = s["by_status"].get(key, 0) + 1
            if unauthorized:
                s["unauthorized"] += 1
            if judge:
                s["judge"] += 1
            if path == DASHSCOPE_PATH or path in OPENAI_PATHS:
                if fault:
                    s["by_fault"][fault] = s["by_fault"].get(fault, 0) + 1
                if not unauthorized:
                    pf = s["by_path_fault"].setdefault(path, {})
                    f = fault or "none"
                    pf[f] = pf.get(f, 0) + 1

    def snapshot(self):
        with self.lock:
            return json.loads(json.dumps(self.stats))


def _error_body(api, kind, request_id):
    if api == "dashscope":
        code, message = {
            "401": ("InvalidApiKey", "No API-key provided."),
            "429": ("Throttling.RateQuota", "Requests rate limit exceeded, please try again later."),
            "500": ("InternalError", "An internal error has occured, please try again later."),
            "504": ("RequestTimeOut", "Request timed out, please try again later."),
            "400": ("InvalidParameter", "Invalid request."),
        }[kind]
        return {"request_id": request_id, "code": code, "message": message}
    etype, code, message = {
        "401": ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
        "429": ("rate_limit_error", "rate_limit_exceeded", "Rate limit reached, please try again later."),
        "500": ("server_error", "internal_error", "The server had an error while processing your request."),
        "504": ("server_error", "timeout", "Request timed out."),
        "400": ("invalid_request_error", "invalid_request", "Invalid request."),
    }[kind]
    return {"error": {"message": message, "type": etype, "param": None, "code": code}}


class Handler(BaseHTTPRequestHandler):
    server_version = "llm-standin/1"
    protocol_version = "HTTP/1.1"

    # Never log headers; keep the default access log off and write our own.
    def log_message(self, fmt, *args):  # noqa: D401
        pass

    def _log(self, status, fault):
        sys.stderr.write("%s %s %s %s fault=%s\n" % (
            time.strftime("%H:%M:%S"), self.command, self.path.split("?", 1)[0],
            status, fault or "-"))
        sys.stderr.flush()

    def _send(self, status, body, headers=None, content_type="application/json"):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _send_truncated(self, status, body):
        """Announces all of ``body`` but sends half of it, then closes."""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self.server.count(path, 200)
            self._send(200, {"status": "ok"})
        elif path == "/stats":
            snap = self.server.snapshot()
            self.server.count(path, 200)
            self._send(200, snap)
        else:
            self.server.count(path, 404)
            self._send(404, {"error": "not found"})

    def do_POST(self):
        path = self.path.split("?", 1)[0]
        if path == DASHSCOPE_PATH:
            api = "dashscope"
        elif path in OPENAI_PATHS:
            api = "openai"
        else:
            self._drain()
            self.server.count(path, 404)
            self._send(404, {"error": "not found"})
            self._log(404, None)
            return
        raw = self._drain()
        request_id = str(uuid.uuid4())

        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[len("Bearer "):].strip():
            self.server.count(path, 401, unauthorized=True)
            self._send(401, _error_body(api, "401", request_id))
            self._log(401, None)
            return

        try:
            body = json.loads(raw.decode("utf-8") or "{}")
            if not isinstance(body, dict):
                raise ValueError("body is not an object")
        except ValueError:
            self.server.count(path, 400)
            self._send(400, _error_body(api, "400", request_id))
            self._log(400, None)
            return
        if api == "openai" and body.get("stream"):
            self.server.count(path, 400)
            self._send(400, _error_body(api, "400", request_id))
            self._log(400, None)
            return

        messages = normalize_messages(body, api)
        judge = is_judge_request(messages, body)

        # One RNG draw per authorised, well-formed API request, whatever
        # decides the fault, so a seed gives the same sequence every run.
        drawn = self.server.draw_fault()
        header_fault = (self.headers.get("X-Standin-Fault") or "").strip().lower()
        if header_fault in FAULT_KINDS:
            fault = header_fault
        elif header_fault == "none":
            fault = None
        else:
            fault = (self.server.judge_fault(messages) if judge else None) or drawn

        cfg = self.server.config
        if cfg.latency_ms > 0:
            self.server.stopping.wait(cfg.latency_ms / 1000.0)

        if fault == "429":
            status = 429
            self.server.count(path, status, fault, judge=judge)
            self._send(status, _error_body(api, "429", request_id),
                       headers={"Retry-After": str(cfg.retry_after)})
        elif fault == "500":
            status = 500
            self.server.count(path, status, fault, judge=judge)
            self._send(status, _error_body(api, "500", request_id))
        elif fault == "timeout":
            self.server.stopping.wait(max(0.0, min(cfg.hang_s, 600.0)))
            status = 504
            self.server.count(path, status, fault, judge=judge)
            self._send(status, _error_body(api, "504", request_id))
        else:
            content = judge_reply(messages) if judge else answer_reply(messages)
            in_tok = sum(count_tokens(m["content"]) for m in messages)
            out_tok = count_tokens(content)
            if api == "dashscope":
                params = body.get("parameters") or {}
                if params.get("result_format") == "message":
                    output = {"choices": [{"finish_reason": "stop",
                                           "message": {"role": "assistant", "content": content}}]}
                else:
                    output = {"text": content, "finish_reason": "stop"}
                reply = {"request_id": request_id, "status_code": 200, "code": "",
                         "message": "", "output": output,
                         "usage": {"input_tokens": in_tok, "output_tokens": out_tok,
                                   "total_tokens": in_tok + out_tok}}
            else:
                reply = {"id": "chatcmpl-" + request_id.replace("-", ""),
                         "object": "chat.completion", "created": int(time.time()),
                         "model": str(body.get("model") or "standin"),
                         "choices": [{"index": 0,
                                      "message": {"role": "assistant", "content": content},
                                      "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": in_tok, "completion_tokens": out_tok,
                                   "total_tokens": in_tok + out_tok}}
            data = json.dumps(reply).encode("utf-8")
            status = 200
            if fault == "malformed":
                data = data[: len(data) // 2]
            self.server.count(path, status, fault, judge=judge)
            if fault == "truncated":
                self._send_truncated(status, data)
            elif fault == "nonjson":
                page = b"<html><head><title>502 Bad Gateway</title></head><body>bad gateway</body></html>"
                self._send(status, page, content_type="text/html")
            else:
                self._send(status, data)
        self._log(status, fault)

    def _drain(self):
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = 0
        n = max(0, min(n, MAX_BODY))
        return self.rfile.read(n) if n else b""


def _env(name, default, conv):
    v = os.environ.get(name)
    if v is None or v == "":
        return default
    return conv(v)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Deterministic local LLM stand-in (DashScope + OpenAI shapes).")
    p.add_argument("--host", default=_env("LLM_STANDIN_HOST", "127.0.0.1", str))
    p.add_argument("--port", type=int, default=_env("LLM_STANDIN_PORT", 0, int))
    p.add_argument("--latency-ms", type=float, default=_env("LLM_STANDIN_LATENCY_MS", 0.0, float))
    p.add_argument("--seed", type=int, default=_env("LLM_STANDIN_SEED", 0, int))
    for kind in FAULT_KINDS:
        p.add_argument("--fault-rate-%s" % kind, type=float,
                       default=_env("LLM_STANDIN_FAULT_RATE_%s" % kind.upper(), 0.0, float))
    p.add_argument("--retry-after", type=int, default=_env("LLM_STANDIN_RETRY_AFTER", 1, int))
    p.add_argument("--hang-s", type=float, default=_env("LLM_STANDIN_HANG_S", 30.0, float))
    args = p.parse_args(argv)
    total = 0.0
    for kind in FAULT_KINDS:
        rate = getattr(args, "fault_rate_%s" % kind)
        if not 0.0 <= rate <= 1.0:
            p.error("--fault-rate-%s must be within [0, 1]" % kind)
        total += rate
    if total > 1.0 + 1e-9:
        p.error("fault rates add up to more than 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    server = StandinServer((args.host, args.port), Config(args), args.seed)
    host, port = server.server_address[:2]
    sys.stdout.write("listening on %s:%d\n" % (host, port))
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.stopping.set()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
