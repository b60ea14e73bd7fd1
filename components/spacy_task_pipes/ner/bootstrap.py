"""Bootstrap silver NER data from rules: Matcher/PhraseMatcher patterns over raw text.

The pattern file uses the EntityRuler JSONL layout, one pattern per line::

    {"label": "GADGET", "pattern": "PlayStation 5", "id": "playstation"}
    {"label": "GADGET", "pattern": [{"LOWER": "iphone"}, {"LOWER": "x"}], "id": "iphone"}

String patterns go to a ``PhraseMatcher`` (on ``phrase_attr``, ``LOWER`` by default so
that lower-cased mentions match); token patterns go to a validating ``Matcher``.
Overlapping matches are resolved with "longest span wins" (ties: the earlier span).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import srsly
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc, DocBin, Span, Token
from spacy.util import filter_spans

from ..io import InputError, PathLike, iter_jsonl, read_texts

# Token attributes the blank tokenizer sets, so phrase patterns can match on them
# (TAG, POS, LEMMA... would need a trained pipeline on the texts).
PHRASE_ATTRS = ("LOWER", "ORTH", "TEXT", "NORM", "SHAPE")
OUTPUT_NAMES = ("train.spacy", "dev.spacy", "bootstrap_stats.json")
# What a token no rule matched is written as (see ``unmatched_outside``):
#   "outside":  O everywhere (every name the rules miss is taught as a non-entity)
#   "missing":  unknown everywhere (the model is taught nothing about it)
#   "evidence": O where there is evidence for it, unknown elsewhere
UNMATCHED_POLICIES = ("outside", "missing", "evidence")


@dataclass(frozen=True)
class Pattern:
    label: str
    pattern: object  # str (phrase) or list of token dicts
    id: str
    line: int
    path: str = ""

    @property
    def where(self) -> str:
        """``file:line`` of the pattern (``pattern line N`` for patterns built in code)."""
        return f"{self.path}:{self.line}" if self.path else f"pattern line {self.line}"


def _check_pattern_record(path: PathLike, lineno: int, record: Any) -> None:
    if not isinstance(record, dict) or "label" not in record or "pattern" not in record:
        raise InputError(
            f"{path}:{lineno}: a pattern needs 'label' and 'pattern' keys, "
            f'e.g. {{"label": "GADGET", "pattern": "iPhone X"}}; got {str(record)[:80]!r}.'
        )
    label = record["label"]
    if not isinstance(label, str) or not label.strip() or label != label.strip():
        raise InputError(
            f"{path}:{lineno}: 'label' must be a non-empty string without surrounding "
            f"whitespace, e.g. \"GADGET\"; got {label!r}."
        )
    pattern = record["pattern"]
    is_phrase = isinstance(pattern, str)
    is_tokens = isinstance(pattern, list) and all(isinstance(t, dict) for t in pattern)
    if not (is_phrase and pattern.strip()) and not (is_tokens and pattern):
        raise InputError(
            f"{path}:{lineno}: 'pattern' must be a non-empty string (phrase) or a "
            f"non-empty list of token dicts; got {str(pattern)[:80]!r}."
        )
    if is_tokens and any("_" in token for token in pattern):
        raise InputError(
            f"{path}:{lineno}: token pattern uses a custom attribute ('_'), which bootstrap "
            "docs do not have; match on built-in attributes such as LOWER, TEXT or SHAPE."
        )


def load_patterns(path: PathLike, encoding: str = "utf-8") -> List[Pattern]:
    """Read an EntityRuler-style JSONL pattern file, validating each record."""
    patterns = []
    for lineno, record in iter_jsonl(path, encoding=encoding):
        _check_pattern_record(path, lineno, record)
        patterns.append(
            Pattern(
                label=record["label"],
                pattern=record["pattern"],
                id=str(record.get("id") or f"line{lineno}"),
                line=lineno,
                path=str(path),
            )
        )
    if not patterns:
        raise InputError(f"{path}: no patterns found; add at least one pattern line.")
    return patterns


def load_texts(path: PathLike, encoding: str = "utf-8") -> List[str]:
    """The texts to annotate (see :func:`io.read_texts`); no text at all is an error."""
    texts = read_texts(path, encoding=encoding)
    if not texts:
        raise InputError(
            f"{path}: no texts found (the file is empty or has only blank lines); give "
            'JSONL with a "text" field per line, or a .txt file with one text per line.'
        )
    return texts


def check_phrase_attr(attr: str) -> str:
    """``attr`` upper-cased if phrase patterns can match on it over blank-tokenizer docs."""
    name = attr.upper()
    if name not in PHRASE_ATTRS:
        raise ValueError(
            f"phrase_attr {attr!r} is not an attribute the tokenizer sets; use one of "
            f"{', '.join(PHRASE_ATTRS)}."
        )
    return name


def _pattern_error(err: Exception) -> str:
    """spaCy's (multi-line) pattern validation error as one short clause."""
    details = [line.strip("- ").strip() for line in str(err).splitlines() if line.strip().startswith("- [")]
    return "; ".join(details) if details else " ".join(str(err).split())


