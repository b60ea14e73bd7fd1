"""Line-numbered input readers and atomic output writers shared by the CLIs."""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Tuple, Union

import srsly
from spacy.tokens import Doc, DocBin

PathLike = Union[str, Path]


class InputError(ValueError):
    """A problem with a user's input file, naming the file and line and the fix."""


def iter_lines(path: PathLike, encoding: str = "utf-8") -> Iterator[Tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line of a text file (1-based).

    Decoding happens line by line so that a wrong encoding is reported with the
    line it first breaks on, rather than as a bare ``UnicodeDecodeError``. A leading
    byte-order mark is dropped.
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
            if lineno == 1 and line.startswith("\ufeff"):
                line = line[1:]  # a UTF-8 byte-order mark (Excel, Notepad) is not data
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


# --------------------------------------------------------------------------- writers
#
# Every output goes through a temporary file beside its target, fsync, then an atomic
# rename, so a reader sees the old file or the complete new one, never a half-written
# one. Temporary names carry the writer's pid (``.<name>.<pid>.<random>.tmp``): a later
# write to the same folder removes the ones whose writer is dead (killed mid-write).

_TMP_SUFFIX = ".tmp"
_JOURNAL = ".spacy_task_pipes.commit.json"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _target_mode(path: Path, default: int = 0o666) -> int:
    """The mode a file written to ``path`` should get: the existing file's mode where
    there is one, else ``default`` less the process umask (what ``open()`` would give)."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return default & ~_umask()


def normal_modes(path: PathLike) -> Path:
    """Give ``path`` (a file, or a folder and everything in it) at least the mode ``open()``
    and ``mkdir`` give under the process umask (0644, or 0755 for folders and files their
    owner may execute, under ``umask 022``), keeping any further bits. Writers that go through ``mkstemp``/``mkdtemp`` (0600 / 0700), as
    transformers' ``save_pretrained`` does for ``model.safetensors``, would otherwise leave
    files that other users cannot read. Symbolic links are left alone."""
    path = Path(path)
    mask = _umask()
    entries = [path]
    if path.is_dir() and not path.is_symlink():
        entries.extend(path.rglob("*"))
    for entry in entries:
        if entry.is_symlink():
            continue
        mode = entry.stat().st_mode & 0o7777
        executable = entry.is_dir() or mode & stat.S_IXUSR
        wanted = mode | ((0o777 if executable else 0o666) & ~mask)
        if wanted != mode:
            os.chmod(entry, wanted)
    return path


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def clean_stale_temporaries(folder: PathLike) -> List[Path]:
    """Remove the temporaries (files or folders) that a writer killed mid-write left in
    ``folder``; returns what was removed. Temporaries of live writers are kept."""
    folder = Path(folder)
    removed: List[Path] = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        name = entry.name
        if not (name.startswith(".") and name.endswith(_TMP_SUFFIX)):
            continue
        parts = name[: -len(_TMP_SUFFIX)].split(".")
        pid = next((int(p) for p in reversed(parts[:-1]) if p.isdigit()), None)
        if pid is None or _pid_alive(pid):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except FileNotFoundError:  # pragma: no cover - a concurrent cleaner
            pass
    return removed


def _temp_path(path: Path, directory: bool = False) -> Path:
    prefix = f".{path.name}.{os.getpid()}."
    if directory:
        return Path(tempfile.mkdtemp(prefix=prefix, suffix=_TMP_SUFFIX, dir=path.parent))
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=_TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _write_temp(data: bytes, path: Path) -> Path:
    """``data`` in a complete, fsynced temporary beside ``path``, with ``path``'s mode."""
    if path.is_dir():
        raise IsADirectoryError(
            f"Output path {path} is a directory; pass a file path (e.g. {path / 'output'})."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(path.parent)
    tmp = _temp_path(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _target_mode(path))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _atomic_write_bytes(data: bytes, path: PathLike) -> Path:
    path = Path(path)
    tmp = _write_temp(data, path)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _roll_forward(folder: Path) -> None:
    """Finish a multi-file commit that a kill interrupted (see :func:`write_files_atomic`)."""
    journal = folder / _JOURNAL
    if not journal.exists():
        return
    try:
        moves = json.loads(journal.read_text("utf-8"))
    except (OSError, ValueError):  # a journal is written atomically; be safe anyway
        moves = []
    for tmp, target in moves:
        if os.path.exists(tmp):
            os.replace(tmp, target)
    journal.unlink(missing_ok=True)
    _fsync_dir(folder)


def write_files_atomic(files: Mapping[PathLike, bytes]) -> List[Path]:
    """Write several outputs of one folder as one transaction.

    All files are written to complete temporaries first; then a journal naming the
    renames is written atomically and the renames are done. A kill before the journal
    exists leaves every old output untouched; a kill after it is rolled forward by the
    next writer of that folder (and by :func:`recover_outputs`), so the outputs never
    mix two runs. An empty mapping is an error."""
    paths = {Path(p): data for p, data in files.items()}
    if not paths:
        raise ValueError("write_files_atomic needs at least one file.")
    folders = {p.parent.resolve() for p in paths}
    if len(folders) != 1:
        raise ValueError(f"write_files_atomic writes into one folder, got {sorted(map(str, folders))}.")
    folder = next(iter(paths)).parent
    folder.mkdir(parents=True, exist_ok=True)
    _roll_forward(folder)
    temps: Dict[Path, Path] = {}
    try:
        for path, data in paths.items():
            temps[path] = _write_temp(data, path)
        moves = [[str(tmp), str(path)] for path, tmp in temps.items()]
        _atomic_write_bytes(json.dumps(moves).encode("utf-8"), folder / _JOURNAL)
    except BaseException:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
        raise
    _roll_forward(folder)
    return list(paths)


def recover_outputs(folder: PathLike) -> None:
    """Complete an interrupted :func:`write_files_atomic` in ``folder`` and remove the
    temporaries of dead writers. Readers of multi-file outputs may call it first."""
    folder = Path(folder)
    if folder.is_dir():
        _roll_forward(folder)
        clean_stale_temporaries(folder)


def _renameat2_exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False where
    the system does not offer it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):  # pragma: no cover - old glibc
        return False
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    rc = renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)
    if rc != 0:
        err = ctypes.get_errno()
        if err in (errno.ENOSYS, errno.EINVAL, errno.EPERM, errno.EXDEV):
            return False
        raise OSError(err, os.strerror(err), str(b))
    return True


