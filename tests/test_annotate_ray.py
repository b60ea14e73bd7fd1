"""The Ray engine gives the local engine's records and errors, on a local cluster the
job starts and on a running cluster it joins with --address."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, List

import pytest

pytest.importorskip("ray")

from annotate_fixtures import (  # noqa: E402,F401  (fixtures)
    code_file,
    combined_model_dir,
    combined_rows,
    read_jsonl,
    read_parts,
    write_jsonl,
)
from conftest import run_script  # noqa: E402
from qa_fixtures import qa_models  # noqa: E402,F401
from seq2seq_fixtures import seq2seq_models  # noqa: E402,F401

pytestmark = pytest.mark.slow

LOOPBACK = "127.0.0.1"


def annotate(*args: Any) -> None:
    result = run_script("annotate", *args, "--no-progress")
    assert result.exit_code == 0, result.output


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = write_jsonl(tmp_path / "corpus.jsonl", combined_rows() * 2)
    with path.open("a", encoding="utf-8") as fh:
        fh.write("{not json\n")
    return path


def job_args(combined_model_dir: Path, code_file: Path) -> List[Any]:
    return [combined_model_dir, "--code", code_file, "--shard-size", 4, "--batch-size", 3]


def assert_same_output(local: Path, ray_out: Path) -> None:
    assert read_parts(ray_out) == read_parts(local) and len(read_parts(local)) == 10
    assert read_jsonl(ray_out / "_errors.jsonl") == read_jsonl(local / "_errors.jsonl")
    assert len(read_jsonl(local / "_errors.jsonl")) == 9  # 4 bad records twice + the invalid line


def test_ray_engine_on_a_local_cluster_matches_the_local_engine(tmp_path: Path, corpus: Path,
                                                                combined_model_dir: Path, code_file: Path) -> None:
    model, *options = job_args(combined_model_dir, code_file)
    annotate(model, corpus, tmp_path / "local", *options)
    annotate(model, corpus, tmp_path / "ray", *options, "--engine", "ray", "--workers", 2, "--num-cpus", 2,
             "--node-ip-address", LOOPBACK)
    assert_same_output(tmp_path / "local", tmp_path / "ray")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def wait_for_line(proc: subprocess.Popen, text: str, timeout: float) -> None:
    """Read ``proc``'s output until it contains ``text``. Reads the pipe's file descriptor
    directly: a buffered ``readline`` after ``select`` can hold the awaited line in Python's
    buffer while ``select`` waits for more bytes that never come."""
    fd = proc.stdout.fileno()
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    deadline, seen = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        if selector.select(timeout=1.0):
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            seen += chunk.decode("utf-8", "replace")
            if text in seen:
                return
    raise AssertionError(f"no {text!r} from ray start within {timeout}s:\n{seen[-3000:]}")


def test_ray_engine_joins_a_running_cluster(tmp_path: Path, corpus: Path, combined_model_dir: Path,
                                            code_file: Path) -> None:
    port = free_port()
    ray_cli = Path(sys.executable).with_name("ray")
    # --block: the head's processes live as long as this one, which is stopped by its pid
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--port", str(port), "--node-ip-address", LOOPBACK, "--num-cpus", "2",
         "--include-dashboard", "false", "--disable-usage-stats", "--block"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "RAY_ADDRESS": ""},
    )
    try:
        wait_for_line(head, "Ray runtime started", timeout=180)
        model, *options = job_args(combined_model_dir, code_file)
        annotate(model, corpus, tmp_path / "ray", *options, "--engine", "ray", "--workers", 2,
                 "--address", f"{LOOPBACK}:{port}")
        annotate(model, corpus, tmp_path / "local", *options)
        assert_same_output(tmp_path / "local", tmp_path / "ray")
    finally:
        head.send_signal(signal.SIGTERM)
        head.wait(timeout=120)
