"""Extractive question answering: the ``question_answerer`` component and its data.

- :mod:`.factory`: the ``question_answerer`` factory (light: torch and transformers are
  imported when the pipe is built), :mod:`.answers`: :class:`Answer` and the ``Doc`` extensions;
- :mod:`.model`: the ``spacy_task_pipes.QuestionAnswering.v1`` architecture;
- :mod:`.component`: the pipe (windows, decoding across windows, answers as spans);
- :mod:`.decode`: logits -> best span per window, and across windows;
- :mod:`.data`: SQuAD reading/validation, the ``SquadCorpus.v1`` reader and ``squad_scorer.v1``.

Imports: ``hf`` and the shared ``io``; no other sub-package. Importing this package registers
the factory, reader and scorer; the names below that need torch import it on first use.
"""

from typing import Any

from . import data, factory  # noqa: F401  (registers the factory, reader, scorer; no torch)
from .answers import Answer
from .decode import ANSWERS_KEY

_LAZY = {"QuestionAnswerer": "component", "answer_questions": "component", "answer_questions_pipe": "component",
         "make_qa_doc": "component"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ANSWERS_KEY", "Answer", "QuestionAnswerer", "answer_questions", "answer_questions_pipe", "make_qa_doc"]