def replace_dir_atomic(write: Callable[[Path], None], path: PathLike) -> Path:
    """Build a directory with ``write(tmp_dir)`` beside ``path``, then swap it in.

    On Linux the swap is one atomic exchange, so at every instant ``path`` is the old
    complete directory or the new complete one, and no file of the old one survives in
    the new one. Elsewhere it is two renames; :func:`recover_dir` (called by readers)
    puts back whichever complete directory a kill left between them."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"Cannot save a directory to {path}: a file of that name exists.")
    path.parent.mkdir(parents=True, exist_ok=True)
    recover_dir(path)
    clean_stale_temporaries(path.parent)
    tmp = _temp_path(path, directory=True)
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        write(tmp)
        normal_modes(tmp)  # writers that use mkstemp (save_pretrained) leave 0600 files
        for file in tmp.rglob("*"):
            if file.is_file():
                with open(file, "rb") as fh:
                    os.fsync(fh.fileno())
        _fsync_dir(tmp)
        if not path.exists():
            os.replace(tmp, path)
        elif _renameat2_exchange(tmp, path):
            pass  # tmp now holds the old directory
        else:  # pragma: no cover - non-Linux fallback
            old = path.with_name(f".{path.name}.{os.getpid()}.old{_TMP_SUFFIX}")
            os.replace(path, old)
            os.replace(tmp, path)
            tmp = old
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(tmp, ignore_errors=True)
    _fsync_dir(path.parent)
    return path


def save_pipeline(nlp: Any, path: PathLike) -> Path:
    """``nlp.to_disk`` made atomic for the whole pipeline folder.

    The transformer components of this package already swap their own folder in
    atomically under a plain ``nlp.to_disk``; spaCy writes its own files (config,
    meta, tokenizer, vocab) in place. This writes the complete pipeline beside ``path``
    and swaps it in, so a kill at any point leaves the previous pipeline or the new one.

    ``path`` may be the folder ``nlp`` was loaded from (it is replaced as a whole), but not a
    folder inside it or around it: that would leave the loaded pipeline unloadable (or remove
    what else the surrounding folder holds), so it is refused."""
    source = getattr(nlp, "path", None)
    if source is not None:
        source, target = Path(source).resolve(), Path(path).resolve()
        if target != source and (source in target.parents or target in source.parents):
            where = "inside" if source in target.parents else "around"
            raise ValueError(
                f"Cannot save the pipeline to {target}: it is a folder {where} {source}, the pipeline it was loaded "
                "from, which would then no longer load. Save it to its own folder, or over that one."
            )
    return replace_dir_atomic(lambda tmp: nlp.to_disk(tmp), path)


def recover_dir(path: PathLike) -> None:
    """Where ``path`` is missing because a non-atomic swap was killed between its two
    renames, move the old directory back (see :func:`replace_dir_atomic`)."""
    path = Path(path)
    if path.exists() or not path.parent.is_dir():
        return
    olds = sorted(path.parent.glob(f".{glob.escape(path.name)}.*.old{_TMP_SUFFIX}"))
    if olds:
        os.replace(olds[-1], path)


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


# ------------------------------------------------------------------ folder locks

LOCK_FILE = "_LOCK"


class FolderInUseError(InputError):
    """Another live job holds the lock of the folder."""


@contextlib.contextmanager
def folder_lock(folder: PathLike, what: str = "job") -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (created if missing) for the ``with`` block.

    The lock is ``flock`` on ``folder/_LOCK``, which records the holder's pid and start time.
    The operating system releases it when the holder exits in any way (a kill included), so a
    dead holder's lock is recovered by the next job without anyone removing anything. The file
    itself is never removed (a new file would be a second, independent lock). A second job is
    refused at once with :class:`FolderInUseError` naming the holder."""
    import fcntl
    import time

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise FolderInUseError(
                f"{folder} is in use by another {what} ({holder}); wait for it to finish or use another "
                "directory."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock
