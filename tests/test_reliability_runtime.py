"""Runtime reliability of the transformer pipes (issue #14, items 4 and 8):

- ``nlp.pipe(docs, n_process=2)`` after the parent has run inference on several torch
  threads (forked workers used to hang in libgomp), for QA, translator, summarizer;
- bad questions or contexts lose only their own answers, never the batch's;
- ``doc._.questions`` that is not a string or a list of strings is a ValueError;
- the memory benchmark script writes its RSS series.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any, List, Sequence, Tuple

import pytest
from spacy.language import Language
from spacy.tokens import Doc

from conftest import run_script
from qa_fixtures import make_qa_nlp, qa_models  # noqa: F401
from seq2seq_fixtures import make_seq2seq_nlp, random_texts, seq2seq_models  # noqa: F401
from spacy_task_pipes.hf import get_hf_shim
from spacy_task_pipes.qa.component import make_qa_doc

TESTS_DIR = Path(__file__).resolve().parent
FORK_TIMEOUT_S = 120

# Run in a fresh interpreter at the default torch thread count (at least 2: the hang
# needs a parent whose OpenMP pool has more than one thread). Prints one JSON line.
FORK_SCRIPT = r"""
import json, sys
import torch

kind, model_dir, tests_dir = sys.argv[1:4]
settings = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}  # quantize / backend
sys.path.insert(0, tests_dir)
if torch.get_num_threads() < 2:
    torch.set_num_threads(2)
from qa_fixtures import CORPUS_LINES, make_qa_nlp
from seq2seq_fixtures import make_seq2seq_nlp, random_texts
from spacy_task_pipes.qa.component import make_qa_doc

if kind == "question_answerer":
    model = {"@architectures": "spacy_task_pipes.QuestionAnswering.v1", "name": model_dir, **settings}
    nlp = make_qa_nlp(model_dir, model=model)
    questions = [["Who was born?", "Where is it?"], ["What is the capital?"]]
    make_docs = lambda: [make_qa_doc(nlp, line, questions[i % 2]) for i, line in enumerate(CORPUS_LINES)]
    result = lambda doc: [[a.text, a.start, a.end, a.score] for a in doc._.answers]
else:
    model = {"@architectures": "spacy_task_pipes.Seq2SeqLM.v1", "name": model_dir, **settings}
    nlp = make_seq2seq_nlp(kind, model_dir, model=model, num_beams=1, max_new_tokens=8)
    field = "translation" if kind == "translator" else "summary"
    make_docs = lambda: [nlp.make_doc(text) for text in random_texts(12)]
    result = lambda doc: getattr(doc._, field)

nlp(make_docs()[0])  # inference in the parent starts torch's thread pool
threads = torch.get_num_threads()
single = [result(doc) for doc in nlp.pipe(make_docs(), batch_size=3)]
multi = [result(doc) for doc in nlp.pipe(make_docs(), batch_size=3, n_process=2)]
print(json.dumps({"threads": threads, "parent_threads_after": torch.get_num_threads(), "single": single, "multi": multi}))
"""


def run_with_hard_timeout(args: Sequence[str], timeout: float, what: str) -> subprocess.CompletedProcess:
    """Run ``args`` in its own process group; on timeout kill the whole group (the
    forked workers too) and fail the test instead of hanging."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TOKENIZERS_PARALLELISM")}
    proc = subprocess.Popen(
        list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"{what} hung for {timeout} s; stderr:\n{stderr[-3000:]}")
    return subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)


