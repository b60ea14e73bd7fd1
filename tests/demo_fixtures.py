"""Tiny pipelines for the demo page's tests, built locally (nothing downloads).

- ``demo_ner_pipeline``: ``spacy.blank("en")`` + a ``ner`` trained here (a few
  ``nlp.update`` steps on four sentences with ``GADGET`` mentions, until it predicts
  all of them);
- ``demo_full_pipeline``: that ``ner`` (sourced) + ``sentencizer`` + ``question_answerer``
  (tiny random BERT of ``qa_fixtures``) + ``translator`` and ``summarizer`` (tiny random
  T5 of ``seq2seq_fixtures``) on one ``spacy.blank("en")``.

Import the fixtures into a test module (``from demo_fixtures import demo_full_pipeline``);
the pipelines are written once per test process.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from qa_fixtures import get_tiny_qa_models
from seq2seq_fixtures import get_tiny_seq2seq_models

GADGET = "GADGET"
NER_TRAIN: List[Tuple[str, List[str]]] = [
    ("Just got the Pixel 8 Pro, the camera is great.", ["Pixel 8 Pro"]),
    ("My old iPhone 12 still works fine.", ["iPhone 12"]),
    ("The Galaxy S23 has a bright screen.", ["Galaxy S23"]),
    ("I returned the Kindle Paperwhite yesterday.", ["Kindle Paperwhite"]),
]
# A text the trained ``ner`` gets right (its first sentence is a training sentence).
DEMO_TEXT = "Just got the Pixel 8 Pro, the camera is great. The battery lasts two days."
DEMO_ENTITY = "Pixel 8 Pro"
DEMO_QUESTION = "Which phone did I get?"
MAX_NER_EPOCHS = 200
SEQ2SEQ_SETTINGS = {"num_beams": 1, "max_new_tokens": 16}

_CACHE: Dict[str, Path] = {}


def _entity_offsets(text: str, mentions: List[str]) -> List[Tuple[int, int, str]]:
    return [(text.index(m), text.index(m) + len(m), GADGET) for m in mentions]


def train_tiny_ner():
    """A blank English pipeline whose ``ner`` predicts every mention of ``NER_TRAIN``."""
    import spacy
    from spacy.training import Example
    from spacy.util import fix_random_seed

    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("ner")
    examples = [
        Example.from_dict(nlp.make_doc(text), {"entities": _entity_offsets(text, mentions)})
        for text, mentions in NER_TRAIN
    ]
    optimizer = nlp.initialize(lambda: examples)
    rng = random.Random(0)
    for _ in range(MAX_NER_EPOCHS):
        rng.shuffle(examples)
        nlp.update(examples, sgd=optimizer, drop=0.0)
        if all([e.text for e in nlp(text).ents] == mentions for text, mentions in NER_TRAIN):
            return nlp
    raise RuntimeError(f"The tiny NER did not learn {NER_TRAIN} in {MAX_NER_EPOCHS} epochs.")


def _build_full_pipeline(ner_nlp, out: Path) -> Path:
    import spacy

    import spacy_task_pipes.qa.component  # noqa: F401  (registers the factories)
    import spacy_task_pipes.seq2seq.summarizer  # noqa: F401
    import spacy_task_pipes.seq2seq.translator  # noqa: F401

    qa_model = get_tiny_qa_models()["bert"]
    t5 = get_tiny_seq2seq_models()["t5"]
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("question_answerer", config={"model": _model("QuestionAnswering", qa_model)})
    nlp.add_pipe("translator", config={"model": _model("Seq2SeqLM", t5), **SEQ2SEQ_SETTINGS})
    nlp.add_pipe("summarizer", config={"model": _model("Seq2SeqLM", t5), **SEQ2SEQ_SETTINGS})
    nlp.initialize()
    nlp.add_pipe("ner", source=ner_nlp, first=True)
    nlp.to_disk(out)
    return out


def _model(architecture: str, path: Path) -> Dict[str, str]:
    return {"@architectures": f"spacy_task_pipes.{architecture}.v1", "name": str(path)}


def get_demo_pipelines() -> Dict[str, Path]:
    """``{"ner": dir, "full": dir}``, written once per process."""
    if not _CACHE:
        root = Path(tempfile.mkdtemp(prefix="demo-pipelines-"))
        ner_nlp = train_tiny_ner()
        ner_nlp.to_disk(root / "ner")
        _CACHE["ner"] = root / "ner"
        _CACHE["full"] = _build_full_pipeline(ner_nlp, root / "full")
    return _CACHE


@pytest.fixture(scope="session")
def demo_ner_pipeline() -> Path:
    return get_demo_pipelines()["ner"]


@pytest.fixture(scope="session")
def demo_full_pipeline() -> Path:
    return get_demo_pipelines()["full"]
