"""The local engine: the pipeline in this process, or in ``n_process`` worker processes.

With one process, shards are annotated here, ``nlp.pipe`` over ``batch_size`` docs at a
time. With more, each worker process (started with ``spawn``, so no CUDA or thread
state is inherited) loads the pipeline once and annotates whole shards: a worker reads
its shard itself and sends back only the result records, and a record that raises
costs only that record (spaCy's own ``nlp.pipe(n_process=...)`` ships every ``Doc``
back through a pipe and stops at the first error).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Dict, Iterator, Optional, Sequence, Tuple

from .annotator import Annotator, PipelineSpec, Progress, ShardResult, load_pipeline
from .records import InputSource, ShardSpec


def limit_threads(n_threads: Optional[int]) -> None:
    """Cap the intra-op threads of torch (when the pipeline uses it) at ``n_threads``."""
    if n_threads is None:
        return
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency of the package
        return
    torch.set_num_threads(max(1, n_threads))


class LocalEngine:
    """Annotate shards on this machine (``n_process`` >= 1 processes)."""

    name = "local"

    def __init__(self, pipeline: PipelineSpec, n_process: int = 1, keep_docs: bool = False,
                 threads: Optional[int] = None) -> None:
        if n_process < 1:
            raise ValueError(f"--n-process must be >= 1, got {n_process}.")
        self.pipeline = pipeline
        self.n_process = n_process
        self.init_seconds: Optional[float] = None  # loading the pipeline here (one process)
        self.keep_docs = keep_docs
        # torch threads per worker: the cores shared out between the workers
        self.threads = threads if threads is not None else (
            None if n_process == 1 else max(1, (os.cpu_count() or 1) // n_process)
        )

    def run(self, source: InputSource, shards: Sequence[ShardSpec], progress: Progress) -> Iterator[ShardResult]:
        if not shards:
            return iter(())
        if self.n_process == 1:
            return self._run_here(source, shards, progress)
        return self._run_pool(source, shards, progress)

    def _run_here(self, source: InputSource, shards: Sequence[ShardSpec], progress: Progress) -> Iterator[ShardResult]:
        limit_threads(self.threads)
        start = time.perf_counter()
        annotator = Annotator(load_pipeline(self.pipeline), self.pipeline.batch_size, self.keep_docs)
        self.init_seconds = time.perf_counter() - start
        for spec in shards:
            yield annotator.annotate_shard(source, spec, progress)

    def _run_pool(self, source: InputSource, shards: Sequence[ShardSpec], progress: Progress) -> Iterator[ShardResult]:
        context = multiprocessing.get_context("spawn")
        workers = min(self.n_process, len(shards))
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [
                pool.submit(_annotate_in_worker, self.pipeline, self.keep_docs, self.threads, source, spec)
                for spec in shards
            ]
            try:
                for future in as_completed(futures):
                    result = future.result()
                    progress(result.n_in)
                    yield result
            finally:
                for future in futures:
                    future.cancel()


# One annotator per worker process, made by its first task (a failing load then
# surfaces as that task's exception instead of a pool that keeps restarting workers).
_WORKER_ANNOTATORS: Dict[Tuple[PipelineSpec, bool], Annotator] = {}


def _annotate_in_worker(pipeline: PipelineSpec, keep_docs: bool, threads: Optional[int],
                        source: InputSource, spec: ShardSpec) -> ShardResult:
    key = (pipeline, keep_docs)
    if key not in _WORKER_ANNOTATORS:
        limit_threads(threads)
        _WORKER_ANNOTATORS[key] = Annotator(load_pipeline(pipeline), pipeline.batch_size, keep_docs)
    return _WORKER_ANNOTATORS[key].annotate_shard(source, spec)
