"""Pipeline side of an annotate job: load a pipeline, run it over a shard's records
and turn each ``Doc`` into one result record.

Every engine (in-process, worker processes, Ray actors) runs :class:`Annotator`, so
they produce identical records. A batch that makes the pipeline raise is run again
doc by doc, so only the records that really fail go to the errors file.
"""

from __future__ import annotations

import copy
import ctypes
import functools
import gc
import hashlib
import json
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple, Union

import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin

from ..cli import option_overrides
from ..safety import UnsafePipelineError, inspect_pipeline, pipeline_dir, safe_load
from .records import InputRecord, InputSource, ShardSpec, read_shard

Progress = Callable[[int], None]
ResultRecord = Dict[str, Any]
ErrorRecord = Dict[str, Any]
Outcome = Union[Tuple[Doc, ResultRecord], ErrorRecord]  # a processed doc and its record, or an error

MAX_MESSAGE_CHARS = 500
# Annotator.for_pipeline reloads its pipeline after this many transient strings (see Annotator._reload)
RELOAD_AFTER_STRINGS = 250_000


@dataclass(frozen=True)
class PipelineSpec:
    """How a worker loads the pipeline: a directory or an installed package name, an
    optional Python file with custom components (imported first) and the GPU to use."""

    model: str
    batch_size: int = 64
    gpu_id: int = -1
    code: Optional[str] = None
    # CPU inference of the transformer components ("" = as the pipeline's config says):
    # quantize "int8" or "none", backend "torch" / "onnxruntime" / "ctranslate2"
    quantize: str = ""
    backend: str = ""

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {self.batch_size}.")


def check_model(model: str) -> str:
    """``model`` as it will be loaded: an existing pipeline directory (absolute path)
    or the name of an installed pipeline package."""
    path = Path(model)
    if path.exists():
        if not (path / "config.cfg").is_file():
            raise FileNotFoundError(f"MODEL: {path} is not a spaCy pipeline directory (no config.cfg).")
        resolved = str(path.resolve())
    elif spacy.util.is_package(model):
        resolved = model
    else:
        raise FileNotFoundError(f"MODEL: no pipeline directory or installed pipeline package named {model!r}.")
    findings = inspect_pipeline(resolved)  # before the job touches OUT_DIR; workers check again
    if findings:
        raise UnsafePipelineError(pipeline_dir(resolved) or resolved, findings)
    return resolved


