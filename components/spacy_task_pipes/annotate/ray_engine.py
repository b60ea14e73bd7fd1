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
``num_cpus`` CPUs and shuts it down at the end.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence

from .annotator import Annotator, PipelineSpec, Progress, ShardResult, load_pipeline
from .local import limit_threads
from .records import InputSource, MissingDependencyError, ShardSpec

RAY_INSTALL_HINT = "pip install -e \".[ray]\" (or pip install \"ray[data]>=2.9\")"


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
    node_ip_address: Optional[str] = None  # the local cluster's node IP (Ray's _node_ip_address)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {self.workers}.")
        if self.cpus_per_worker <= 0 or self.gpus_per_worker < 0:
            raise ValueError("--cpus-per-worker must be > 0 and --gpus-per-worker >= 0.")


class ShardAnnotator:
    """A Ray Data callable class: one per actor, the pipeline loaded once."""

    def __init__(self, pipeline: PipelineSpec, source: InputSource, keep_docs: bool, threads: int) -> None:
        limit_threads(threads)
        # Ray sets CUDA_VISIBLE_DEVICES to the actor's GPU, which is then device 0
        gpu_id = 0 if pipeline.gpu_id >= 0 else -1
        self.annotator = Annotator(load_pipeline(pipeline, gpu_id=gpu_id), pipeline.batch_size, keep_docs)
        self.source = source

    def __call__(self, batch: Dict[str, Any]) -> Dict[str, List[Any]]:
        out: Dict[str, List[Any]] = {"shard": [], "payload": [], "docbin": []}
        for i in range(len(batch["index"])):
            spec = ShardSpec(**{key: int(batch[key][i]) for key in ("index", "start", "stop", "offset", "line")})
            result = self.annotator.annotate_shard(self.source, spec)
            out["shard"].append(spec.index)
            out["payload"].append(result.to_json())
            out["docbin"].append(result.docbin or b"")
        return out


class RayEngine:
    """Annotate shards with ``options.workers`` Ray actors."""

    name = "ray"

    def __init__(self, pipeline: PipelineSpec, options: RayOptions, keep_docs: bool = False) -> None:
        self.ray = import_ray()  # fails before the job touches its output
        self.pipeline = pipeline
        self.options = options
        self.keep_docs = keep_docs
        self.init_seconds: Optional[float] = None  # ray.init (start or join the cluster)

    def run(self, source: InputSource, shards: Sequence[ShardSpec], progress: Progress) -> Iterator[ShardResult]:
        if not shards:
            return
        ray = self.ray
        connected_before = ray.is_initialized()  # e.g. a caller's own ray.init(): use it, leave it
        if not connected_before:
            self._connect(ray)
        self._configure_data(ray)
        try:
            for row in self._dataset(ray, source, shards).iter_rows():
                result = ShardResult.from_json(row["payload"], row["docbin"] or None)
                progress(result.n_in)
                yield result
        finally:
            if not connected_before:
                ray.shutdown()  # stops the cluster the job started; only disconnects from a joined one

    def _connect(self, ray: Any) -> None:
        opts = self.options
        kwargs: Dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True}
        if opts.address:
            kwargs["address"] = opts.address
        else:
            kwargs.update(address="local", num_cpus=opts.num_cpus, include_dashboard=False)  # never an existing cluster
            if opts.node_ip_address:
                kwargs["_node_ip_address"] = opts.node_ip_address
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
                                   "keep_docs": self.keep_docs, "threads": threads},
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
