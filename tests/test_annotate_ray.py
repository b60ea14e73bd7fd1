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


# ----------------------------------------------- issue #23: bindings, warnings, leftovers


@pytest.fixture
def blank_pipeline(tmp_path: Path) -> Path:
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.to_disk(tmp_path / "blank")
    return tmp_path / "blank"


def marked_processes(marker: str) -> List[str]:
    """Command lines of the live processes whose environment holds ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if marker.encode() in environ and cmdline.strip():
            found.append(cmdline.strip())
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_no_ray_process_outlives_the_job(tmp_path: Path, blank_pipeline: Path) -> None:
    """Every process of the local cluster (the ray:: actors included) has exited when the job
    does (they lived for minutes: ray.shutdown returns before the raylet's workers end)."""
    marker = f"ANNOTATE_JOB_MARKER={os.getpid()}_{time.time_ns()}"
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"text": f"Text number {i}. Second sentence."} for i in range(40)])
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).parents[1] / "scripts" / "annotate.py"), str(blank_pipeline), str(corpus),
         str(tmp_path / "out"), "--engine", "ray", "--workers", "2", "--num-cpus", "2", "--shard-size", "10",
         "--no-progress"],
        env={**os.environ, marker.split("=")[0]: marker.split("=")[1], "RAY_ADDRESS": ""},
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "40 records in, 40 out, 0 failed" in proc.stdout
    assert "Cluster resources are not enough" not in proc.stdout + proc.stderr
    # the job waits for them (and ends stragglers after 10 s); without that wait a
    # ray::MapWorker of this tiny job was still alive here, and for minutes after heavier ones
    deadline = time.monotonic() + 0.5
    while marked_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert marked_processes(marker) == []


def test_a_pool_the_local_cluster_cannot_fit_is_an_error(tmp_path: Path, blank_pipeline: Path) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"text": f"Text {i}."} for i in range(12)])
    result = run_script("annotate", blank_pipeline, corpus, tmp_path / "out", "--engine", "ray", "--workers", 3,
                        "--num-cpus", 2, "--shard-size", 4, "--no-progress")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert "--workers 3 x --cpus-per-worker 1 / --gpus-per-worker 0 need 3 CPUs, the cluster has 2" in lines[-1]
    assert "raise --num-cpus" in lines[-1]


def test_the_local_cluster_listens_on_loopback_by_default() -> None:
    from spacy_task_pipes.annotate.annotator import PipelineSpec
    from spacy_task_pipes.annotate.ray_engine import RayEngine, RayOptions

    calls = []

    class FakeRay:
        def init(self, **kwargs):
            calls.append(kwargs)

    engine = RayEngine(PipelineSpec("x"), RayOptions(workers=1))
    engine._connect(FakeRay())
    engine = RayEngine(PipelineSpec("x"), RayOptions(workers=1, node_ip_address="10.0.0.5"))
    engine._connect(FakeRay())
    assert [c["_node_ip_address"] for c in calls] == ["127.0.0.1", "10.0.0.5"]
    assert all(c["address"] == "local" for c in calls)


def test_ray_datas_false_starvation_warning_is_filtered_while_a_job_runs() -> None:
    import logging

    from spacy_task_pipes.annotate.ray_engine import quiet_starvation_warning

    logger = logging.getLogger("ray.data._internal.execution.resource_manager")
    seen: List[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    handler = Collect()
    logger.addHandler(handler)
    try:
        text = ("Cluster resources are not enough to run any task from ActorPoolMapOperator[MapBatches(ShardAnnotator)]."
                " The job may hang forever unless the cluster scales up.")
        with quiet_starvation_warning():
            logger.warning(text)
            logger.warning("another warning")
        logger.warning(text)
    finally:
        logger.removeHandler(handler)
    assert seen == ["another warning", text]
