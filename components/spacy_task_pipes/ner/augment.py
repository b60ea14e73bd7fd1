"""Training-data augmenters for rule-bootstrapped NER.

Silver data made by patterns only ever shows the names the patterns know, so a model
trained on it tends to memorise those names. ``entity_swap`` shows it the same contexts
with other names in the entity slots: names seen elsewhere in the corpus and "shape
copies" (each letter/digit replaced by a random one of the same kind, so ``Pixel 7 Pro``
may become ``Vorem 3 Pka``). What stays constant is the context and the shape of a name,
which is what generalises to names no rule covers.

Use it from a config::

    [corpora.train.augmenter]
    @augmenters = "spacy_task_pipes.entity_swap.v1"
    level = 1.0
    shape_copy = 0.7
    lower = 0.1
"""

from __future__ import annotations

import random
import string
from typing import Callable, Dict, Iterator, List, Optional

from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import registry

_LOWER, _UPPER, _DIGITS = string.ascii_lowercase, string.ascii_uppercase, string.digits


def shape_copy(text: str, rng: random.Random, keep_token: float = 0.3) -> str:
    """Replace characters by random ones of the same kind; each whitespace-separated
    token is kept unchanged with probability ``keep_token``."""
    out = []
    for token in text.split(" "):
        if rng.random() < keep_token:
            out.append(token)
            continue
        chars = []
        for ch in token:
            if ch in _LOWER or (ch.isalpha() and ch.islower()):
                chars.append(rng.choice(_LOWER))
            elif ch in _UPPER or (ch.isalpha() and ch.isupper()):
                chars.append(rng.choice(_UPPER))
            elif ch.isdigit():
                chars.append(rng.choice(_DIGITS))
            else:
                chars.append(ch)
        out.append("".join(chars))
    return " ".join(out)


class EntitySwapper:
    """Callable augmenter: yields each example, and with probability ``level`` a copy
    whose entities are replaced by other names of the same label."""

    def __init__(self, level: float, shape_copy: float, lower: float, max_names: int, seed: int):
        for name, value in (("level", level), ("shape_copy", shape_copy), ("lower", lower)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"entity_swap: {name} must be between 0 and 1, got {value}")
        self.level, self.shape_copy, self.lower = level, shape_copy, lower
        self.max_names = max_names
        self.rng = random.Random(seed)
        self.names: Dict[str, List[str]] = {}

    def _remember(self, label: str, text: str) -> None:
        names = self.names.setdefault(label, [])
        if len(names) < self.max_names:
            names.append(text)
        else:  # reservoir: keep a bounded, unbiased sample of names seen so far
            names[self.rng.randrange(len(names))] = text

    def _replacement(self, label: str, text: str) -> str:
        known = self.names.get(label)
        if not known or self.rng.random() < self.shape_copy:
            new = shape_copy(text, self.rng)
        else:
            new = self.rng.choice(known)
        if self.rng.random() < self.lower:
            new = new.lower()
        return new

    def __call__(self, nlp: Language, example: Example) -> Iterator[Example]:
        ref = example.reference
        for ent in ref.ents:
            self._remember(ent.label_, ent.text)
        yield example
        if not ref.ents or self.rng.random() >= self.level:
            return
        words: List[str] = []
        spaces: List[bool] = []
        tags: List[Optional[str]] = []
        i = 0
        ents = {e.start: e for e in ref.ents}
        while i < len(ref):
            ent = ents.get(i)
            if ent is None:
                token = ref[i]
                words.append(token.text)
                spaces.append(bool(token.whitespace_))
                tags.append(token.ent_iob_ if token.ent_iob_ == "O" else None)
                i += 1
                continue
            new_tokens = nlp.make_doc(self._replacement(ent.label_, ent.text))
            if not len(new_tokens):
                new_tokens = nlp.make_doc(ent.text)
            for j, token in enumerate(new_tokens):
                words.append(token.text)
                spaces.append(bool(token.whitespace_) if j < len(new_tokens) - 1 else bool(ent[-1].whitespace_))
                tags.append(("B-" if j == 0 else "I-") + ent.label_)
            i = ent.end
        reference = Doc(nlp.vocab, words=words, spaces=spaces, ents=tags)
        yield Example(nlp.make_doc(reference.text), reference)


@registry.augmenters("spacy_task_pipes.entity_swap.v1")
def create_entity_swap_augmenter(
    level: float = 1.0, shape_copy: float = 0.7, lower: float = 0.1, max_names: int = 5000, seed: int = 0
) -> Callable[[Language, Example], Iterator[Example]]:
    """Augment NER examples by swapping entity names (see the module docstring).

    level: probability of adding a swapped copy of an example with entities.
    shape_copy: probability that a replacement is a shape copy rather than a known name.
    lower: probability that a replacement is lower-cased (noisy user text).
    max_names: size of the bounded sample of names kept per label.
    seed: seed of the augmenter's own random generator.
    """
    return EntitySwapper(level, shape_copy, lower, max_names, seed)
