"""Pipelines saved by earlier versions keep loading (issue #8): tests/data/legacy_pipeline
was saved by spacy_task_pipes 0.1.0 before the sub-package layout (and with the saved
``cfg`` files that are now ignored); see tests/data/make_legacy_pipeline.py."""

from __future__ import annotations

import json
from pathlib import Path

import spacy

LEGACY = Path(__file__).resolve().parent / "data" / "legacy_pipeline"


def test_pipeline_saved_by_0_1_0_loads_and_answers_the_same(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    expected = json.loads((LEGACY / "expected.json").read_text(encoding="utf-8"))
    nlp = spacy.load(LEGACY)
    assert nlp.pipe_names == ["sentencizer", "question_answerer", "translator"]
    docs = []
    for text in expected["texts"]:
        doc = nlp.make_doc(text)
        doc._.questions = expected["questions"]
        docs.append(nlp(doc))
    assert [[a.text for a in d._.answers] for d in docs] == expected["answers"]
    assert [d._.translation for d in docs] == expected["translations"]
