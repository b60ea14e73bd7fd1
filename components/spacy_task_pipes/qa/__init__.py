"""Extractive question answering: the ``question_answerer`` component and its data.

- :mod:`.model`: the ``spacy_task_pipes.QuestionAnswering.v1`` architecture;
- :mod:`.component`: the factory and pipe (windows, decoding across windows, answers as spans);
- :mod:`.decode`: logits -> best span per window, and across windows;
- :mod:`.data`: SQuAD reading/validation, the ``SquadCorpus.v1`` reader and ``squad_scorer.v1``.

Imports: ``hf`` and the shared ``io``; no other sub-package. Importing this package
registers everything (the entry points name the modules directly as well).
"""

from . import component, data, model  # noqa: F401  (registers the factory, architecture, reader, scorer)
from .component import Answer, QuestionAnswerer, answer_questions, answer_questions_pipe, make_qa_doc
from .decode import ANSWERS_KEY

__all__ = ["ANSWERS_KEY", "Answer", "QuestionAnswerer", "answer_questions", "answer_questions_pipe", "make_qa_doc"]
