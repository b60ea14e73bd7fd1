"""Line-numbered input readers and atomic output writers shared by the CLIs."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, Tuple, Union

import srsly
from spacy.tokens import Doc, DocBin

PathLike = Union[str, Path]


class InputError(ValueError):
    """A problem with a user's input file, naming the file and line and the fix."""


def iter_lines(path: PathLike, encoding: str = "utf-8") -> Iterator[Tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line of a text file (1-based).

    Decoding happens line by line so that a wrong encoding is reported with the
    line it first breaks on, rather than as a bare ``UnicodeDecodeError``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Input file not found: {path}")
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode(encoding)
            except UnicodeDecodeError as err:
                snippet = raw[max(0, err.start - 20) : err.end + 20]
                hint = "latin-1" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else "utf-8"
                raise InputError(
                    f"{path}:{lineno}: cannot decode byte {raw[err.start]:#04x} at column "
                    f"{err.start + 1} as {encoding} (near {snippet!r}). Convert the file to "
                    f"{encoding} or pass the file's real encoding, e.g. --encoding {hint}."
                ) from None
            yield lineno, line.rstrip("\r\n")


def iter_jsonl(path: PathLike, encoding: str = "utf-8") -> Iterator[Tuple[int, Any]]:
    """Yield ``(line_number, record)`` for a JSONL file; empty or invalid lines are errors."""
    for lineno, line in iter_lines(path, encoding=encoding):
        if not line.strip():
            raise InputError(
                f"{path}:{lineno}: empty line. JSONL needs one JSON record per line; "
                "remove the blank line."
            )
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(
                f"{path}:{lineno}: invalid JSON ({err.msg} at column {err.colno}): "
                f"{line[:80]!r}. Fix the record or remove the line."
            ) from None
        yield lineno, record


def read_texts(path: PathLike, encoding: str = "utf-8", field: str = "text") -> list:
    """Read the ``field`` of every JSONL record (or every line of a ``.txt`` file)."""
    path = Path(path)
    if path.suffix == ".txt":
        return [line for _, line in iter_lines(path, encoding) if line.strip()]
    texts = []
    for lineno, record in iter_jsonl(path, encoding=encoding):
        text = record.get(field) if isinstance(record, dict) else None
        if not isinstance(text, str):
            raise InputError(
                f"{path}:{lineno}: expected an object with a string {field!r} field, "
                f"got {str(record)[:80]!r}."
            )
        texts.append(text)
    return texts


def _atomic_write_bytes(data: bytes, path: PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_bytes_atomic(data: bytes, path: PathLike) -> Path:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename."""
    return _atomic_write_bytes(data, path)


def write_text_atomic(text: str, path: PathLike) -> Path:
    return _atomic_write_bytes(text.encode("utf-8"), path)


def write_json_atomic(data: Any, path: PathLike) -> Path:
    return write_text_atomic(srsly.json_dumps(data, indent=2) + "\n", path)


def write_docbin_atomic(docs: Iterable[Doc], path: PathLike, store_user_data: bool = False) -> int:
    """Serialize ``docs`` to a ``.spacy`` file atomically; returns the number of docs."""
    doc_bin = DocBin(store_user_data=store_user_data)
    n = 0
    for doc in docs:
        doc_bin.add(doc)
        n += 1
    _atomic_write_bytes(doc_bin.to_bytes(), path)
    return n
