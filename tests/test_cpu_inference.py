"""CPU inference settings of the task models (issue #12): ``quantize = "int8"`` and the
``onnxruntime`` / ``ctranslate2`` backends of ``[components.<name>.model]``.

What users rely on: the settings change how inference runs and nothing else (training,
saved files), float runtimes give the PyTorch model's results, the runner follows the
weights after an update or a load, forked workers work, and bad settings are clear errors.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any, Dict, List

import numpy
import pytest
import spacy
import torch
from spacy.training import Example

from qa_fixtures import make_qa_nlp, qa_models  # noqa: F401
from seq2seq_fixtures import corpus_lines, make_seq2seq_nlp, random_texts, seq2seq_models  # noqa: F401
from test_reliability_runtime import FORK_SCRIPT, FORK_TIMEOUT_S, TESTS_DIR, run_with_hard_timeout
from spacy_task_pipes.hf import OnnxRuntimeRunner, get_hf_shim
from spacy_task_pipes.qa import answer_questions

QUANTIZED_LINEAR = torch.ao.nn.quantized.dynamic.Linear
QA_ARCH = "spacy_task_pipes.QuestionAnswering.v1"
S2S_ARCH = "spacy_task_pipes.Seq2SeqLM.v1"
CONTEXT = "The Orbit S5 is made by Calder Systems. It came out in 2020 and weighs 180 grams."
QUESTIONS = ["Who makes the Orbit S5?", "When did it come out?", "How much does it weigh?"]

pytest.importorskip("onnxruntime")
pytest.importorskip("ctranslate2")


def qa_nlp(model_dir: Path, **settings: Any):
    return make_qa_nlp(model_dir, model={"@architectures": QA_ARCH, "name": str(model_dir), **settings})


def s2s_nlp(factory: str, model_dir: Path, settings: Dict[str, Any], **cfg: Any):
    return make_seq2seq_nlp(factory, model_dir, model={"@architectures": S2S_ARCH, "name": str(model_dir), **settings}, **cfg)


def qa_logits(nlp, n_windows: int = 6) -> List[numpy.ndarray]:
    """start/end logits of the pipe's model on a few real feature batches."""
    pipe = nlp.get_pipe("question_answerer")
    tokenizer = get_hf_shim(pipe.model).hf_objects.tokenizer
    enc = tokenizer(QUESTIONS * 2, [CONTEXT] * 6, padding=True, return_tensors="np")
    X = {k: v.astype("int64") for k, v in enc.items()}
    start, end = pipe.model.predict(X)
    return [numpy.asarray(start)[:n_windows], numpy.asarray(end)[:n_windows]]


def answers(nlp) -> List[tuple]:
    doc = answer_questions(nlp, CONTEXT, QUESTIONS)
    return [(a.text, a.start, a.end) for a in doc._.answers]


# ------------------------------------------------------------------------------ QA


def test_qa_onnxruntime_float_equals_torch(qa_models):
    for kind in ("bert", "distilbert"):  # with and without token_type_ids
        torch_nlp = qa_nlp(qa_models[kind])
        ort_nlp = qa_nlp(qa_models[kind], backend="onnxruntime")
        for ours, ref in zip(qa_logits(ort_nlp), qa_logits(torch_nlp)):
            numpy.testing.assert_allclose(ours, ref, atol=1e-4, rtol=1e-4)
        assert answers(ort_nlp) == answers(torch_nlp)
        assert isinstance(get_hf_shim(ort_nlp.get_pipe("question_answerer").model).inference_runner(
            ("input_ids", "attention_mask") + (("token_type_ids",) if kind == "bert" else ())), OnnxRuntimeRunner)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_qa_int8_runs_int8_weights_and_stays_close(qa_models, backend):
    float_nlp = qa_nlp(qa_models["bert"])
    int8_nlp = qa_nlp(qa_models["bert"], quantize="int8", backend=backend)
    ref, got = qa_logits(float_nlp), qa_logits(int8_nlp)
    for ours, want in zip(got, ref):
        assert not numpy.array_equal(ours, want)  # int8 weights give other numbers ...
        scale = float(numpy.abs(want).max())
        assert float(numpy.abs(ours - want).max()) < 0.1 * scale  # ... close to the float ones
    shim = get_hf_shim(int8_nlp.get_pipe("question_answerer").model)
    if backend == "torch":
        modules = list(shim.inference_runner().modules())
        assert any(isinstance(m, QUANTIZED_LINEAR) for m in modules)
        assert not any(type(m) is torch.nn.Linear for m in modules)
    # the float model the pipeline saves and trains is untouched
    assert any(type(m) is torch.nn.Linear for m in shim._model.modules())
    assert not any(isinstance(m, QUANTIZED_LINEAR) for m in shim._model.modules())
    doc = answer_questions(int8_nlp, CONTEXT, QUESTIONS)
    assert len(doc._.answers) == len(QUESTIONS)
    for answer in doc._.answers:
        assert CONTEXT[answer.start:answer.end] == answer.text


