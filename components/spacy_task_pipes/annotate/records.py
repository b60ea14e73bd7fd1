"""Input side of an annotate job: formats, shard plans and per-shard record readers.

A job is cut into shards of ``shard_size`` consecutive input records. The plan is
made once by the driver (one cheap pass: line offsets for JSONL/text/CSV, row counts
for Parquet/``.spacy``); each shard is then read on its own, by whichever process
annotates it, by seeking to its byte offset or row range. So workers read in
parallel, a resumed job never re-reads finished shards, and every record keeps its
global position (its line number for line-based files, its row number otherwise),
which is its id when the input gives none.

A record that is not valid input (undecodable or invalid JSON line, a missing, empty
or non-string text field, bad questions) is still a record: it carries an ``error``
instead of a text, so that it ends up in the job's errors file rather than stopping
the job. Problems that concern the whole file (it does not exist, a CSV/Parquet file
has no column of that name) are raised at planning time, before any work starts.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, replace
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from ..io import InputError

Questions = Tuple[str, ...]


class MissingDependencyError(ValueError):
    """An optional dependency that a format or an engine needs is not installed."""


class InputFormat(str, Enum):
    JSONL = "jsonl"
    CSV = "csv"
    PARQUET = "parquet"
    TXT = "txt"
    SPACY = "spacy"


SUFFIX_FORMATS: Dict[str, InputFormat] = {
    ".jsonl": InputFormat.JSONL,
    ".ndjson": InputFormat.JSONL,
    ".csv": InputFormat.CSV,
    ".parquet": InputFormat.PARQUET,
    ".txt": InputFormat.TXT,
    ".spacy": InputFormat.SPACY,
}


def detect_format(path: Path, given: Optional[str] = None) -> InputFormat:
    """``given`` (a format name) or the format named by ``path``'s suffix."""
    if given:
        try:
            return InputFormat(given.lower())
        except ValueError:
            names = ", ".join(f.value for f in InputFormat)
            raise ValueError(f"Unknown input format {given!r}; use one of {names}.") from None
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        suffixes = ", ".join(SUFFIX_FORMATS)
        raise ValueError(
            f"Cannot tell the format of {path} from its suffix (known: {suffixes}); "
            "pass --input-format."
        )
    return fmt


@dataclass(frozen=True)
class InputSource:
    """Where the records come from and which fields hold what."""

    path: str
    format: InputFormat
    text_field: str = "text"
    id_field: str = "id"
    questions_field: str = "questions"
    encoding: str = "utf-8"
    columns: Tuple[str, ...] = ()  # a CSV file's header, filled in by the plan
    delimiter: str = ","  # CSV only


@dataclass(frozen=True)
class InputRecord:
    """One input record: valid (``text`` set) or invalid (``error`` set)."""

    index: int  # 0-based position in the input
    line: int  # 1-based line number (JSONL, text, CSV) or row number (Parquet, .spacy)
    id: Any
    text: Optional[str] = None
    questions: Optional[Questions] = None
    error: Optional[str] = None


