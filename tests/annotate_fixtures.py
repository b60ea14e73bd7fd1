"""Pipelines, corpora and helpers shared by the annotate tests (nothing downloads).

Import the fixtures into a test module (``from annotate_fixtures import ner_model_dir``).
The custom test components live in a code file (``code_file``) so that worker
processes and Ray actors can import it too (``--code``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Sequence

import pytest
import spacy
from spacy.language import Language

from spacy_task_pipes.annotate.annotator import import_code

CODE = '''
import time

from spacy.language import Language

MARKER = "EXPLODE"


@Language.component("annotate_test_fail")
def fail_on_marker(doc):
    """Raises on any doc that contains the marker, as a buggy component would."""
    if MARKER in doc.text:
        raise RuntimeError(f"marker found in {doc.text[:30]!r}")
    return doc


@Language.component("annotate_test_slow")
def slow_down(doc):
    time.sleep(0.02)
    return doc
'''

MARKER = "EXPLODE"

PATTERNS = [
    {"label": "GADGET", "pattern": "iPhone 14"},
    {"label": "GADGET", "pattern": "Kindle"},
    {"label": "GADGET", "pattern": [{"LOWER": "pixel"}, {"IS_DIGIT": True}]},
    {"label": "CITY", "pattern": "Warsaw"},
    {"label": "CITY", "pattern": "Paris"},
]

TEXTS = [
    "Just got the Pixel 8, the camera beats my old iPhone 14 by a mile.",
    "Marie Curie was born in Warsaw in 1867 and moved to Paris in 1891.",
    "My Kindle died on the train, so I read on the iPhone 14 instead.",
    "Nothing to see here, just a sentence without names.",
    "The Eiffel Tower is located in Paris and was completed in 1889.",
    "Alice's cat, named Whiskers, sleeps on the red sofa every afternoon.",
    "Bob bought 3 apples, 2 pears and a melon at the market on Tuesday.",
    "Is the Pixel 7 better than the Kindle for reading in Warsaw?",
]


@pytest.fixture(scope="session")
def code_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test components as a ``--code`` file, imported here as well."""
    path = tmp_path_factory.mktemp("annotate-code") / "annotate_test_components.py"
    path.write_text(CODE, encoding="utf-8")
    import_code(str(path))
    return path


def ner_nlp(*extra_pipes: str) -> Language:
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(PATTERNS)
    for name in extra_pipes:
        nlp.add_pipe(name)
    return nlp


@pytest.fixture(scope="session")
def ner_model_dir(tmp_path_factory: pytest.TempPathFactory, code_file: Path) -> Path:
    """entity_ruler + a component that raises on the marker text."""
    path = tmp_path_factory.mktemp("annotate-ner") / "model"
    ner_nlp("annotate_test_fail").to_disk(path)
    return path


@pytest.fixture(scope="session")
def slow_model_dir(tmp_path_factory: pytest.TempPathFactory, code_file: Path) -> Path:
    """entity_ruler + a component that sleeps 20 ms per doc (for the kill test)."""
    path = tmp_path_factory.mktemp("annotate-slow") / "model"
    ner_nlp("annotate_test_slow").to_disk(path)
    return path


def combined_nlp(qa_model: Path, t5_model: Path) -> Language:
    """NER + question_answerer + translator + summarizer + the failing component."""
    nlp = spacy.blank("en")
    nlp.add_pipe("question_answerer", config={
        "model": {"@architectures": "spacy_task_pipes.QuestionAnswering.v1", "name": str(qa_model)}})
    seq2seq = {"@architectures": "spacy_task_pipes.Seq2SeqLM.v1", "name": str(t5_model)}
    nlp.add_pipe("translator", config={"model": seq2seq, "num_beams": 1, "max_new_tokens": 8})
    nlp.add_pipe("summarizer", config={"model": seq2seq, "num_beams": 1, "max_new_tokens": 6})
    nlp.add_pipe("annotate_test_fail")
    nlp.initialize()
    # after initialize(), which would clear the ruler's patterns
    nlp.add_pipe("entity_ruler", first=True).add_patterns(PATTERNS)
    return nlp


@pytest.fixture(scope="session")
def combined_model_dir(tmp_path_factory: pytest.TempPathFactory, code_file: Path,
                       qa_models: Dict[str, Path], seq2seq_models: Dict[str, Path]) -> Path:
    path = tmp_path_factory.mktemp("annotate-combined") / "model"
    combined_nlp(qa_models["bert"], seq2seq_models["t5"]).to_disk(path)
    return path


def combined_rows() -> List[Dict[str, Any]]:
    """QA records (one question, several, none), an id-less record, bad records and
    one that makes a component raise, in the middle of a batch."""
    return [
        {"id": "a", "text": TEXTS[0], "questions": "Which phone is old?"},
        {"id": "b", "text": TEXTS[1], "questions": ["Where was Marie born?", "When did she move?"]},
        {"id": "c", "text": f"This one has the {MARKER} marker in Paris."},
        {"text": TEXTS[2]},
        {"id": "e", "body": "no text field"},
        {"id": "f", "text": "   "},
        {"id": "g", "text": TEXTS[4], "questions": "What is in Paris?"},
        {"id": "h", "text": TEXTS[7], "questions": [""]},
        {"id": 9, "text": TEXTS[5]},
    ]


def write_jsonl(path: Path, rows: Sequence[Any]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def read_parts(out_dir: Path) -> List[Dict[str, Any]]:
    """All result records of an output directory, in shard order."""
    rows: List[Dict[str, Any]] = []
    for part in sorted(out_dir.glob("part-*.jsonl")):
        rows.extend(read_jsonl(part))
    return rows
