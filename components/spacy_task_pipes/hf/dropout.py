"""The dropout a task model trains with: its own config's (as the Hugging Face ``Trainer``
trains it), or ``training.dropout`` (the ``drop`` that spaCy passes to ``update``) when the
component's ``use_training_dropout`` is on. Never silently one or the other: with the setting
off, a ``drop`` that differs from the model's dropout is reported once, with both settings
that could change it.

Imports: torch, spaCy's logger and wasabi; nothing of this package.
"""

from __future__ import annotations

import re
import weakref
from typing import Any, Optional, Tuple

import torch
from spacy.util import logger as spacy_logger
from wasabi import Printer

# The main dropout probability of a model config, by the first of these keys it has:
# T5 ("dropout_rate"), BERT/MiniLM ("hidden_dropout_prob"), BART/Marian/M2M100/DistilBERT ("dropout").
DROPOUT_CONFIG_KEYS: Tuple[str, ...] = ("dropout_rate", "hidden_dropout_prob", "dropout")
# Float attributes of transformers modules that hold a dropout probability: "dropout",
# "attention_dropout", "activation_dropout" (T5, Marian, BART in transformers 5), "dropout_prob"
# (BERT's SDPA attention in transformers 4), "attn_pdrop"/"resid_pdrop" (GPT-style). Not
# "layerdrop" nor "drop_path"/"drop_prob" (stochastic depth: whole layers, not activations).
DROPOUT_ATTRIBUTE = re.compile(r"(dropout(_prob|_p|_rate|_ratio|_probability)?|pdrop)$")


def config_dropout(config: Any) -> Optional[Tuple[str, float]]:
    """``(key, value)`` of the main dropout probability in a transformers config, or ``None``
    when it has none of :data:`DROPOUT_CONFIG_KEYS`."""
    for key in DROPOUT_CONFIG_KEYS:
        value = getattr(config, key, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return key, float(value)
    return None


def set_dropout(module: "torch.nn.Module", p: float) -> int:
    """Set every dropout probability of ``module`` to ``p``: the ``p`` of each ``nn.Dropout``
    (hidden, attention, classifier dropout) and each float attribute named as
    :data:`DROPOUT_ATTRIBUTE` says (the attention and activation dropout that transformers keeps
    as plain floats, e.g. T5's and Marian's attention, BERT's SDPA attention in transformers 4).
    The model's config (and so its saved ``config.json``) is left alone. Returns how many
    probabilities were set."""
    count = 0
    for sub in module.modules():
        if isinstance(sub, torch.nn.modules.dropout._DropoutNd):
            sub.p = float(p)
            count += 1
            continue
        for name, value in list(vars(sub).items()):
            if isinstance(value, float) and DROPOUT_ATTRIBUTE.search(name):
                setattr(sub, name, float(p))
                count += 1
    return count


class TrainingDropout:
    """What a component does with ``update(..., drop=...)`` (``training.dropout`` in
    ``spacy train``, 0.0 from a bare ``nlp.update``).

    ``use_training_dropout = false``: the model trains with its config's dropout probabilities
    (hidden, attention, activation, each as configured; change them with
    ``[components.NAME.model.transformer_config]``); a ``drop`` that differs from the model's
    main dropout is reported once per component (spaCy's logger and the console).
    ``use_training_dropout = true``: every dropout probability of the model is set to ``drop``
    before the forward pass (:func:`set_dropout`)."""

    def __init__(self, component: str, use_training_dropout: bool) -> None:
        self.component = component
        self.use_training_dropout = bool(use_training_dropout)
        self._applied: Optional[Tuple[Any, float]] = None  # (weak ref to the module, p)
        self._reported = False

    def apply(self, module: "torch.nn.Module", drop: float) -> None:
        """Prepare ``module`` for a training step with ``drop``."""
        name = self.component
        if self.use_training_dropout:
            if not isinstance(drop, (int, float)) or not 0.0 <= drop < 1.0:
                raise ValueError(
                    f"[{name}] training.dropout (update drop) is {drop!r}: with [components.{name}] "
                    "use_training_dropout = true it must be a probability >= 0 and < 1."
                )
            if self._applied is None or self._applied[0]() is not module or self._applied[1] != drop:
                set_dropout(module, drop)
                self._applied = (weakref.ref(module), float(drop))
            return
        if self._reported:
            return
        found = config_dropout(getattr(module, "config", None))
        if found is not None and abs(found[1] - float(drop)) < 1e-9:
            return
        self._reported = True
        key, value = found if found is not None else ("dropout", None)
        own = f"{key} = {value}" if value is not None else "its dropout settings"
        line = (
            f"[{name}] training.dropout = {drop} (the drop of update()) is not applied: the model "
            f"trains with the dropout of its own config ({own}), as the Hugging Face Trainer does. "
            f"To train with {drop}: set [components.{name}] use_training_dropout = true, or "
            f"[components.{name}.model.transformer_config] {key} = {drop}."
        )
        spacy_logger.info(line)
        Printer().warn(line)  # shown next to spaCy's own notices in `spacy train`
