"""End to end: `spacy project run all` in a temp copy of the project, then spacy.load the package."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

PACKAGE = "ner_gadget_e2e"


def _run(args, cwd, env=None):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(map(str, args))} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture
def project_copy(tmp_path):
    dest = tmp_path / "project"
    dest.mkdir()
    shutil.copy(ROOT / "project.yml", dest)
    for folder in ("configs", "scripts", "assets"):
        shutil.copytree(ROOT / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__", "conll2002"))
    yield dest
    subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", f"en_{PACKAGE}"], capture_output=True)


@pytest.mark.slow
def test_project_run_all_then_spacy_load(project_copy):
    env = dict(os.environ, SPACY_CONFIG_OVERRIDES="--training.max_steps=400 --training.eval_frequency=100")
    proc = _run(
        [sys.executable, "-m", "spacy", "project", "run", "all", str(project_copy),
         "--vars.name", PACKAGE, "--vars.bench_repeats", "1", "--vars.bench_copies", "1"],
        cwd=project_copy,
        env=env,
    )
    out = proc.stdout
    for step in ("bootstrap", "convert", "debug-data", "train", "evaluate", "benchmark", "package"):
        assert f"= {step} =" in out, f"step {step} did not run"
    stats = json.loads((project_copy / "corpus/en/bootstrap_stats.json").read_text())
    assert stats["texts"] >= 600 and stats["entities_per_label"]["GADGET"] > 500
    metrics = json.loads((project_copy / "training/en/ner_test_metrics.json").read_text())
    assert metrics["gold_entities"] > 100
    assert 0.0 <= metrics["model"]["f"] <= 1.0 and "GADGET" in metrics["model"]["per_label"]
    assert (project_copy / "training/en/ner_test_predictions.html").stat().st_size > 1000
    speed = json.loads((project_copy / "training/en/ner_speed.json").read_text())
    assert speed["ours_wps_median"] > 0 and speed["ratio_ours_vs_init_config"] > 0
    # The installed package loads by name in a fresh interpreter and tags a gadget
    code = (
        "import json, spacy; nlp = spacy.load('en_%s');"
        "doc = nlp('I returned my iPhone 13 and bought a Galaxy S22 Ultra instead.');"
        "print(json.dumps([[e.text, e.label_] for e in doc.ents]))" % PACKAGE
    )
    ents = json.loads(_run([sys.executable, "-c", code], cwd=project_copy).stdout.strip().splitlines()[-1])
    assert ["iPhone 13", "GADGET"] in ents or ["Galaxy S22 Ultra", "GADGET"] in ents, ents


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory):
    """A tiny random BERT with a WordPiece tokenizer trained here on the project's texts."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    texts = [json.loads(line)["text"] for line in (ROOT / "assets/en/raw_texts.jsonl").read_text().splitlines()]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(
        texts, trainers.WordPieceTrainer(vocab_size=800, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    )
    path = tmp_path_factory.mktemp("tiny_bert")
    BertTokenizerFast(tokenizer_object=tok, do_lower_case=False).save_pretrained(path)
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=256)
    BertForMaskedLM(config).save_pretrained(path)
    return path


@pytest.mark.slow
def test_transformer_workflow_with_local_model(project_copy, tiny_bert_dir):
    """all-gpu's commands with a local Hugging Face directory, here on CPU (--vars.gpu_id -1), offline."""
    env = dict(os.environ, HF_HUB_OFFLINE="1",
               SPACY_CONFIG_OVERRIDES="--training.max_steps=20 --training.eval_frequency=10")
    _run(
        [sys.executable, "-m", "spacy", "project", "run", "all-gpu", str(project_copy),
         "--vars.trf_model", str(tiny_bert_dir), "--vars.gpu_id", "-1"],
        cwd=project_copy,
        env=env,
    )
    metrics = json.loads((project_copy / "training/en/ner_trf_test_metrics.json").read_text())
    assert metrics["gold_entities"] > 100 and "model" in metrics
    assert (project_copy / "training/en/ner_trf_learning_curve.png").stat().st_size > 10_000
    config = (project_copy / "training/en/ner_trf/model-best/config.cfg").read_text()
    assert f'name = "{tiny_bert_dir}"' in config
