"""The Ray engine: shards annotated by a pool of Ray actors through Ray Data.

The pending shards become a Ray Dataset (one row and one block per shard,
``ray.data.from_items``) mapped with :class:`ShardAnnotator`, a callable class, so
each of the ``workers`` actors loads the pipeline once and then annotates whole shards
(``map_batches(ShardAnnotator, batch_size=1, compute=ActorPoolStrategy(size=workers),
num_gpus=...)``). An actor reads its shard from the input itself (the job's shard plan
gives byte offsets or row ranges), so reading is spread over the actors too; the input
must then be readable at the same path on every node (a shared file system) when the
cluster has several. Ray's own readers (``read_json``, ``read_parquet``...) are not
used for the records: they know no line numbers (the id of a record without one), stop
the whole read at one invalid JSON line, and cannot skip the shards a killed job
finished. The results come back to the driver, which writes the output.

Ray is imported only here, and only when this engine is made (``pip install -e
".[ray]"``). The job joins a running cluster with ``address`` (``"auto"``,
``"host:port"`` or ``"ray://host:10001"``; the package, the pipeline and any ``--code``
file must be installed or readable there too), or else starts a local one with
``num_cpus`` CPUs on 127.0.0.1 (``node_ip_address`` to listen elsewhere) and shuts it
down at the end: the job waits until the cluster's processes (the ``ray::`` actors
included) have exited, and ends those left after ``SHUTDOWN_GRACE_SECONDS``.

Before the actors start the job checks that the cluster has the CPUs and GPUs the actor
pool asks for: a local cluster that cannot fit it is an error naming the options; a joined
cluster that cannot fit it yet (it may scale up) gets one warning. When the pool fits,
Ray Data's "Cluster resources are not enough to run any task ... may hang forever"
warning, which it prints while the actors are still loading the pipeline, is false and is
filtered out.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set

from .annotator import Annotator, DocSplit, PipelineSpec, Progress, ShardResult
from .local import limit_threads
from .records import InputSource, MissingDependencyError, ShardSpec

RAY_INSTALL_HINT = "pip install -e \".[ray]\" (or pip install \"ray[data]>=2.9\")"
LOCAL_ADDRESS = "127.0.0.1"
SHUTDOWN_GRACE_SECONDS = 10.0
# Ray Data's starvation warning, false while the actors of a pool that fits are starting
_STARVATION_LOGGER = "ray.data._internal.execution.resource_manager"
_STARVATION_TEXT = "Cluster resources are not enough to run any task"


class _DropStarvationWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return _STARVATION_TEXT not in record.getMessage()


@contextlib.contextmanager
def quiet_starvation_warning() -> Iterator[None]:
    """Drop Ray Data's starvation warning while the job runs (see the module docstring)."""
    logger, drop = logging.getLogger(_STARVATION_LOGGER), _DropStarvationWarning()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def _children() -> Dict[int, int]:
    """pid -> parent pid of every process (Linux /proc; empty elsewhere)."""
    parents: Dict[int, int] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:  # pragma: no cover - not Linux
        return parents
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read().decode("utf-8", "replace")
            parents[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # exited meanwhile
    return parents


def descendants(pid: int) -> Set[int]:
    """The processes below ``pid`` (children, theirs, ...)."""
    parents = _children()
    found: Set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier and child not in found}
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().decode("utf-8", "replace")
        return state[state.rindex(")") + 2] != "Z"  # a zombie has exited; its parent reaps it
    except (OSError, IndexError):
        return False


def reap(pids: Set[int], grace: float = SHUTDOWN_GRACE_SECONDS) -> List[int]:
    """Wait up to ``grace`` seconds for ``pids`` to exit, then SIGKILL those left; returns
    the ones that had to be killed."""
    deadline = time.monotonic() + grace
    left = {pid for pid in pids if _alive(pid)}
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = {pid for pid in left if _alive(pid)}
    for pid in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return sorted(left)


def import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise MissingDependencyError(f"--engine ray needs Ray, which is not installed: {RAY_INSTALL_HINT}.") from None
    return ray


@dataclass(frozen=True)
class RayOptions:
    """Where and how the actors run."""

    workers: int = 1
    address: Optional[str] = None  # join this cluster; None: start a local one
    num_cpus: Optional[int] = None  # CPUs of the local cluster (None: all)
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    node_ip_address: Optional[str] = None  # the local cluster's node IP (Ray's _node_ip_address; None: 127.0.0.1)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {self.workers}.")
        if self.cpus_per_worker <= 0 or self.gpus_per_worker < 0:
            raise ValueError("--cpus-per-worker must be > 0 and --gpus-per-worker >= 0.")


