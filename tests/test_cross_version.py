"""Pipelines saved under one transformers version load under the other with the same answers
and translations (issue #18): tests/data/pipeline_transformers4 was saved by this package under
transformers 4.53, tests/data/pipeline_transformers5 under 5 (tests/data/make_version_pipeline.py),
tests/data/legacy_pipeline by 0.1.0 under 4.x. CI runs this module in both of its legs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import spacy
import transformers

DATA = Path(__file__).resolve().parent / "data"


def _run(nlp, expected):
    docs = []
    for text in expected["texts"]:
        doc = nlp.make_doc(text)
        doc._.questions = expected["questions"]
        docs.append(nlp(doc))
    return docs


@pytest.mark.parametrize("saved_under", ["pipeline_transformers4", "pipeline_transformers5"])
def test_pipeline_saved_under_either_version_loads_the_same(saved_under, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = DATA / saved_under
    expected = json.loads((path / "expected.json").read_text(encoding="utf-8"))
    assert expected["saved_with"]["transformers"].split(".")[0] == saved_under[-1]
    nlp = spacy.load(path)
    assert nlp.pipe_names == ["sentencizer", "question_answerer", "translator", "translator_m2m100"]
    docs = _run(nlp, expected)
    assert [[[a.text, round(a.score, 5)] for a in d._.answers] for d in docs] == expected["answers"]
    assert [d._.translation for d in docs] == expected["translations"]
    assert [d._.translation_m2m100 for d in docs] == expected["translations_m2m100"]
    assert all("<unk>" not in t for t in expected["translations_m2m100"])


def test_saved_tokenizer_config_is_readable_by_both_versions(tmp_path):
    """transformers 5 writes extra_special_tokens as a list, which 4.x cannot read: saving keeps
    those tokens as additional_special_tokens instead (the M2M100 language codes, T5)."""
    nlp = spacy.load(DATA / "pipeline_transformers5")
    nlp.to_disk(tmp_path / "again")
    for name in ("translator", "translator_m2m100", "question_answerer"):
        config = json.loads((tmp_path / "again" / name / "model" / "tokenizer_config.json").read_text())
        assert not isinstance(config.get("extra_special_tokens"), list), name
    m2m = json.loads((tmp_path / "again" / "translator_m2m100" / "model" / "tokenizer_config.json").read_text())
    assert "__pt__" in m2m["additional_special_tokens"]


def test_a_newer_major_version_is_named_when_loading_fails(tmp_path):
    """Files a newer transformers wrote that this one cannot read: the error says which version
    saved them and what to do."""
    path = tmp_path / "pipeline"
    shutil.copytree(DATA / "pipeline_transformers4", path)
    config_file = path / "translator" / "model" / "config.json"
    config = json.loads(config_file.read_text())
    config["transformers_version"] = "99.1.0"
    config["model_type"] = "t5-from-the-future"
    config_file.write_text(json.dumps(config))
    with pytest.raises(ValueError, match=rf"saved with transformers 99\.1\.0; this is {transformers.__version__}: "
                                         r"install transformers>=99"):
        spacy.load(path)