@pytest.mark.parametrize("kind", ["question_answerer", "translator", "summarizer"])
def test_n_process_after_multithreaded_inference(kind, qa_models, seq2seq_models):
    """Forked workers used to wait forever in libgomp's barrier: the parent's torch
    OpenMP pool (2+ threads) does not survive fork. The package's at-fork hook gives
    each child one torch thread and serial tokenizers (and silences tokenizers' warning)."""
    model_dir = {
        "question_answerer": qa_models["bert"],
        "translator": seq2seq_models["marian"],
        "summarizer": seq2seq_models["t5"],
    }[kind]
    done = run_with_hard_timeout(
        [sys.executable, "-c", FORK_SCRIPT, kind, str(model_dir), str(TESTS_DIR)],
        FORK_TIMEOUT_S,
        f"{kind}: nlp.pipe(n_process=2) after multi-threaded inference",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["threads"] >= 2
    assert out["parent_threads_after"] == out["threads"]  # the hook only touches children
    assert "just got forked" not in done.stderr
    single, multi = out["single"], out["multi"]
    assert len(multi) == len(single) > 0
    if kind == "question_answerer":
        assert [[a[:3] for a in doc] for doc in multi] == [[a[:3] for a in doc] for doc in single]
        assert [a[3] for doc in multi for a in doc] == pytest.approx([a[3] for doc in single for a in doc], abs=1e-5)
        assert any(a[0] for doc in single for a in doc)
    else:
        assert multi == single
        assert any(single)


def test_fork_hook_resets_only_the_child(monkeypatch):
    import torch

    import tokenizers  # noqa: F401  (loaded: the hook configures its parallelism)

    monkeypatch.delenv("TOKENIZERS_PARALLELISM", raising=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: report and leave at once
            state = {"threads": torch.get_num_threads(), "env": os.environ.get("TOKENIZERS_PARALLELISM")}
            os.write(write_end, json.dumps(state).encode())
            os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            child = json.loads(pipe.read())
        os.waitpid(pid, 0)
        assert child == {"threads": 1, "env": "false"}
        assert torch.get_num_threads() == 2
        assert "TOKENIZERS_PARALLELISM" not in os.environ
    finally:
        torch.set_num_threads(threads)


# --------------------------------------------------------------------- bad questions


def answers_of(doc: Doc) -> List[Tuple[str, str, int, int, float]]:
    return [(a.question, a.text, a.start, a.end, a.score) for a in doc._.answers]


def assert_same_answers(got: Sequence[Tuple[Any, ...]], expected: Sequence[Tuple[Any, ...]]) -> None:
    assert [a[:4] for a in got] == [a[:4] for a in expected]
    assert [a[4] for a in got] == pytest.approx([a[4] for a in expected], abs=1e-5)


def pipe_with_warnings(nlp: Language, docs: List[Doc]) -> Tuple[List[Doc], List[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = list(nlp.pipe(docs, batch_size=len(docs)))
    return out, [str(w.message) for w in caught]


GOOD_ITEMS = [
    ("Marie Curie was born in Warsaw in 1867 and won two Nobel prizes.", ["Where was Marie Curie born?", "When?"]),
    ("Bob bought 3 apples, 2 pears and a melon at the market on Tuesday.", ["What did Bob buy?"]),
]


@pytest.fixture(scope="module")
def qa_nlp(qa_models) -> Language:
    return make_qa_nlp(qa_models["bert"])


def test_lone_surrogate_question_only_loses_its_own_answer(qa_nlp):
    bad_context = "The Eiffel Tower is located in Paris and was completed in 1889."
    docs = [
        make_qa_doc(qa_nlp, *GOOD_ITEMS[0]),
        make_qa_doc(qa_nlp, bad_context, ["Where is the tower\ud800?", "When was it completed?"]),
        make_qa_doc(qa_nlp, *GOOD_ITEMS[1]),
    ]
    out, messages = pipe_with_warnings(qa_nlp, docs)
    without_bad = list(qa_nlp.pipe([make_qa_doc(qa_nlp, *item) for item in GOOD_ITEMS]))
    assert_same_answers(answers_of(out[0]), answers_of(without_bad[0]))
    assert_same_answers(answers_of(out[2]), answers_of(without_bad[1]))
    bad = out[1]._.answers
    assert bad[0].text == "" and bad[0].question == "Where is the tower\ud800?"
    alone = qa_nlp(make_qa_doc(qa_nlp, bad_context, ["When was it completed?"]))
    assert_same_answers(answers_of(out[1])[1:], answers_of(alone))
    unicode_warnings = [m for m in messages if "not valid Unicode" in m]
    assert len(unicode_warnings) == 1
    assert "doc 1 of the batch: question 0 is not valid Unicode" in unicode_warnings[0]


class TokenizerFailingOn:
    """A real tokenizer that raises tokenizers' own TypeError for text containing
    ``marker`` (as for text it cannot encode), and delegates everything else."""

    def __init__(self, tokenizer: Any, marker: str) -> None:
        self._tokenizer = tokenizer
        self._marker = marker

    def __call__(self, text: Any = None, *args: Any, **kwargs: Any) -> Any:
        if self._marker in json.dumps([text, args, kwargs.get("text_pair")], default=str):
            raise TypeError("TextEncodeInput must be Union[TextInputSequence, Tuple[InputSequence, InputSequence]]")
        return self._tokenizer(text, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tokenizer, name)


def fail_tokenizer_on(monkeypatch: pytest.MonkeyPatch, pipe: Any, marker: str) -> None:
    hf = get_hf_shim(pipe.model).hf_objects
    monkeypatch.setattr(hf, "tokenizer", TokenizerFailingOn(hf.tokenizer, marker))


def test_a_tokenizer_error_on_a_valid_context_is_raised_not_hidden(qa_nlp, monkeypatch):
    """spaCy itself refuses a lone surrogate in doc text (StringStore), so every context is valid
    text: a tokenizer that fails on one is an internal error (e.g. a tokenizer shared between
    threads, "Already borrowed"), raised instead of reported as a bad doc with empty answers
    (issue #19: 37 of 40 threaded docs got empty answers that way)."""
    fail_tokenizer_on(monkeypatch, qa_nlp.get_pipe("question_answerer"), "UNENCODABLE")
    docs = [make_qa_doc(qa_nlp, *GOOD_ITEMS[0]), make_qa_doc(qa_nlp, "An UNENCODABLE context.", ["What is it?"])]
    with pytest.raises(TypeError):
        list(qa_nlp.pipe(docs))


@pytest.mark.parametrize(
    "questions, expected",
    [
        ([42], r"doc\._\.questions\[0\] is 42 \(int\)"),
        (["Who?", None], r"doc\._\.questions\[1\] is None \(NoneType\)"),
        (["Who?", ["nested"]], r"doc\._\.questions\[1\] is \['nested'\] \(list\)"),
        (42, r"doc\._\.questions is 42 \(int\)"),
        ({"Who?"}, r"doc\._\.questions is \{'Who\?'\} \(set\)"),
    ],
)
def test_non_string_questions_raise_before_any_model_work(qa_nlp, monkeypatch, questions, expected):
    pipe = qa_nlp.get_pipe("question_answerer")
    calls: List[int] = []
    original = pipe._featurize

    def counting_featurize(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(pipe, "_featurize", counting_featurize)
    good = make_qa_doc(qa_nlp, *GOOD_ITEMS[0])
    bad = qa_nlp.make_doc("Bob bought apples.")
    bad._.questions = questions
    with pytest.raises(ValueError, match=r"doc 1 of the batch \('Bob bought apples\.'\): " + expected):
        list(qa_nlp.pipe([good, bad], batch_size=2))
    assert calls == []


def test_none_questions_and_default_questions_still_work(qa_nlp):
    pipe = qa_nlp.get_pipe("question_answerer")
    doc = qa_nlp.make_doc(GOOD_ITEMS[0][0])
    doc._.questions = None
    assert qa_nlp(doc)._.answers == []
    pipe.cfg["default_questions"] = ["Where?"]
    try:
        doc = qa_nlp.make_doc(GOOD_ITEMS[0][0])
        doc._.questions = ("When?",)
        assert [a.question for a in qa_nlp(doc)._.answers] == ["When?", "Where?"]
    finally:
        pipe.cfg["default_questions"] = []


# ------------------------------------------------------------------------- seq2seq


@pytest.mark.parametrize(
    "factory, model, cfg",
    [
        ("translator", "marian", {}),
        ("translator", "marian", {"sentence_mode": True}),
        ("summarizer", "t5", {}),
    ],
)
def test_seq2seq_text_the_tokenizer_rejects_only_loses_that_doc(seq2seq_models, monkeypatch, factory, model, cfg):
    nlp = make_seq2seq_nlp(factory, seq2seq_models[model], num_beams=1, max_new_tokens=6, **cfg)
    field = "translation" if factory == "translator" else "summary"
    good = random_texts(4, seed=3)
    without_bad = [getattr(d._, field) for d in nlp.pipe(good)]
    fail_tokenizer_on(monkeypatch, nlp.get_pipe(factory), "UNENCODABLE")
    texts = good[:2] + ["Hoy hace calor. Un texto UNENCODABLE aquí."] + good[2:]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = [getattr(d._, field) for d in nlp.pipe(texts, batch_size=len(texts))]
    assert out[:2] + out[3:] == without_bad
    assert out[2] == ""
    assert any("doc 2 of the batch" in str(w.message) and "TypeError" in str(w.message) for w in caught)


# -------------------------------------------------------------- memory benchmark


def test_benchmark_memory_writes_the_rss_series(tmp_path, qa_models):
    output = tmp_path / "memory.json"
    result = run_script(
        "benchmark_memory", output, "--n-docs", 300, "--sample-every", 100, "--baseline-doc", 100,
        "--qa-model", qa_models["bert"], "--ner-model", tmp_path / "no-such-ner", "--ner-train-steps", 2,
    )
    assert result.exit_code == 0, result.output
    data = json.loads(output.read_text(encoding="utf-8"))
    assert data["n_docs"] == 300 and data["sample_every"] == 100
    assert set(data["pipelines"]) == {"ner", "question_answerer"}
    for name, entry in data["pipelines"].items():
        assert [s["docs"] for s in entry["rss_series"]] == [0, 100, 200, 300], name
        assert all(s["rss_mb"] > 10 for s in entry["rss_series"])
        by_docs = {s["docs"]: s["rss_mb"] for s in entry["rss_series"]}
        expected = round(100 * (by_docs[300] - by_docs[100]) / by_docs[100], 2)
        assert entry["growth_100_to_end_pct"] == pytest.approx(expected, abs=0.01)
        peak = round(100 * (max(by_docs[100], by_docs[200], by_docs[300]) - by_docs[100]) / by_docs[100], 2)
        assert entry["growth_100_to_peak_pct"] == pytest.approx(peak, abs=0.01)
    assert "fallback" in data["pipelines"]["ner"]["source"]
    assert data["pipelines"]["question_answerer"]["source"] == str(qa_models["bert"])
    assert data["pipelines"]["question_answerer"]["questions"] >= 300


@pytest.mark.parametrize(
    "args, message",
    [
        (["--qa-model", "no/such/model"], "--qa-model: directory not found: no/such/model"),
        (["--n-docs", 300, "--sample-every", 100, "--baseline-doc", 150], "--baseline-doc 150 must be a multiple of --sample-every 100"),
        (["--ner-model", "no/such/ner", "--ner-gold", "no/such/gold.jsonl"], "--ner-gold: file not found"),
    ],
)
def test_benchmark_memory_bad_options_are_one_line(tmp_path, args, message):
    result = run_script("benchmark_memory", tmp_path / "memory.json", *args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.output
    assert not (tmp_path / "memory.json").exists()
