"""The ``question_answerer`` factory and the ``Doc`` extensions it reads and writes, registered
without importing torch or transformers (spaCy loads every factory entry point whenever it
makes a pipeline, an NER-only one included): the pipe itself is imported when it is built.

Extensions: ``doc._.questions`` (input: a string or a list of strings), ``doc._.answers``
(output: one :class:`Answer` per question), ``doc._.gold_answers`` (training data, set by
the ``SquadCorpus.v1`` reader).
"""

from __future__ import annotations

from typing import Callable, List, Optional

from spacy.language import Language
from spacy.pipeline import TrainablePipe
from thinc.api import Config, Model

from .answers import register_extensions

register_extensions()


DEFAULT_QA_MODEL = """
[model]
@architectures = "spacy_task_pipes.QuestionAnswering.v1"
name = "distilbert/distilbert-base-cased-distilled-squad"
tokenizer_config = {"use_fast": true}
transformer_config = {}
mixed_precision = false
mixed_precision_dtype = "float16"
grad_scaler_config = {}
quantize = null
backend = "torch"
"""
DEFAULT_MODEL_CONFIG = Config().from_str(DEFAULT_QA_MODEL)["model"]


@Language.factory(
    "question_answerer",
    assigns=["doc.spans", "doc._.answers"],
    default_config={
        "model": DEFAULT_MODEL_CONFIG,
        "default_questions": [],
        "spans_key": "answers",
        "max_seq_length": 384,
        "doc_stride": 128,
        "n_best": 20,
        "max_answer_length": 30,
        "handle_impossible_answer": False,
        "null_score_diff_threshold": 0.0,
        "align_to_words": True,
        "feature_batch_size": 32,
        "update_batch_size": 4,
        "max_windows_per_doc": 100_000,
        "use_training_dropout": False,
        "loss_over_padding": False,
        "scorer": {"@scorers": "spacy_task_pipes.squad_scorer.v1"},
    },
    default_score_weights={"qa_exact_match": 0.5, "qa_f1": 0.5},
)
def make_question_answerer(
    nlp: Language,
    name: str,
    model: Model,
    default_questions: List[str],
    spans_key: str,
    max_seq_length: int,
    doc_stride: int,
    n_best: int,
    max_answer_length: int,
    handle_impossible_answer: bool,
    null_score_diff_threshold: float,
    align_to_words: bool,
    feature_batch_size: int,
    update_batch_size: int,
    max_windows_per_doc: int,
    use_training_dropout: bool,
    loss_over_padding: bool,
    scorer: Optional[Callable],
) -> TrainablePipe:  # the class is imported when built
    """The ``question_answerer`` pipe: answers each doc's questions (``doc._.questions``, then
    ``default_questions``) with spans of the doc, in ``doc.spans[spans_key]`` and
    ``doc._.answers`` (see :mod:`spacy_task_pipes.qa.component`). ``model`` is a
    ``spacy_task_pipes.QuestionAnswering.v1`` architecture; the window and decoding settings
    are Hugging Face's (``max_seq_length``, ``doc_stride``, ``n_best``, ``max_answer_length``,
    ``handle_impossible_answer``, ``null_score_diff_threshold``); ``feature_batch_size``
    windows per forward pass, ``update_batch_size`` per training chunk, ``max_windows_per_doc``
    the most windows (questions x windows) one doc may need. ``use_training_dropout``: false,
    the model trains with its own config's dropout (as the Hugging Face ``Trainer``; a different
    ``training.dropout`` is reported once); true, with ``training.dropout``. ``loss_over_padding``:
    false (the default), the start/end softmax of the loss covers the windows' own tokens;
    true, also the padding positions of the update (every window padded to its longest), as
    the Hugging Face QA heads and the ``Trainer``'s padding collator compute it: a loss that
    depends on batch composition, for exact comparisons with the ``Trainer``. torch and transformers are
    imported here, when the pipe is built, not when the factory is registered."""
    from .component import QuestionAnswerer

    return QuestionAnswerer(
        nlp.vocab,
        model,
        name,
        default_questions=default_questions,
        spans_key=spans_key,
        max_seq_length=max_seq_length,
        doc_stride=doc_stride,
        n_best=n_best,
        max_answer_length=max_answer_length,
        handle_impossible_answer=handle_impossible_answer,
        null_score_diff_threshold=null_score_diff_threshold,
        align_to_words=align_to_words,
        feature_batch_size=feature_batch_size,
        update_batch_size=update_batch_size,
        max_windows_per_doc=max_windows_per_doc,
        use_training_dropout=use_training_dropout,
        loss_over_padding=loss_over_padding,
        scorer=scorer,
    )
