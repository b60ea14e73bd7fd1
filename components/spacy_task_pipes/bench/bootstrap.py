"""Benchmark of ``bootstrap --sharded``: a large corpus made by perturbing the raw texts,
texts/s and peak RSS per engine and worker count (the annotate benchmark's runner, with
the rule pipeline and train/dev DocBin shards), peak RSS of the whole CLI at growing
corpus sizes, and a kill campaign (SIGKILL at random points, ``--resume`` after each,
the result compared byte for byte with an uninterrupted run)."""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import srsly
from tqdm import tqdm

from ..annotate import DocSplit, InputFormat, InputSource
from .annotate import EngineConfig, RssSampler, TaskCorpus, add_ratios, aggregate_runs, run_one

_DIGIT = re.compile(r"\d")


def perturb(text: str, rng: random.Random) -> str:
    """Another text like ``text``: digits redrawn, a word dropped or repeated now and then,
    and a random tag appended (so that nearly every generated text is distinct)."""
    words = text.split()
    out = []
    for i, word in enumerate(words):
        roll = rng.random()
        if roll < 0.05 and i:
            continue
        out.append(word)
        if roll > 0.95:
            out.append(word)
    text = _DIGIT.sub(lambda _: str(rng.randrange(10)), " ".join(out))
    return f"{text} #{rng.randrange(1_000_000):06d}"


def write_perturbed_corpus(raw_texts: Path, n_texts: int, path: Path, seed: int = 0,
                           show_progress: bool = True) -> Path:
    """``n_texts`` JSONL records (``id``, ``text``) cycling over the perturbed raw texts,
    written as a stream (nothing but the raw texts is held)."""
    texts = [row["text"] for row in srsly.read_jsonl(raw_texts)]
    if not texts:
        raise ValueError(f"{raw_texts}: no texts.")
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh, tqdm(total=n_texts, desc=f"corpus {path.name}", unit="text",
                                                      disable=not show_progress) as bar:
        for i in range(n_texts):
            fh.write(json.dumps({"id": f"t{i}", "text": perturb(texts[i % len(texts)], rng)},
                                ensure_ascii=False) + "\n")
            if i % 10_000 == 9_999:
                bar.update(10_000)
        bar.update(n_texts % 10_000)
    tmp.replace(path)
    return path


def ensure_corpus(raw_texts: Path, n_texts: int, work_dir: Path, seed: int = 0) -> Path:
    path = work_dir / f"corpus-{n_texts}.jsonl"
    if not path.is_file():
        write_perturbed_corpus(raw_texts, n_texts, path, seed)
    return path


# --------------------------------------------------------------------------- engines


def engine_scaling(pipeline_dir: Path, corpus: Path, n_texts: int, configs: Sequence[EngineConfig],
                   work_dir: Path, shard_size: int, batch_size: int, split: DocSplit,
                   repeats: int = 1, num_cpus: Optional[int] = None) -> List[Dict[str, Any]]:
    """Texts/s (overall and steady-state) and peak RSS of the rule pipeline per engine and
    worker count, ratios against local with one process; repeats interleaved."""
    task = TaskCorpus("bootstrap", pipeline_dir, corpus, n_texts, shard_size, batch_size, split=split)
    runs = []
    for repeat in range(repeats):
        for config in configs:
            out_dir = work_dir / f"engines-{config.engine}-{config.workers}"
            run = run_one(task, config, out_dir, threads=1, num_cpus=num_cpus or 2)
            run.pop("rss_series_mb")
            runs.append({**run, "repeat": repeat})
    results = aggregate_runs(runs)
    add_ratios(results)
    return results


# --------------------------------------------------------------------------- the CLI at scale


def cli_command(corpus: Path, patterns: Path, out: Path, extra: Sequence[str] = ()) -> List[str]:
    script = Path(__file__).resolve().parents[3] / "scripts" / "bootstrap.py"
    return [sys.executable, str(script), str(corpus), str(patterns), str(out), "--sharded", "--no-progress",
            *extra]


