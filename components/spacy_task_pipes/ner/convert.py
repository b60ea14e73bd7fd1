"""Convert annotated NER data to ``Doc`` objects (and from there to DocBin files).

Supported inputs:

* ``jsonl``: ``{"text": ..., "entities": [[start, end, label], ...]}`` per line
  (character offsets, end exclusive);
* ``tuples``: the classic ``(text, {"entities": [...]})`` training tuples, either as a
  JSON list in one file or one ``[text, {"entities": ...}]`` array per JSONL line;
* ``conll``: CoNLL/IOB columns, token first and IOB/IOB2 tag last, blank lines between
  sentences and optional ``-DOCSTART-`` lines between documents.

Every problem is reported with the file and line it comes from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training.iob_utils import biluo_tags_to_spans, iob_to_biluo

from ..io import InputError, PathLike, iter_jsonl, iter_lines

ALIGNMENT_MODES = ("strict", "contract", "expand")
FORMATS = ("auto", "jsonl", "tuples", "conll")


@dataclass
class Record:
    line: int
    text: str
    entities: List[Tuple[int, int, str]]


@dataclass
class ConvertReport:
    docs: int = 0
    entities: int = 0
    realigned: int = 0
    messages: Tuple[str, ...] = ()


def detect_format(path: PathLike, encoding: str = "utf-8") -> str:
    path = Path(path)
    if path.suffix in (".conll", ".conllu", ".iob", ".bio"):
        return "conll"
    if path.suffix == ".json":
        return "tuples"
    for _, line in iter_lines(path, encoding):
        stripped = line.lstrip()
        if not stripped:
            continue
        if stripped.startswith("{"):
            return "jsonl"
        if stripped.startswith("["):
            return "tuples"
        return "conll"
    raise InputError(f"{path}: file is empty; nothing to convert.")


def _is_offset(value: object) -> bool:
    """An integer character offset (JSON ``true`` is a ``bool``, which Python counts as 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _check_entity(path: PathLike, line: int, ent: object) -> Tuple[int, int, str]:
    """``ent`` as ``(start, end, label)``: integer offsets and a non-empty label."""
    if not (isinstance(ent, (list, tuple)) and len(ent) == 3 and _is_offset(ent[0]) and _is_offset(ent[1])):
        raise InputError(
            f"{path}:{line}: entity {ent!r} is not [start, end, label] with integer offsets "
            "(not strings, floats or booleans)."
        )
    start, end, label = ent
    if not isinstance(label, str) or not label.strip() or label != label.strip():
        raise InputError(
            f"{path}:{line}: entity {ent!r} needs a non-empty string label without surrounding "
            'whitespace, e.g. [0, 5, "ORG"]; an empty label would be stored as no entity (O).'
        )
    return start, end, label


def _check_entities(path: PathLike, line: int, text: str, entities: object) -> List[Tuple[int, int, str]]:
    if not isinstance(entities, list):
        raise InputError(f"{path}:{line}: 'entities' must be a list of [start, end, label]; got {str(entities)[:60]!r}.")
    checked = []
    for ent in entities:
        start, end, label = _check_entity(path, line, ent)
        if not 0 <= start < end <= len(text):
            raise InputError(
                f"{path}:{line}: entity {ent!r} is out of range for a text of {len(text)} "
                "characters (need 0 <= start < end <= len(text))."
            )
        checked.append((start, end, label))
    checked.sort()
    for (s1, e1, l1), (s2, e2, l2) in zip(checked, checked[1:]):
        if s2 < e1:
            raise InputError(
                f"{path}:{line}: overlapping entities [{s1}, {e1}, {l1!r}] {text[s1:e1]!r} and "
                f"[{s2}, {e2}, {l2!r}] {text[s2:e2]!r}. spaCy's NER needs non-overlapping spans: "
                "keep one of them (or use a SpanCategorizer for overlapping spans)."
            )
    return checked


def read_records(path: PathLike, fmt: str = "jsonl", encoding: str = "utf-8") -> Iterator[Record]:
    """Yield validated :class:`Record` objects from a ``jsonl`` or ``tuples`` file."""
    path = Path(path)
    if fmt == "tuples" and path.suffix == ".json":
        raw = "\n".join(line for _, line in iter_lines(path, encoding))
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as err:
            raise InputError(f"{path}:{err.lineno}: invalid JSON ({err.msg} at column {err.colno}).") from None
        if not isinstance(data, list):
            raise InputError(f"{path}: expected a JSON list of [text, {{'entities': [...]}}] items.")
        items = ((i + 1, item) for i, item in enumerate(data))
        where = "item"
    else:
        items = iter_jsonl(path, encoding)
        where = "line"
    for n, item in items:
        if fmt == "jsonl":
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                raise InputError(f"{path}:{n}: expected {{\"text\": ..., \"entities\": [...]}}; got {str(item)[:80]!r}.")
            text, entities = item["text"], item.get("entities", [])
        else:
            ok = (
                isinstance(item, (list, tuple))
                and len(item) == 2
                and isinstance(item[0], str)
                and isinstance(item[1], dict)
            )
            if not ok:
                raise InputError(
                    f"{path}:{n}: expected a [text, {{\"entities\": [...]}}] pair ({where} {n}); got {str(item)[:80]!r}."
                )
            text, entities = item[0], item[1].get("entities", [])
        yield Record(line=n, text=text, entities=_check_entities(path, n, text, entities))


def records_to_docs(
    nlp: Language,
    records: Sequence[Record],
    path: PathLike,
    alignment_mode: str = "strict",
) -> Tuple[List[Doc], ConvertReport]:
    """Tokenize and attach entities; report spans that miss token boundaries.

    ``strict`` fails listing every misaligned span; ``contract``/``expand`` snap them to
    the tokens inside/around and report each adjustment.
    """
    if alignment_mode not in ALIGNMENT_MODES:
        raise ValueError(f"alignment_mode must be one of {ALIGNMENT_MODES}, got {alignment_mode!r}")
    report = ConvertReport()
    problems, notes, docs = [], [], []
    for rec, doc in zip(records, nlp.pipe(r.text for r in records)):
        spans: List[Span] = []
        for start, end, label in rec.entities:
            span = doc.char_span(start, end, label=label)
            if span is not None:
                spans.append(span)
                continue
            tokens = [t.text for t in doc.char_span(start, end, alignment_mode="expand") or []]
            where = f"{path}:{rec.line}: span [{start}, {end}, {label!r}] {rec.text[start:end]!r} does not fall on token boundaries (tokens {tokens})"
            if alignment_mode == "strict":
                problems.append(where)
                continue
            snapped = doc.char_span(start, end, label=label, alignment_mode=alignment_mode)
            if snapped is None or not len(snapped):
                problems.append(f"{where}; --alignment-mode {alignment_mode} leaves no token")
                continue
            report.realigned += 1
            notes.append(f"{where}; {alignment_mode}ed to {snapped.text!r}")
            spans.append(snapped)
        try:
            doc.set_ents(spans, default="outside")
        except ValueError:
            problems.append(f"{path}:{rec.line}: entities overlap after --alignment-mode {alignment_mode}: {[s.text for s in spans]}")
            continue
        report.entities += len(spans)
        docs.append(doc)
    if problems:
        fix = (
            "Fix the offsets, or pass --alignment-mode contract (shrink to whole tokens inside) "
            "or expand (grow to whole tokens around)."
        )
        raise InputError("\n".join(problems[:50] + ([f"... and {len(problems) - 50} more"] if len(problems) > 50 else []) + [fix]))
    report.docs = len(docs)
    report.messages = tuple(notes)
    return docs, report


def read_conll(
    nlp: Language, path: PathLike, encoding: str = "utf-8", n_sents: int = 10
) -> Tuple[List[Doc], ConvertReport]:
    """Read CoNLL/IOB columns into docs of up to ``n_sents`` sentences each.

    ``-DOCSTART-`` lines always start a new document. Tags may be IOB1 or IOB2.
    """
    sentences: List[Tuple[int, List[str], List[str]]] = []
    doc_breaks = set()
    words: List[str] = []
    tags: List[str] = []
    first_line = 0

    def close() -> None:
        nonlocal words, tags
        if words:
            sentences.append((first_line, words, tags))
        words, tags = [], []

    for lineno, line in iter_lines(path, encoding):
        cols = line.split()
        if not cols:
            close()
            continue
        if cols[0] == "-DOCSTART-":
            close()
            doc_breaks.add(len(sentences))
            continue
        if len(cols) < 2:
            raise InputError(
                f"{path}:{lineno}: expected 'TOKEN ... TAG' columns, got {line!r}. "
                "CoNLL input needs the token first and the IOB tag last on each line."
            )
        tag = cols[-1]
        if not (tag == "O" or (len(tag) > 2 and tag[:2] in ("B-", "I-"))):
            raise InputError(f"{path}:{lineno}: invalid IOB tag {tag!r} (expected O, B-LABEL or I-LABEL).")
        if not words:
            first_line = lineno
        words.append(cols[0])
        tags.append(tag)
    close()
    if not sentences:
        raise InputError(f"{path}: no tokens found; is this a CoNLL/IOB file?")

    docs: List[Doc] = []
    report = ConvertReport()
    group: List[Tuple[int, List[str], List[str]]] = []

    def flush() -> None:
        if not group:
            return
        all_words = [w for _, ws, _ in group for w in ws]
        all_tags = [t for _, _, ts in group for t in ts]
        sent_starts = []
        for _, ws, _ in group:
            sent_starts.extend([True] + [False] * (len(ws) - 1))
        doc = Doc(nlp.vocab, words=all_words, sent_starts=sent_starts)
        try:
            doc.ents = biluo_tags_to_spans(doc, iob_to_biluo(all_tags))
        except Exception as err:  # noqa: BLE001 - re-raised with the location
            raise InputError(f"{path}:{group[0][0]}: invalid tag sequence in this document: {err}") from None
        report.entities += len(doc.ents)
        docs.append(doc)
        group.clear()

    for i, sent in enumerate(sentences):
        if i in doc_breaks or len(group) >= n_sents:
            flush()
        group.append(sent)
    flush()
    report.docs = len(docs)
    return docs, report


def convert_file(
    nlp: Language,
    path: PathLike,
    fmt: str = "auto",
    alignment_mode: str = "strict",
    encoding: str = "utf-8",
    n_sents: int = 10,
) -> Tuple[List[Doc], ConvertReport]:
    """Read any supported format into docs; nothing is written here."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    if fmt == "auto":
        fmt = detect_format(path, encoding)
    if fmt == "conll":
        return read_conll(nlp, path, encoding=encoding, n_sents=n_sents)
    records = list(read_records(path, fmt=fmt, encoding=encoding))
    return records_to_docs(nlp, records, path, alignment_mode=alignment_mode)
