"""Apply a trained or packaged pipeline to a corpus: one result record per input record,
written in atomic shards that --resume can pick up after a kill; records that are not
valid input or make the pipeline raise go to OUT_DIR/_errors.jsonl and the job goes on.

    python scripts/annotate.py training/en/ner/model-best corpus.jsonl out/ --n-process 2
    python scripts/annotate.py en_qa_squad questions.jsonl out/ --engine ray --workers 4 --address auto
"""

from pathlib import Path
from typing import Optional

import typer

from spacy_task_pipes.annotate import (
    ENGINES,
    InputSource,
    OutputFormat,
    OutputSpec,
    PipelineSpec,
    RayOptions,
    check_model,
    detect_format,
    make_engine,
    run_annotate,
)
from spacy_task_pipes.cli import (
    at_least,
    check_encoding,
    check_inference_options,
    existing_file,
    fail,
    job_options,
    user_errors,
)

app = typer.Typer(add_completion=False)


@app.command()
@user_errors
def main(
    model: str = typer.Argument(..., help="Pipeline directory or installed pipeline package name"),
    input_path: Path = typer.Argument(..., help="Corpus: .jsonl, .csv, .parquet, .txt (one document per line) or .spacy"),
    out_dir: Path = typer.Argument(..., help="Output directory: part-NNNNN.jsonl/.parquet shards, _errors.jsonl, _manifest.json, _SUCCESS"),
    input_format: str = typer.Option("", "--input-format", help="jsonl, csv, parquet, txt or spacy (default: from the suffix)"),
    text_field: str = typer.Option("text", "--text-field", help="Field/column holding the text"),
    id_field: str = typer.Option("id", "--id-field", help="Field/column kept as the record id (missing: the line or row number)"),
    questions_field: str = typer.Option("questions", "--questions-field", help="Field with a question or a list of questions (question_answerer)"),
    encoding: str = typer.Option("utf-8", "--encoding", help="Encoding of JSONL/CSV/text input"),
    csv_delimiter: str = typer.Option(",", "--csv-delimiter", help="CSV field separator: one character, e.g. ';' or a tab ($'\\t')"),
    output_format: OutputFormat = typer.Option(OutputFormat.JSONL, "--output-format", help="jsonl or parquet"),
    shard_size: int = typer.Option(1000, "--shard-size", help="Records per output shard (the unit of work, of atomic writes and of --resume)"),
    docbin: bool = typer.Option(False, "--docbin", help="Also write the annotated docs as _docs/part-NNNNN.spacy"),
    resume: bool = typer.Option(False, "--resume", help="Finish a killed job in OUT_DIR: complete shards are skipped"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a previous job in OUT_DIR"),
    engine: str = typer.Option("local", "--engine", help="local (this machine) or ray (Ray Data actors; needs the 'ray' extra of the package)"),
    batch_size: int = typer.Option(64, "--batch-size", help="Docs per nlp.pipe batch"),
    n_process: int = typer.Option(1, "--n-process", help="local: worker processes, each loading the pipeline once"),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch threads per process (default: local n_process=1 keeps torch's own; otherwise cores / processes)"),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="GPU to run on (spacy.require_gpu); ray: one GPU per actor"),
    code: Optional[Path] = typer.Option(None, "--code", help="Python file with custom components, imported in every worker"),
    quantize: str = typer.Option("", "--quantize", help="CPU inference of the transformer components: int8, or none for float32 (default: as the pipeline's config says)"),
    backend: str = typer.Option("", "--backend", help="CPU runtime of the transformer components: torch, onnxruntime (QA), ctranslate2 (translator, summarizer) or a comma list, each component taking the one it runs on; default: as the pipeline's config says"),
    workers: int = typer.Option(1, "--workers", help="ray: number of actors"),
    address: str = typer.Option("", "--address", help="ray: join this cluster (auto, host:port or ray://host:10001); default: start a local one"),
    num_cpus: Optional[int] = typer.Option(None, "--num-cpus", help="ray: CPUs of the local cluster the job starts (default: all)"),
    cpus_per_worker: float = typer.Option(1.0, "--cpus-per-worker", help="ray: CPUs reserved per actor (also its torch threads)"),
    gpus_per_worker: float = typer.Option(0.0, "--gpus-per-worker", help="ray: GPUs per actor (default: 1 with --gpu-id >= 0, else 0)"),
    node_ip_address: str = typer.Option("", "--node-ip-address", help="ray: the address the local cluster listens on (Ray's _node_ip_address; default 127.0.0.1, this machine only)"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar (docs/s)"),
):
    """Annotate INPUT_PATH with MODEL into OUT_DIR and print a summary line
    (records in, out and failed)."""
    existing_file(input_path, "INPUT_PATH")
    if code is not None:
        existing_file(code, "--code")
    job_options(engine, ENGINES, resume, overwrite)
    if len(csv_delimiter) != 1:
        fail(f"--csv-delimiter: one character, got {csv_delimiter!r}.")
    at_least(1, batch_size=batch_size, shard_size=shard_size, n_process=n_process, workers=workers,
             threads=threads, num_cpus=num_cpus)
    check_encoding(encoding)
    source = InputSource(str(input_path), detect_format(input_path, input_format or None), text_field=text_field,
                         id_field=id_field, questions_field=questions_field, encoding=encoding,
                         delimiter=csv_delimiter)
    resolved_model = check_model(model)
    check_inference_options(quantize, backend)
    pipeline = PipelineSpec(resolved_model, batch_size=batch_size, gpu_id=gpu_id,
                            code=str(code.resolve()) if code else None, quantize=quantize, backend=backend)
    ray_options = RayOptions(workers=workers, address=address or None, num_cpus=num_cpus,
                             cpus_per_worker=cpus_per_worker, gpus_per_worker=gpus_per_worker,
                             node_ip_address=node_ip_address or None)
    job_engine = make_engine(engine, pipeline, n_process=n_process, ray_options=ray_options, keep_docs=docbin, threads=threads)
    output = OutputSpec(out_dir, output_format, shard_size=shard_size, docbin=docbin)
    summary = run_annotate(source, output, job_engine, model=resolved_model, resume=resume,
                           overwrite=overwrite, show_progress=progress)
    typer.echo(summary.line())


if __name__ == "__main__":
    app()
