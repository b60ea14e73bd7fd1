"""translator / summarizer serialization: safetensors + tokenizer files, no pickle,
identical outputs after reload (offline, with the original model directory gone)."""

from __future__ import annotations

import shutil

import pytest
import spacy
import srsly
from spacy.tokens import DocBin

from seq2seq_fixtures import SENTENCES, make_seq2seq_nlp, random_texts, seq2seq_models  # noqa: F401

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


@pytest.mark.parametrize(
    "factory,kind,cfg",
    [
        ("translator", "marian", {"num_beams": 2, "max_new_tokens": 6}),
        ("translator", "m2m100", {"src_lang": "es", "tgt_lang": "pt", "num_beams": 1, "max_new_tokens": 6}),
        ("summarizer", "t5", {"num_beams": 1, "max_new_tokens": 6, "max_input_length": 40}),
    ],
)
def test_to_disk_from_disk_offline(seq2seq_models, tmp_path, monkeypatch, factory, kind, cfg):
    model_copy = tmp_path / "model-copy"
    shutil.copytree(seq2seq_models[kind], model_copy)
    nlp = make_seq2seq_nlp(factory, model_copy, sentencizer=True, **cfg)
    texts = random_texts(12, seed=11) + [" ".join(SENTENCES[:8]), ""]
    field = "translation" if factory == "translator" else "summary"
    before = [getattr(d._, field) for d in nlp.pipe(texts)]
    out = tmp_path / "pipeline"
    nlp.to_disk(out)
    shutil.rmtree(model_copy)  # the weights must live inside the saved pipeline
    files = [p for p in (out / factory).rglob("*") if p.is_file()]
    assert not [p for p in files if p.name.endswith(PICKLE_SUFFIXES)]
    # neither a pickle stream (protocol 2-5) nor a torch.save zip archive
    heads = {p.name: p.read_bytes()[:4] for p in files}
    assert not [n for n, h in heads.items() if h[:1] == b"\x80" and h[1:2] in b"\x02\x03\x04\x05" or h == b"PK\x03\x04"]
    model_dir = out / factory / "model"
    assert (model_dir / "model.safetensors").exists() and (model_dir / "config.json").exists()
    # settings live in config.cfg only (the config is the source of truth), weights in model/
    assert not (out / factory / "cfg").exists()
    assert spacy.util.load_config(out / "config.cfg")["components"][factory]["max_new_tokens"] == cfg["max_new_tokens"]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    reloaded = spacy.load(out)
    assert [getattr(d._, field) for d in reloaded.pipe(texts)] == before
    if factory == "translator":
        doc = reloaded(texts[-2])
        assert [s._.translation for s in doc.sents] == [s._.translation for s in nlp(texts[-2]).sents]


def test_to_bytes_from_bytes(seq2seq_models):
    nlp = make_seq2seq_nlp("translator", seq2seq_models["t5"], prefix="translate Spanish to Portuguese: ",
                           num_beams=1, max_new_tokens=7)
    texts = random_texts(10, seed=12)
    before = [d._.translation for d in nlp.pipe(texts)]
    data = nlp.to_bytes()
    # as in spaCy: bytes go into a pipeline built from the same config (no initialize:
    # nothing is loaded from the model name)
    fresh = spacy.util.load_model_from_config(nlp.config, auto_fill=True)
    fresh.from_bytes(data)
    pipe = fresh.get_pipe("translator")
    assert pipe.cfg["prefix"] == "translate Spanish to Portuguese: " and pipe.cfg["max_new_tokens"] == 7
    assert [d._.translation for d in fresh.pipe(texts)] == before
    # pipe-level bytes carry weights only: the receiving pipe keeps its own settings
    other = spacy.blank("xx").add_pipe("translator", config={
        "model": {"name": "/nowhere/model"}, "prefix": "translate Spanish to Portuguese: ", "max_new_tokens": 3,
        "num_beams": 1,
    })
    other.from_bytes(nlp.get_pipe("translator").to_bytes())
    assert other.cfg["max_new_tokens"] == 3
    assert other.generate_texts(texts) == [d._.translation for d in make_seq2seq_nlp(
        "translator", seq2seq_models["t5"], prefix="translate Spanish to Portuguese: ", num_beams=1,
        max_new_tokens=3).pipe(texts)]


def test_results_survive_docbin(seq2seq_models):
    nlp = make_seq2seq_nlp("translator", seq2seq_models["marian"], sentencizer=True, num_beams=1, max_new_tokens=4)
    doc = nlp("Hoy hace calor. El perro come carne.")
    db = DocBin(store_user_data=True, attrs=["SENT_START"])
    db.add(doc)
    (back,) = DocBin().from_bytes(db.to_bytes()).get_docs(nlp.vocab)
    assert back._.translation == doc._.translation
    assert [s._.translation for s in back.sents] == [s._.translation for s in doc.sents]


def test_from_disk_without_weights_names_the_path(seq2seq_models, tmp_path):
    nlp = make_seq2seq_nlp("summarizer", seq2seq_models["t5"], num_beams=1, max_new_tokens=4)
    out = tmp_path / "pipeline"
    nlp.to_disk(out)
    shutil.rmtree(out / "summarizer" / "model")
    with pytest.raises(FileNotFoundError, match="summarizer"):
        spacy.load(out)
