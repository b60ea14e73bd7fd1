"""Bootstrap a corpus of any size: the rules as a pipeline, run by the annotate job.

:func:`bootstrap_corpus` is ``bootstrap`` for corpora that do not fit in memory. It writes
the rule pipeline (``blank(lang)`` or a base pipeline, plus ``silver_ruler``; see
:mod:`.silver`) into ``OUT_DIR/_pipeline`` and lets the annotate job run it: the input is
streamed shard by shard (JSONL, CSV, Parquet, text), any engine runs it (this process,
``n_process`` worker processes, Ray actors), each shard's silver docs are written
atomically to ``OUT_DIR/train/part-NNNNN.spacy`` and ``OUT_DIR/dev/part-NNNNN.spacy`` (a
stable hash of each text picks its side: :class:`annotate.DocSplit`), bad records go to
``OUT_DIR/_errors.jsonl`` with their ids and lines, and ``--resume`` after a kill
annotates only the shards that are missing. At the end the match statistics of all
shards are merged into ``OUT_DIR/bootstrap_stats.json``. ``spacy train`` reads the two
folders (``--paths.train OUT_DIR/train``).

Memory is bounded by the shards in flight (one per worker, plus one queued), not by the
corpus: the driver holds the shard plan (a few numbers per shard) and the set of words
written in lower case (counted before the job over the first ``lower_words_texts``
texts, for ``unmatched="evidence"``).
"""

from __future__ import annotations

import filecmp
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

import spacy
from spacy.language import Language
from tqdm import tqdm

from ..annotate import (
    JOB_FILE,
    PIPELINE_DIR,
    STATS_FILE,
    DocSplit,
    InputSource,
    JobSummary,
    OutputFormat,
    OutputSpec,
    PipelineSpec,
    RayOptions,
    input_identity,
    make_engine,
    plan_input,
    read_shard,
    run_annotate,
)
from ..io import PathLike, clean_stale_temporaries, replace_dir_atomic, write_json_atomic
from ..safety import safe_load
from .bootstrap import Pattern, check_unmatched
from .silver import LOWER_WORDS_FILE, count_lower_words, rule_pipeline

STATS_NAME = "bootstrap_stats.json"
RULER_NAME = "silver_ruler"
LOWER_WORDS_KEY = "lower_words_key.json"  # in _pipeline: what its lower-case words were counted from


@dataclass(frozen=True)
class RuleSettings:
    """What the silver data is made with (a change makes ``--resume`` refuse the old shards)."""

    lang: str = "en"
    base_model: Optional[str] = None
    phrase_attr: str = "LOWER"
    unmatched: str = "evidence"
    lower_words_texts: int = 100_000  # texts counted for the lower-case words (0: all)


def iter_texts(source: InputSource, shard_size: int = 10_000) -> Iterator[str]:
    """The valid texts of ``source`` in order, read shard by shard."""
    plan = plan_input(source, shard_size)
    for spec in plan.shards:
        for record in read_shard(plan.source, spec):  # the plan's source: a CSV file's header is in it
            if record.error is None:
                yield record.text


def build_rule_pipeline(source: InputSource, patterns: Sequence[Pattern], settings: RuleSettings,
                        show_progress: bool = True, lower_words: Optional[Sequence[str]] = None) -> Language:
    """The pipeline the job runs: the base (or blank) pipeline plus ``silver_ruler``; the
    lower-case words are counted unless given."""
    check_unmatched(settings.unmatched)
    base = safe_load(settings.base_model) if settings.base_model else spacy.blank(settings.lang)
    if settings.unmatched != "evidence":
        lower_words = ()
    elif lower_words is None:
        with tqdm(desc="lower-case words", unit="text", disable=not show_progress, dynamic_ncols=True) as bar:
            lower_words = count_lower_words(base, iter_texts(source), settings.lower_words_texts, bar.update)
    return rule_pipeline(base, patterns, settings.phrase_attr, settings.unmatched, lower_words)


def lower_words_key(source: InputSource, settings: RuleSettings) -> Dict[str, Any]:
    """What the counted lower-case words depend on (a resumed job reuses them while it matches)."""
    return {**input_identity(source), "lang": settings.lang, "base_model": settings.base_model,
            "lower_words_texts": settings.lower_words_texts}


