"""QA command-line scripts: convert_qa (SQuAD JSON -> DocBin, article slicing, bad input),
evaluate_qa, benchmark_qa (smoke, tiny model) and train_qa_hf (smoke)."""

from __future__ import annotations

import json

import pytest
import spacy
import srsly

from conftest import run_script
from spacy_task_pipes.bench.seq2seq import hf_pipeline_unavailable
from qa_fixtures import qa_models, squad_file  # noqa: F401
from spacy_task_pipes.qa.data import (
    create_squad_corpus,
    hf_records_to_squad,
    iter_squad_paragraphs,
    parse_article_slice,
)


def read_back(path):
    return list(create_squad_corpus(path)(spacy.blank("en")))


# ------------------------------------------------------------------ convert


def test_convert_splits_by_article(tmp_path):
    src = squad_file(tmp_path, impossible=True)
    train, dev = tmp_path / "train.spacy", tmp_path / "dev.spacy"
    res = run_script("convert_qa", train, "--input", src, "--articles", "0:2")
    assert res.exit_code == 0, res.output
    stats = json.loads(res.output.strip().splitlines()[-1])
    assert stats["articles"] == 2 and stats["paragraphs"] == 4 and stats["questions"] == 12
    assert stats["unanswerable"] == 4
    res = run_script("convert_qa", dev, "--input", src, "--articles", "2:")
    assert res.exit_code == 0, res.output
    train_egs, dev_egs = read_back(train), read_back(dev)
    assert len(train_egs) == 4 and len(dev_egs) == 2
    assert all("article 2" in eg.reference.text for eg in dev_egs)
    assert not any("article 2" in eg.reference.text for eg in train_egs)
    gold = dev_egs[0].reference._.gold_answers
    assert [g["id"] for g in gold] == ["2-0-where", "2-0-who", "2-0-none"]
    assert gold[2]["is_impossible"] and gold[2]["answers"] == []
    ans = gold[0]["answers"][0]
    assert dev_egs[0].reference.text[ans["start"]: ans["start"] + len(ans["text"])] == ans["text"]
    assert dev_egs[0].predicted._.questions == [g["question"] for g in gold]


def test_convert_question_limit_and_split_questions(tmp_path):
    src = squad_file(tmp_path)
    out = tmp_path / "out.spacy"
    res = run_script("convert_qa", out, "--input", src, "--max-questions", "5", "--split-questions")
    assert res.exit_code == 0, res.output
    egs = read_back(out)
    assert len(egs) == 5 and all(len(eg.reference._.gold_answers) == 1 for eg in egs)
    res = run_script("convert_qa", out, "--input", src, "--max-questions", "3")
    egs = read_back(out)
    assert [len(eg.reference._.gold_answers) for eg in egs] == [2, 1]


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda d: d["data"][1]["paragraphs"][0]["qas"][1]["answers"][0].update(text="Nowhere"), "1-0-who"),
        (lambda d: d["data"][0]["paragraphs"][1].pop("context"), r"data\[0\].paragraphs\[1\]"),
        (lambda d: d["data"][2]["paragraphs"][0]["qas"][0].pop("question"), r"qas\[0\]"),
        (lambda d: d["data"][0]["paragraphs"][0]["qas"][0]["answers"][0].pop("answer_start"), "answer_start"),
        (lambda d: d.pop("data"), "'data' list"),
    ],
)
def test_convert_bad_records_name_the_place(tmp_path, mutate, message):
    src = squad_file(tmp_path)
    data = srsly.read_json(src)
    mutate(data)
    srsly.write_json(src, data)
    out = tmp_path / "out.spacy"
    res = run_script("convert_qa", out, "--input", src)
    assert res.exit_code == 2
    assert str(src) in res.output and __import__("re").search(message, res.output), res.output
    assert not out.exists() and not list(tmp_path.glob(".out.spacy*"))


def test_convert_bad_invocations(tmp_path):
    src = squad_file(tmp_path)
    out = tmp_path / "out.spacy"
    (tmp_path / "broken.json").write_text('{"data": [', encoding="utf-8")
    res = run_script("convert_qa", out, "--input", tmp_path / "broken.json")
    assert res.exit_code == 2 and "broken.json" in res.output and "not valid JSON" in res.output
    res = run_script("convert_qa", out, "--input", tmp_path / "missing.json")
    assert res.exit_code == 2 and "missing.json" in res.output
    res = run_script("convert_qa", out)
    assert res.exit_code == 2 and "exactly one" in res.output
    res = run_script("convert_qa", out, "--input", src, "--articles", "a:b")
    assert res.exit_code == 2 and "0:40" in res.output
    res = run_script("convert_qa", out, "--input", src, "--articles", "5:")
    assert res.exit_code == 2 and "no paragraphs" in res.output
    assert not out.exists()


