"""The rules' dictionary inside the trained pipeline: spaCy's ``span_ruler`` after ``ner``.

A model trained on silver data learns the rules' names only as well as its features let it:
on distant dictionaries of specific names (BOND's Twitter strings) it misses or mislabels
some of the very names the rules match. Putting the dictionary back at inference gives
those names back: spaCy's own ``span_ruler``, last in the pipeline, writing ``doc.ents``
through :func:`longest_entities_filter`. Overlaps between the model's entities and the
dictionary's matches are resolved as bootstrap resolves overlapping matches: the longest span
wins; at equal length the dictionary wins (its label replaces the model's), then the earlier
span. So a match inside a longer predicted name ("Pixel 8" in "Pixel 8 Pro") leaves the name
alone, and the model's other entities stay. The matches keep their pattern id as
``ent.ent_id_`` and have no confidence (``ent._.confidence`` is ``None``;
:func:`.confidence.thresholded` counts them at every threshold).

Measured against the alternatives (trained models of ``scripts/benchmark_distant.py``, seeds
0 to 2): letting every match replace the entities it overlaps lowered gold dev F on the English
and Spanish sets by 2 to 3 points (the patterns often cover part of a longer name); filling only
where the model predicted nothing gained less on BOND's Twitter set. Placing the ruler before
``ner`` (preset entities the model predicts around) scored as "matches replace" to 0.001 F, and
the confidence walk cannot see preset entities; so the ruler goes last.

Whether the dictionary helps still depends on its precision on real text, so
:func:`choose_dictionary` scores the pipeline with and without it on the gold dev set (the set
that already picks model-best) and keeps it only where it gains more than ``min_gain`` F.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Sequence

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import registry

from .bootstrap import Pattern, check_phrase_attr
from .evaluation import evaluate_ner

DICTIONARY_NAME = "dictionary"
LONGEST_FILTER = "spacy_task_pipes.longest_entities_filter.v1"
CHOICES = ("dev", "always", "never")


def longest_entities_filter(entities: Iterable[Span], spans: Iterable[Span]) -> List[Span]:
    """``entities`` (the pipeline's) and ``spans`` (the dictionary's matches) without overlaps: the
    longest span wins; at equal length a span of ``spans`` wins, then the earlier one."""
    ranked = sorted([(span, 0) for span in spans] + [(ent, 1) for ent in entities],
                    key=lambda item: (item[0].start - item[0].end, item[1], item[0].start))
    taken: set = set()
    kept = []
    for span, _ in ranked:
        tokens = range(span.start, span.end)
        if not taken.intersection(tokens):
            kept.append(span)
            taken.update(tokens)
    return sorted(kept)


@registry.misc(LONGEST_FILTER)
def make_longest_entities_filter() -> Callable[[Iterable[Span], Iterable[Span]], List[Span]]:
    """The ``ents_filter`` of the dictionary's ``span_ruler`` (see :func:`longest_entities_filter`)."""
    return longest_entities_filter


def add_dictionary(nlp: Language, patterns: Sequence[Pattern], phrase_attr: str = "LOWER",
                   name: str = DICTIONARY_NAME):
    """Add (or replace) a ``span_ruler`` named ``name`` holding ``patterns`` last in ``nlp``, writing
    ``doc.ents`` with :func:`longest_entities_filter`."""
    if not patterns:
        raise ValueError("add_dictionary: no patterns; give at least one pattern.")
    if name in nlp.pipe_names:
        nlp.remove_pipe(name)
    config = {"spans_key": None, "annotate_ents": True, "ents_filter": {"@misc": LONGEST_FILTER},
              "phrase_matcher_attr": check_phrase_attr(phrase_attr), "validate": True, "overwrite": False}
    ruler = nlp.add_pipe("span_ruler", name=name, config=config, last=True)
    ruler.add_patterns([{"label": p.label, "pattern": p.pattern, "id": p.id} for p in patterns])
    return ruler


@dataclass
class DictionaryChoice:
    """Gold dev P/R/F without the dictionary (``"without"``) and with it (``"with"``), and whether it was kept."""

    scores: Dict[str, Dict[str, object]] = field(default_factory=dict)
    kept: bool = False
    choice: str = "dev"
    min_gain: float = 0.0

    @property
    def gain(self) -> float:
        return round(float(self.scores["with"]["f"]) - float(self.scores["without"]["f"]), 4)

    def to_dict(self) -> Dict[str, object]:
        return {"kept": self.kept, "choice": self.choice, "min_gain": self.min_gain, "dev_gain": self.gain,
                "dev": {k: {m: v[m] for m in ("p", "r", "f")} for k, v in self.scores.items()}}


def choose_dictionary(nlp: Language, patterns: Sequence[Pattern], dev: Sequence[Doc], choice: str = "dev",
                      phrase_attr: str = "LOWER", min_gain: float = 0.0, name: str = DICTIONARY_NAME,
                      batch_size: int = 64) -> DictionaryChoice:
    """Score ``nlp`` on the gold ``dev`` docs without the dictionary and with it, and leave it
    with the dictionary where ``choice`` says: ``"dev"`` keeps it if its F beats the pipeline
    without it by more than ``min_gain``; ``"always"`` and ``"never"`` decide regardless (the
    dev scores are reported either way)."""
    if choice not in CHOICES:
        raise ValueError(f"choice: {choice!r} is not one of {', '.join(CHOICES)}.")
    if not dev:
        raise ValueError("choose_dictionary: the gold dev set has no docs.")
    if name in nlp.pipe_names:
        nlp.remove_pipe(name)
    result = DictionaryChoice(choice=choice, min_gain=min_gain)
    result.scores["without"] = evaluate_ner(nlp, dev, batch_size=batch_size, thresholds=())[0]["model"]
    add_dictionary(nlp, patterns, phrase_attr, name)
    result.scores["with"] = evaluate_ner(nlp, dev, batch_size=batch_size, thresholds=())[0]["model"]
    result.kept = choice == "always" or (choice == "dev" and result.gain > min_gain)
    if not result.kept:
        nlp.remove_pipe(name)
    return result
