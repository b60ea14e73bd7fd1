"""The local engine: the pipeline in this process, or in ``n_process`` worker processes.

With one process, shards are annotated here, ``nlp.pipe`` over ``batch_size`` docs at a
time. With more, each worker process (started with ``spawn``, so no CUDA or thread
state is inherited) loads the pipeline once and annotates whole shards: a worker reads
its shard itself and sends back only the result records, and a record that raises
costs only that record (spaCy's own ``nlp.pipe(n_process=...)`` ships every ``Doc``
back through a pipe and stops at the first error).
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Dict, Iterator, Optional, Sequence, Tuple

from .annotator import Annotator, DocSplit, PipelineSpec, Progress, ShardResult
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
                 threads: Optional[int] = None, split: Optional[DocSplit] = None) -> None:
        if n_process < 1:
            raise ValueError(f"--n-process must be >= 1, got {n_process}.")
        self.pipeline = pipeline
        self.n_process = n_process
        self.init_seconds: Optional[float] = None  # loading the pipeline here (one process)
        self.keep_docs = keep_docs
        self.split = split
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
        annotator = Annotator.for_pipeline(self.pipeline, self.keep_docs, self.split)
        self.init_seconds = time.perf_counter() - start
        for spec in shards:
            yield annotator.annotate_shard(source, spec, progress)

    def _run_pool(self, source: InputSource, shards: Sequence[ShardSpec], progress: Progress) -> Iterator[ShardResult]:
        """Shards to ``n_process`` spawned workers, at most two per worker in flight (only pending
        work is held: memory stays flat over any number of shards). The workers end with this
        process: on SIGTERM here they are stopped before it exits, and each asks the kernel for
        SIGTERM should this process die without a word (SIGKILL)."""
        context = multiprocessing.get_context("spawn")
        workers = min(self.n_process, len(shards))
        todo = iter(shards)
        with _terminate_raises(), ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                                      initializer=_die_with_parent,
                                                      initargs=(os.getpid(),)) as pool:
            pending = set()
            try:
                for spec in itertools.islice(todo, 2 * workers):
                    pending.add(pool.submit(_annotate_in_worker, self.pipeline, self.keep_docs, self.split,
                                            self.threads, source, spec))
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        result = future.result()
                        progress(result.n_in)
                        for spec in itertools.islice(todo, 1):
                            pending.add(pool.submit(_annotate_in_worker, self.pipeline, self.keep_docs,
                                                    self.split, self.threads, source, spec))
                        yield result
                    del done
            except BaseException:
                for future in pending:
                    future.cancel()
                _stop_workers(pool)
                raise


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate the pool's worker processes now (a shutdown would wait for their shards)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.join(timeout=10)


@contextlib.contextmanager
def _terminate_raises():
    """SIGTERM raises ``SystemExit`` here (Python's default would end the process at once, leaving
    the workers running), so cleanup code runs; the previous handler is restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def end_with_parent() -> None:
    """In a child process: get SIGTERM when the parent dies (Linux's ``PR_SET_PDEATHSIG``; a
    no-op elsewhere). Also a ``preexec_fn`` for ``subprocess``."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def _die_with_parent(parent: int) -> None:
    """In a worker: get SIGTERM when the parent dies (Linux), and exit at once if it already has."""
    end_with_parent()
    if os.getppid() != parent:
        os._exit(1)


# One annotator per worker process, made by its first task (a failing load then
# surfaces as that task's exception instead of a pool that keeps restarting workers).
_WORKER_ANNOTATORS: Dict[Tuple[PipelineSpec, bool, Optional[DocSplit]], Annotator] = {}


def _annotate_in_worker(pipeline: PipelineSpec, keep_docs: bool, split: Optional[DocSplit], threads: Optional[int],
                        source: InputSource, spec: ShardSpec) -> ShardResult:
    key = (pipeline, keep_docs, split)
    if key not in _WORKER_ANNOTATORS:
        limit_threads(threads)
        _WORKER_ANNOTATORS[key] = Annotator.for_pipeline(pipeline, keep_docs, split)
    return _WORKER_ANNOTATORS[key].annotate_shard(source, spec)
