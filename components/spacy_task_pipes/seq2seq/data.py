"""Data for the ``translator`` and ``summarizer``: corpus readers, DocBin conversion
and the sacreBLEU / ROUGE scorers.

A training example's reference ``Doc`` is the source text with the gold target in
``doc._.<field>`` (``translation`` or ``summary``; stored in ``doc.user_data``, so it
survives ``DocBin(store_user_data=True)`` and spaCy's own ``spacy.Corpus.v1``).

Formats: two line-aligned files (parallel text); ``.tsv`` (no header, source in
column 0 and target in column 1, further columns ignored); ``.jsonl`` and ``.csv``
(with header) with configurable source/target field names (DialogSum:
``dialogue``/``summary``); ``.spacy`` (written by :func:`pairs_to_docbin`).
"""

from __future__ import annotations

import csv
import itertools
import re
from io import StringIO
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from spacy.util import ensure_path, registry

from ..io import InputError, iter_jsonl, iter_lines, write_bytes_atomic
from .settings import register_doc_field

Pair = Tuple[str, str]


# ------------------------------------------------------------------ reading


def _existing(path: Union[str, Path], what: str) -> Path:
    p = ensure_path(path)
    if not p.exists():
        raise FileNotFoundError(f"{what} not found: {p}. Check the corpus path in the config ([corpora] or --paths.*).")
    return p


def _text_lines(path: Path, encoding: str) -> List[str]:
    """The lines of a text file; a byte-order mark is dropped and decoding errors name
    the file and line (:func:`io.iter_lines`)."""
    return [line for _, line in iter_lines(path, encoding)]


def read_parallel_text(
    source_path: Union[str, Path], target_path: Union[str, Path], encoding: str = "utf-8"
) -> Iterator[Pair]:
    """(source, target) pairs from two line-aligned text files."""
    src = _text_lines(_existing(source_path, "Source file"), encoding)
    tgt = _text_lines(_existing(target_path, "Target file"), encoding)
    if len(src) != len(tgt):
        raise ValueError(
            f"Parallel files are not line-aligned: {source_path} has {len(src)} lines, "
            f"{target_path} has {len(tgt)}. Give two files with one sentence per line each."
        )
    yield from zip(src, tgt)


def _read_tsv(path: Path, encoding: str) -> Iterator[Pair]:
    for n, line in enumerate(_text_lines(path, encoding), 1):
        if not line:
            continue
        cols = line.split("\t")
        if len(cols) < 2:
            raise ValueError(f"{path}, line {n}: expected source<TAB>target, found {len(cols)} column(s).")
        yield cols[0], cols[1]


def _swallowed_line(row: List[str], n_fields: int) -> Optional[str]:
    """A line inside a multi-line field of ``row`` that reads as a whole record of its
    own (``n_fields`` fields): the sign of a quote left open on an earlier line."""
    for value in row:
        for line in value.split("\n")[1:]:
            if line.strip() and len(next(csv.reader([line]))) == n_fields:
                return line
    return None


def _check_csv_record(path: Path, span: Tuple[int, int], row: List[str], header: List[str], one_line_before: bool) -> None:
    """``one_line_before``: there are earlier records and each of them is one line."""
    start, end = span
    if len(row) != len(header):
        raise InputError(
            f"{path}:{start}: record has {len(row)} field(s) but the header has {len(header)} "
            f"({', '.join(header)}). Check for a quote left open on this line, or a missing or "
            'extra delimiter; quotes inside a field are written twice ("").'
        )
    swallowed = _swallowed_line(row, len(header)) if end > start and one_line_before and len(header) > 1 else None
    if swallowed is not None:
        raise InputError(
            f"{path}:{start}: this record runs on to line {end} and takes in {swallowed[:60]!r}, which "
            "looks like a record of its own, while the records before it are one line each: a "
            f'quote left open on line {start}? Close it; quotes inside a field are written twice ("").'
        )