@dataclass
class MatchStats:
    """Counters a bootstrap run reports."""

    n_texts: int = 0
    n_texts_without_entities: int = 0
    candidates_per_pattern: Counter = field(default_factory=Counter)
    kept_per_pattern: Counter = field(default_factory=Counter)
    entities_per_label: Counter = field(default_factory=Counter)
    overlaps_resolved: int = 0
    duplicate_matches: int = 0
    rehearsal_entities_per_label: Counter = field(default_factory=Counter)
    rehearsal_dropped_conflicts: int = 0
    tokens_outside: int = 0
    tokens_missing: int = 0

    def to_dict(self) -> Dict[str, object]:
        return {
            "texts": self.n_texts,
            "texts_without_entities": self.n_texts_without_entities,
            "entities_per_label": dict(self.entities_per_label.most_common()),
            "matches_per_pattern": {
                key: {"candidates": n, "kept": self.kept_per_pattern.get(key, 0)}
                for key, n in self.candidates_per_pattern.most_common()
            },
            "overlaps_resolved": self.overlaps_resolved,
            "duplicate_matches": self.duplicate_matches,
            "rehearsal_entities_per_label": dict(self.rehearsal_entities_per_label.most_common()),
            "rehearsal_dropped_conflicts": self.rehearsal_dropped_conflicts,
            "tokens_outside": self.tokens_outside,
            "tokens_missing": self.tokens_missing,
        }