def test_article_slices_and_hf_rows():
    assert parse_article_slice("0:40") == slice(0, 40)
    assert parse_article_slice("40:") == slice(40, None)
    assert parse_article_slice("") == slice(None)
    assert parse_article_slice("3") == slice(3, 4)
    rows = [
        {"id": "a", "title": "T1", "context": "Bob is here.", "question": "Who?",
         "answers": {"text": ["Bob"], "answer_start": [0]}},
        {"id": "b", "title": "T1", "context": "Bob is here.", "question": "Where?",
         "answers": {"text": [], "answer_start": []}},
        {"id": "c", "title": "T2", "context": "Ann is there.", "question": "Who?",
         "answers": {"text": ["Ann"], "answer_start": [0]}},
    ]
    data = hf_records_to_squad(rows, "squad_v2[validation]")
    assert [a["title"] for a in data["data"]] == ["T1", "T2"]
    paras = list(iter_squad_paragraphs(data, "x", "1:"))
    assert paras == [{"context": "Ann is there.", "qas": [
        {"id": "c", "question": "Who?", "answers": [{"text": "Ann", "start": 0}], "is_impossible": False}]}]
    first = list(iter_squad_paragraphs(data, "x", "0:1"))[0]["qas"]
    assert first[1]["is_impossible"] and first[1]["answers"] == []
    with pytest.raises(ValueError, match="row 0"):
        hf_records_to_squad([{"question": "q"}], "ds")


# --------------------------------------------------------- evaluate / bench


def test_evaluate_qa_on_hf_dir(tmp_path, qa_models):
    src = squad_file(tmp_path, impossible=True)
    out, html = tmp_path / "metrics.json", tmp_path / "answers.html"
    res = run_script("evaluate_qa", qa_models["bert"], src, out, "--html", html, "--handle-impossible", "both", "--null-threshold", "1.5",
                     "--max-seq-length", "64", "--doc-stride", "16")
    assert res.exit_code == 0, res.output
    metrics = srsly.read_json(out)
    assert metrics["questions"] == 18 and metrics["contexts"] == 6
    assert metrics["null_score_diff_threshold"] == 1.5
    for key in ("handle_impossible_answer=False", "handle_impossible_answer=True"):
        assert 0.0 <= metrics[key]["f1"] <= 100.0
        # 6 paragraphs x (2 answerable + 1 unanswerable) questions
        assert metrics[key]["has_ans"]["questions"] == 12 and metrics[key]["no_ans"]["questions"] == 6
    assert "<html" in html.read_text(encoding="utf-8").lower()


QA_RUNNERS = {"ours", "hf_pipeline", "bare_forward", "ours_int8", "torch_int8", "ours_onnxruntime_int8",
              "onnxruntime_fp32", "onnxruntime_int8", "onnxruntime_int8_per_channel"}
ONNX_RUNNERS = {"ours_onnxruntime_int8", "onnxruntime_fp32", "onnxruntime_int8", "onnxruntime_int8_per_channel"}


