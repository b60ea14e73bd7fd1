"""One annotate job: plan the input, skip the shards already done, let an engine
annotate the others, write each shard as it arrives, and finish with the merged errors
file, the manifest and ``_SUCCESS``."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional, Protocol, Sequence

from tqdm import tqdm

from ..io import folder_lock

from .annotator import DocSplit, PipelineSpec, Progress, ShardResult, model_fingerprint
from .local import LocalEngine
from .output import ERRORS_FILE, OutputSpec, ShardStore
from .ray_engine import RayEngine, RayOptions
from .records import InputPlan, InputSource, ShardSpec, plan_input


class Engine(Protocol):
    name: str
    init_seconds: Optional[float]  # loading the pipeline / starting the cluster, where measured

    def run(self, source: InputSource, shards: Sequence[ShardSpec], progress: Progress) -> Iterator[ShardResult]:
        """Annotate ``shards`` (in any order), calling ``progress(n_records)`` as work is done."""
        ...


@dataclass(frozen=True)
class JobSummary:
    output_dir: Path
    records_in: int
    records_out: int
    failed: int
    shards: int
    shards_resumed: int
    records_annotated: int  # by this run (not counting resumed shards)
    seconds: float
    first_result_seconds: Optional[float]

    @property
    def docs_per_second(self) -> float:
        return self.records_annotated / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        resumed = f", {self.shards_resumed} done before" if self.shards_resumed else ""
        return (
            f"annotate: {self.records_in} records in, {self.records_out} out, {self.failed} failed "
            f"(errors: {self.output_dir / ERRORS_FILE}); {self.shards} shard{'s' * (self.shards != 1)}{resumed}; "
            f"{self.records_annotated} annotated in {self.seconds:.1f}s ({self.docs_per_second:.1f} docs/s)"
        )


ENGINES = ("local", "ray")


def make_engine(name: str, pipeline: PipelineSpec, n_process: int = 1, ray_options: Optional[RayOptions] = None,
                keep_docs: bool = False, threads: Optional[int] = None, split: Optional[DocSplit] = None) -> Engine:
    """``local`` (``n_process`` processes on this machine) or ``ray`` (``ray_options``); with
    ``keep_docs`` the docs come back as DocBins, split into train and dev by ``split``."""
    if name == "local":
        return LocalEngine(pipeline, n_process=n_process, keep_docs=keep_docs, threads=threads, split=split)
    if name == "ray":
        return RayEngine(pipeline, ray_options or RayOptions(), keep_docs=keep_docs, split=split)
    raise ValueError(f"Unknown engine {name!r}; use one of {', '.join(ENGINES)}.")


def input_identity(source: InputSource) -> Dict[str, Any]:
    """The input file (path, size, modification time) and how its texts are read."""
    stat = Path(source.path).stat()
    return {
        "input": str(Path(source.path).resolve()),
        "input_size": stat.st_size,
        "input_mtime_ns": stat.st_mtime_ns,
        "input_format": source.format.value,
        "text_field": source.text_field,
        "encoding": source.encoding,
    }


def job_identity(plan: InputPlan, output: OutputSpec, model: str,
                 pipeline: Optional[PipelineSpec] = None) -> Dict[str, Any]:
    """What must not change between a killed run and its ``--resume``."""
    source = plan.source
    return {
        **input_identity(source),
        "id_field": source.id_field,
        "questions_field": source.questions_field,
        "model": model,
        "model_fingerprint": model_fingerprint(model),
        "shard_size": output.shard_size,
        "output_format": output.format.value,
        "docbin": output.docbin,
        # only where set: a job recorded before splits existed still resumes
        **({"split": asdict(output.split)} if output.split is not None else {}),
        # int8 / another runtime gives other outputs: a resume must not mix them
        "quantize": pipeline.quantize if pipeline else "",
        "backend": pipeline.backend if pipeline else "",
    }


def run_annotate(
    source: InputSource,
    output: OutputSpec,
    engine: Engine,
    model: str,
    resume: bool = False,
    overwrite: bool = False,
    show_progress: bool = True,
    prepare: Optional[Callable[[], None]] = None,
) -> JobSummary:
    """Annotate ``source`` into ``output.directory`` with ``engine`` (see the package docstring).

    The job holds the lock of ``output.directory`` from before it looks at it until its last
    file is written: a second job on the same directory is refused at once (``--overwrite``
    included), and a killed job's lock is free again. ``prepare`` runs first, with the lock
    held (bootstrap writes the rule pipeline the job runs into ``OUT_DIR/_pipeline`` there)."""
    if getattr(engine, "split", None) != output.split:
        raise ValueError(f"the engine splits docs by {getattr(engine, 'split', None)}, the output by {output.split}; "
                         "pass the same DocSplit to both.")
    with folder_lock(output.directory, "annotate job"):
        if prepare is not None:
            prepare()
        return _run_annotate(source, output, engine, model, resume, overwrite, show_progress)


def _run_annotate(source: InputSource, output: OutputSpec, engine: Engine, model: str, resume: bool,
                  overwrite: bool, show_progress: bool) -> JobSummary:
    start = time.perf_counter()
    plan = plan_input(source, output.shard_size)
    store = ShardStore(output)
    identity = job_identity(plan, output, model, getattr(engine, "pipeline", None))
    store.prepare(identity, resume=resume, overwrite=overwrite)
    pending = [spec for spec in plan.shards if not store.is_complete(spec.index)]
    done_records = plan.n_records - sum(spec.size for spec in pending)
    first_result: Optional[float] = None
    bar = tqdm(total=plan.n_records, initial=done_records, unit="docs", file=sys.stderr,
               disable=not show_progress, dynamic_ncols=True, smoothing=0.1)
    with bar:
        for result in engine.run(plan.source, pending, bar.update):
            store.write_shard(result)
            if first_result is None:
                first_result = time.perf_counter() - start
    missing = [spec.index for spec in pending if not store.is_complete(spec.index)]
    if missing:
        raise RuntimeError(f"the {engine.name} engine returned no result for shards {missing[:10]}")
    seconds = time.perf_counter() - start
    annotated = plan.n_records - done_records
    manifest = store.finish(plan, run={
        "engine": engine.name,
        "shards_annotated": len(pending),
        "shards_resumed": len(plan.shards) - len(pending),
        "seconds": round(seconds, 3),
        "first_result_seconds": None if first_result is None else round(first_result, 3),
        "init_seconds": None if engine.init_seconds is None else round(engine.init_seconds, 3),
        "docs_per_second": round(annotated / seconds, 2) if seconds > 0 else None,
    })
    return JobSummary(
        output_dir=Path(output.directory),
        records_in=manifest["records_in"],
        records_out=manifest["records_out"],
        failed=manifest["failed"],
        shards=len(plan.shards),
        shards_resumed=len(plan.shards) - len(pending),
        records_annotated=annotated,
        seconds=seconds,
        first_result_seconds=first_result,
    )
