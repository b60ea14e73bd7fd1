"""The rules of a bootstrap as a pipeline component: ``silver_ruler``.

``silver_ruler`` writes silver entities onto each doc exactly as ``bootstrap`` does: the
pattern matches (longest span wins), the entities an earlier component of the pipeline
set for labels the rules do not cover (rehearsal: rules win conflicts), and the tokens
outside every match as ``O``, unknown, or ``O`` only where there is evidence
(``unmatched``; see :func:`bootstrap.evidence_outside`). Because it is a component, the
annotate job's engines (this process, worker processes, Ray actors) run a bootstrap the
way they run any pipeline: ``blank(lang)`` or a base pipeline, plus this component last
(:func:`rule_pipeline`).

The evidence rule needs the words the corpus writes in lower case; they are counted
before annotation (:func:`count_lower_words`) and saved with the patterns, so every
worker, shard and resumed run uses the same set.

Statistics (matches per pattern, entities per label, tokens O/unknown) accumulate in
``stats`` (a :class:`bootstrap.MatchStats`); the annotate job collects and resets them
per shard and merges them over shards.
"""

from __future__ import annotations

from itertools import islice
from pathlib import Path
from typing import Callable, Iterable, List, Optional, Sequence

import srsly
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import minibatch

from ..io import PathLike
from .bootstrap import (
    MatchStats,
    Pattern,
    RuleMatcher,
    annotate_silver,
    check_unmatched,
    lower_case_words,
)

PATTERNS_FILE = "patterns.jsonl"
LOWER_WORDS_FILE = "lower_words.json"


class SilverRuler:
    """Silver entities from rules (see the module docstring)."""

    def __init__(self, nlp: Language, name: str, phrase_attr: str = "LOWER", unmatched: str = "outside") -> None:
        self.nlp = nlp
        self.name = name
        self.phrase_attr = phrase_attr.upper()
        self.unmatched = check_unmatched(unmatched)
        self.patterns: List[Pattern] = []
        self.lower_words: set = set()
        self.matcher: Optional[RuleMatcher] = None
        self._stats = MatchStats()

    # ------------------------------------------------------------------ setup

    def set_rules(self, patterns: Sequence[Pattern], lower_words: Iterable[str] = ()) -> None:
        """The patterns to match and the corpus's lower-case words (for ``unmatched="evidence"``)."""
        if not patterns:
            raise ValueError(f"silver_ruler {self.name!r}: no patterns; add at least one pattern.")
        self.patterns = list(patterns)
        self.lower_words = set(lower_words)
        self.matcher = RuleMatcher(self.nlp, self.patterns, phrase_attr=self.phrase_attr)
        self.matcher.stats = self._stats

    @property
    def stats(self) -> MatchStats:
        """The counts since the last reset (assign a new ``MatchStats()`` to reset)."""
        return self._stats

    @stats.setter
    def stats(self, value: MatchStats) -> None:
        self._stats = value
        if self.matcher is not None:
            self.matcher.stats = value

    # the annotate job collects these per shard (see annotate.Annotator)
    job_stats = stats

    @property
    def labels(self) -> List[str]:
        return self.matcher.labels if self.matcher is not None else []

    def _matcher(self) -> RuleMatcher:
        if self.matcher is None:
            raise ValueError(
                f"silver_ruler {self.name!r} has no patterns: call set_rules(patterns) or build the pipeline "
                "with spacy_task_pipes.ner.silver.rule_pipeline."
            )
        return self.matcher

    # ------------------------------------------------------------------ annotation

    def __call__(self, doc: Doc) -> Doc:
        return self.annotate(doc, base_doc=doc if doc.has_annotation("ENT_IOB") else None)

    def annotate(self, doc: Doc, base_doc: Optional[Doc] = None) -> Doc:
        """Set ``doc``'s silver entities; ``base_doc`` holds rehearsal entities (it may be ``doc``)."""
        return annotate_silver(doc, self._matcher(), self.unmatched, self.lower_words, base_doc)

    # ------------------------------------------------------------------ serialization

    def to_disk(self, path: PathLike, *, exclude: Iterable[str] = ()) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        srsly.write_jsonl(path / PATTERNS_FILE, [
            {"label": p.label, "pattern": p.pattern, "id": p.id} for p in self.patterns
        ])
        srsly.write_json(path / LOWER_WORDS_FILE, sorted(self.lower_words))

    def from_disk(self, path: PathLike, *, exclude: Iterable[str] = ()) -> "SilverRuler":
        path = Path(path)
        patterns = [
            Pattern(label=r["label"], pattern=r["pattern"], id=r["id"], line=i, path=str(path / PATTERNS_FILE))
            for i, r in enumerate(srsly.read_jsonl(path / PATTERNS_FILE), start=1)
        ]
        self.set_rules(patterns, srsly.read_json(path / LOWER_WORDS_FILE))
        return self


@Language.factory(
    "silver_ruler",
    assigns=["doc.ents", "token.ent_iob", "token.ent_type"],
    default_config={"phrase_attr": "LOWER", "unmatched": "outside"},
)
def make_silver_ruler(nlp: Language, name: str, phrase_attr: str, unmatched: str) -> SilverRuler:
    return SilverRuler(nlp, name, phrase_attr=phrase_attr, unmatched=unmatched)


def count_lower_words(nlp: Language, texts: Iterable[str], max_texts: int = 0,
                      progress: Optional[Callable[[int], None]] = None) -> set:
    """The alphabetic words written in lower case in the first ``max_texts`` texts (0: all),
    tokenized by ``nlp``'s tokenizer; ``progress(n)`` after each batch."""
    words: set = set()
    for batch in minibatch(islice(texts, max_texts or None), 1000):
        words |= _lower_words(nlp, batch, progress)
    return words


def _lower_words(nlp: Language, texts: List[str], progress: Optional[Callable[[int], None]]) -> set:
    with nlp.memory_zone():  # the batch's new words leave the vocab again
        words = lower_case_words(nlp.tokenizer.pipe(texts))
    if progress is not None:
        progress(len(texts))
    return words


def rule_pipeline(base: Language, patterns: Sequence[Pattern], phrase_attr: str = "LOWER",
                  unmatched: str = "outside", lower_words: Iterable[str] = ()) -> Language:
    """``base`` (a blank pipeline, or a trained one whose other entity labels are rehearsed)
    with ``silver_ruler`` added last and given ``patterns``."""
    ruler = base.add_pipe("silver_ruler", config={"phrase_attr": phrase_attr, "unmatched": unmatched})
    ruler.set_rules(patterns, lower_words)
    return base
