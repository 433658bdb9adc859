"""The venv made by tests/cluster/pyenv holds exactly the pinned set.

These run inside that venv (sys.executable is its python).
"""

import re
import subprocess
from importlib import metadata

from conftest import REPO, VENV_BIN

REQ = REPO / "tests" / "cluster" / "requirements.txt"


def _norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins():
    pins = {}
    for line in REQ.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        assert re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.+!_-]+", line), \
            "requirements.txt line is not an exact pin: %r" % line
        name, version = line.split("==")
        assert _norm(name) not in pins, "duplicate pin %s" % name
        pins[_norm(name)] = version
    return pins


def _installed():
    out = {}
    for dist in metadata.distributions():
        name = _norm(dist.metadata["Name"])
        if name in ("pip", "setuptools", "wheel"):
            continue
        out[name] = dist.version
    return out


def test_venv_matches_pins_exactly():
    pins, installed = _pins(), _installed()
    assert installed == pins, {
        "missing": sorted(set(pins) - set(installed)),
        "unpinned": sorted(set(installed) - set(pins)),
        "version differs": sorted(k for k in pins if k in installed and pins[k] != installed[k]),
    }


def test_bootstrap_would_install_nothing_new():
    out = subprocess.run([str(VENV_BIN / "opentelemetry-bootstrap"), "-a", "requirements"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    installed = _installed()
    wanted = [l.strip() for l in out.splitlines() if l.strip()]
    assert wanted, "bootstrap listed nothing"
    missing = [w for w in wanted if installed.get(_norm(w.split("==")[0])) != w.split("==")[1]]
    assert missing == [], missing


def test_dashscope_instrumentor_entry_point():
    eps = metadata.entry_points(group="opentelemetry_instrumentor")
    names = {ep.name: ep.value for ep in eps}
    assert names.get("dashscope") == "opentelemetry.instrumentation.dashscope:DashScopeInstrumentor"
    assert names.get("flask") is not None
    # loads and instruments without error
    from opentelemetry.instrumentation.dashscope import DashScopeInstrumentor
    inst = DashScopeInstrumentor()
    inst.instrument()
    inst.uninstrument()