def _literal_values(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for op, inner in value.items():
            if op in ("IN", "=="):
                yield from _literal_values(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _literal_values(inner)


def _pattern_words(nlp: Language, patterns: Sequence[Pattern]) -> set:
    """Lower-cased words the patterns name literally (phrase tokens; ORTH, TEXT, LOWER,
    NORM values and their IN lists in token patterns; not regular expressions)."""
    words = set()
    for p in patterns:
        if isinstance(p.pattern, str):
            words.update(t.lower_ for t in nlp.make_doc(p.pattern))
            continue
        for token in p.pattern:
            for attr, value in token.items():
                if attr.upper() in ("ORTH", "TEXT", "LOWER", "NORM"):
                    words.update(v.lower() for v in _literal_values(value))
    return words


class RuleMatcher:
    """Phrase and token patterns with longest-span overlap resolution.

    Calling it on a ``Doc`` returns the non-overlapping entity spans; ``stats``
    accumulates per-pattern counts across calls.
    """

    def __init__(self, nlp: Language, patterns: Sequence[Pattern], phrase_attr: str = "LOWER"):
        self.labels = sorted({p.label for p in patterns})
        self.matcher = Matcher(nlp.vocab, validate=True)
        self.phrase_matcher = PhraseMatcher(nlp.vocab, attr=check_phrase_attr(phrase_attr))
        self._key_info: Dict[int, Tuple[str, str]] = {}
        phrases: Dict[str, List[Doc]] = {}
        phrase_owner: Dict[str, Pattern] = {}
        for p in patterns:
            key = f"{p.label}\t{p.id}"
            self._key_info[nlp.vocab.strings.add(key)] = (p.label, p.id)
            if isinstance(p.pattern, str):
                # make_doc, not nlp(): pattern docs only need the attribute we match on
                phrases.setdefault(key, []).append(nlp.make_doc(p.pattern))
                phrase_owner.setdefault(key, p)
            else:
                try:
                    self.matcher.add(key, [p.pattern])
                except (ValueError, KeyError, TypeError, re.error) as err:
                    raise InputError(
                        f"{p.where}: invalid token pattern {p.id!r}: {_pattern_error(err)}. Fix the "
                        "pattern (https://spacy.io/usage/rule-based-matching#adding-patterns-attributes)."
                    ) from None
        for key, docs in phrases.items():
            self.phrase_matcher.add(key, docs)
        self.pattern_words = _pattern_words(nlp, patterns)
        self.stats = MatchStats()

    def candidates(self, doc: Doc) -> List[Tuple[Span, str]]:
        """All raw matches as ``(span, pattern_id)`` before overlap resolution."""
        found = []
        for matcher in (self.phrase_matcher, self.matcher):
            if not len(matcher):
                continue
            for key, start, end in matcher(doc):
                label, pid = self._key_info[key]
                found.append((Span(doc, start, end, label=label), pid))
        return found

    def __call__(self, doc: Doc) -> List[Span]:
        return [span for span, _ in self.match(doc)]

    def match(self, doc: Doc, skip: Optional[set] = None) -> List[Tuple[Span, str]]:
        """The kept, non-overlapping matches as ``(span, pattern_id)``; matches of the
        pattern ids in ``skip`` are left out before overlaps are resolved."""
        found = self.candidates(doc)
        if skip:
            found = [(span, pid) for span, pid in found if pid not in skip]
        return self.resolve(doc, found)

    def resolve(self, doc: Doc, found: Sequence[Tuple[Span, str]]) -> List[Tuple[Span, str]]:
        """The kept, non-overlapping ones of raw matches ``found`` (of :meth:`candidates`) on ``doc``."""
        by_span: Dict[Tuple[int, int, str], str] = {}
        for span, pid in found:
            self.stats.candidates_per_pattern[pid] += 1
            key = (span.start, span.end, span.label_)
            if key in by_span:
                self.stats.duplicate_matches += 1
            else:
                by_span[key] = pid
        unique = [Span(doc, s, e, label=lab) for (s, e, lab) in by_span]
        kept = sorted(filter_spans(unique), key=lambda s: s.start)
        self.stats.overlaps_resolved += len(unique) - len(kept)
        out = []
        for span in kept:
            pid = by_span[(span.start, span.end, span.label_)]
            self.stats.kept_per_pattern[pid] += 1
            out.append((span, pid))
        return out


def claim(span: Span, taken: set) -> bool:
    """Add ``span``'s token indices to ``taken`` unless one of them is already there
    (an earlier span won that conflict); says whether it did."""
    tokens = range(span.start, span.end)
    if taken.intersection(tokens):
        return False
    taken.update(tokens)
    return True


def merge_rehearsal(doc: Doc, rule_spans: List[Span], base_doc: Doc, rule_labels: Iterable[str], stats: MatchStats) -> List[Span]:
    """Add the base pipeline's entities for labels the rules don't cover.

    Base entities are re-aligned by character offsets onto ``doc`` (contracting to
    token boundaries when the base tokenizer differs); rule matches win any overlap.
    """
    rule_labels = set(rule_labels)
    taken = set()
    for span in rule_spans:
        taken.update(range(span.start, span.end))
    merged = list(rule_spans)
    for ent in base_doc.ents:
        if ent.label_ in rule_labels:
            continue
        span = doc.char_span(ent.start_char, ent.end_char, label=ent.label_, alignment_mode="contract")
        if span is None or not len(span):
            continue
        if not claim(span, taken):
            stats.rehearsal_dropped_conflicts += 1
            continue
        merged.append(span)
        stats.rehearsal_entities_per_label[span.label_] += 1
    return sorted(merged, key=lambda s: s.start)


def check_unmatched(policy: str) -> str:
    if policy not in UNMATCHED_POLICIES:
        raise ValueError(f"unmatched must be one of {', '.join(UNMATCHED_POLICIES)}; got {policy!r}")
    return policy


def lower_case_words(docs: Iterable[Doc]) -> set:
    """Alphabetic words seen written in lower case somewhere in ``docs``."""
    return {t.text for doc in docs for t in doc if t.is_alpha and t.is_lower}


HANDLE = re.compile(r"^@\w+$")  # a social-media user name: "@Phil_Heim"


def is_address(token: Token) -> bool:
    """A web address with a scheme, "www." or a path, an e-mail address or an @handle: an
    address, not a name. A bare domain ("Diversia.com", "Amazon.com") is often a company's
    name, so it is not one."""
    text = token.text
    web = token.like_url and ("://" in text or text.lower().startswith("www.") or "/" in text)
    return bool(web or token.like_email or HANDLE.match(text))


def evidence_outside(
    doc: Doc, entity_words: set, lower_words: Optional[set] = None, lone_words: bool = True
) -> List[Span]:
    """Tokens a rule-bootstrapped corpus has evidence are not (part of) a name, among
    those outside every match:

    - tokens without an upper-case letter or a digit (lower-case words, punctuation,
      symbols, "'s"), and capitalised words that are stop words or that the corpus also
      writes in lower case (``lower_words``: "Just", "Great");
    - web addresses, e-mail addresses and @handles ("https://t.co/x", "@Phil_Heim"):
      of the tokens this rule would otherwise leave unknown in BOND's Twitter dev and test
      tweets, 0 of 1,793 @handles and 6 of 894 URLs are (part of) a gold name;
    - but a word the patterns use (``entity_words``: "the", "of", "day" in "Day of the
      Dead", "pro" in "Pixel 8 Pro") only where neither it nor a neighbour may be part of
      a name (a match, or a token with an upper-case letter or a digit that is no stop
      word or address): there it may be or extend a name the rule missed ("the Pixel 8
      pro", "Consejo"), elsewhere it is a word like any other ("in the day");
    - with ``lone_words``, a lone unknown word: an alphabetic token whose neighbours are
      all known (matched or O by the rules above), such as a brand, place or weekday on
      its own ("Sony", "India", "Monday"). Measured: leaving these unknown let the model
      tag capitalised words everywhere (English test precision 0.76, F 0.83; Spanish,
      whose missed names are often bare brand words, precision 0.58, F 0.69), against
      F 0.86 and 0.74 with them O;
    - with ``lone_words``, a lone number ("talla 44", "over 80", "v2") whose neighbours
      are known and outside every match: next to a match it may be the model number
      the pattern left out ("iPhone 15"), so it stays unknown there.

    What stays unknown are runs of two or more unknown tokens and numbers next to a match
    or a capitalised word, where the multi-word model names the rules miss live
    ("Kindle Scribe", "Sonos Era 300")."""
    lower_words = lower_words or set()
    n = len(doc)
    in_entity = {t.i for t in doc if t.ent_iob_ in ("B", "I")}
    evidence, name_like = set(), set(in_entity)
    for token in doc:
        if token.i in in_entity:
            continue
        plain = not any(ch.isupper() or ch.isdigit() for ch in token.text)
        address = is_address(token)
        if plain or address or (token.is_alpha and (token.is_stop or token.lower_ in lower_words)):
            evidence.add(token.i)
        if not (plain or address or token.is_stop):
            name_like.add(token.i)
    outside = [
        i for i in sorted(evidence)
        if doc[i].lower_ not in entity_words or not name_like.intersection((i - 1, i, i + 1))
    ]
    if not lone_words:
        return [doc[i : i + 1] for i in outside]
    known = in_entity.union(outside)
    for i, token in enumerate(doc):
        if i in known:
            continue
        neighbours = [j for j in (i - 1, i + 1) if 0 <= j < n]
        if not all(j in known for j in neighbours):
            continue
        numeric = any(ch.isdigit() for ch in token.text) and token.text.isalnum()
        if token.is_alpha or (numeric and token.lower_ not in entity_words and not in_entity.intersection(neighbours)):
            outside.append(i)
    return [doc[i : i + 1] for i in sorted(outside)]


def annotate_silver(
    doc: Doc, matcher: RuleMatcher, unmatched: str = "outside", lower_words: Optional[set] = None,
    base_doc: Optional[Doc] = None,
) -> Doc:
    """Set ``doc``'s silver entities: the rule matches, plus ``base_doc``'s entities for labels
    the rules do not cover (rehearsal; ``base_doc`` may be ``doc`` itself), and the tokens
    outside every match as ``unmatched`` says (``"evidence"``: :func:`evidence_outside` with
    the corpus's ``lower_words``). Counts go to ``matcher.stats``."""
    stats = matcher.stats
    spans = matcher(doc)
    if base_doc is not None:
        spans = merge_rehearsal(doc, spans, base_doc, matcher.labels, stats)
    doc.set_ents(spans, default="outside" if unmatched == "outside" else "missing")
    if unmatched == "evidence":
        outside = evidence_outside(doc, matcher.pattern_words, lower_words)
        doc.set_ents([], outside=outside, default="unmodified")
    stats.n_texts += 1
    if not spans:
        stats.n_texts_without_entities += 1
    for span in spans:
        if span.label_ in matcher.labels:
            stats.entities_per_label[span.label_] += 1
    iob = doc.to_array("ENT_IOB")  # 0 missing, 1 I, 2 O, 3 B
    stats.tokens_outside += int((iob == 2).sum())
    stats.tokens_missing += int((iob == 0).sum())
    return doc


def bootstrap_docs(
    nlp: Language,
    texts: Sequence[str],
    matcher: RuleMatcher,
    base_nlp: Optional[Language] = None,
    batch_size: int = 256,
    progress=None,
    unmatched: str = "outside",
) -> List[Doc]:
    """Annotate ``texts`` with rule matches (plus rehearsal entities) as silver docs.

    ``unmatched`` says what the tokens outside every match become: ``"outside"`` (O,
    so texts without a match teach the model what is *not* an entity, and so do the
    names the rules miss), ``"missing"`` (unknown: no loss either way) or
    ``"evidence"`` (O only where :func:`evidence_outside` finds evidence, unknown
    elsewhere; the corpus's lower-case words are counted over all ``texts`` first).
    spaCy's NER learns from partially annotated docs: a missing token constrains nothing.
    For a corpus that does not fit in memory, see :mod:`.silver` and :mod:`.bootstrap_job`.
    """
    check_unmatched(unmatched)
    lower_words = lower_case_words(nlp.tokenizer.pipe(texts, batch_size=batch_size)) if unmatched == "evidence" else None
    base_docs = base_nlp.pipe(texts, batch_size=batch_size) if base_nlp is not None else None
    docs = []
    for doc in nlp.pipe(texts, batch_size=batch_size):
        base_doc = next(base_docs) if base_docs is not None else None
        docs.append(annotate_silver(doc, matcher, unmatched, lower_words, base_doc))
        if progress is not None:
            progress.update(1)
    return docs


def check_dev_fraction(dev_fraction: float) -> float:
    if not 0.0 <= dev_fraction < 1.0:
        raise ValueError(f"dev_fraction must be in [0, 1), e.g. 0.2 for a 20% dev split; got {dev_fraction}")
    return dev_fraction


def split_docs(docs: Sequence[Doc], dev_fraction: float, seed: int) -> Tuple[List[Doc], List[Doc]]:
    """Seeded shuffle and split into ``(train, dev)``."""
    check_dev_fraction(dev_fraction)
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    n_dev = int(round(len(docs) * dev_fraction))
    dev = [docs[i] for i in order[:n_dev]]
    train = [docs[i] for i in order[n_dev:]]
    return train, dev


def _docbin_bytes(docs: Iterable[Doc]) -> bytes:
    doc_bin = DocBin()
    for doc in docs:
        doc_bin.add(doc)
    return doc_bin.to_bytes()


def bootstrap_outputs(
    output_dir: PathLike, train: Sequence[Doc], dev: Sequence[Doc], stats: Dict[str, Any]
) -> Dict[Path, bytes]:
    """The contents of ``train.spacy``, ``dev.spacy`` and ``bootstrap_stats.json`` of one
    run, built in memory so that they can be written as one transaction
    (:func:`io.write_files_atomic`)."""
    output_dir = Path(output_dir)
    contents = (_docbin_bytes(train), _docbin_bytes(dev), (srsly.json_dumps(stats, indent=2) + "\n").encode("utf-8"))
    return {output_dir / name: data for name, data in zip(OUTPUT_NAMES, contents)}
