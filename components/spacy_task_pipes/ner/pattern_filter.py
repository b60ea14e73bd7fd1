"""Each pattern's precision on gold-labelled docs, and the pattern file without the imprecise ones.

Distant dictionaries hold strings that are names in one context and common words in most
others: BOND's Twitter strings include "u" (a movie), "new" (a place) and "la"; matched
everywhere, they teach the model hundreds of wrong entities. A small gold-labelled sample
(the gold dev set that already picks model-best) tells them apart: a pattern whose kept
matches on it are mostly not gold entities of its label is dropped before bootstrap.

Precision counts the matches :class:`~.bootstrap.RuleMatcher` keeps (after "longest span
wins"), each correct when a gold entity has the same characters and label; a kept span
counts for every pattern id that matches it. Patterns are grouped by id, as the matcher
reports them: the lines that share an id go together.
A pattern with fewer than ``min_matches`` matches on the sample is kept (no evidence).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Sequence

from spacy.language import Language
from spacy.tokens import Doc

from .bootstrap import Pattern, RuleMatcher

# The defaults of scripts/filter_patterns.py (and of benchmark_distant's *_dev_filter rows)
MIN_PRECISION = 0.2
MIN_MATCHES = 3


@dataclass
class PatternPrecision:
    """Kept matches and correct ones per pattern id over a gold sample."""

    matches: Counter = field(default_factory=Counter)
    correct: Counter = field(default_factory=Counter)
    docs: int = 0
    gold_entities: int = 0

    def precision(self, pid: str) -> float:
        n = self.matches[pid]
        return self.correct[pid] / n if n else 0.0

    def imprecise(self, min_precision: float, min_matches: int) -> List[str]:
        """Pattern ids with at least ``min_matches`` matches and a precision below ``min_precision``."""
        return sorted(pid for pid, n in self.matches.items()
                      if n >= min_matches and self.precision(pid) < min_precision)

    def to_dict(self) -> Dict[str, object]:
        total, right = sum(self.matches.values()), sum(self.correct.values())
        return {
            "docs": self.docs,
            "gold_entities": self.gold_entities,
            "matches": total,
            "precision": round(right / total, 4) if total else None,
            "per_pattern": {
                pid: {"matches": n, "correct": self.correct[pid], "precision": round(self.precision(pid), 4)}
                for pid, n in sorted(self.matches.items(), key=lambda kv: (-kv[1], kv[0]))
            },
        }


def pattern_precision(nlp: Language, patterns: Sequence[Pattern], gold_docs: Iterable[Doc],
                      phrase_attr: str = "LOWER") -> PatternPrecision:
    """Match ``patterns`` over the texts of ``gold_docs`` (tokenized by ``nlp`` as
    bootstrap tokenizes) and count each pattern's matches that are gold entities."""
    matcher = RuleMatcher(nlp, patterns, phrase_attr=phrase_attr)
    result = PatternPrecision()
    for gold in gold_docs:
        result.docs += 1
        truth = {(e.start_char, e.end_char, e.label_) for e in gold.ents}
        result.gold_entities += len(truth)
        doc = nlp.make_doc(gold.text)
        found = matcher.candidates(doc)  # matched once: resolve keeps what matcher(doc) keeps
        kept = {(span.start, span.end, span.label_) for span, _ in matcher.resolve(doc, found)}
        # every id whose pattern yields a kept span is judged on it: with LOWER matching,
        # "New" and "new" of a distant dictionary match the same tokens, and dropping only
        # the one the matcher happened to name would hand its matches to the other
        for start, end, label, pid in {(s.start, s.end, s.label_, pid) for s, pid in found}:
            if (start, end, label) in kept:
                span = doc[start:end]
                result.matches[pid] += 1
                result.correct[pid] += (span.start_char, span.end_char, label) in truth
    return result


def drop_patterns(patterns: Sequence[Pattern], ids: Iterable[str]) -> List[Pattern]:
    """``patterns`` without those whose id is in ``ids``."""
    dropped = set(ids)
    return [p for p in patterns if p.id not in dropped]
