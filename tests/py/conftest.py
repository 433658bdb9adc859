"""Shared fixtures for tests/py.

Run with the venv from tests/cluster/pyenv:

    "$(tests/cluster/pyenv)/bin/python" -m pytest tests/py -q

Processes started here are always killed at teardown; their stdout/stderr go
to files under a per-test tmp dir, which is printed when a test fails.
"""

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STANDIN = REPO / "tests" / "cluster" / "llm_standin.py"
SAMPLE_APP = REPO / "examples" / "sample-app" / "app.py"
VENV_BIN = Path(sys.executable).parent


def wait_until(predicate, timeout, interval=0.1, what="condition"):
    """Poll predicate() until it returns a truthy value or timeout passes.

    Returns the truthy value; raises AssertionError with the last exception
    (if any) on timeout.
    """
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last_exc = None
        except Exception as exc:  # noqa: BLE001 - keep polling
            last_exc = exc
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.0fs waiting for %s%s" % (
                timeout, what, "" if last_exc is None else " (last error: %r)" % (last_exc,)))
        time.sleep(interval)


class Proc(object):
    """A child process with its output in files; stop() kills its group."""

    def __init__(self, name, argv, logdir, env=None, capture_stdout=False):
        self.name = name
        self.out_path = Path(logdir) / ("%s.out" % name)
        self.err_path = Path(logdir) / ("%s.err" % name)
        self._err = open(self.err_path, "wb")
        self._out = None
        if capture_stdout:
            stdout = subprocess.PIPE
        else:
            self._out = open(self.out_path, "wb")
            stdout = self._out
        self.popen = subprocess.Popen(
            argv, stdout=stdout, stderr=self._err, stdin=subprocess.DEVNULL,
            env=env, cwd=str(REPO), start_new_session=True)

    def read_line(self, timeout):
        """Read one stdout line (capture_stdout=True) within timeout seconds."""
        fd = self.popen.stdout
        buf = b""
        deadline = time.monotonic() + timeout
        while not buf.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                break
            chunk = os.read(fd.fileno(), 1)
            if not chunk:
                break
            buf += chunk
        return buf.decode("utf-8", "replace")

    def alive(self):
        return self.popen.poll() is None

    def stop(self):
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait(timeout=5)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        for f in (self._out, self._err):
            if f is not None:
                f.close()

    def tail(self, n=40):
        text = []
        for p in (self.out_path, self.err_path):
            if p.exists():
                lines = p.read_text(errors="replace").splitlines()[-n:]
                text.append("--- %s (last %d lines)\n%s" % (p, len(lines), "\n".join(lines)))
        return "\n".join(text)


class Standin(object):
    def __init__(self, proc, host, port):
        self.proc = proc
        self.host = host
        self.port = port
        self.url = "http://%s:%d" % (host, port)

    @property
    def dashscope_base(self):
        return self.url + "/api/v1"

    def stats(self):
        import requests
        return requests.get(self.url + "/stats", timeout=5).json()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        logdir = getattr(item, "_proc_logdir", None)
        procs = getattr(item, "_procs", [])
        if logdir is not None:
            rep.sections.append(("process logs", "logs in %s\n%s" % (
                logdir, "\n".join(p.tail() for p in procs))))


@pytest.fixture
def procs(request, tmp_path):
    """Start processes whose logs live under tmp_path/logs; all stopped at teardown."""
    logdir = tmp_path / "logs"
    logdir.mkdir()
    started = []
    request.node._proc_logdir = logdir
    request.node._procs = started

    def start(name, argv, env=None, capture_stdout=False):
        p = Proc(name, argv, logdir, env=env, capture_stdout=capture_stdout)
        started.append(p)
        return p

    start.logdir = logdir
    try:
        yield start
    finally:
        for p in reversed(started):
            p.stop()


def start_standin(procs, *args, name="standin", python=None):
    argv = [python or sys.executable, str(STANDIN), "--host", "127.0.0.1", "--port", "0"]
    argv += [str(a) for a in args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_STANDIN_")}
    p = procs(name, argv, env=env, capture_stdout=True)
    line = p.read_line(timeout=20).strip()
    assert line.startswith("listening on "), "stand-in did not start: %r\n%s" % (line, p.tail())
    host, _, port = line[len("listening on "):].rpartition(":")
    return Standin(p, host, int(port))


@pytest.fixture
def standin(procs):
    """A stand-in with no faults and no latency."""
    return start_standin(procs)