def test_int8_setting_saves_the_float_weights_and_loads_with_the_setting(qa_models, tmp_path):
    float_nlp = qa_nlp(qa_models["bert"])
    int8_nlp = qa_nlp(qa_models["bert"], quantize="int8", backend="onnxruntime")
    answers(int8_nlp)  # the runner exists before saving: it is not saved
    answers(float_nlp)  # (a call leaves its truncation settings in tokenizer.json: same on both)
    float_nlp.to_disk(tmp_path / "float")
    int8_nlp.to_disk(tmp_path / "int8")
    saved = sorted(p.relative_to(tmp_path / "int8") for p in (tmp_path / "int8").rglob("*") if p.is_file())
    assert saved == sorted(p.relative_to(tmp_path / "float") for p in (tmp_path / "float").rglob("*") if p.is_file())
    assert not [p for p in saved if p.suffix in (".onnx", ".pt") or p.name == "model.bin"]
    for rel in saved:
        if rel.name != "config.cfg":
            assert (tmp_path / "int8" / rel).read_bytes() == (tmp_path / "float" / rel).read_bytes(), rel
    loaded = spacy.load(tmp_path / "int8")
    model_cfg = loaded.config["components"]["question_answerer"]["model"]
    assert (model_cfg["quantize"], model_cfg["backend"]) == ("int8", "onnxruntime")
    assert answers(loaded) == answers(int8_nlp)
    # and a float pipeline takes the setting at load time, as any config value
    switched = spacy.load(tmp_path / "float", config={"components": {"question_answerer": {"model": {"quantize": "int8"}}}})
    assert get_hf_shim(switched.get_pipe("question_answerer").model).uses_cpu_runner
    assert answers(switched) == answers(qa_nlp(qa_models["bert"], quantize="int8"))


def test_training_updates_the_float_model_and_the_runner_follows(qa_models):
    nlp = qa_nlp(qa_models["bert"], quantize="int8")
    pipe = nlp.get_pipe("question_answerer")
    shim = get_hf_shim(pipe.model)
    before = qa_logits(nlp)
    first = shim.inference_runner()
    doc = nlp.make_doc(CONTEXT)
    ref = nlp.make_doc(CONTEXT)
    ref._.gold_answers = [{"question": "Who makes the Orbit S5?",
                           "answers": [{"text": "Calder Systems", "start": CONTEXT.index("Calder")}]}]
    optimizer = nlp.resume_training()
    for _ in range(3):
        losses = nlp.update([Example(doc, ref)], sgd=optimizer)
    assert losses["question_answerer"] > 0
    after = qa_logits(nlp)
    assert shim.inference_runner() is not first  # rebuilt from the updated float weights
    assert not numpy.allclose(after[0], before[0])


# ------------------------------------------------------------------------- seq2seq


@pytest.mark.parametrize("kind", ["t5", "marian", "m2m100"])
@pytest.mark.parametrize("beams", [1, 3])
def test_ctranslate2_float_equals_generate(seq2seq_models, kind, beams):
    """Token-for-token the same text as ``model.generate`` (greedy and beam search),
    including Marian's forced EOS at the length limit and M2M100's forced target language."""
    cfg: Dict[str, Any] = {"num_beams": beams, "max_new_tokens": 16}
    if kind == "m2m100":
        cfg.update(src_lang="es", tgt_lang="pt")
    texts = corpus_lines()[:12]
    ref = [d._.translation for d in s2s_nlp("translator", seq2seq_models[kind], {}, **cfg).pipe(texts)]
    got = [d._.translation for d in s2s_nlp("translator", seq2seq_models[kind], {"backend": "ctranslate2"}, **cfg).pipe(texts)]
    assert got == ref and any(ref)


@pytest.mark.parametrize("kind", ["t5", "marian"])
def test_ctranslate2_fixed_length_equals_generate(seq2seq_models, kind):
    """min_new_tokens = max_new_tokens (the benchmarks' setting): with Marian's forced final
    EOS one token fewer is decoded freely, as generate does, instead of an error."""
    cfg = {"num_beams": 1, "max_new_tokens": 6, "min_new_tokens": 6}
    texts = corpus_lines()[:6]
    ref = [d._.translation for d in s2s_nlp("translator", seq2seq_models[kind], {}, **cfg).pipe(texts)]
    got = [d._.translation for d in s2s_nlp("translator", seq2seq_models[kind], {"backend": "ctranslate2"}, **cfg).pipe(texts)]
    assert got == ref and all(ref)


@pytest.mark.parametrize("backend", ["torch", "ctranslate2"])
def test_seq2seq_int8_generates_with_int8_weights(seq2seq_models, backend):
    nlp = s2s_nlp("summarizer", seq2seq_models["t5-train"], {"quantize": "int8", "backend": backend},
                  num_beams=1, max_new_tokens=8)
    shim = get_hf_shim(nlp.get_pipe("summarizer").model)
    docs = list(nlp.pipe(random_texts(5)))
    assert all(isinstance(d._.summary, str) for d in docs)
    runner = shim.inference_runner()
    if backend == "ctranslate2":
        import ctranslate2

        assert isinstance(runner, ctranslate2.Translator) and runner.compute_type.startswith("int8")
    else:
        assert any(isinstance(m, QUANTIZED_LINEAR) for m in runner.modules())


# --------------------------------------------------------------------- bad settings


def test_bad_settings_are_clear_errors(qa_models, seq2seq_models, monkeypatch):
    with pytest.raises(ValueError, match=r"quantize = 'int4'.*null.*int8"):
        qa_nlp(qa_models["bert"], quantize="int4")
    with pytest.raises(ValueError, match=r"backend = 'ctranslate2'.*\"torch\", \"onnxruntime\""):
        qa_nlp(qa_models["bert"], backend="ctranslate2")
    with pytest.raises(ValueError, match=r"backend = 'onnxruntime'.*\"torch\", \"ctranslate2\""):
        s2s_nlp("translator", seq2seq_models["t5"], {"backend": "onnxruntime"})
    monkeypatch.setitem(sys.modules, "ctranslate2", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install -e \".\[cpu-fast\]\" in a clone"):
        s2s_nlp("translator", seq2seq_models["t5"], {"backend": "ctranslate2"})


def test_gpu_settings_fall_back_to_the_float_model_with_a_warning(qa_models):
    nlp = qa_nlp(qa_models["bert"], quantize="int8")
    shim = get_hf_shim(nlp.get_pipe("question_answerer").model)

    class FakeDevice:
        type = "cuda"

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(shim), "device", property(lambda self: FakeDevice()))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert not shim.uses_cpu_runner
            assert not shim.uses_cpu_runner
        assert len([w for w in caught if "CPU inference settings" in str(w.message)]) == 1


# -------------------------------------------------------------------------- fork


@pytest.mark.parametrize("kind,settings", [
    ("question_answerer", {"quantize": "int8"}),
    ("question_answerer", {"quantize": "int8", "backend": "onnxruntime"}),
    ("translator", {"quantize": "int8", "backend": "ctranslate2"}),
])
def test_n_process_with_a_runner_built_in_the_parent(kind, settings, qa_models, seq2seq_models):
    """The parent builds its runner first; each forked worker builds its own and gives the
    single-process results."""
    model_dir = qa_models["bert"] if kind == "question_answerer" else seq2seq_models["marian"]
    done = run_with_hard_timeout(
        [sys.executable, "-c", FORK_SCRIPT, kind, str(model_dir), str(TESTS_DIR), json.dumps(settings)],
        FORK_TIMEOUT_S, f"{kind} {settings}: nlp.pipe(n_process=2)")
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    single, multi = out["single"], out["multi"]
    assert len(multi) == len(single) > 0
    if kind == "question_answerer":
        assert [[a[:3] for a in doc] for doc in multi] == [[a[:3] for a in doc] for doc in single]
    else:
        assert multi == single and any(single)


def test_inference_overrides_pick_each_components_runtime():
    from spacy_task_pipes.cli import inference_overrides

    config = {"components": {
        "ner": {"factory": "ner", "model": {"@architectures": "spacy.TransitionBasedParser.v2"}},
        "question_answerer": {"model": {"@architectures": QA_ARCH}},
        "translator": {"model": {"@architectures": S2S_ARCH}},
    }}
    assert inference_overrides(config, quantize="int8", backend="ctranslate2,onnxruntime") == {"components": {
        "question_answerer": {"model": {"quantize": "int8", "backend": "onnxruntime"}},
        "translator": {"model": {"quantize": "int8", "backend": "ctranslate2"}},
    }}
    assert inference_overrides(config, quantize=None) == {"components": {
        "question_answerer": {"model": {"quantize": None}}, "translator": {"model": {"quantize": None}}}}
    translator_only = {"components": {"translator": config["components"]["translator"]}}
    # a runtime that no component runs on is named, not "this pipeline has no task component"
    with pytest.raises(ValueError, match="backend onnxruntime: no component of this pipeline runs on it"):
        inference_overrides(translator_only, backend="onnxruntime")
    assert inference_overrides({"components": {"ner": config["components"]["ner"]}}, quantize="int8") == {}