@dataclass(frozen=True)
class ShardSpec:
    """Records ``[start, stop)`` of the input; ``offset`` is the byte offset of the
    first one in line-based files, ``line`` its line (or row) number."""

    index: int
    start: int
    stop: int
    offset: int = 0
    line: int = 1

    @property
    def size(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class InputPlan:
    source: InputSource
    shards: Tuple[ShardSpec, ...]

    @property
    def n_records(self) -> int:
        return self.shards[-1].stop if self.shards else 0


# --------------------------------------------------------------------------- records


def _check_text(value: Any, field: str) -> Optional[str]:
    """The error message for a text field value, or None when it is usable."""
    if value is None:
        return f"missing text field {field!r}"
    if not isinstance(value, str):
        return f"text field {field!r} is not a string (got {type(value).__name__})"
    if not value.strip():
        return f"empty text in field {field!r}"
    return None


def parse_questions(value: Any, field: str, json_string: bool = False) -> Optional[Questions]:
    """``None``, one question (a string) or a list of questions, as a tuple.

    With ``json_string`` (CSV cells) a string that holds a JSON array is read as a list.
    Raises ``ValueError`` for anything else, including empty questions."""
    if value is None:
        return None
    if isinstance(value, str) and json_string and value.lstrip().startswith("["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass  # a question that happens to start with "["
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(q, str) and q.strip() for q in items):
        raise ValueError(
            f"field {field!r} must be a non-empty string or a list of non-empty strings, "
            f"got {str(value)[:80]!r}"
        )
    return tuple(items)


def record_from_mapping(
    row: Mapping[str, Any], index: int, line: int, source: InputSource, json_questions: bool = False
) -> InputRecord:
    """An :class:`InputRecord` from one JSON object, CSV row or Parquet row."""
    rec_id = row.get(source.id_field)
    if rec_id is None or (isinstance(rec_id, float) and math.isnan(rec_id)):
        rec_id = line
    elif not isinstance(rec_id, (str, int, float)):
        return InputRecord(index, line, line, error=f"id field {source.id_field!r} must be a string or a number")
    text = row.get(source.text_field)
    problem = _check_text(text, source.text_field)
    if problem:
        return InputRecord(index, line, rec_id, error=problem)
    try:
        questions = parse_questions(row.get(source.questions_field), source.questions_field, json_questions)
    except ValueError as err:
        return InputRecord(index, line, rec_id, error=str(err))
    return InputRecord(index, line, rec_id, text=text, questions=questions)


def _decoded_line(raw: bytes, index: int, line: int, source: InputSource, empty: str) -> Union[str, InputRecord]:
    """The line as text, or an error record where it cannot be decoded or is blank."""
    try:
        text = raw.decode(source.encoding).rstrip("\r\n")
    except UnicodeDecodeError as err:
        return InputRecord(index, line, line, error=f"cannot decode the line as {source.encoding} ({err.reason})")
    if line == 1 and text.startswith("\ufeff"):
        text = text[1:]  # a byte-order mark (Excel, Notepad) is not data
    if not text.strip():
        return InputRecord(index, line, line, error=empty)
    return text


def _jsonl_record(raw: bytes, index: int, line: int, source: InputSource) -> InputRecord:
    text = _decoded_line(raw, index, line, source, "empty line (JSONL needs one JSON object per line)")
    if isinstance(text, InputRecord):
        return text
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        return InputRecord(index, line, line, error=f"invalid JSON ({err.msg} at column {err.colno})")
    if not isinstance(obj, dict):
        return InputRecord(index, line, line, error=f"expected a JSON object, got {type(obj).__name__}")
    return record_from_mapping(obj, index, line, source)


def _text_record(raw: bytes, index: int, line: int, source: InputSource) -> InputRecord:
    text = _decoded_line(raw, index, line, source, "empty line")
    return text if isinstance(text, InputRecord) else InputRecord(index, line, line, text=text)


# --------------------------------------------------------------------------- planning


def _shards_from_starts(starts: Sequence[Tuple[int, int, int]], n_records: int) -> Tuple[ShardSpec, ...]:
    """Shards from ``(first record, byte offset, line)`` of each shard's first record."""
    stops = [s[0] for s in starts[1:]] + [n_records]
    return tuple(
        ShardSpec(i, start, stop, offset, line) for i, ((start, offset, line), stop) in enumerate(zip(starts, stops))
    )


def _plan_lines(path: Path, shard_size: int) -> Tuple[ShardSpec, ...]:
    starts: List[Tuple[int, int, int]] = []
    offset = n = 0
    with path.open("rb") as fh:
        for raw in fh:
            if n % shard_size == 0:
                starts.append((n, offset, n + 1))
            offset += len(raw)
            n += 1
    return _shards_from_starts(starts, n)


class _CsvLines:
    """Decoded lines (endings kept, as the csv module needs) from a byte offset, with
    the line number and byte offset reached and the lines that failed to decode."""

    def __init__(self, fh: Any, encoding: str, line: int) -> None:
        self.fh = fh
        self.encoding = encoding
        self.offset = fh.tell()
        self.lineno = line - 1
        self.bad_lines: List[int] = []

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        raw = self.fh.readline()
        if not raw:
            raise StopIteration
        self.offset += len(raw)
        self.lineno += 1
        try:
            return raw.decode(self.encoding)
        except UnicodeDecodeError:
            self.bad_lines.append(self.lineno)
            return raw.decode(self.encoding, errors="replace")


def _csv_reader(lines: _CsvLines, delimiter: str = ",") -> Iterator[List[str]]:
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))  # long documents
    return csv.reader(lines, delimiter=delimiter)


