"""What the ``question_answerer`` writes and reads on a ``Doc``: :class:`Answer` and the
extensions ``doc._.questions``, ``doc._.answers``, ``doc._.gold_answers`` (plain spaCy, no torch)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

from spacy.tokens import Doc, Span

from .decode import ANSWERS_KEY


@dataclass
class Answer:
    """One question's answer. ``text == context[start:end]``; ``span`` is the
    token-aligned (expanded) span, ``None`` for an empty answer."""

    question: str
    text: str
    start: int
    end: int
    score: float
    span: Optional[Span] = None

    @property
    def is_empty(self) -> bool:
        return self.end <= self.start


def _get_answers(doc: Doc) -> List[Answer]:
    answers = []
    for raw in doc.user_data.get(ANSWERS_KEY) or []:
        span = None
        if raw["end"] > raw["start"]:
            span = doc.char_span(raw["start"], raw["end"], alignment_mode="expand")
        answers.append(
            Answer(raw["question"], raw["text"], raw["start"], raw["end"], raw["score"], span)
        )
    return answers


def register_extensions() -> None:
    if not Doc.has_extension("questions"):
        Doc.set_extension("questions", default=None)
    if not Doc.has_extension("answers"):
        Doc.set_extension("answers", getter=_get_answers)
    if not Doc.has_extension("gold_answers"):
        Doc.set_extension("gold_answers", default=None)
