"""Docs/s of the annotate engines on the same corpus: local with 1 and N processes, Ray
with 1 and N actors, each run as a separate process (so that each starts cold, as a
real job does) while a sampler records the resident memory (RSS) of every process of
its tree. Ratios are against local with one process."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import statistics
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import psutil
import spacy
import srsly

from ..annotate.annotator import DocSplit, PipelineSpec, Progress, ShardResult
from ..annotate.job import Engine, make_engine, run_annotate
from ..annotate.output import MANIFEST_FILE, OutputSpec
from ..annotate.ray_engine import RayOptions
from ..annotate.records import InputFormat, InputSource, ShardSpec

MB = 1024 * 1024


# --------------------------------------------------------------------------- corpora


def write_ner_corpus(raw_texts: Path, n_docs: int, path: Path) -> Path:
    """The ``text`` of every record of ``raw_texts`` (JSONL), repeated to ``n_docs`` records."""
    texts = [row["text"] for row in srsly.read_jsonl(raw_texts)]
    if not texts:
        raise ValueError(f"{raw_texts}: no texts.")
    rows = ({"id": i, "text": text} for i, text in zip(range(n_docs), itertools.cycle(texts)))
    srsly.write_jsonl(path, rows)
    return path


def write_squad_corpus(squad_json: Path, n_contexts: int, path: Path) -> Tuple[int, int]:
    """The first ``n_contexts`` SQuAD paragraphs with their questions, as JSONL records
    (``id``, ``text`` = the context, ``questions``); returns the context and question counts."""
    data = srsly.read_json(squad_json)
    paragraphs = [p for article in data["data"] for p in article["paragraphs"]][:n_contexts]
    rows = [{"id": i, "text": p["context"], "questions": [qa["question"] for qa in p["qas"]]}
            for i, p in enumerate(paragraphs)]
    srsly.write_jsonl(path, rows)
    return len(rows), sum(len(row["questions"]) for row in rows)


def write_qa_pipeline(hf_model_dir: Path, path: Path, max_seq_length: int = 384, doc_stride: int = 128) -> Path:
    """A blank English pipeline with a ``question_answerer`` on a Hugging Face QA model
    directory, saved (weights inside) so that every worker can load it."""
    nlp = spacy.blank("en")
    nlp.add_pipe("question_answerer", config={
        "model": {"@architectures": "spacy_task_pipes.QuestionAnswering.v1", "name": str(hf_model_dir)},
        "max_seq_length": max_seq_length, "doc_stride": doc_stride,
    })
    nlp.initialize()
    nlp.to_disk(path)
    return path


# --------------------------------------------------------------------------- memory


ROLE_RANK = {"system": 0, "ray idle worker": 1, "worker": 2, "driver": 3}


def process_role(proc: psutil.Process, root_pid: int) -> str:
    """``driver``, ``worker`` (a local worker process, or a Ray actor running
    ShardAnnotator), ``ray idle worker`` (a Ray worker process without an actor yet) or
    ``system`` (Ray's GCS, raylet and agents; multiprocessing's resource tracker)."""
    if proc.pid == root_pid:
        return "driver"
    cmdline = " ".join(proc.cmdline())
    if "ShardAnnotator" in cmdline:
        return "worker"
    if cmdline.startswith("ray::IDLE") or ("default_worker.py" in cmdline and proc.name() != "raylet"):
        return "ray idle worker"
    if "spawn_main" in cmdline and "resource_tracker" not in cmdline and proc.ppid() == root_pid:
        return "worker"
    return "system"


@dataclass
class ProcessSeries:
    pid: int
    role: str
    command: str
    samples: List[Tuple[float, float]] = field(default_factory=list)  # (seconds, RSS MB)
    hwm_mb: float = 0.0  # the kernel's high-water mark (VmHWM) at the last sample, where there is one

    @property
    def peak_mb(self) -> float:
        """The exact peak RSS up to the last sample where the kernel keeps a high-water mark
        (Linux), else the largest sample (a short peak between samples is missed)."""
        return max(max((rss for _, rss in self.samples), default=0.0), self.hwm_mb)


def high_water_mark_mb(pid: int) -> Optional[float]:
    """The peak RSS of process ``pid`` so far (``VmHWM`` of ``/proc/PID/status``, Linux), or None."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


