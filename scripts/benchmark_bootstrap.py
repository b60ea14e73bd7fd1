"""`bootstrap --sharded` at scale, on a corpus made by perturbing the raw texts:

1. engines: texts/s (overall and steady-state) and peak RSS of local n_process 1/2 and
   Ray 1/2 actors on --engine-texts texts, ratios against local n_process=1;
2. memory: peak RSS of the whole CLI (driver and workers) at each of --sizes texts, and
   its growth from the smallest size;
3. kills: one job SIGKILLed --kills times at random points and resumed after each,
   compared shard by shard (sha256) and id by id with an uninterrupted run;
4. training (--train-epoch): `spacy train` over the largest size's train shards with
   spacy_task_pipes.ShardCorpus.v1 and max_epochs -1 for one epoch, with its peak RSS.

    python scripts/benchmark_bootstrap.py training/bootstrap_benchmark.json \\
        --sizes 100000,1000000 --engine-texts 200000 --kills 20
"""

from pathlib import Path

import typer

from spacy_task_pipes.annotate import DocSplit
from spacy_task_pipes.bench.annotate import parse_engine_configs
from spacy_task_pipes.bench.bootstrap import (
    corpus_source,
    engine_scaling,
    ensure_corpus,
    kill_campaign,
    rss_at_sizes,
    train_one_epoch,
)
from spacy_task_pipes.cli import at_least, existing_file, user_errors
from spacy_task_pipes.io import write_json_atomic
from spacy_task_pipes.ner.bootstrap import load_patterns
from spacy_task_pipes.ner.bootstrap_job import RuleSettings, build_rule_pipeline

app = typer.Typer(add_completion=False)


def _sizes(text: str) -> list:
    try:
        sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise ValueError(f"--sizes: comma-separated numbers of texts, e.g. 100000,1000000; got {text!r}.") from None
    if not sizes or sizes[0] < 1:
        raise ValueError(f"--sizes: at least one size >= 1; got {text!r}.")
    return sizes


def _table(rows, columns) -> str:
    lines = [" | ".join(name for name, _ in columns)]
    lines += [" | ".join(fmt(row) for _, fmt in columns) for row in rows]
    return "\n".join(lines)


