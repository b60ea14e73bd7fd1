"""The demo page in a real browser: ``streamlit run scripts/demo.py`` on 127.0.0.1 and
headless Chromium (Debian's ``chromium``) driven through the Chrome DevTools protocol
(``websocket-client``). Text and a question are typed into the page, and the entities,
answers and translations in the page's DOM are compared with the same pipeline run
directly. The screenshot is written to the test's folder; set ``DEMO_SCREENSHOT=PATH``
to keep a copy (``DEMO_SCREENSHOT=docs/demo.png`` refreshes the README's picture).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence

import pytest

if os.environ.get("CI") == "true" and shutil.which("chromium") is None:  # pragma: no cover
    # .ci/run installs Chromium: in CI this test must run, not skip
    raise RuntimeError("CI=true but no chromium on PATH: .ci/run should have installed it")
pytest.importorskip("streamlit", reason="the demo page needs the `demo` extra: pip install -e '.[demo]'")
pytest.importorskip("spacy_streamlit", reason="the demo page needs the `demo` extra: pip install -e '.[demo]'")
websocket = pytest.importorskip("websocket", reason="driving Chromium needs websocket-client (the `demo` extra)")
CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium on PATH: apt-get install -y chromium"),
]

import spacy  # noqa: E402
from spacy.tokens import Doc  # noqa: E402
from demo_fixtures import GADGET, demo_full_pipeline  # noqa: E402,F401

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "scripts" / "demo.py"
HOST = "127.0.0.1"
SERVER_START_TIMEOUT = 60.0
PAGE_TIMEOUT = 90.0  # the first run of the page imports torch and loads the pipeline
WIDTH = 1280
TEXT = "My old iPhone 12 still works fine. The battery lasts two days."
ENTITY = "iPhone 12"
QUESTION = "Which phone still works?"

# JavaScript run in the page
PAGE_DRAWN = """(() => {
  const headings = [...document.querySelectorAll('h2')].map(h => h.innerText.trim());
  return document.querySelector('textarea[aria-label="Text"]') !== null && headings.includes('Summary')
    && document.querySelector('[data-stale="true"]') === null;
})()"""
MARKS = """[...document.querySelectorAll('mark.entity')].map(m => [
  [...m.childNodes].filter(n => n.nodeType === Node.TEXT_NODE).map(n => n.textContent).join('').trim(),
  m.querySelector('span') ? m.querySelector('span').innerText.trim() : ''])"""
CONTENT_HEIGHT = "Math.max(...[...document.querySelectorAll('body *')].map(e => e.scrollHeight))"
TABLE_CELLS = "[...document.querySelectorAll('table td')].map(td => td.innerText.trim())"


class DevTools:
    """A minimal Chrome DevTools protocol client for one page target."""

    def __init__(self, ws_url: str, timeout: float = 30.0) -> None:
        self._ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True)
        self._next_id = 0

    def send(self, method: str, **params: Any) -> Dict[str, Any]:
        """Send one command and return its result (events received meanwhile are dropped)."""
        self._next_id += 1
        self._ws.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv())
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript error in {expression[:60]!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float, what: str) -> Any:
        """Poll ``expression`` until it is truthy; a TimeoutError naming ``what`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.25)
        raise TimeoutError(f"Waited {timeout:.0f} s for {what}.")

    def type_into(self, selector: str, text: str) -> None:
        """Replace the content of the element at ``selector`` as if typed."""
        found = self.evaluate(
            f"(() => {{ const el = document.querySelector({json.dumps(selector)}); if (!el) return false; "
            "el.focus(); el.select(); return true; })()"
        )
        assert found, f"no element {selector} on the page"
        self.send("Input.insertText", text=text)

    def click_button(self, label: str) -> None:
        clicked = self.evaluate(
            f"(() => {{ const b = [...document.querySelectorAll('button')].find(b => b.innerText.trim() === "
            f"{json.dumps(label)}); if (!b) return false; b.click(); return true; }})()"
        )
        assert clicked, f"no button {label!r} on the page"

    def screenshot(self, width: int) -> bytes:
        """A PNG of the whole page (the window grown to the content's height), nothing focused."""
        self.evaluate("document.activeElement && document.activeElement.blur()")
        height = 0
        while True:  # Streamlit scrolls its main block, not the document: grow until nothing scrolls
            content = int(self.evaluate(CONTENT_HEIGHT))
            if content <= height:
                break
            height = content
            self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
            time.sleep(0.5)  # let the page lay out at the new size
        return base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])

    def close(self) -> None:
        self._ws.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def streamlit_server(args: Sequence[str], log_path: Path) -> Iterator[str]:
    """``streamlit run scripts/demo.py -- args`` on a free port of 127.0.0.1; yields its URL."""
    port = free_port()
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.headless", "true", "--server.address", HOST, "--server.port", str(port),
        "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal", "--", *args,
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://{HOST}:{port}"
            _wait_until_healthy(process, f"{url}/_stcore/health", log_path)
            try:
                yield url
            except TimeoutError as err:  # the page never got drawn: the server's log says why
                raise TimeoutError(f"{err}\nstreamlit's log:\n{log_path.read_text()[-3000:]}") from err
        finally:
            stop(process)


def _wait_until_healthy(process: subprocess.Popen, health_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(health_url, timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        time.sleep(0.25)
    raise TimeoutError(f"streamlit did not answer {health_url} in {SERVER_START_TIMEOUT:.0f} s.")


@contextlib.contextmanager
def headless_chromium(executable: str) -> Iterator[DevTools]:
    """Chromium without a window, on a throw-away profile; yields a client of its page."""
    profile = Path(tempfile.mkdtemp(prefix="demo-chromium-"))
    command = [
        executable, "--headless=new", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
        f"--window-size={WIDTH},900", f"--user-data-dir={profile}",
        "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--no-sandbox")  # Chromium's sandbox refuses to run as root
    process = subprocess.Popen([*command, "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = None
    try:
        client = DevTools(_page_websocket_url(process, profile))
        yield client
    finally:
        if client is not None:
            client.close()
        stop(process)
        shutil.rmtree(profile, ignore_errors=True)


def _page_websocket_url(process: subprocess.Popen, profile: Path, timeout: float = 30.0) -> str:
    """Chromium writes its DevTools port to ``DevToolsActivePort`` in the profile."""
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while not port_file.exists() or not port_file.read_text().strip():
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with {process.returncode} before opening DevTools.")
        if time.monotonic() > deadline:
            raise TimeoutError(f"chromium wrote no {port_file} in {timeout:.0f} s.")
        time.sleep(0.1)
    port = int(port_file.read_text().split()[0])
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
        targets = json.load(response)
    return next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")


def normalize(text: str) -> str:
    return " ".join(text.split())


def run_directly(path: Path, text: str, question: str) -> Doc:
    nlp = spacy.load(path)
    doc = nlp.make_doc(text)
    doc._.questions = [question]
    return nlp(doc)


def test_page_in_a_real_browser(demo_full_pipeline: Path, tmp_path: Path) -> None:
    args = [str(demo_full_pipeline), "--root", str(tmp_path)]
    with streamlit_server(args, tmp_path / "streamlit.log") as url, headless_chromium(CHROMIUM) as page:
        page.send("Page.navigate", url=url)
        doc = run_directly(demo_full_pipeline, TEXT, QUESTION)  # while the page loads the pipeline
        entities = [[e.text, e.label_] for e in doc.ents]
        answers = [[a.text, "ANSWER"] for a in doc._.answers]
        assert [ENTITY, GADGET] in entities and all(text for text, _ in answers)
        page.wait_for(PAGE_DRAWN, PAGE_TIMEOUT, "the page's first run")
        page.type_into('textarea[aria-label="Text"]', TEXT)
        page.type_into('textarea[aria-label^="Questions"]', QUESTION)
        page.click_button("Analyse")
        updated = f"({PAGE_DRAWN}) && document.body.innerText.includes({json.dumps(QUESTION)})"
        page.wait_for(updated, PAGE_TIMEOUT, "the results for the typed text")
        marks: List[List[str]] = page.evaluate(MARKS)
        cells = page.evaluate(TABLE_CELLS)
        png = page.screenshot(WIDTH)

    assert [m for m in marks if m[1] != "ANSWER"] == entities
    assert [m for m in marks if m[1] == "ANSWER"] == answers
    assert [normalize(c) for c in cells] == [
        normalize(x) for s in doc.sents for x in (s.text, s._.translation or "(empty)")
    ]
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    (tmp_path / "demo.png").write_bytes(png)
    if os.environ.get("DEMO_SCREENSHOT"):
        Path(os.environ["DEMO_SCREENSHOT"]).write_bytes(png)
