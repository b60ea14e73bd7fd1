"""--quantize / --backend of scripts/evaluate_qa.py and scripts/evaluate.py (issue #12): the
CPU inference settings reach the task components, the JSON records the ones that ran, the
scores are valid numbers, and a bad value is one line with exit code 2."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import srsly

from conftest import run_script
from qa_fixtures import make_qa_nlp, qa_models, squad_file  # noqa: F401
from seq2seq_fixtures import make_seq2seq_nlp, seq2seq_models  # noqa: F401

pytest.importorskip("onnxruntime")
pytest.importorskip("ctranslate2")

SPA = ["El perro come carne.", "Mi hermana vive en Madrid.", "Hoy hace calor."]
POR = ["O cachorro come carne.", "Minha irmã mora em Lisboa.", "Hoje está calor."]


@pytest.fixture(scope="module")
def qa_pipeline(tmp_path_factory, qa_models):  # noqa: F811
    """A saved QA pipeline (float torch in its config) and a small SQuAD file."""
    root = tmp_path_factory.mktemp("qa-cli")
    nlp = make_qa_nlp(qa_models["bert"], max_seq_length=64, doc_stride=16)
    nlp.to_disk(root / "qa")
    return root / "qa", squad_file(root, n_articles=2, n_paragraphs=1)


@pytest.fixture(scope="module")
def translator_pipeline(tmp_path_factory, seq2seq_models):  # noqa: F811
    """A saved translator pipeline (Marian, float torch) and a 3-pair test corpus."""
    root = tmp_path_factory.mktemp("s2s-cli")
    nlp = make_seq2seq_nlp("translator", seq2seq_models["marian"], max_new_tokens=8)
    nlp.to_disk(root / "translator")
    src, tgt = root / "x.spa", root / "x.por"
    src.write_text("\n".join(SPA) + "\n", encoding="utf-8")
    tgt.write_text("\n".join(POR) + "\n", encoding="utf-8")
    corpus = root / "test.spacy"
    res = run_script("convert_seq2seq", "translation", corpus, "--source", src, "--target", tgt)
    assert res.exit_code == 0, res.output
    return root / "translator", corpus


def one_line_error(res) -> str:
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in res.output, res.output
    return lines[0]


# ----------------------------------------------------------------------- evaluate_qa


@pytest.mark.parametrize("args,quantize,backend", [
    ([], None, "torch"),
    (["--quantize", "int8"], "int8", "torch"),
    (["--quantize", "int8", "--backend", "onnxruntime"], "int8", "onnxruntime"),
    (["--backend", "onnxruntime"], None, "onnxruntime"),
    (["--quantize", "none", "--backend", "torch"], None, "torch"),
])
def test_evaluate_qa_applies_the_settings(tmp_path, qa_pipeline, args, quantize, backend):
    model, data = qa_pipeline
    out = tmp_path / "squad.json"
    res = run_script("evaluate_qa", model, data, out, *args)
    assert res.exit_code == 0, res.output
    metrics = srsly.read_json(out)
    assert (metrics["quantize"], metrics["backend"]) == (quantize, backend)
    assert metrics["questions"] == 4
    scores = metrics["handle_impossible_answer=False"]
    for key in ("exact_match", "f1"):
        assert not math.isnan(scores[key]) and 0.0 <= scores[key] <= 100.0


def test_evaluate_qa_settings_on_a_bare_hf_dir(tmp_path, qa_models):  # noqa: F811
    data = squad_file(tmp_path, n_articles=1, n_paragraphs=1)
    out = tmp_path / "squad.json"
    res = run_script("evaluate_qa", qa_models["bert"], data, out, "--quantize", "int8", "--backend", "onnxruntime",
                     "--max-seq-length", "64", "--doc-stride", "16")
    assert res.exit_code == 0, res.output
    metrics = srsly.read_json(out)
    assert (metrics["quantize"], metrics["backend"]) == ("int8", "onnxruntime")
    assert 0.0 <= metrics["handle_impossible_answer=False"]["f1"] <= 100.0


@pytest.mark.parametrize("args,message", [
    (["--backend", "tensorrt"], "--backend: 'tensorrt'"),
    (["--backend", "ctranslate2"], "--backend: 'ctranslate2'"),  # a seq2seq runtime
    (["--quantize", "int4"], "--quantize: 'int4'"),
])
def test_evaluate_qa_bad_settings_are_one_line(tmp_path, qa_pipeline, args, message):
    model, data = qa_pipeline
    out = tmp_path / "squad.json"
    line = one_line_error(run_script("evaluate_qa", model, data, out, *args))
    assert message in line
    assert not out.exists()


# -------------------------------------------------------------------------- evaluate


@pytest.mark.parametrize("args,quantize,backend", [
    ([], None, "torch"),
    (["--quantize", "int8"], "int8", "torch"),
    (["--quantize", "int8", "--backend", "ctranslate2"], "int8", "ctranslate2"),
    (["--backend", "ctranslate2", "--quantize", "none"], None, "ctranslate2"),
])
def test_evaluate_applies_the_settings(tmp_path, translator_pipeline, args, quantize, backend):
    model, corpus = translator_pipeline
    out = tmp_path / "metrics.json"
    res = run_script("evaluate", model, corpus, out, *args)
    assert res.exit_code == 0, res.output
    scores = srsly.read_json(out)
    assert scores["inference"] == {"translator": {"quantize": quantize, "backend": backend}}
    for key in ("translation_bleu", "translation_chrf"):
        assert not math.isnan(scores[key]) and 0.0 <= scores[key] <= 1.0
    assert "translation_bleu" in res.output and f"wrote {out}" in res.output


def test_evaluate_on_a_qa_pipeline_with_onnxruntime(tmp_path, qa_pipeline):
    model, data = qa_pipeline
    corpus = tmp_path / "test.spacy"
    assert run_script("convert_qa", corpus, "--input", data).exit_code == 0
    out = tmp_path / "metrics.json"
    res = run_script("evaluate", model, corpus, out, "--backend", "onnxruntime", "--quantize", "int8")
    assert res.exit_code == 0, res.output
    scores = srsly.read_json(out)
    assert scores["inference"] == {"question_answerer": {"quantize": "int8", "backend": "onnxruntime"}}
    assert 0.0 <= scores["qa_f1"] <= 1.0


def test_evaluate_json_is_spacy_evaluates(tmp_path, translator_pipeline):
    """Without settings the JSON is `spacy evaluate`'s (plus "inference"), same scores."""
    from spacy.cli.evaluate import evaluate

    model, corpus = translator_pipeline
    out = tmp_path / "metrics.json"
    assert run_script("evaluate", model, corpus, out).exit_code == 0
    ours = srsly.read_json(out)
    theirs = evaluate(str(model), corpus, silent=True)
    assert ours.pop("inference") == {"translator": {"quantize": None, "backend": "torch"}}
    assert set(ours) == set(theirs)
    for key, value in theirs.items():
        if key != "speed":
            assert ours[key] == pytest.approx(value, rel=1e-6), key


@pytest.mark.parametrize("args,message", [
    (["--backend", "tensorrt"], "--backend: tensorrt is not one of"),
    (["--backend", "ctranslate2,tensorrt"], "--backend: tensorrt is not one of"),
    (["--backend", "ctranslate2,onnxruntime"], "--backend: backend onnxruntime: no component"),  # QA's runtime
    (["--quantize", "fp16"], "--quantize: 'fp16'"),
])
def test_evaluate_bad_settings_are_one_line(tmp_path, translator_pipeline, args, message):
    model, corpus = translator_pipeline
    out = tmp_path / "metrics.json"
    line = one_line_error(run_script("evaluate", model, corpus, out, *args))
    assert message in line
    assert not out.exists()


def test_evaluate_settings_need_a_task_component(tmp_path):
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.to_disk(tmp_path / "plain")
    corpus = tmp_path / "empty.spacy"
    from spacy.tokens import DocBin

    DocBin(docs=[nlp("One. Two.")]).to_disk(corpus)
    out = tmp_path / "metrics.json"
    line = one_line_error(run_script("evaluate", tmp_path / "plain", corpus, out, "--quantize", "int8"))
    assert "has no question_answerer, translator or summarizer" in line
    assert not out.exists()
