"""How the demo page is served (issue #23 item 8): on 127.0.0.1 unless told otherwise, and with
a message on the page while spaCy and the components are still importing."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT

pytest.importorskip("streamlit", reason="the demo page needs the `demo` extra: pip install -e '.[demo]'")

SCRIPT = ROOT / "scripts" / "demo.py"


def demo_module():
    spec = importlib.util.spec_from_file_location("demo_launcher", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not __main__, outside Streamlit: defines, starts nothing
    return module


def test_the_launcher_binds_loopback_unless_told_otherwise() -> None:
    demo = demo_module()
    command = demo.streamlit_command([])
    assert command[:4] == [sys.executable, "-m", "streamlit", "run"]
    assert command[command.index("--server.address") + 1] == "127.0.0.1"
    assert command[command.index("--server.port") + 1] == "8501" and command[-1] == "--"
    command = demo.streamlit_command(["--address", "0.0.0.0", "--port=9000", "--", "a/model", "--max-chars", "9"])
    assert command[command.index("--server.address") + 1] == "0.0.0.0"
    assert command[command.index("--server.port") + 1] == "9000"
    assert command[command.index("--", command.index("run")) + 1:] == ["a/model", "--max-chars", "9"]
    for bad, message in ((["a/model"], "page arguments go after `--`"), (["--port", "x"], "--port must be"),
                         (["--address"], "--address needs a value")):
        with pytest.raises(ValueError, match=message):
            demo.streamlit_command(bad)


def test_spacy_project_run_demo_serves_on_the_var_address() -> None:
    from weasel.util import load_project_config

    config = load_project_config(ROOT)
    assert config["vars"]["demo_address"] == "127.0.0.1"
    (command,) = next(c for c in config["commands"] if c["name"] == "demo")["script"]
    assert command.startswith("python scripts/demo.py --address 127.0.0.1 --")
    config = load_project_config(ROOT, overrides={"vars.demo_address": "0.0.0.0"})
    assert "--address 0.0.0.0" in next(c for c in config["commands"] if c["name"] == "demo")["script"][0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def other_address() -> str:
    """An address of this machine that is not loopback (None where it has none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.255.255.255", 1))  # no packet is sent: only picks the outgoing interface
            address = sock.getsockname()[0]
        except OSError:
            return ""
    return "" if address.startswith("127.") else address


def test_the_served_page_listens_on_loopback_only(tmp_path: Path) -> None:
    psutil = pytest.importorskip("psutil")
    port = free_port()
    log = (tmp_path / "demo.log").open("w")
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "--port", str(port)], cwd=tmp_path, stdout=log,
                            stderr=subprocess.STDOUT, env={**os.environ, "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"})
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                    assert response.read() == b"ok"
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "demo.log").read_text()
                assert time.monotonic() < deadline, (tmp_path / "demo.log").read_text()
                time.sleep(0.5)
        listening = {c.laddr.ip for c in psutil.Process(proc.pid).net_connections(kind="inet")
                     if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
        assert listening == {"127.0.0.1"}
        address = other_address()
        if address:
            with pytest.raises(OSError):
                socket.create_connection((address, port), timeout=2).close()
        assert f"serving on http://127.0.0.1:{port}" in (tmp_path / "demo.log").read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_the_page_shows_a_message_before_the_slow_imports(tmp_path: Path) -> None:
    """A stand-in ``streamlit`` records what the page shows first and whether spaCy was
    imported by then (the blank first load took 30-60 s on a busy machine)."""
    fake = tmp_path / "fake" / "streamlit"
    fake.mkdir(parents=True)
    record = tmp_path / "record.txt"
    (fake / "__init__.py").write_text(
        "import os, sys\n"
        "class runtime:\n    @staticmethod\n    def exists():\n        return True\n"
        "def set_page_config(**kwargs):\n    pass\n"
        "class _Slot:\n"
        "    def info(self, text):\n"
        f"        open({str(record)!r}, 'w').write(repr(('spacy' in sys.modules, text)))\n"
        "        os._exit(0)\n"
        "def empty():\n    return _Slot()\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake.parent), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    spacy_imported, text = eval(record.read_text())
    assert not spacy_imported and text.startswith("Loading spaCy and the pipeline components")
