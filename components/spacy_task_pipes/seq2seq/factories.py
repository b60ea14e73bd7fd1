"""The ``translator`` and ``summarizer`` factories, registered without importing torch or
transformers (spaCy loads every factory entry point whenever it makes a pipeline, an NER-only
one included): the pipes are imported when they are built. Registering them also registers
``Doc._.translation`` (and ``Span._.translation``) and ``Doc._.summary``, so docs read back from
a ``DocBin`` have them."""

from __future__ import annotations

from typing import Callable, Optional

from spacy.language import Language
from spacy.pipeline import TrainablePipe
from thinc.api import Model

from .settings import BASE_DEFAULTS, TRANSLATOR_DEFAULTS, register_doc_field, seq2seq_model_config

register_doc_field("translation", span=True)
register_doc_field("summary")


@Language.factory(
    "translator",
    assigns=["doc._.translation"],
    default_config={
        "model": seq2seq_model_config("Helsinki-NLP/opus-mt-es-pt"),
        "field": "translation",
        **BASE_DEFAULTS,  # the translator uses the base settings as they are
        **TRANSLATOR_DEFAULTS,
        "scorer": {"@scorers": "spacy_task_pipes.translation_scorer.v1"},
    },
    default_score_weights={"translation_bleu": 0.5, "translation_chrf": 0.5},
)
def make_translator(
    nlp: Language,
    name: str,
    model: Model,
    field: str,
    prefix: str,
    src_lang: Optional[str],
    tgt_lang: Optional[str],
    sentence_mode: Optional[bool],
    sentence_separator: str,
    max_input_length: int,
    max_target_length: int,
    num_beams: int,
    max_new_tokens: int,
    min_new_tokens: int,
    no_repeat_ngram_size: int,
    length_penalty: float,
    early_stopping: bool,
    do_sample: bool,
    eval_num_beams: Optional[int],
    eval_max_new_tokens: Optional[int],
    batch_token_budget: int,
    max_batch_size: int,
    update_token_budget: int,
    use_training_dropout: bool,
    scorer: Optional[Callable],
) -> TrainablePipe:  # the class is imported when built
    """The ``translator`` pipe: writes ``doc._.<field>`` (default ``translation``), sentence by
    sentence in sentence mode (``span._.<field>`` too), with the Hugging Face generation
    settings of the config (see :mod:`spacy_task_pipes.seq2seq.translator`); evaluation inside
    ``spacy train`` generates with ``eval_num_beams``/``eval_max_new_tokens`` instead. torch and
    transformers are imported here, when the pipe is built."""
    args = dict(locals())  # the factory's arguments, before the imports below add names
    from .base import pipe_from_factory_args
    from .translator import Translator

    return pipe_from_factory_args(Translator, args)


@Language.factory(
    "summarizer",
    assigns=["doc._.summary"],
    default_config={
        "model": seq2seq_model_config("google-t5/t5-small"),
        "field": "summary",
        "prefix": "summarize: ",
        "max_summary_rounds": 3,
        "max_input_length": 512,
        "max_target_length": 128,
        "num_beams": 4,
        "max_new_tokens": 128,
        "min_new_tokens": 0,
        "no_repeat_ngram_size": 3,
        "length_penalty": 1.0,
        "early_stopping": True,
        "do_sample": False,
        "eval_num_beams": 1,
        "eval_max_new_tokens": 64,
        "batch_token_budget": 8192,
        "max_batch_size": 32,
        "update_token_budget": 512,
        "use_training_dropout": False,
        "scorer": {"@scorers": "spacy_task_pipes.summarization_scorer.v1"},
    },
    default_score_weights={
        "summary_rouge1": 0.25,
        "summary_rouge2": 0.25,
        "summary_rougeLsum": 0.5,
        "summary_rougeL": 0.0,
        "summary_gen_len": None,
    },
)
def make_summarizer(
    nlp: Language,
    name: str,
    model: Model,
    field: str,
    prefix: str,
    max_summary_rounds: int,
    max_input_length: int,
    max_target_length: int,
    num_beams: int,
    max_new_tokens: int,
    min_new_tokens: int,
    no_repeat_ngram_size: int,
    length_penalty: float,
    early_stopping: bool,
    do_sample: bool,
    eval_num_beams: Optional[int],
    eval_max_new_tokens: Optional[int],
    batch_token_budget: int,
    max_batch_size: int,
    update_token_budget: int,
    use_training_dropout: bool,
    scorer: Optional[Callable],
) -> TrainablePipe:  # the class is imported when built
    """The ``summarizer`` pipe: writes ``doc._.<field>`` (default ``summary``); a doc longer than
    ``max_input_length`` is summarized in chunks, at most ``max_summary_rounds`` rounds (see
    :mod:`spacy_task_pipes.seq2seq.summarizer`); evaluation inside ``spacy train`` generates with
    ``eval_num_beams``/``eval_max_new_tokens``. torch and transformers are imported here,
    when the pipe is built."""
    args = dict(locals())  # the factory's arguments, before the imports below add names
    from .base import pipe_from_factory_args
    from .summarizer import Summarizer

    return pipe_from_factory_args(Summarizer, args)