def run_cli(cmd: Sequence[str], interval: float = 0.5) -> Dict[str, Any]:
    """Run the bootstrap CLI; its wall time and the peak RSS of its process tree (the sum of
    every process's peak, and the largest single process)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = RssSampler(proc.pid, interval)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    series = sampler.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {err[-2000:]}")
    return {
        "seconds": round(wall, 2),
        "peak_rss_mb_tree": round(sum(s.peak_mb for s in series), 1),
        "peak_rss_mb_largest_process": round(max((s.peak_mb for s in series), default=0.0), 1),
        "output": out.strip().splitlines()[-3:],
    }


def rss_at_sizes(raw_texts: Path, patterns: Path, sizes: Sequence[int], work_dir: Path,
                 extra: Sequence[str]) -> List[Dict[str, Any]]:
    """Peak RSS and texts/s of the whole CLI (``bootstrap --sharded``) at each corpus size."""
    rows = []
    for n in sizes:
        corpus = ensure_corpus(raw_texts, n, work_dir)
        result = run_cli(cli_command(corpus, patterns, work_dir / f"scale-{n}", ["--overwrite", *extra]))
        rows.append({"texts": n, "corpus_mb": round(corpus.stat().st_size / 2**20, 1), **result,
                     "texts_per_second": round(n / result["seconds"], 1)})
    base = rows[0]["peak_rss_mb_tree"]
    for row in rows:
        row["rss_growth_vs_smallest"] = round(row["peak_rss_mb_tree"] / base - 1, 4) if base else None
    return rows


# --------------------------------------------------------------------------- kills


def shard_digest(out: Path) -> Dict[str, str]:
    """sha256 of every shard file (results, train/dev docs, errors, stats) under ``out``."""
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("part-*")) if p.is_file()}


def record_ids(out: Path) -> List[str]:
    return [json.loads(line)["id"] for p in sorted(out.glob("part-*.jsonl"))
            for line in p.read_text("utf-8").splitlines()]


def _parts(out: Path) -> int:
    return len(list(out.glob("part-*.jsonl")))


def _kill_point(proc: subprocess.Popen, out: Path, rng: random.Random, shard_seconds: float) -> Optional[float]:
    """Wait for a random point of the run and SIGKILL it there: a quarter of the kills fall in
    the first seconds (start-up, the lower-case word count, the pipeline written), the rest
    after the run's next shard appears, a random part of one shard's time later (mid-shard,
    mid-write). Returns the seconds into the run, or None when the run ended first."""
    start = time.perf_counter()
    if rng.random() < 0.25:
        deadline = start + rng.uniform(0.3, 5.0)
    else:
        before = _parts(out)
        while _parts(out) <= before and proc.poll() is None:
            time.sleep(0.01)
        deadline = time.perf_counter() + rng.uniform(0.0, shard_seconds)
    while time.perf_counter() < deadline and proc.poll() is None:
        time.sleep(0.01)
    if proc.poll() is not None:
        return None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return time.perf_counter() - start


def kill_campaign(corpus: Path, patterns: Path, work_dir: Path, kills: int, extra: Sequence[str],
                  seed: int = 0, log: Callable[[str], None] = print) -> Dict[str, Any]:
    """An uninterrupted run, then one job SIGKILLed ``kills`` times at random points (each
    restart with ``--resume``; see :func:`_kill_point`) and finished; both compared shard by
    shard and id by id."""
    whole = work_dir / "kills-uninterrupted"
    reference = run_cli(cli_command(corpus, patterns, whole, ["--overwrite", *extra]))
    total = reference["seconds"]
    shard_seconds = total / max(1, _parts(whole))
    out = work_dir / "kills-resumed"
    shutil.rmtree(out, ignore_errors=True)  # a killed --overwrite may not have cleared an older job yet
    rng = random.Random(seed)
    done, attempts, shards_seen, points = 0, 0, [], []
    while done < kills:
        args = [*(["--resume"] if attempts else []), *extra]
        proc = subprocess.Popen(cli_command(corpus, patterns, out, args), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        point = _kill_point(proc, out, rng, shard_seconds)
        attempts += 1
        if point is None:
            if proc.returncode != 0:
                raise RuntimeError(f"a resumed run failed (exit {proc.returncode})")
            log(f"run {attempts} finished before its kill; the job is done")
            break
        done += 1
        shards_seen.append(_parts(out))
        points.append(round(point, 2))
        log(f"kill {done}/{kills} at {point:.1f}s into the run: {shards_seen[-1]} shards done")
    final = run_cli(cli_command(corpus, patterns, out, ["--resume", *extra]))
    ids = record_ids(out)
    expected = record_ids(whole)
    return {
        "kills": done,
        "runs": attempts + 1,
        "kill_seconds_into_run": points,
        "kill_points_shards_done": shards_seen,
        "uninterrupted_seconds": total,
        "final_resume_seconds": final["seconds"],
        "identical_shards": shard_digest(out) == shard_digest(whole),
        "identical_stats": (out / "bootstrap_stats.json").read_bytes() == (whole / "bootstrap_stats.json").read_bytes(),
        "records": len(ids),
        "duplicate_ids": len(ids) - len(set(ids)),
        "missing_ids": len(set(expected) - set(ids)),
    }


# --------------------------------------------------------------------------- training


def _epoch_reached(log: Path, epoch: int) -> Optional[Dict[str, Any]]:
    """The first record of the JSONL training log at ``epoch`` or later, if any."""
    if not log.is_file():
        return None
    for line in log.read_text("utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line being written
            continue
        if record.get("epoch", 0) >= epoch:
            return record
    return None


def train_one_epoch(config: Path, train_dir: Path, dev_dir: Path, out_dir: Path, buffer_size: int = 10_000,
                    eval_frequency: int = 1000, dev_limit: int = 1000, timeout: float = 7200.0,
                    interval: float = 2.0) -> Dict[str, Any]:
    """``spacy train config`` over the shard folder ``train_dir`` with ``ShardCorpus.v1`` and
    ``max_epochs = -1`` until its log shows the second epoch (one full pass over the shards);
    the peak RSS of its process tree, and its RSS through the epoch."""
    log = out_dir / "train_log.jsonl"
    log.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "spacy", "train", str(config), "--output", str(out_dir / "model"),
           "--paths.train", str(train_dir), "--paths.dev", str(dev_dir), "--gpu-id", "-1",
           "--training.max_epochs", "-1", "--training.max_steps", "100000000", "--training.patience", "0",
           "--training.eval_frequency", str(eval_frequency), "--corpora.dev.limit", str(dev_limit),
           "--corpora.train.@readers", "spacy_task_pipes.ShardCorpus.v1",
           "--corpora.train.buffer_size", str(buffer_size), "--training.logger.output_file", str(log)]
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(out_dir / "train_stderr.log", "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        sampler = RssSampler(proc.pid, interval)
        sampler.start()
        reached = None
        while reached is None and proc.poll() is None and time.perf_counter() - start < timeout:
            time.sleep(interval)
            reached = _epoch_reached(log, 1)
        seconds = time.perf_counter() - start
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        series = sampler.stop()
    if reached is None:
        raise RuntimeError(f"spacy train did not finish an epoch in {timeout:.0f}s "
                           f"(see {out_dir / 'train_stderr.log'})")
    total: Dict[float, float] = {}
    for s in series:
        for t, rss in s.samples:
            total[t] = total.get(t, 0.0) + rss
    times = sorted(total)
    quarters = {f"{q}%": round(total[times[min(len(times) - 1, int(len(times) * q / 100))]], 1)
                for q in (10, 25, 50, 75, 100)}
    return {
        "seconds_to_epoch_1": round(seconds, 1),
        "step_at_epoch_1": reached["step"],
        "peak_rss_mb_tree": round(max(total.values(), default=0.0), 1),
        "rss_mb_through_the_epoch": quarters,
        "scores_at_epoch_1": reached.get("scores", {}),
    }


def corpus_source(path: Path) -> InputSource:
    return InputSource(str(path), InputFormat.JSONL)