class RssSampler(threading.Thread):
    """Samples the RSS of a process and all its descendants every ``interval`` seconds (and,
    on Linux, each one's kernel high-water mark, so peaks between samples are not missed).
    A process keeps the most specific role it was seen in (a Ray worker process starts
    idle and becomes an actor)."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.series: Dict[int, ProcessSeries] = {}
        self._stop_event = threading.Event()
        self._start = time.perf_counter()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def sample(self) -> None:
        try:
            root = psutil.Process(self.pid)
            procs = [root] + root.children(recursive=True)
        except psutil.NoSuchProcess:
            return
        now = round(time.perf_counter() - self._start, 2)
        for proc in procs:
            try:
                rss = proc.memory_info().rss / MB
                role = process_role(proc, self.pid)
                command = " ".join(proc.cmdline())[:100]
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            series = self.series.setdefault(proc.pid, ProcessSeries(proc.pid, role, command))
            if ROLE_RANK[role] > ROLE_RANK[series.role]:
                series.role, series.command = role, command
            series.samples.append((now, round(rss, 1)))
            hwm = high_water_mark_mb(proc.pid)
            if hwm is not None:
                series.hwm_mb = max(series.hwm_mb, round(hwm, 1))

    def stop(self) -> List[ProcessSeries]:
        self._stop_event.set()
        self.join()
        return list(self.series.values())


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class EngineConfig:
    engine: str  # local or ray
    workers: int  # local: processes; ray: actors

    @property
    def label(self) -> str:
        unit = "n_process" if self.engine == "local" else "actors"
        return f"{self.engine} {unit}={self.workers}"


@dataclass(frozen=True)
class TaskCorpus:
    task: str
    model: Path
    corpus: Path
    n_docs: int
    shard_size: int
    batch_size: int
    n_questions: int = 0
    split: Optional[DocSplit] = None  # write the docs as train/dev DocBin shards (bootstrap)


def parse_engine_configs(text: str) -> List[EngineConfig]:
    """``"local:1,local:2,ray:1,ray:2"`` -> engine configurations."""
    configs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        engine, _, workers = item.partition(":")
        if engine not in ("local", "ray") or not workers.isdigit() or int(workers) < 1:
            raise ValueError(f"--configs: expected items like local:1 or ray:2, got {item!r}.")
        configs.append(EngineConfig(engine, int(workers)))
    return configs


class TimedEngine:
    """Wraps an engine and keeps, per shard, when its worker started and finished it
    (wall clock) and its record count."""

    def __init__(self, inner: Engine) -> None:
        self.inner = inner
        self.completions: List[Tuple[float, float, int]] = []

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def init_seconds(self) -> Optional[float]:
        return self.inner.init_seconds

    @property
    def split(self) -> Optional[DocSplit]:
        return getattr(self.inner, "split", None)

    def run(self, source: InputSource, shards: Sequence[ShardSpec], progress: Progress) -> Iterator[ShardResult]:
        for result in self.inner.run(source, shards, progress):
            self.completions.append((result.started_at, result.finished_at, result.n_in))
            yield result


def _annotate_in_child(task: TaskCorpus, config: EngineConfig, out_dir: str, threads: int, num_cpus: int) -> None:
    """The job, in a fresh process (the sampler's root); shard timings to ``out_dir``.timings.json."""
    pipeline = PipelineSpec(str(task.model), batch_size=task.batch_size)
    ray_options = RayOptions(workers=config.workers, num_cpus=num_cpus, cpus_per_worker=threads,
                             node_ip_address="127.0.0.1")
    keep_docs = task.split is not None
    engine = TimedEngine(make_engine(config.engine, pipeline, n_process=config.workers, ray_options=ray_options,
                                     threads=threads, keep_docs=keep_docs, split=task.split))
    source = InputSource(str(task.corpus), InputFormat.JSONL)
    output = OutputSpec(Path(out_dir), shard_size=task.shard_size, docbin=keep_docs, split=task.split)
    run_annotate(source, output, engine, model=str(task.model), overwrite=True, show_progress=False)
    srsly.write_json(out_dir + ".timings.json", engine.completions)


def run_one(task: TaskCorpus, config: EngineConfig, out_dir: Path, threads: int, num_cpus: int,
            interval: float = 0.5) -> Dict[str, Any]:
    """Run one configuration in a child process; its timings (from the job's manifest)
    and the RSS series of its processes."""
    context = multiprocessing.get_context("spawn")
    child = context.Process(target=_annotate_in_child, args=(task, config, str(out_dir), threads, num_cpus))
    start = time.perf_counter()
    child.start()
    sampler = RssSampler(child.pid, interval)
    sampler.start()
    child.join()
    wall = time.perf_counter() - start
    series = sampler.stop()
    if child.exitcode != 0:
        raise RuntimeError(f"{task.task} {config.label}: the job failed (exit code {child.exitcode}).")
    run = json.loads((out_dir / MANIFEST_FILE).read_text("utf-8"))["run"]
    completions = [tuple(c) for c in srsly.read_json(str(out_dir) + ".timings.json")]
    return summarize_run(task, config, run, wall, completions, series)


def steady_docs_per_second(completions: Sequence[Tuple[float, float, int]]) -> Optional[float]:
    """Docs/s once the workers are up: all docs over the time from the first shard's
    start to the last shard's end, as the workers' clocks saw them (start-up excluded)."""
    if not completions:
        return None
    seconds = max(end for _, end, _ in completions) - min(start for start, _, _ in completions)
    return sum(n for _, _, n in completions) / seconds if seconds > 0 else None


def summarize_run(task: TaskCorpus, config: EngineConfig, run: Dict[str, Any], wall: float,
                  completions: Sequence[Tuple[float, float, int]], series: Sequence[ProcessSeries]) -> Dict[str, Any]:
    seconds = run["seconds"]
    steady = steady_docs_per_second(completions)
    by_role = {role: [s for s in series if s.role == role] for role in ROLE_RANK}
    return {
        "task": task.task,
        "config": config.label,
        "engine": config.engine,
        "workers": config.workers,
        "docs": task.n_docs,
        "questions": task.n_questions or None,
        "shards": len(completions),
        "seconds": seconds,
        "process_wall_seconds": round(wall, 3),
        "docs_per_second": round(task.n_docs / seconds, 2),
        "questions_per_second": round(task.n_questions / seconds, 2) if task.n_questions else None,
        "steady_docs_per_second": round(steady, 2) if steady else None,
        "init_seconds": run.get("init_seconds"),
        "first_result_seconds": run["first_result_seconds"],
        "shard_completions": completions,
        "peak_rss_mb": {
            "driver": round(sum(s.peak_mb for s in by_role["driver"]), 1),
            "workers": [round(s.peak_mb, 1) for s in by_role["worker"]],
            "ray_idle_workers": [round(s.peak_mb, 1) for s in by_role["ray idle worker"]],
            "system_total": round(sum(s.peak_mb for s in by_role["system"]), 1),
        },
        "rss_series_mb": [asdict(s) for s in series],
    }


MEDIAN_KEYS = ("seconds", "docs_per_second", "questions_per_second", "steady_docs_per_second", "init_seconds",
               "first_result_seconds")


def _median(values: Sequence[Optional[float]]) -> Optional[float]:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


def aggregate_runs(runs: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One result per task and configuration: medians over its repeats (each repeat's
    value kept too), and the highest peak RSS seen per process role."""
    results = []
    for key in dict.fromkeys((r["task"], r["config"]) for r in runs):
        group = [r for r in runs if (r["task"], r["config"]) == key]
        result = {k: group[0][k] for k in ("task", "config", "engine", "workers", "docs", "questions", "shards")}
        for k in MEDIAN_KEYS:
            result[k] = _median([r[k] for r in group])
            result[f"{k}_per_repeat"] = [r[k] for r in group]
        result["peak_rss_mb"] = _highest_peaks([r["peak_rss_mb"] for r in group])
        results.append(result)
    return results


def _highest_peaks(peaks: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Per role, the highest peak over the repeats (workers: the i-th largest of each)."""
    ranked = [sorted(p["workers"], reverse=True) for p in peaks]
    n_workers = max(len(w) for w in ranked)
    return {
        "driver": max(p["driver"] for p in peaks),
        "workers": [max(w[i] for w in ranked if len(w) > i) for i in range(n_workers)],
        "other_total": max(p["system_total"] + sum(p["ray_idle_workers"]) for p in peaks),
    }


def add_ratios(results: List[Dict[str, Any]]) -> None:
    """Median docs/s (overall and steady-state) of each configuration over those of
    local n_process=1 on the same task."""
    for task in {r["task"] for r in results}:
        runs = [r for r in results if r["task"] == task]
        base = next((r for r in runs if r["engine"] == "local" and r["workers"] == 1), None)
        for r in runs:
            for key, name in (("docs_per_second", "overall_ratio"), ("steady_docs_per_second", "steady_ratio")):
                both = base is not None and base[key] and r[key]
                r[f"{name}_vs_local_1"] = round(r[key] / base[key], 3) if both else None


def run_benchmark(tasks: Iterable[TaskCorpus], configs: Sequence[EngineConfig], work_dir: Path,
                  threads: int = 1, num_cpus: Optional[int] = None, repeats: int = 3) -> Dict[str, Any]:
    """Every configuration ``repeats`` times, interleaved (so that a change in the
    machine's load hits all of them alike), then medians."""
    num_cpus = num_cpus or os.cpu_count() or 1
    load_before = os.getloadavg()
    runs = []
    for task in tasks:
        for repeat in range(repeats):
            for config in configs:
                out_dir = work_dir / f"{task.task}-{config.engine}-{config.workers}"
                runs.append({**run_one(task, config, out_dir, threads, num_cpus), "repeat": repeat})
    results = aggregate_runs(runs)
    add_ratios(results)
    return {
        "cpu_count": os.cpu_count(),
        "threads_per_worker": threads,
        "ray_num_cpus": num_cpus,
        "repeats": repeats,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "results": results,
        "runs": runs,
    }


def _fmt(value: Optional[float], spec: str = ".1f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def format_table(report: Dict[str, Any]) -> str:
    """Medians over the repeats; ratios against local n_process=1 of the same task."""
    header = ("task", "config", "docs", "s", "docs/s", "ratio", "steady docs/s", "steady ratio", "init s",
              "1st result s", "peak RSS MB: driver / workers / other")
    rows = [header]
    for r in report["results"]:
        rss = r["peak_rss_mb"]
        workers = ", ".join(f"{w:.0f}" for w in rss["workers"]) or "-"
        rows.append((
            r["task"], r["config"], str(r["docs"]), _fmt(r["seconds"]), _fmt(r["docs_per_second"]),
            _fmt(r["overall_ratio_vs_local_1"], ".2f", "x"), _fmt(r["steady_docs_per_second"]),
            _fmt(r["steady_ratio_vs_local_1"], ".2f", "x"), _fmt(r["init_seconds"]),
            _fmt(r["first_result_seconds"]), f"{rss['driver']:.0f} / {workers} / {rss['other_total']:.0f}",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)