class ShardAnnotator:
    """A Ray Data callable class: one per actor, the pipeline loaded once."""

    def __init__(self, pipeline: PipelineSpec, source: InputSource, keep_docs: bool, threads: int,
                 split: Optional[DocSplit] = None) -> None:
        limit_threads(threads)
        # Ray sets CUDA_VISIBLE_DEVICES to the actor's GPU, which is then device 0
        gpu_id = 0 if pipeline.gpu_id >= 0 else -1
        self.annotator = Annotator.for_pipeline(pipeline, keep_docs, split, gpu_id=gpu_id)
        self.source = source

    def __call__(self, batch: Dict[str, Any]) -> Dict[str, List[Any]]:
        out: Dict[str, List[Any]] = {"shard": [], "payload": [], "docbin": [], "dev_docbin": []}
        for i in range(len(batch["index"])):
            spec = ShardSpec(**{key: int(batch[key][i]) for key in ("index", "start", "stop", "offset", "line")})
            result = self.annotator.annotate_shard(self.source, spec)
            out["shard"].append(spec.index)
            out["payload"].append(result.to_json())
            out["docbin"].append(result.docbin or b"")
            out["dev_docbin"].append(result.dev_docbin or b"")
        return out


class RayEngine:
    """Annotate shards with ``options.workers`` Ray actors."""

    name = "ray"

    def __init__(self, pipeline: PipelineSpec, options: RayOptions, keep_docs: bool = False,
                 split: Optional[DocSplit] = None) -> None:
        self.ray = import_ray()  # fails before the job touches its output
        self.pipeline = pipeline
        self.options = options
        self.keep_docs = keep_docs
        self.split = split
        self.init_seconds: Optional[float] = None  # ray.init (start or join the cluster)

    def run(self, source: InputSource, shards: Sequence[ShardSpec], progress: Progress) -> Iterator[ShardResult]:
        if not shards:
            return
        ray = self.ray
        connected_before = ray.is_initialized()  # e.g. a caller's own ray.init(): use it, leave it
        before = descendants(os.getpid())
        if not connected_before:
            self._connect(ray)
        started = descendants(os.getpid()) - before  # the local cluster's processes (none when joining)
        try:
            fits = self._check_resources(ray, len(shards), local=not (connected_before or self.options.address))
            self._configure_data(ray)
            with quiet_starvation_warning() if fits else contextlib.nullcontext():
                for row in self._dataset(ray, source, shards).iter_rows():
                    result = ShardResult.from_json(row["payload"], row["docbin"] or None,
                                                   None if self.split is None else row["dev_docbin"])
                    progress(result.n_in)
                    yield result
        finally:
            if not connected_before:
                ray.shutdown()  # stops the cluster the job started; only disconnects from a joined one
                # ray.shutdown returns before the raylet's workers (ray::MapWorker...) exit
                reap(started | (descendants(os.getpid()) - before))

    def _check_resources(self, ray: Any, n_shards: int, local: bool) -> bool:
        """Whether the cluster has the CPUs and GPUs of the actor pool; a local cluster that
        has not is an error, a joined one a warning (it may scale up)."""
        opts = self.options
        actors = min(opts.workers, n_shards)
        need = {"CPU": actors * opts.cpus_per_worker, "GPU": actors * self._gpus_per_actor()}
        have = ray.cluster_resources()
        short = [f"{need[key]:g} {key}s, the cluster has {have.get(key, 0.0):g}"
                 for key in ("CPU", "GPU") if need[key] > have.get(key, 0.0) + 1e-9]
        if not short:
            return True
        message = (f"--workers {actors} x --cpus-per-worker {opts.cpus_per_worker:g} / --gpus-per-worker "
                   f"{self._gpus_per_actor():g} need {'; '.join(short)}: lower --workers or the per-worker "
                   "resources" + ("" if opts.address else ", or raise --num-cpus") + ".")
        if local:
            raise ValueError(message)
        warnings.warn(message + " The job waits until the cluster has them.")
        return False

    def _connect(self, ray: Any) -> None:
        opts = self.options
        kwargs: Dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True}
        if opts.address:
            kwargs["address"] = opts.address
        else:
            kwargs.update(address="local", num_cpus=opts.num_cpus, include_dashboard=False)  # never an existing cluster
            kwargs["_node_ip_address"] = opts.node_ip_address or LOCAL_ADDRESS  # not the machine's address
        start = time.perf_counter()
        ray.init(**kwargs)
        self.init_seconds = time.perf_counter() - start

    @staticmethod
    def _configure_data(ray: Any) -> None:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the job shows its own
        if hasattr(context, "print_on_execution_start"):  # Ray >= 2.10
            context.print_on_execution_start = False

    def _dataset(self, ray: Any, source: InputSource, shards: Sequence[ShardSpec]) -> Any:
        opts = self.options
        items = [asdict(spec) for spec in shards]
        dataset = ray.data.from_items(items, override_num_blocks=len(items))
        threads = max(1, int(opts.cpus_per_worker))
        return dataset.map_batches(
            ShardAnnotator,
            fn_constructor_kwargs={"pipeline": self.pipeline, "source": source,
                                   "keep_docs": self.keep_docs, "threads": threads,
                                   "split": self.split},
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=min(opts.workers, len(shards))),
            num_cpus=opts.cpus_per_worker,
            num_gpus=self._gpus_per_actor(),
        )

    def _gpus_per_actor(self) -> float:
        """``gpus_per_worker`` when given, else one GPU per actor when a GPU is asked for."""
        if self.options.gpus_per_worker > 0:
            return self.options.gpus_per_worker
        return 1.0 if self.pipeline.gpu_id >= 0 else 0.0
