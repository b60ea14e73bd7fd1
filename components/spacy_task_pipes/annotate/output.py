"""Output side of an annotate job: the shard files of an output directory.

Layout of ``OUT_DIR``::

    part-00000.jsonl           results of shard 0 (or .parquet), one record per good input record
    _errors/part-00000.jsonl   the failed records of shard 0 (id, line, stage, message)
    _docs/part-00000.spacy     optional: the annotated docs of shard 0 (DocBin, same order)
    train/part-00000.spacy     instead of _docs, with a DocSplit: shard 0's docs on the train side
    dev/part-00000.spacy       ... and on the dev side (spaCy's Corpus reads each folder)
    _stats/part-00000.json     statistics of shard 0 from components that keep them (and the split)
    _stats.json                those merged over shards (numbers summed), written at the end
    _pipeline/                 a pipeline the job built for itself (bootstrap's rules), if any
    _job.json                  what the job is (input, model, shard size, formats): --resume checks it
    _errors.jsonl              every failed record, written at the end
    _manifest.json             per-shard and total counts, written at the end
    _SUCCESS                   written last
    _LOCK                      held (flock) by the job writing the directory; never removed

Each file is written through a temporary file and an atomic rename, and a shard's
``part`` file is renamed last, so a shard whose ``part`` file exists is complete (its
errors and docs are there too) and a kill at any moment loses at most the shards in
flight. Everything but the parts starts with ``_``, which Parquet/Arrow dataset readers
skip, so ``pyarrow.parquet.read_table(OUT_DIR)`` reads the results.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ..io import LOCK_FILE, recover_outputs, write_bytes_atomic, write_json_atomic, write_text_atomic
from .annotator import SPLITS, DocSplit, ShardResult
from .records import InputPlan, MissingDependencyError

JOB_FILE = "_job.json"
SUCCESS_FILE = "_SUCCESS"
MANIFEST_FILE = "_manifest.json"
ERRORS_FILE = "_errors.jsonl"
ERRORS_DIR = "_errors"
DOCS_DIR = "_docs"
STATS_DIR = "_stats"
STATS_FILE = "_stats.json"
PIPELINE_DIR = "_pipeline"


class OutputFormat(str, Enum):
    JSONL = "jsonl"
    PARQUET = "parquet"


@dataclass(frozen=True)
class OutputSpec:
    directory: Path
    format: OutputFormat = OutputFormat.JSONL
    shard_size: int = 1000
    docbin: bool = False
    split: Optional[DocSplit] = None  # with docbin: train/ and dev/ instead of _docs/


def _jsonl_bytes(rows: Sequence[Dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def _arrow_schema(fields: Sequence[str]) -> Any:
    """``id`` (a string: inputs may mix string and number ids) and the result fields."""
    import pyarrow as pa

    span = [("text", pa.string()), ("start", pa.int64()), ("end", pa.int64())]
    types = {
        "entities": pa.list_(pa.struct(span[:1] + [("label", pa.string())] + span[1:])),
        "answers": pa.list_(pa.struct([("question", pa.string())] + span + [("score", pa.float64())])),
        "translation": pa.string(),
        "summary": pa.string(),
    }
    return pa.schema([("id", pa.string())] + [(name, types[name]) for name in fields])


def _parquet_bytes(rows: Sequence[Dict[str, Any]], fields: Sequence[str]) -> bytes:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependencyError("Parquet output needs pyarrow: pip install 'pyarrow>=12'.") from None
    rows = [{**row, "id": str(row["id"])} for row in rows]
    table = pa.Table.from_pylist(rows, schema=_arrow_schema(fields))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def merge_counts(total: Dict[str, Any], part: Dict[str, Any]) -> Dict[str, Any]:
    """``part`` added into ``total``: numbers summed, dicts merged key by key, anything else
    (a setting) taken from ``part``."""
    for key, value in part.items():
        if isinstance(value, dict):
            merge_counts(total.setdefault(key, {}), value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            total[key] = total.get(key, 0) + value
        else:
            total[key] = value
    return total


def _count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


class ShardStore:
    """Reads and writes the files of one output directory (see the module docstring)."""

    def __init__(self, spec: OutputSpec) -> None:
        self.spec = spec
        self.root = Path(spec.directory)

    # ---------------------------------------------------------------- paths

    def part_path(self, shard: int) -> Path:
        return self.root / f"part-{shard:05d}.{self.spec.format.value}"

    def errors_path(self, shard: int) -> Path:
        return self.root / ERRORS_DIR / f"part-{shard:05d}.jsonl"

    def docbin_path(self, shard: int, split: Optional[str] = None) -> Path:
        """Where shard ``shard``'s docs go: ``_docs/``, or ``train/`` / ``dev/`` with a split."""
        return self.root / (split or DOCS_DIR) / f"part-{shard:05d}.spacy"

    def stats_path(self, shard: int) -> Path:
        return self.root / STATS_DIR / f"part-{shard:05d}.json"

    @property
    def doc_dirs(self) -> List[str]:
        return list(SPLITS) if self.spec.split is not None else [DOCS_DIR]

    def is_complete(self, shard: int) -> bool:
        return self.part_path(shard).is_file()

    # ---------------------------------------------------------------- job identity

    def read_job(self) -> Optional[Dict[str, Any]]:
        path = self.root / JOB_FILE
        return json.loads(path.read_text("utf-8")) if path.is_file() else None

    def prepare(self, job: Dict[str, Any], resume: bool, overwrite: bool) -> None:
        """Check that ``OUT_DIR`` may take this job, clear it with ``overwrite``, and
        record the job (``_job.json``)."""
        previous = self.read_job()
        if previous is None and self.root.is_dir() and any(p.name not in (LOCK_FILE, PIPELINE_DIR)
                                                           for p in self.root.iterdir()):
            raise ValueError(
                f"OUT_DIR {self.root} is not empty and holds no annotate job; pass a new or empty directory."
            )
        if previous is not None and overwrite:
            self.clear()
        elif previous is not None and not resume:
            raise ValueError(
                f"OUT_DIR {self.root} already holds an annotate job; pass --resume to finish it "
                "or --overwrite to start again."
            )
        elif previous is not None and previous != job:
            changed = sorted(k for k in set(job) | set(previous) if job.get(k) != previous.get(k))
            raise ValueError(
                f"--resume: OUT_DIR {self.root} holds a different job (changed: {', '.join(changed)}; "
                f"was {', '.join(f'{k}={previous.get(k)!r}' for k in changed)}). "
                "Use the same settings, a new directory, or --overwrite."
            )
        recover_outputs(self.root)
        for name in (ERRORS_DIR, STATS_DIR, *self.doc_dirs):
            recover_outputs(self.root / name)
        (self.root / SUCCESS_FILE).unlink(missing_ok=True)
        if self.read_job() is None:
            write_json_atomic(job, self.root / JOB_FILE)

    def clear(self) -> None:
        """Remove this job's files (and only those) from ``OUT_DIR``."""
        for pattern in ("part-*.jsonl", "part-*.parquet", ".part-*.tmp"):
            for path in self.root.glob(pattern):
                path.unlink()
        for name in (ERRORS_DIR, DOCS_DIR, STATS_DIR, *SPLITS):
            shutil.rmtree(self.root / name, ignore_errors=True)
        for name in (ERRORS_FILE, MANIFEST_FILE, SUCCESS_FILE, JOB_FILE, STATS_FILE):
            (self.root / name).unlink(missing_ok=True)

    # ---------------------------------------------------------------- shards

    def write_shard(self, result: ShardResult) -> None:
        """Errors, statistics, then docs, then the part file: each atomic, the part file last."""
        write_bytes_atomic(_jsonl_bytes(result.errors), self.errors_path(result.shard))
        if result.stats:
            write_json_atomic(result.stats, self.stats_path(result.shard))
        if self.spec.docbin and self.spec.split is not None:
            if result.docbin is None or result.dev_docbin is None:
                raise RuntimeError(f"shard {result.shard} came back without its train/dev docs; was the engine "
                                   "made with the output's DocSplit?")
            write_bytes_atomic(result.docbin, self.docbin_path(result.shard, "train"))
            write_bytes_atomic(result.dev_docbin, self.docbin_path(result.shard, "dev"))
        elif self.spec.docbin and result.docbin is not None:
            write_bytes_atomic(result.docbin, self.docbin_path(result.shard))
        if self.spec.format == OutputFormat.PARQUET:
            data = _parquet_bytes(result.records, result.fields)
        else:
            data = _jsonl_bytes(result.records)
        write_bytes_atomic(data, self.part_path(result.shard))

    def records_out(self, shard: int) -> int:
        path = self.part_path(shard)
        if self.spec.format == OutputFormat.PARQUET:
            import pyarrow.parquet as pq

            return pq.ParquetFile(str(path)).metadata.num_rows
        return _count_lines(path)

    # ---------------------------------------------------------------- finishing

    def finish(self, plan: InputPlan, run: Dict[str, Any]) -> Dict[str, Any]:
        """Merge the errors, write the manifest, then ``_SUCCESS``; returns the manifest."""
        shards: List[Dict[str, Any]] = []
        stats: Dict[str, Any] = {}
        errors: List[bytes] = []
        for spec in plan.shards:
            shard_errors = self.errors_path(spec.index).read_bytes()
            errors.append(shard_errors)
            entry = {"index": spec.index, "file": self.part_path(spec.index).name, "records_in": spec.size,
                     "records_out": self.records_out(spec.index), "failed": shard_errors.count(b"\n")}
            if entry["records_out"] + entry["failed"] != spec.size:
                raise RuntimeError(f"shard {spec.index} of {self.root} has {entry} records; rerun with --overwrite.")
            if self.stats_path(spec.index).is_file():
                shard_stats = json.loads(self.stats_path(spec.index).read_text("utf-8"))
                merge_counts(stats, shard_stats)
                if "split" in shard_stats:
                    entry["docs"] = shard_stats["split"]
            shards.append(entry)
        write_bytes_atomic(b"".join(errors), self.root / ERRORS_FILE)
        if stats:
            write_json_atomic(stats, self.root / STATS_FILE)
        manifest = {
            **(self.read_job() or {}),
            "records_in": plan.n_records,
            "records_out": sum(s["records_out"] for s in shards),
            "failed": sum(s["failed"] for s in shards),
            "errors_file": ERRORS_FILE,
            **({"stats_file": STATS_FILE, "docs": stats["split"]} if "split" in stats else {}),
            "shards": shards,
            "run": run,
        }
        write_json_atomic(manifest, self.root / MANIFEST_FILE)
        write_text_atomic("", self.root / SUCCESS_FILE)
        return manifest