def _read_csv_rows(path: Path, encoding: str) -> Iterator[Tuple[int, Dict[str, str]]]:
    """``(line, row)`` per record of a CSV file with a header, read in csv's strict mode.
    A quote left open would otherwise merge records silently, so it is an error naming
    the line: csv's own parse errors, a field count other than the header's, and a
    multi-line record that takes in a whole record line where earlier ones are one line."""
    reader = csv.reader(StringIO("\n".join(_text_lines(path, encoding)), newline=""), strict=True)
    header: Optional[List[str]] = None
    start, n_records, n_multi_line = 1, 0, 0
    while True:
        try:
            row = next(reader, None)
        except csv.Error as err:
            raise InputError(
                f"{path}:{start}: invalid CSV ({err}): a quote left open or a stray quote in this "
                'record? Close the quote; quotes inside a field are written twice ("").'
            ) from None
        if row is None:
            return
        span, start = (start, reader.line_num), reader.line_num + 1
        if not row:
            continue
        if header is None:
            header = row
            continue
        _check_csv_record(path, span, row, header, n_records > 0 and n_multi_line == 0)
        n_records, n_multi_line = n_records + 1, n_multi_line + (span[0] != span[1])
        yield span[0], dict(zip(header, row))


def read_pairs_file(
    path: Union[str, Path], source_field: str = "source", target_field: str = "target", encoding: str = "utf-8"
) -> Iterator[Pair]:
    """(source, target) pairs from ``.tsv`` (columns 0 and 1), ``.jsonl`` or ``.csv``."""
    p = _existing(path, "Corpus file")
    suffix = p.suffix.lower()
    if suffix == ".tsv":
        yield from _read_tsv(p, encoding)
    elif suffix in (".jsonl", ".json"):
        for n, row in iter_jsonl(p, encoding):
            yield _fields(row, source_field, target_field, f"{p}, line {n}")
    elif suffix == ".csv":
        for n, row in _read_csv_rows(p, encoding):
            yield _fields(row, source_field, target_field, f"{p}, line {n}")
    else:
        raise ValueError(f"Unknown corpus format {p.suffix!r} for {p}: use .tsv, .jsonl, .csv or .spacy.")


_MISSING = object()


def _get_field(row: Any, name: str) -> Any:
    """``row[name]``; a dotted name reaches into nested objects (``translation.es``,
    as in the ``datasets`` hub's translation sets)."""
    if isinstance(row, dict) and name in row:
        return row[name]
    value = row
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _fields(row: Any, source_field: str, target_field: str, where: str) -> Pair:
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected a JSON object with fields {source_field!r} and {target_field!r}, got {str(row)[:80]!r}.")
    values = [_get_field(row, k) for k in (source_field, target_field)]
    missing = [k for k, v in zip((source_field, target_field), values) if v is _MISSING]
    if missing:
        raise ValueError(
            f"{where}: no field(s) {missing} (found {sorted(row)}). Set source_field/target_field "
            "in the reader config (e.g. \"dialogue\"/\"summary\" for DialogSum) or "
            "--source-field/--target-field (--text-field/--summary-field) of the convert script."
        )
    for k, v in zip((source_field, target_field), values):
        if v is not None and not isinstance(v, (str, int, float)):
            raise ValueError(f"{where}: field {k!r} is a {type(v).__name__}, not a string; name a text field (nested fields: a.b).")
    return str(values[0] if values[0] is not None else ""), str(values[1] if values[1] is not None else "")


def parse_slice(text: str) -> slice:
    """``"0:2000"``, ``"2000:2300"``, ``":300"``, ``"-300:"`` or ``""`` (all) as a slice of records."""
    text = (text or "").strip()
    if not text or text == ":":
        return slice(None)
    m = re.fullmatch(r"(-?\d*)\s*:\s*(-?\d*)", text)
    if not m:
        raise ValueError(f"Invalid slice {text!r}: use START:END like Python slicing, e.g. 0:2000 or 2000:2300.")
    return slice(int(m.group(1)) if m.group(1) else None, int(m.group(2)) if m.group(2) else None)


def select_pairs(pairs: Iterable[Pair], select: slice = slice(None), limit: int = 0) -> Iterator[Pair]:
    """Records ``select`` (a slice of the record numbers, counted before empty sources are
    dropped), then at most ``limit`` of them (0: no limit)."""
    start, stop, step = select.start, select.stop, select.step
    if (start or 0) < 0 or (stop or 0) < 0:
        items: Iterable[Pair] = list(pairs)[select]
    else:
        items = itertools.islice(pairs, start, stop, step)
    for n, pair in enumerate(items):
        if limit and n >= limit:
            break
        yield pair


def load_hub_pairs(
    name: str, *, config: str = "", split: str = "train", source_field: str = "source", target_field: str = "target"
) -> Iterator[Pair]:
    """(source, target) pairs from a ``datasets`` hub dataset (needs network and the
    ``datasets`` package). Dotted fields reach into nested records, e.g.
    ``translation.es``/``translation.pt`` for ``opus_books``-style sets."""
    try:
        import datasets
    except ImportError:
        raise ImportError("Loading hub datasets needs the `datasets` package: pip install datasets") from None
    try:
        rows = datasets.load_dataset(name, config or None, split=split)
    except Exception as err:  # network, unknown name, config or split
        raise ValueError(
            f"Could not load the dataset {name!r} (config {config or None!r}, split {split!r}): {err}. "
            "Check the name, config and split, or download the files (`spacy project assets --extra`) "
            "and convert them with --input/--source/--target."
        ) from None
    for i, row in enumerate(rows):
        yield _fields(row, source_field, target_field, f"{name}[{split}] record {i}")


def reference_doc(nlp: Language, source: str, target: str, field: str) -> Doc:
    register_doc_field(field)
    doc = nlp.make_doc(source)
    setattr(doc._, field, target)
    return doc


def pairs_to_docbin(nlp: Language, pairs: Iterable[Pair], field: str) -> DocBin:
    """A DocBin of reference docs (source text, target in ``doc._.<field>``)."""
    db = DocBin(store_user_data=True)
    for source, target in pairs:
        if source.strip():
            db.add(reference_doc(nlp, source, target, field))
    return db


def convert_to_docbin(
    nlp: Language,
    output_path: Union[str, Path],
    *,
    field: str,
    path: Optional[Union[str, Path]] = None,
    source_path: Optional[Union[str, Path]] = None,
    target_path: Optional[Union[str, Path]] = None,
    source_field: str = "source",
    target_field: str = "target",
    encoding: str = "utf-8",
) -> int:
    """Convert a pairs file (``path``) or two parallel files to ``output_path`` (.spacy);
    returns the number of docs written."""
    if path is not None:
        pairs = read_pairs_file(path, source_field, target_field, encoding)
    elif source_path is not None and target_path is not None:
        pairs = read_parallel_text(source_path, target_path, encoding)
    else:
        raise ValueError("Give either path or both source_path and target_path.")
    db = pairs_to_docbin(nlp, pairs, field)
    write_bytes_atomic(db.to_bytes(), ensure_path(output_path))
    return len(db)


def _examples(nlp: Language, refs: Iterable[Doc], field: str, limit: int, where: Path) -> Iterator[Example]:
    register_doc_field(field)
    n = 0
    for i, ref in enumerate(refs):
        if limit and n >= limit:
            break
        if not isinstance(getattr(ref._, field), str):
            raise ValueError(
                f"{where}: doc {i} has no target in doc._.{field}. Convert with "
                "spacy_task_pipes.seq2seq.data.convert_to_docbin (same field)."
            )
        if not ref.text.strip():
            continue
        n += 1
        yield Example(nlp.make_doc(ref.text), ref)


def _pairs_reader(pairs_fn: Callable[[], Iterable[Pair]], path: Path, field: str, limit: int):
    def read(nlp: Language) -> Iterator[Example]:
        if path.suffix == ".spacy":
            refs: Iterable[Doc] = DocBin().from_disk(_existing(path, "Corpus file")).get_docs(nlp.vocab)
        else:
            refs = (reference_doc(nlp, s, t, field) for s, t in pairs_fn())
        yield from _examples(nlp, refs, field, limit, path)

    return read


@registry.readers("spacy_task_pipes.Seq2SeqCorpus.v1")
def create_seq2seq_corpus(
    path: Optional[Path],
    field: str = "translation",
    source_field: str = "source",
    target_field: str = "target",
    limit: int = 0,
    encoding: str = "utf-8",
) -> Callable[[Language], Iterable[Example]]:
    """Examples from a ``.tsv``/``.jsonl``/``.csv`` pairs file or a converted ``.spacy`` file.

    path (Path): The file; ``None`` yields nothing.
    field (str): The pipe's field: "translation" or "summary".
    source_field / target_field (str): JSONL/CSV field names (TSV: columns 0 and 1).
    limit (int): Stop after this many examples (0: no limit).
    encoding (str): The text file's encoding (a UTF-8 byte-order mark is accepted).
    """
    if path is None:
        return lambda nlp: iter(())
    p = ensure_path(path)
    return _pairs_reader(lambda: read_pairs_file(p, source_field, target_field, encoding), p, field, limit)


@registry.readers("spacy_task_pipes.SummarizationCorpus.v1")
def create_summarization_corpus(
    path: Optional[Path],
    text_field: str = "dialogue",
    summary_field: str = "summary",
    field: str = "summary",
    limit: int = 0,
    encoding: str = "utf-8",
) -> Callable[[Language], Iterable[Example]]:
    """Summarization examples from ``.jsonl``/``.csv`` (fields ``text_field``,
    ``summary_field``; DialogSum: "dialogue"/"summary") or a converted ``.spacy`` file."""
    return create_seq2seq_corpus(path, field=field, source_field=text_field, target_field=summary_field, limit=limit,
                                 encoding=encoding)


@registry.readers("spacy_task_pipes.ParallelTextCorpus.v1")
def create_parallel_text_corpus(
    source_path: Optional[Path],
    target_path: Optional[Path],
    field: str = "translation",
    limit: int = 0,
    encoding: str = "utf-8",
) -> Callable[[Language], Iterable[Example]]:
    """Translation examples from two line-aligned files (e.g. Tatoeba ``.spa`` + ``.por``)."""
    if source_path is None or target_path is None:
        return lambda nlp: iter(())
    src, tgt = ensure_path(source_path), ensure_path(target_path)
    return _pairs_reader(lambda: read_parallel_text(src, tgt, encoding), src, field, limit)


# ------------------------------------------------------------------ scoring


def _predictions(examples: Iterable[Example], field: str) -> Tuple[List[str], List[str]]:
    preds, refs = [], []
    for eg in examples:
        ref = getattr(eg.reference._, field, None)
        if not isinstance(ref, str):
            continue
        pred = getattr(eg.predicted._, field, None)
        preds.append(pred if isinstance(pred, str) else "")
        refs.append(ref)
    return preds, refs


def translation_scores(predictions: List[str], references: List[str]) -> Dict[str, Optional[float]]:
    """Corpus sacreBLEU BLEU and chrF (default settings), as fractions (0-1)."""
    import sacrebleu

    if not predictions:
        return {"translation_bleu": None, "translation_chrf": None}
    bleu = sacrebleu.corpus_bleu(predictions, [references])
    chrf = sacrebleu.corpus_chrf(predictions, [references])
    return {"translation_bleu": bleu.score / 100.0, "translation_chrf": chrf.score / 100.0}


@registry.scorers("spacy_task_pipes.translation_scorer.v1")
def make_translation_scorer(field: str = "translation") -> Callable[..., Dict[str, Optional[float]]]:
    """sacreBLEU ``translation_bleu`` and ``translation_chrf`` (0-1) of ``doc._.<field>``."""

    def score(examples: Iterable[Example], **kwargs: Any) -> Dict[str, Optional[float]]:
        return translation_scores(*_predictions(examples, field))

    return score


_SENT_END = re.compile(r"(?<=[.!?])\s+")


def _lsum_lines(text: str) -> str:
    """One sentence per line, as rougeLsum expects."""
    return "\n".join(s for s in _SENT_END.split(text.strip()) if s)


def summarization_scores(predictions: List[str], references: List[str]) -> Dict[str, Optional[float]]:
    """Mean ROUGE-1/2/L/Lsum F1 (rouge-score, Porter stemmer; Lsum over sentences on
    separate lines) and the mean generated length in words."""
    from rouge_score import rouge_scorer

    keys = ("rouge1", "rouge2", "rougeL", "rougeLsum")
    if not predictions:
        return {**{f"summary_{k}": None for k in keys}, "summary_gen_len": None}
    scorer = rouge_scorer.RougeScorer(list(keys), use_stemmer=True)
    totals = dict.fromkeys(keys, 0.0)
    for pred, ref in zip(predictions, references):
        scores = scorer.score(_lsum_lines(ref), _lsum_lines(pred))
        for k in keys:
            totals[k] += scores[k].fmeasure
    n = len(predictions)
    out: Dict[str, Optional[float]] = {f"summary_{k}": totals[k] / n for k in keys}
    out["summary_gen_len"] = sum(len(p.split()) for p in predictions) / n
    return out


@registry.scorers("spacy_task_pipes.summarization_scorer.v1")
def make_summarization_scorer(field: str = "summary") -> Callable[..., Dict[str, Optional[float]]]:
    """``summary_rouge1/2/L/Lsum`` (F1, 0-1) and ``summary_gen_len`` (words) of ``doc._.<field>``."""

    def score(examples: Iterable[Example], **kwargs: Any) -> Dict[str, Optional[float]]:
        return summarization_scores(*_predictions(examples, field))

    return score