@app.command()
@user_errors
def main(
    output_path: Path = typer.Argument(..., help="JSON report"),
    texts: Path = typer.Option(Path("assets/en/raw_texts.jsonl"), "--texts", help="Raw texts to perturb (JSONL)"),
    patterns: Path = typer.Option(Path("assets/en/patterns.jsonl"), "--patterns", help="Patterns (JSONL)"),
    work_dir: Path = typer.Option(Path("training/bootstrap_bench"), "--work-dir",
                                  help="Corpora and job outputs (large: about 1.3 KB per text)"),
    lang: str = typer.Option("en", "--lang"),
    unmatched: str = typer.Option("evidence", "--unmatched"),
    sizes: str = typer.Option("100000,1000000", "--sizes", help="Corpus sizes for the memory runs (texts)"),
    engine_texts: int = typer.Option(200_000, "--engine-texts", help="Texts of the engine runs (0: skip them)"),
    configs: str = typer.Option("local:1,local:2,ray:1,ray:2", "--configs", help="engine:workers, comma-separated"),
    repeats: int = typer.Option(1, "--repeats", help="Engine runs per configuration, interleaved; medians"),
    kills: int = typer.Option(20, "--kills", help="SIGKILLs of the kill campaign (0: skip it)"),
    kill_texts: int = typer.Option(100_000, "--kill-texts", help="Texts of the kill campaign's corpus"),
    kill_shard_size: int = typer.Option(1000, "--kill-shard-size", help="Shard size of the kill campaign"),
    shard_size: int = typer.Option(10_000, "--shard-size"),
    batch_size: int = typer.Option(256, "--batch-size"),
    seed: int = typer.Option(0, "--seed", help="Seed of the perturbations and of the kill times"),
    train_epoch: bool = typer.Option(False, "--train-epoch/--no-train-epoch",
                                     help="Also train one epoch over the largest size's shards (long)"),
    config: Path = typer.Option(Path("configs/ner.cfg"), "--config", help="Training config of --train-epoch"),
    train_timeout: float = typer.Option(7200.0, "--train-timeout",
                                        help="Seconds --train-epoch may run before it counts as failed"),
    skip_memory: bool = typer.Option(False, "--skip-memory", help="Reuse the shards of an earlier memory run"),
) -> None:
    """Runs the three parts (each run its own process) and prints a table per part."""
    existing_file(texts, "--texts")
    existing_file(patterns, "--patterns")
    at_least(0, engine_texts=engine_texts, kills=kills)
    at_least(1, train_timeout=train_timeout, repeats=repeats, kill_texts=kill_texts, shard_size=shard_size,
             batch_size=batch_size, kill_shard_size=kill_shard_size)
    size_list = _sizes(sizes)
    engine_configs = parse_engine_configs(configs)
    work_dir.mkdir(parents=True, exist_ok=True)
    rules = ["--lang", lang, "--unmatched", unmatched]
    common = [*rules, "--shard-size", str(shard_size), "--batch-size", str(batch_size)]
    report = {"shard_size": shard_size, "unmatched": unmatched}

    if engine_texts:
        corpus = ensure_corpus(texts, engine_texts, work_dir, seed)
        settings = RuleSettings(lang=lang, unmatched=unmatched)
        nlp = build_rule_pipeline(corpus_source(corpus), load_patterns(patterns), settings)
        nlp.to_disk(work_dir / "rule_pipeline")
        report["engines"] = engine_scaling(work_dir / "rule_pipeline", corpus, engine_texts, engine_configs,
                                           work_dir, shard_size, batch_size, DocSplit(0.2), repeats)
        typer.echo(_table(report["engines"], [
            ("config", lambda r: r["config"]),
            ("texts/s", lambda r: f"{r['docs_per_second']:.0f}"),
            ("ratio", lambda r: f"{r['overall_ratio_vs_local_1']:.2f}x"),
            ("steady texts/s", lambda r: f"{r['steady_docs_per_second']:.0f}"),
            ("steady ratio", lambda r: f"{r['steady_ratio_vs_local_1']:.2f}x"),
            ("peak RSS MB driver / workers / other", lambda r: f"{r['peak_rss_mb']['driver']:.0f} / "
             f"{', '.join(f'{w:.0f}' for w in r['peak_rss_mb']['workers']) or '-'} / "
             f"{r['peak_rss_mb']['other_total']:.0f}"),
        ]))
        write_json_atomic(report, output_path)

    if skip_memory:
        report["memory"] = []
    else:
        report["memory"] = rss_at_sizes(texts, patterns, size_list, work_dir, common)
    typer.echo(_table(report["memory"], [
        ("texts", lambda r: str(r["texts"])),
        ("corpus MB", lambda r: f"{r['corpus_mb']:.0f}"),
        ("s", lambda r: f"{r['seconds']:.0f}"),
        ("texts/s", lambda r: f"{r['texts_per_second']:.0f}"),
        ("peak RSS MB (tree)", lambda r: f"{r['peak_rss_mb_tree']:.0f}"),
        ("growth", lambda r: f"{100 * r['rss_growth_vs_smallest']:+.1f}%"),
    ]))
    write_json_atomic(report, output_path)

    if kills:
        corpus = ensure_corpus(texts, kill_texts, work_dir, seed)
        kill_args = [*rules, "--shard-size", str(kill_shard_size), "--batch-size", str(batch_size)]
        report["kills"] = kill_campaign(corpus, patterns, work_dir, kills, kill_args, seed=seed,
                                        log=lambda line: typer.echo(line, err=True))
        typer.echo(" ".join(f"{key}={value}" for key, value in report["kills"].items()
                            if key != "kill_points_shards_done"))
    write_json_atomic(report, output_path)
    if train_epoch:
        largest = work_dir / f"scale-{size_list[-1]}"
        report["train"] = {"texts": size_list[-1], **train_one_epoch(
            existing_file(config, "--config"), largest / "train", largest / "dev", work_dir / "train",
            timeout=train_timeout)}
        typer.echo(" ".join(f"{key}={value}" for key, value in report["train"].items()))
        write_json_atomic(report, output_path)
    typer.echo(f"full results in {output_path}")


if __name__ == "__main__":
    app()
