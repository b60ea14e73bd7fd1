"""Second audit (issue #19), concurrency and bounded work: one pipeline called from many threads,
two annotate jobs on one folder, SIGTERM of a driver with worker processes, the driver's memory
over many shards, and 1,000 questions on one long doc. Each asserts the promise."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, List

import pytest

from annotate_fixtures import TEXTS, code_file, read_parts, slow_model_dir, write_jsonl  # noqa: F401
from conftest import ROOT, run_script
from qa_fixtures import corpus_text, make_qa_nlp, qa_models  # noqa: F401
from seq2seq_fixtures import make_seq2seq_nlp, random_texts, seq2seq_models  # noqa: F401
from spacy_task_pipes.qa.component import make_qa_doc

N_THREADS = 8


def _qa_items(n: int = 40):
    lines = corpus_text()
    return [(" ".join(lines[i : i + 6]), ["Where was she born?", "Who wrote the book?", "What is it?"])
            for i in range(0, 6 * n, 6)]


def _in_threads(func, items: List[Any], n_threads: int = N_THREADS) -> List[Any]:
    """``func(item)`` for every item, ``n_threads`` threads pulling from one list at once."""
    results: List[Any] = [None] * len(items)
    errors: List[BaseException] = []
    barrier = threading.Barrier(n_threads)
    lock = threading.Lock()
    todo = list(range(len(items)))

    def work():
        barrier.wait()
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop()
            try:
                results[i] = func(items[i])
            except BaseException as err:  # noqa: BLE001 - reported below
                errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return results


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_threads_get_the_sequential_answers(qa_models, backend, recwarn):
    """Eight threads on one QA pipeline: every doc gets the answers it gets alone (the shared
    fast tokenizer used to fail with "Already borrowed", reported as if the question were bad)."""
    if backend == "onnxruntime":
        pytest.importorskip("onnxruntime")
    nlp = make_qa_nlp(qa_models["bert"], model={"@architectures": "spacy_task_pipes.QuestionAnswering.v1",
                                                "name": str(qa_models["bert"]), "backend": backend})
    items = _qa_items()

    def answer(item):
        doc = nlp(make_qa_doc(nlp, *item))
        return [(a.text, a.start, a.end, round(a.score, 5)) for a in doc._.answers]

    sequential = [answer(item) for item in items]
    assert sum(bool(t) for answers in sequential for t, *_ in answers) > 30
    for _ in range(3):
        assert _in_threads(answer, items) == sequential
    assert [str(w.message) for w in recwarn if "empty answer" in str(w.message)] == []


def test_threads_get_the_sequential_translations(seq2seq_models):
    nlp = make_seq2seq_nlp("translator", seq2seq_models["t5"], num_beams=2, max_new_tokens=6)
    texts = random_texts(32)
    sequential = [nlp(t)._.translation for t in texts]
    assert len(set(sequential)) > 5
    assert _in_threads(lambda t: nlp(t)._.translation, texts) == sequential


def test_an_internal_error_is_raised_not_passed_off_as_bad_input(qa_models, monkeypatch):
    """A tokenizer that breaks on valid text (as a shared one did under threads) is an error, not
    a warning and empty answers."""
    nlp = make_qa_nlp(qa_models["bert"])
    pipe = nlp.get_pipe("question_answerer")
    tokenizer = pipe.tokenizer
    real = type(tokenizer).__call__

    def broken(self, *args, **kwargs):
        if kwargs.get("return_overflowing_tokens"):
            raise RuntimeError("Already borrowed")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(tokenizer), "__call__", broken)
    with pytest.raises(RuntimeError, match="Already borrowed"):
        nlp(make_qa_doc(nlp, "Marie Curie was born in Warsaw.", ["Where was she born?"]))


# --------------------------------------------------- 3. two jobs on one folder


def _start_job(model: Path, corpus: Path, out: Path, code: Path, *extra: str) -> subprocess.Popen:
    args = [sys.executable, str(ROOT / "scripts" / "annotate.py"), str(model), str(corpus), str(out), "--code",
            str(code), "--shard-size", "10", "--batch-size", "5", "--no-progress", *extra]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_parts(out: Path, n: int, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while len(list(out.glob("part-*.jsonl"))) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_a_second_job_on_a_folder_in_use_is_refused_and_a_dead_holder_is_recovered(tmp_path, slow_model_dir,
                                                                                  code_file):
    corpus_a = write_jsonl(tmp_path / "a.jsonl", [{"id": f"a{i}", "text": TEXTS[i % 8]} for i in range(150)])
    corpus_b = write_jsonl(tmp_path / "b.jsonl", [{"id": f"b{i}", "text": TEXTS[i % 8]} for i in range(150)])
    out = tmp_path / "out"
    job_a = _start_job(slow_model_dir, corpus_a, out, code_file)
    try:
        _wait_for_parts(out, 1, job_a)
        result = run_script("annotate", slow_model_dir, corpus_b, out, "--code", code_file, "--overwrite",
                            "--no-progress")
        assert result.exit_code == 2, result.output
        assert "is in use by another annotate job (pid" in result.output
        assert len(result.output.strip().splitlines()) == 1
        assert job_a.wait(timeout=240) == 0, job_a.communicate()
    finally:
        job_a.kill()
    assert [r["id"] for r in read_parts(out)] == [f"a{i}" for i in range(150)]
    assert json.loads((out / "_manifest.json").read_text())["input"].endswith("a.jsonl")
    # a killed holder: its lock is free at once, --overwrite then starts again
    job_a = _start_job(slow_model_dir, corpus_a, out, code_file, "--overwrite")
    _wait_for_parts(out, 1, job_a)
    job_a.send_signal(signal.SIGKILL)
    job_a.wait()
    result = run_script("annotate", slow_model_dir, corpus_b, out, "--code", code_file, "--overwrite", "--no-progress")
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in read_parts(out)] == [f"b{i}" for i in range(150)]


# ----------------------------------------- 10. SIGTERM with workers, bounded driver


def _children(pid: int) -> List[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(entry.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_workers_end_with_their_driver(tmp_path, slow_model_dir, code_file, sig):
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"id": f"r{i}", "text": TEXTS[i % 8]} for i in range(2000)])
    job = _start_job(slow_model_dir, corpus, tmp_path / "out", code_file, "--n-process", "2", "--threads", "1")
    try:
        _wait_for_parts(tmp_path / "out", 2, job)
        workers = [p for p in _children(job.pid) if "resource_tracker" not in
                   (Path("/proc") / str(p) / "cmdline").read_bytes().decode(errors="replace")]
        assert len(workers) >= 2
        job.send_signal(sig)
        job.wait(timeout=60)
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in workers), f"workers {workers} outlived the driver"
    finally:
        job.kill()


def test_the_driver_holds_only_pending_shards(monkeypatch, tmp_path, slow_model_dir, code_file):
    """At most two shards per worker are in flight, however many the job has."""
    from spacy_task_pipes.annotate import InputFormat, InputSource, PipelineSpec, plan_input
    from spacy_task_pipes.annotate import local

    corpus = write_jsonl(tmp_path / "c.jsonl", [{"id": f"r{i}", "text": "Paris"} for i in range(400)])
    plan = plan_input(InputSource(str(corpus), InputFormat.JSONL), 4)
    seen = []
    real_wait = local.wait

    def counting_wait(futures, **kwargs):
        seen.append(len(futures))
        return real_wait(futures, **kwargs)

    monkeypatch.setattr(local, "wait", counting_wait)
    engine = local.LocalEngine(PipelineSpec(str(slow_model_dir), code=str(code_file)), n_process=2, threads=1)
    results = list(engine.run(plan.source, plan.shards, lambda n: None))
    assert len(results) == 100 and sorted(r.shard for r in results) == list(range(100))
    assert max(seen) <= 4 and len(seen) >= 25


# ---------------------------------------------------- 6. bounded work per doc


def test_a_thousand_questions_on_a_long_doc_stay_within_memory(qa_models, tmp_path):
    nlp = make_qa_nlp(qa_models["bert"])
    path = tmp_path / "pipeline"
    nlp.to_disk(path)
    script = textwrap.dedent(f"""
        import re, time, spacy, warnings, torch
        from spacy_task_pipes.qa.component import make_qa_doc
        torch.set_num_threads(2)
        nlp = spacy.load({str(path)!r})
        words = " ".join({corpus_text()[:40]!r}).split()
        context = " ".join(words[i % len(words)] for i in range(4000))[:20000]
        questions = [f"Who wrote {{words[i % len(words)]}} number {{i}}?" for i in range(1000)]
        start = time.perf_counter()
        doc = nlp(make_qa_doc(nlp, context, questions))
        seconds = time.perf_counter() - start
        windows = len(nlp.get_pipe("question_answerer")._featurize(0, context, questions[:1]))
        print(len(context), len(doc._.answers), sum(bool(a.text) for a in doc._.answers), windows, f"{{seconds:.1f}}")
        # VmHWM: this process's own peak (ru_maxrss keeps the forking parent's across exec)
        print(int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) / 1024)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stderr[-3000:]
    (chars, n_answers, n_text, windows, seconds), (rss,) = (l.split() for l in out.stdout.strip().splitlines())
    print(f"1,000 questions x {windows} windows on {chars} chars: {seconds} s, peak RSS {float(rss):.0f} MB")
    assert int(n_answers) == 1000 and int(n_text) > 900 and int(windows) >= 10
    assert float(rss) < 1024, f"peak RSS {rss} MB"


def test_past_max_windows_per_doc_a_doc_is_skipped_with_a_warning(qa_models):
    nlp = make_qa_nlp(qa_models["bert"], max_windows_per_doc=50)
    context = " ".join(corpus_text()[:60])
    good = make_qa_doc(nlp, "Marie Curie was born in Warsaw.", ["Where was she born?"])
    big = make_qa_doc(nlp, context, [f"Who is {i}?" for i in range(30)])
    with pytest.warns(UserWarning, match=r"doc 1 of the batch .* more than max_windows_per_doc = 50"):
        docs = list(nlp.pipe([good, big]))
    assert docs[0]._.answers[0].text and all(a.text == "" for a in docs[1]._.answers)
    assert len(docs[1]._.answers) == 30