def _has_onnxruntime():
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def test_benchmark_qa_smoke(tmp_path, qa_models):
    src = squad_file(tmp_path, n_articles=2)
    out = tmp_path / "speed.json"
    res = run_script("benchmark_qa", src, out, "--model", qa_models["bert"], "--n-questions", "6",
                     "--repeats", "1", "--batch-size", "4", "--max-seq-length", "64", "--doc-stride", "16",
                     "--threads", "1")
    assert res.exit_code == 0, res.output
    result = srsly.read_json(out)
    assert result["questions"] == 6 and result["contexts"] == 3
    ran = QA_RUNNERS if _has_onnxruntime() else QA_RUNNERS - ONNX_RUNNERS
    has_hf_pipeline = hf_pipeline_unavailable() is None  # transformers 5 removed it
    if not has_hf_pipeline:
        ran = ran - {"hf_pipeline"}
        assert "removed in 5.0" in result["skipped"]["hf_pipeline"]
    assert set(result["questions_per_second"]) == ran == set(result["runners"])
    assert set(result["skipped"]) == QA_RUNNERS - ran
    assert all(v > 0 for v in result["questions_per_second"].values())
    assert result["ratio_ours_vs_bare_forward"] > 0
    if has_hf_pipeline:
        # same weights, same algorithm: the answers agree with QuestionAnsweringPipeline
        assert result["ratio_ours_vs_hf_pipeline"] > 0
        assert result["agreement_with_hf_pipeline"]["exact"] == 1.0
    assert set(result["ratio_vs_ours"]) == ran - {"ours"}
    assert result["fastest_peer"] in ran and not result["fastest_peer"].startswith("ours")
    assert set(result["ratio_vs_fastest_peer"]) == {n for n in ran if n.startswith("ours")}
    assert "ours_int8_vs_torch_int8" in result["ratio_ours_vs_peer"]
    answer_runners = {"hf_pipeline", "ours_int8", "ours_onnxruntime_int8"} & ran
    assert set(result["agreement_with_ours"]) == answer_runners
    if has_hf_pipeline:
        assert result["agreement_with_ours"]["hf_pipeline"]["exact"] == 1.0
    for scores in result["agreement_with_ours"].values():
        assert 0.0 <= scores["exact"] <= scores["normalized"] <= 1.0
    bare_peers = {"torch_int8", "onnxruntime_fp32", "onnxruntime_int8", "onnxruntime_int8_per_channel"} & ran
    assert set(result["span_agreement_with_bare_forward"]) == bare_peers
    assert all(0.0 <= v <= 1.0 for v in result["span_agreement_with_bare_forward"].values())
    if "onnxruntime_fp32" in ran:  # the same float model in another runtime: the same best spans
        assert result["span_agreement_with_bare_forward"]["onnxruntime_fp32"] == 1.0
        assert "ours_onnxruntime_int8_vs_onnxruntime_int8" in result["ratio_ours_vs_peer"]
    assert json.loads(res.output.strip().splitlines()[-1])["questions"] == 6


def test_benchmark_qa_runners_option(tmp_path, qa_models):
    src = squad_file(tmp_path, n_articles=1)
    out = tmp_path / "speed.json"
    common = ["--model", qa_models["bert"], "--n-questions", "4", "--repeats", "1", "--batch-size", "4",
              "--max-seq-length", "64", "--doc-stride", "16", "--threads", "1"]
    res = run_script("benchmark_qa", src, out, *common, "--runners", "ours_int8,torch_int8")
    assert res.exit_code == 0, res.output
    result = srsly.read_json(out)
    assert set(result["questions_per_second"]) == {"ours_int8", "torch_int8"} and result["skipped"] == {}
    # the float references of the agreement run untimed when their runners are left out
    assert set(result["agreement_with_ours"]) == {"ours_int8"}
    assert set(result["span_agreement_with_bare_forward"]) == {"torch_int8"}
    assert result["ratio_ours_vs_peer"] == {"ours_int8_vs_torch_int8": pytest.approx(
        result["questions_per_second"]["ours_int8"] / result["questions_per_second"]["torch_int8"], rel=0.01)}
    assert "ratio_vs_ours" not in result and result["fastest_peer"] == "torch_int8"
    res = run_script("benchmark_qa", src, out, *common, "--runners", "ours,nope")
    assert res.exit_code == 2 and "nope" in res.output and "bare_forward" in res.output


def test_benchmark_qa_builds_model_from_encoder(tmp_path, qa_models):
    from transformers import AutoModel

    encoder = tmp_path / "encoder"
    AutoModel.from_pretrained(str(qa_models["bert"])).save_pretrained(str(encoder))
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(str(qa_models["bert"])).save_pretrained(str(encoder))
    src = squad_file(tmp_path, n_articles=1, n_paragraphs=1)
    model_dir = tmp_path / "built-qa"
    res = run_script("benchmark_qa", src, tmp_path / "s.json", "--model", model_dir, "--encoder", encoder,
                     "--n-questions", "2", "--repeats", "1", "--max-seq-length", "64", "--doc-stride", "16")
    assert res.exit_code == 0, res.output
    assert (model_dir / "model.safetensors").exists() and (model_dir / "tokenizer.json").exists()
    res = run_script("benchmark_qa", src, tmp_path / "s.json", "--model", tmp_path / "none", "--encoder", tmp_path / "nope")
    assert res.exit_code == 2 and "nope" in res.output


def test_train_qa_hf_smoke(tmp_path, qa_models):
    pytest.importorskip("accelerate")
    src = squad_file(tmp_path, n_articles=1)
    out = tmp_path / "hf"
    res = run_script("train_qa_hf", qa_models["bert"], src, out, "--max-questions", "4", "--batch-size", "2",
                     "--warmup-steps", "1", "--max-seq-length", "64", "--doc-stride", "16")
    assert res.exit_code == 0, res.output
    stats = srsly.read_json(out / "train_stats.json")
    assert stats["questions"] == 4 and stats["steps"] == 2
    assert (out / "model.safetensors").exists() and not list(out.glob("*.bin"))