def model_fingerprint(model: str) -> str:
    """Changes when the pipeline does: a directory's file names, sizes and mtimes, or an
    installed package's version. ``--resume`` refuses to mix two pipelines' outputs."""
    path = Path(model)
    if not path.is_dir():
        return f"{model}=={spacy.util.get_package_version(model)}"
    digest = hashlib.sha1()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        stat = file.stat()
        digest.update(f"{file.relative_to(path)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


_IMPORTED_CODE: Set[str] = set()


def import_code(code: Optional[str]) -> None:
    """Import a Python file of custom components (as ``spacy --code`` does), once per process."""
    if not code:
        return
    path = str(Path(code).resolve())
    if path not in _IMPORTED_CODE:
        spacy.util.import_file("spacy_task_pipes_annotate_code_" + hashlib.sha1(path.encode()).hexdigest()[:12], path)
        _IMPORTED_CODE.add(path)


def load_pipeline(spec: PipelineSpec, gpu_id: Optional[int] = None) -> Language:
    """Load the pipeline of ``spec`` (on ``gpu_id`` when given, else ``spec.gpu_id``)."""
    import_code(spec.code)
    gpu = spec.gpu_id if gpu_id is None else gpu_id
    if gpu >= 0:
        spacy.require_gpu(gpu)
    nlp = safe_load(spec.model)
    if not (spec.quantize or spec.backend):
        return nlp
    return safe_load(spec.model, config=option_overrides(nlp.config, spec.model, spec.quantize, spec.backend))


SPLITS = ("train", "dev")
SPLIT_KEYS = ("text", "id")


@dataclass(frozen=True)
class DocSplit:
    """Send each annotated doc to ``train`` or ``dev`` by a stable hash of its text (or id).

    A record is ``dev`` when the first 8 bytes of ``blake2b(seed, key)`` fall below
    ``dev_fraction`` of their range. The decision depends on nothing but the record, so
    adding texts to a corpus never moves an old one across the split, every engine and
    shard size gives the same split, and with ``key="text"`` duplicate texts land on the
    same side (no train/dev leakage). ``key="id"`` uses the input's id field (where the
    input has none, the id is the line number, which moves when lines are inserted)."""

    dev_fraction: float
    seed: int = 0
    key: str = "text"

    def __post_init__(self) -> None:
        if not 0.0 <= self.dev_fraction < 1.0:
            raise ValueError(f"dev fraction must be at least 0 and below 1 (e.g. 0.2), got {self.dev_fraction}.")
        if self.key not in SPLIT_KEYS:
            raise ValueError(f"split key must be one of {', '.join(SPLIT_KEYS)}, got {self.key!r}.")

    def is_dev(self, record: InputRecord) -> bool:
        value = record.text if self.key == "text" else str(record.id)
        digest = hashlib.blake2b(f"{self.seed}\0{value}".encode("utf-8"), digest_size=8).digest()
        return int.from_bytes(digest, "big") < self.dev_fraction * 2.0**64


@dataclass(frozen=True)
class OutputFields:
    """Which results the pipeline provides, and the ``Doc`` extensions that hold them."""

    entities: bool = False
    answers: bool = False
    translation: Optional[str] = None
    summary: Optional[str] = None

    @property
    def names(self) -> List[str]:
        flags = {"entities": self.entities, "answers": self.answers,
                 "translation": self.translation is not None, "summary": self.summary is not None}
        return [name for name, present in flags.items() if present]


def output_fields(nlp: Language) -> OutputFields:
    """Read the results off the components' declared ``assigns`` and factories
    (``translator``/``summarizer`` write the ``Doc`` extension named by their ``field``)."""
    entities = answers = False
    translation = summary = None
    for name in nlp.pipe_names:
        meta = nlp.get_pipe_meta(name)
        entities = entities or "doc.ents" in meta.assigns
        answers = answers or "doc._.answers" in meta.assigns
        cfg = getattr(nlp.get_pipe(name), "cfg", {})
        if meta.factory == "translator":
            translation = cfg.get("field", "translation")
        elif meta.factory == "summarizer":
            summary = cfg.get("field", "summary")
    return OutputFields(entities, answers, translation, summary)


def doc_to_record(doc: Doc, rec_id: Any, fields: OutputFields) -> ResultRecord:
    out: ResultRecord = {"id": rec_id}
    if fields.entities:
        out["entities"] = [
            {"text": ent.text, "label": ent.label_, "start": ent.start_char, "end": ent.end_char} for ent in doc.ents
        ]
    if fields.answers:
        out["answers"] = [
            {"question": a.question, "text": a.text, "start": a.start, "end": a.end, "score": float(a.score)}
            for a in doc._.answers
        ]
    if fields.translation is not None:
        out["translation"] = getattr(doc._, fields.translation)
    if fields.summary is not None:
        out["summary"] = getattr(doc._, fields.summary)
    return out


def error_record(record: InputRecord, stage: str, message: str) -> ErrorRecord:
    message = " ".join(message.split())[:MAX_MESSAGE_CHARS]
    return {"id": record.id, "line": record.line, "stage": stage, "message": message}


@dataclass
class ShardResult:
    """What annotating one shard gave: result and error records in input order, the
    result fields the pipeline provides, optionally the docs as a DocBin (with a
    :class:`DocSplit`: the train docs in ``docbin``, the dev docs in ``dev_docbin``), and
    the statistics of the components that keep them (see :class:`Annotator`)."""

    shard: int
    n_in: int
    fields: List[str]
    records: List[ResultRecord] = field(default_factory=list)
    errors: List[ErrorRecord] = field(default_factory=list)
    docbin: Optional[bytes] = None
    dev_docbin: Optional[bytes] = None
    stats: Dict[str, Any] = field(default_factory=dict)
    started_at: float = 0.0  # wall clock (time.time()) of the annotating process
    finished_at: float = 0.0

    def to_json(self) -> str:
        """Everything but the DocBin bytes (which travel on their own)."""
        fields = {"shard": self.shard, "n_in": self.n_in, "fields": self.fields, "records": self.records,
                  "errors": self.errors, "stats": self.stats, "started_at": self.started_at,
                  "finished_at": self.finished_at}
        return json.dumps(fields, ensure_ascii=False)

    @classmethod
    def from_json(cls, payload: str, docbin: Optional[bytes] = None,
                  dev_docbin: Optional[bytes] = None) -> "ShardResult":
        return cls(**json.loads(payload), docbin=docbin, dev_docbin=dev_docbin)


def _message(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


@lru_cache(maxsize=1)
def _malloc_trim() -> Optional[Callable[[int], int]]:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def release_freed_memory() -> None:
    """Hand the heap memory freed by a shard back to the system (glibc's ``malloc_trim``).
    Without it a worker's RSS drifts up and down with heap fragmentation (measured over 40
    shards of 5,000 texts: 324-361 MB; with it 302-309 MB). A no-op without glibc."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


class Annotator:
    """Runs a loaded pipeline over records, ``batch_size`` docs per ``nlp.pipe`` call.

    A component with a ``job_stats`` attribute (an object with ``to_dict()``, such as
    ``silver_ruler``'s match counts) reports per shard: the annotator starts each shard
    with a fresh one, rolls it back when a batch fails and is retried doc by doc (so no
    doc is counted twice), and returns ``to_dict()`` in :attr:`ShardResult.stats`."""

    def __init__(self, nlp: Language, batch_size: int, keep_docs: bool = False,
                 split: Optional[DocSplit] = None, reload: Optional[Callable[[], Language]] = None,
                 reload_after_strings: int = RELOAD_AFTER_STRINGS) -> None:
        self.batch_size = batch_size
        self.keep_docs = keep_docs
        self.split = split
        self.reload = reload
        self.reload_after_strings = reload_after_strings
        self.reloads = 0
        self._set_questions = Doc.has_extension("questions")
        self._use(nlp)

    @classmethod
    def for_pipeline(cls, spec: PipelineSpec, keep_docs: bool = False, split: Optional[DocSplit] = None,
                     gpu_id: Optional[int] = None) -> "Annotator":
        """An annotator of the pipeline ``spec`` names, which it reloads from there when its
        vocab's hash tables have indexed :data:`RELOAD_AFTER_STRINGS` transient strings."""
        load = functools.partial(load_pipeline, spec, gpu_id=gpu_id)
        return cls(load(), spec.batch_size, keep_docs, split, reload=load)

    def _use(self, nlp: Language) -> None:
        self.nlp = nlp
        self.fields = output_fields(nlp)
        self._stat_pipes = [(name, pipe) for name, pipe in nlp.pipeline if hasattr(pipe, "job_stats")]
        self._transient_strings = 0

    def make_doc(self, record: InputRecord) -> Doc:
        doc = self.nlp.make_doc(record.text or "")
        if record.questions is not None and self._set_questions:
            doc._.questions = list(record.questions)
        return doc

    def _run_batch(self, batch: Sequence[InputRecord]) -> List[Tuple[Doc, ResultRecord]]:
        docs = self.nlp.pipe([self.make_doc(r) for r in batch], batch_size=len(batch))
        return [(doc, doc_to_record(doc, r.id, self.fields)) for r, doc in zip(batch, docs)]

    def _stats_snapshot(self) -> List[Any]:
        return [copy.deepcopy(pipe.job_stats) for _, pipe in self._stat_pipes]

    def _restore_stats(self, snapshot: List[Any]) -> None:
        for (_, pipe), stats in zip(self._stat_pipes, snapshot):
            pipe.job_stats = stats

    def _run_one(self, record: InputRecord) -> Outcome:
        snapshot = self._stats_snapshot()
        try:
            return self._run_batch([record])[0]
        except Exception as err:  # the record's own failure: reported, the job goes on
            self._restore_stats(snapshot)
            return error_record(record, "pipeline", _message(err))

    def annotate(self, records: Sequence[InputRecord], shard: int = -1,
                 progress: Optional[Progress] = None) -> ShardResult:
        """Annotate ``records`` (valid or not): a result or an error record for each.

        The shard runs in a spaCy memory zone: the strings and lexemes its docs add to the
        vocab are freed at its end (the docs are serialized before), so a worker's memory
        stays flat over any number of shards instead of growing with every new word."""
        if self.reload is not None and self._transient_strings >= self.reload_after_strings:
            self._reload()  # before a shard, not after one: a failing load cannot lose finished work
        strings = self.nlp.vocab.strings
        with self.nlp.memory_zone():
            before = len(strings)
            result = self._annotate(records, shard, progress)
            self._transient_strings += len(strings) - before
        release_freed_memory()
        return result

    def _reload(self) -> None:
        """Replace the pipeline by a fresh load. The memory zone frees a shard's strings and
        lexemes, but the preshed hash tables that indexed them (``StringStore`` and ``Vocab``)
        only mark their cells deleted and double in size when marked cells fill them: about
        20 bytes per text that never come back (measured: +2 MB per 100,000 texts). A fresh
        pipeline has fresh tables; its output is the same."""
        self.nlp = None  # type: ignore[assignment]
        self._stat_pipes = []
        gc.collect()  # a Language holds reference cycles
        self._use(self.reload())  # type: ignore[misc]
        self.reloads += 1

    def _annotate(self, records: Sequence[InputRecord], shard: int, progress: Optional[Progress]) -> ShardResult:
        result = ShardResult(shard, len(records), self.fields.names)
        for _, pipe in self._stat_pipes:
            pipe.job_stats = type(pipe.job_stats)()
        # train/dev shards hold what spaCy trains on; user data (Doc._ values) only in _docs/, since
        # DocBin serializes it with one msgpack call per doc (15x the cost of the rest of add())
        store_user_data = self.split is None
        doc_bins = {name: DocBin(store_user_data=store_user_data) for name in SPLITS} if self.keep_docs else None
        for i in range(0, len(records), self.batch_size):
            batch = records[i : i + self.batch_size]
            valid = [r for r in batch if r.error is None]
            done = self._annotate_valid(valid)
            for record in batch:
                outcome = done[record.index] if record.error is None else error_record(record, "input", record.error)
                if isinstance(outcome, tuple):
                    result.records.append(outcome[1])
                    if doc_bins is not None:
                        doc_bins["dev" if self.split and self.split.is_dev(record) else "train"].add(outcome[0])
                else:
                    result.errors.append(outcome)
            if progress is not None:
                progress(len(batch))
        if doc_bins is not None:
            result.docbin = doc_bins["train"].to_bytes()
            if self.split is not None:
                result.dev_docbin = doc_bins["dev"].to_bytes()
                result.stats["split"] = {name: len(doc_bins[name]) for name in SPLITS}
        result.stats.update({name: pipe.job_stats.to_dict() for name, pipe in self._stat_pipes})
        return result

    def _annotate_valid(self, records: Sequence[InputRecord]) -> Dict[int, Outcome]:
        if not records:
            return {}
        snapshot = self._stats_snapshot()
        try:
            outcomes: List[Outcome] = list(self._run_batch(records))
        except Exception:  # find the record(s) that fail: retry one by one
            self._restore_stats(snapshot)
            outcomes = [self._run_one(r) for r in records]
        return {r.index: outcome for r, outcome in zip(records, outcomes)}

    def annotate_shard(self, source: InputSource, spec: ShardSpec, progress: Optional[Progress] = None) -> ShardResult:
        started_at = time.time()
        result = self.annotate(read_shard(source, spec), spec.index, progress)
        result.started_at, result.finished_at = started_at, time.time()
        return result
