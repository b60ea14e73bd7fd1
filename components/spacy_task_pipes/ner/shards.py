"""Train from a folder of DocBin shards with bounded memory: ``spacy_task_pipes.ShardCorpus.v1``.

spaCy's own ``spacy.Corpus.v1`` reads a folder of ``.spacy`` files one file at a time, but
its ``shuffle`` option and ``[training] max_epochs >= 0`` both hold the whole corpus in
memory (``spacy train`` makes a list of every example to shuffle it each epoch). For the
shards of ``bootstrap --sharded`` this reader shuffles without that list:

- each call (one epoch) visits the shard files in a seeded order that changes per epoch;
- the examples pass through a buffer of ``buffer_size`` examples, from which a random
  one is drawn each time (a streaming shuffle), so memory holds one shard file being
  read plus the buffer.

Use it with ``max_epochs = -1`` (spaCy then calls the reader again for every epoch instead
of keeping a list) and bound training by ``max_steps``::

    [corpora.train]
    @readers = "spacy_task_pipes.ShardCorpus.v1"
    path = ${paths.train}
    buffer_size = 10000
    seed = ${system.seed}

    [training]
    max_epochs = -1
    max_steps = 20000

or, keeping ``configs/ner.cfg`` as it is: ``--corpora.train.@readers
spacy_task_pipes.ShardCorpus.v1 --training.max_epochs -1``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Union

from spacy.language import Language
from spacy.training import Corpus, Example
from spacy.training.corpus import FILE_TYPE, walk_corpus
from spacy.util import registry


def buffered_shuffle(items: Iterable[Example], buffer_size: int, rng: random.Random) -> Iterator[Example]:
    """A streaming shuffle: fill a buffer of ``buffer_size`` items, then for each new item
    yield a random one from the buffer and put the new one in its place; drain at the end."""
    buffer = []
    for item in items:
        if len(buffer) < buffer_size:
            buffer.append(item)
            continue
        i = rng.randrange(buffer_size)
        yield buffer[i]
        buffer[i] = item
    rng.shuffle(buffer)
    yield from buffer


class ShardCorpus(Corpus):
    """spaCy's ``Corpus`` with a shuffle that streams (see the module docstring)."""

    def __init__(self, path: Union[str, Path], *, buffer_size: int = 10_000, seed: int = 0, limit: int = 0,
                 max_length: int = 0, gold_preproc: bool = False, augmenter: Optional[Callable] = None) -> None:
        super().__init__(path, limit=limit, max_length=max_length, gold_preproc=gold_preproc, augmenter=augmenter)
        if buffer_size < 0:
            raise ValueError(f"[corpora] ShardCorpus buffer_size must be >= 0 (0: no shuffle), got {buffer_size}.")
        self.buffer_size = buffer_size
        self.seed = seed
        self.epoch = 0

    def __call__(self, nlp: Language) -> Iterator[Example]:
        locs = sorted(walk_corpus(self.path, FILE_TYPE))
        if not locs:
            raise ValueError(f"[corpora] ShardCorpus: no .spacy files under {self.path}; pass the folder that "
                             "bootstrap --sharded wrote (OUTPUT_DIR/train or OUTPUT_DIR/dev).")
        rng = random.Random(f"{self.seed}:{self.epoch}")
        self.epoch += 1
        if self.buffer_size:
            rng.shuffle(locs)
        docs = self.read_docbin(nlp.vocab, locs)
        made = self.make_examples_gold_preproc(nlp, docs) if self.gold_preproc else self.make_examples(nlp, docs)
        examples = (augmented for eg in made for augmented in self.augmenter(nlp, eg))
        yield from buffered_shuffle(examples, self.buffer_size, rng) if self.buffer_size > 1 else examples


@registry.readers("spacy_task_pipes.ShardCorpus.v1")
def create_shard_corpus(path: Path, buffer_size: int = 10_000, seed: int = 0, limit: int = 0, max_length: int = 0,
                        gold_preproc: bool = False,
                        augmenter: Optional[Callable] = None) -> Callable[[Language], Iterable[Example]]:
    """``spacy.Corpus.v1``'s settings, plus ``buffer_size`` and ``seed`` of the streaming shuffle."""
    return ShardCorpus(path, buffer_size=buffer_size, seed=seed, limit=limit, max_length=max_length,
                       gold_preproc=gold_preproc, augmenter=augmenter)