def _next_csv_row(reader: Iterator[List[str]], lines: _CsvLines, path: Path) -> Optional[Tuple[List[str], int]]:
    """The next non-blank row and the line it starts on, or None at the end of the file."""
    try:
        while True:
            first_line = lines.lineno + 1
            row = next(reader, None)
            if row is None:
                return None
            if row:
                return row, first_line
    except csv.Error as err:
        raise InputError(f"{path}:{lines.lineno}: malformed CSV ({err}); fix the quoting.") from None


def _plan_csv(source: InputSource, shard_size: int) -> Tuple[InputSource, Tuple[ShardSpec, ...]]:
    path = Path(source.path)
    starts: List[Tuple[int, int, int]] = []
    n = 0
    with path.open("rb") as fh:
        lines = _CsvLines(fh, source.encoding, 1)
        reader = _csv_reader(lines, source.delimiter)
        first = _next_csv_row(reader, lines, path)
        if first is None or lines.bad_lines:
            raise InputError(f"{path}: no readable CSV header line (encoding {source.encoding}).")
        header = list(first[0])
        if header and header[0].startswith("\ufeff"):
            header[0] = header[0][1:]  # a byte-order mark (Excel) is not part of the first column's name
        _require_column(path, header, source.text_field, source.delimiter)
        while True:
            offset, line = lines.offset, lines.lineno + 1  # where a reader of the shard starts
            if _next_csv_row(reader, lines, path) is None:
                break
            if n % shard_size == 0:
                starts.append((n, offset, line))
            n += 1
    return replace(source, columns=tuple(header)), _shards_from_starts(starts, n)


def _require_column(path: Path, columns: Sequence[str], field: str, delimiter: Optional[str] = None) -> None:
    if field in columns:
        return
    hint = "pass the text column with --text-field."
    if delimiter is not None and len(columns) == 1:
        other = next((d for d in (";", "\t", "|", ",") if d != delimiter and d in columns[0]), None)
        if other is not None:
            hint = (f"the header looks {other!r}-separated, not {delimiter!r}-separated: pass --csv-delimiter "
                    f"{other!r}" + (" (a tab)" if other == "\t" else "") + ".")
    raise InputError(f"{path}: no column {field!r} (columns: {', '.join(map(repr, columns))}); {hint}")


def _plan_rows(n_rows: int, shard_size: int) -> Tuple[ShardSpec, ...]:
    starts = [(start, 0, start + 1) for start in range(0, n_rows, shard_size)]
    return _shards_from_starts(starts, n_rows)


def _parquet_file(path: Path) -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependencyError("Parquet input needs pyarrow: pip install 'pyarrow>=12'.") from None
    return pq.ParquetFile(str(path))


def plan_input(source: InputSource, shard_size: int) -> InputPlan:
    """Check the input and cut it into shards of ``shard_size`` records."""
    if shard_size < 1:
        raise ValueError(f"shard size must be >= 1, got {shard_size}.")
    path = Path(source.path)
    if path.exists() and not path.is_file():
        kind = "a directory" if path.is_dir() else "not a regular file (a FIFO, socket or device)"
        raise InputError(f"Input {path} is {kind}: the job reads its input more than once (to plan shards, "
                         "then to read them), so pass a regular file.")
    if not path.is_file():
        raise FileNotFoundError(f"Input file not found: {path}")
    if source.format in (InputFormat.JSONL, InputFormat.TXT):
        return InputPlan(source, _plan_lines(path, shard_size))
    if source.format == InputFormat.CSV:
        source, shards = _plan_csv(source, shard_size)
        return InputPlan(source, shards)
    if source.format == InputFormat.PARQUET:
        pf = _parquet_file(path)
        _require_column(path, pf.schema_arrow.names, source.text_field)
        return InputPlan(source, _plan_rows(pf.metadata.num_rows, shard_size))
    return InputPlan(source, _plan_rows(len(_docbin_rows(str(path), *_file_key(path))), shard_size))