def saved_lower_words(output_dir: Path, key: Dict[str, Any]) -> Optional[List[str]]:
    """The lower-case words of the rule pipeline in ``output_dir`` when they were counted for ``key``."""
    pipeline = output_dir / PIPELINE_DIR
    try:
        if json.loads((pipeline / LOWER_WORDS_KEY).read_text("utf-8")) != key:
            return None
        return json.loads((pipeline / RULER_NAME / LOWER_WORDS_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None


def _same_tree(a: Path, b: Path) -> bool:
    """Whether two directories hold the same files with the same bytes."""
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return files_a == files_b and all(filecmp.cmp(a / f, b / f, shallow=False) for f in files_a)


def write_rule_pipeline(nlp: Language, output_dir: Path, resume: bool, overwrite: bool,
                        key: Optional[Dict[str, Any]] = None) -> Path:
    """Save ``nlp`` as ``output_dir/_pipeline``, leaving an identical one untouched (its file
    times are part of the job's identity). Nothing is touched where a job is there and
    neither ``resume`` nor ``overwrite`` is given, and a different pipeline under a job that
    ``resume`` continues is an error: the finished shards were made by other rules."""
    target = output_dir / PIPELINE_DIR
    clean_stale_temporaries(output_dir)  # a kill while the pipeline was swapped in
    job_there = (output_dir / JOB_FILE).is_file()
    if job_there and not (resume or overwrite):
        raise ValueError(f"OUT_DIR {output_dir} already holds a bootstrap job; pass --resume to finish it "
                         "or --overwrite to start again.")
    with tempfile.TemporaryDirectory(prefix="silver-pipeline-") as tmp:
        nlp.to_disk(tmp)
        if key is not None:
            write_json_atomic(key, Path(tmp) / LOWER_WORDS_KEY)
        if target.is_dir() and _same_tree(Path(tmp), target):
            return target
        if job_there and not overwrite:
            raise ValueError(
                f"--resume: the rules differ from those that made the shards in {output_dir} (patterns, "
                "--lang, --base-model, --phrase-attr, --unmatched or the texts' lower-case words changed); "
                "use the same settings, a new directory, or --overwrite."
            )
        replace_dir_atomic(lambda path: shutil.copytree(tmp, path, dirs_exist_ok=True), target)
    return target


def bootstrap_stats(merged: Dict[str, Any], settings: RuleSettings, split: DocSplit, n_patterns: int,
                    summary: JobSummary) -> Dict[str, Any]:
    """``bootstrap_stats.json`` of a sharded run: the merged match counts of every shard in
    the layout ``bootstrap`` writes, plus the split and the job's record counts."""
    stats = dict(merged.get(RULER_NAME, {}))
    per_pattern = stats.get("matches_per_pattern", {})
    stats["matches_per_pattern"] = dict(sorted(per_pattern.items(), key=lambda kv: -kv[1]["candidates"]))
    stats["entities_per_label"] = dict(sorted(stats.get("entities_per_label", {}).items(), key=lambda kv: -kv[1]))
    docs = merged.get("split", {})
    stats.update({
        "train_docs": docs.get("train", 0),
        "dev_docs": docs.get("dev", 0),
        "patterns": n_patterns,
        "seed": split.seed,
        "dev_fraction": split.dev_fraction,
        "split_key": split.key,
        "unmatched": settings.unmatched,
        "phrase_attr": settings.phrase_attr.upper(),
        "records_in": summary.records_in,
        "failed": summary.failed,
        "shards": summary.shards,
    })
    return stats


def bootstrap_corpus(
    source: InputSource,
    patterns: Sequence[Pattern],
    output_dir: PathLike,
    settings: RuleSettings = RuleSettings(),
    split: DocSplit = DocSplit(0.2),
    shard_size: int = 10_000,
    engine: str = "local",
    n_process: int = 1,
    ray_options: Optional[RayOptions] = None,
    batch_size: int = 256,
    resume: bool = False,
    overwrite: bool = False,
    show_progress: bool = True,
) -> Dict[str, Any]:
    """Bootstrap ``source`` into ``output_dir`` (see the module docstring); returns the stats."""
    output_dir = Path(output_dir)
    pipeline_dir = output_dir / PIPELINE_DIR
    spec = PipelineSpec(model=str(pipeline_dir.resolve()), batch_size=batch_size)
    runner = make_engine(engine, spec, n_process=n_process, ray_options=ray_options, keep_docs=True, split=split)
    output = OutputSpec(output_dir, OutputFormat.JSONL, shard_size=shard_size, docbin=True, split=split)

    def prepare() -> None:
        key = lower_words_key(source, settings)
        # a resumed job counts the lower-case words again only where the input changed
        words = saved_lower_words(output_dir, key) if resume else None
        nlp = build_rule_pipeline(source, patterns, settings, show_progress, lower_words=words)
        write_rule_pipeline(nlp, output_dir, resume, overwrite, key)

    summary = run_annotate(source, output, runner, str(pipeline_dir.resolve()), resume=resume, overwrite=overwrite,
                           show_progress=show_progress, prepare=prepare)
    merged = json.loads((output_dir / STATS_FILE).read_text("utf-8")) if (output_dir / STATS_FILE).is_file() else {}
    stats = bootstrap_stats(merged, settings, split, len(patterns), summary)
    write_json_atomic(stats, output_dir / STATS_NAME)
    return stats
