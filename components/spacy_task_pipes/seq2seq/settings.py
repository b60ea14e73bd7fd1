"""Settings of the seq2seq factories and the ``Doc`` fields they write: plain data and spaCy,
no torch or transformers (see :mod:`.factories`)."""

from __future__ import annotations

from typing import Any, Dict

from spacy.tokens import Doc, Span
from thinc.api import Config


def seq2seq_model_config(name: str) -> Dict[str, Any]:
    """The default ``[components.<pipe>.model]`` block for a factory."""
    return Config().from_str(
        f"""
[model]
@architectures = "spacy_task_pipes.Seq2SeqLM.v1"
name = "{name}"
tokenizer_config = {{"use_fast": true}}
transformer_config = {{}}
mixed_precision = false
mixed_precision_dtype = "float16"
grad_scaler_config = {{}}
quantize = null
backend = "torch"
"""
    )["model"]


# The settings shared by both factories (the values are the defaults).
BASE_DEFAULTS: Dict[str, Any] = {
    "prefix": "",
    "src_lang": None,
    "tgt_lang": None,
    "max_input_length": 512,
    "max_target_length": 256,
    "num_beams": 4,
    "max_new_tokens": 256,
    "min_new_tokens": 0,
    "no_repeat_ngram_size": 0,
    "length_penalty": 1.0,
    "early_stopping": True,
    "do_sample": False,
    # evaluation inside `spacy train` (greedy and short; null: the inference setting above)
    "eval_num_beams": 1,
    "eval_max_new_tokens": 64,
    "batch_token_budget": 8192,
    "max_batch_size": 64,
    # training: a step's examples run in length-sorted chunks whose padded size (examples x
    # longest input + target) stays within this many tokens; their gradients add up to the
    # step's (the same update), with far less padding than one batch padded to its longest
    "update_token_budget": 512,
    "use_training_dropout": False,
}


TRANSLATOR_DEFAULTS: Dict[str, Any] = {"sentence_mode": None, "sentence_separator": " "}
SUMMARIZER_DEFAULTS: Dict[str, Any] = {"max_summary_rounds": 3}


def register_doc_field(field: str, span: bool = False) -> None:
    """``Doc._.<field>`` (and ``Span._.<field>``) with default ``None``."""
    if not Doc.has_extension(field):
        Doc.set_extension(field, default=None)
    if span and not Span.has_extension(field):
        Span.set_extension(field, default=None)