# --------------------------------------------------------------------------- reading


def _read_lines(
    source: InputSource, spec: ShardSpec, parse: Callable[[bytes, int, int, InputSource], InputRecord]
) -> List[InputRecord]:
    records = []
    with open(source.path, "rb") as fh:
        fh.seek(spec.offset)
        for i in range(spec.size):
            raw = fh.readline()
            records.append(parse(raw, spec.start + i, spec.line + i, source))
    return records


def _read_csv(source: InputSource, spec: ShardSpec) -> List[InputRecord]:
    path = Path(source.path)
    records = []
    with path.open("rb") as fh:
        fh.seek(spec.offset)
        lines = _CsvLines(fh, source.encoding, spec.line)
        reader = _csv_reader(lines, source.delimiter)
        for i in range(spec.size):
            n_bad = len(lines.bad_lines)
            found = _next_csv_row(reader, lines, path)
            if found is None:
                raise InputError(f"{path}: ended before record {spec.start + i}; was it changed during the job?")
            row, first_line = found
            index = spec.start + i
            if len(lines.bad_lines) > n_bad:
                records.append(
                    InputRecord(index, first_line, first_line, error=f"cannot decode the line as {source.encoding}")
                )
                continue
            values = dict(zip(source.columns, row))
            records.append(record_from_mapping(values, index, first_line, source, json_questions=True))
    return records


def _read_parquet(source: InputSource, spec: ShardSpec) -> List[InputRecord]:
    pf = _parquet_file(Path(source.path))
    names = set(pf.schema_arrow.names)
    columns = [c for c in (source.text_field, source.id_field, source.questions_field) if c in names]
    groups, first_row, row = [], None, 0
    for g in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(g).num_rows
        if row < spec.stop and row + n > spec.start:
            groups.append(g)
            first_row = row if first_row is None else first_row
        row += n
    if not groups:
        return []
    table = pf.read_row_groups(groups, columns=columns).slice(spec.start - first_row, spec.size)
    return [
        record_from_mapping(values, spec.start + i, spec.line + i, source)
        for i, values in enumerate(table.to_pylist())
    ]


def _file_key(path: Path) -> Tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


@lru_cache(maxsize=2)
def _docbin_rows(path: str, size: int, mtime_ns: int) -> List[Tuple[str, Optional[Any]]]:
    """``(text, questions)`` of every doc of a ``.spacy`` file, once per process
    (keyed on the file's size and mtime, so a changed file is read again)."""
    if not Doc.has_extension("questions"):
        Doc.set_extension("questions", default=None)
    doc_bin = DocBin().from_disk(path)
    return [(doc.text, doc._.questions) for doc in doc_bin.get_docs(Vocab())]


def _read_docbin(source: InputSource, spec: ShardSpec) -> List[InputRecord]:
    path = Path(source.path)
    rows = _docbin_rows(source.path, *_file_key(path))[spec.start : spec.stop]
    records = []
    for i, (text, questions) in enumerate(rows):
        mapping = {source.text_field: text, source.questions_field: questions}
        records.append(record_from_mapping(mapping, spec.start + i, spec.line + i, source))
    return records


def read_shard(source: InputSource, spec: ShardSpec) -> List[InputRecord]:
    """The records of one shard of a planned input, in order."""
    if source.format == InputFormat.JSONL:
        return _read_lines(source, spec, _jsonl_record)
    if source.format == InputFormat.TXT:
        return _read_lines(source, spec, _text_record)
    if source.format == InputFormat.CSV:
        return _read_csv(source, spec)
    if source.format == InputFormat.PARQUET:
        return _read_parquet(source, spec)
    return _read_docbin(source, spec)
