"""Seq2seq throughput on CPU/GPU: our translator/summarizer (nlp.pipe) vs. transformers'
translation/summarization pipeline vs. bare length-sorted batched model.generate, on the same
model object, inputs and generation settings, in one process."""

import json
from pathlib import Path
from typing import Optional

import spacy
import typer

from spacy_task_pipes.hf import get_hf_shim
from spacy_task_pipes.io import InputError, write_json_atomic
from spacy_task_pipes.bench.seq2seq import (
    first_lines,
    first_records,
    interleaved,
    run_bare_generate,
    run_hf_pipeline,
    run_hf_pipeline_same_batches,
    run_ours,
    summarize_times,
)
from spacy_task_pipes.cli import existing_file, fail, output_file, user_errors

app = typer.Typer(add_completion=False)

TASKS = {
    # task: (factory, doc field, HF pipeline task, HF output key, default prefix)
    "translation": ("translator", "translation", "translation", "translation_text", "translate Spanish to Portuguese: "),
    "summarization": ("summarizer", "summary", "summarization", "summary_text", "summarize: "),
}


def _bench_task(task, texts, model_dir, *, prefix, batch_size, pipe_batch_size, max_new_tokens, num_beams,
                max_input_length, repeats, tqdm_desc):
    import torch
    from transformers import pipeline

    factory, field, hf_task, key, default_prefix = TASKS[task]
    prefix = default_prefix if prefix is None else prefix
    gen = {"num_beams": num_beams, "max_new_tokens": max_new_tokens, "min_new_tokens": max_new_tokens,
           "no_repeat_ngram_size": 0, "do_sample": False}
    if num_beams > 1:
        gen.update({"length_penalty": 1.0, "early_stopping": True})
    nlp = spacy.blank("xx")
    nlp.add_pipe(factory, config={
        "model": {"@architectures": "spacy_task_pipes.Seq2SeqLM.v1", "name": str(model_dir)},
        "prefix": prefix, "max_input_length": max_input_length, "max_batch_size": batch_size,
        "batch_token_budget": batch_size * max_input_length * num_beams, **gen,
        **({"sentence_mode": False} if task == "translation" else {"max_summary_rounds": 1}),
    })
    nlp.initialize()
    hf = get_hf_shim(nlp.get_pipe(factory).model).hf_objects  # the very same weights
    model, tokenizer = hf.transformer, hf.tokenizer
    model.eval()
    hf_pipe = pipeline(hf_task, model=model, tokenizer=tokenizer, device=model.device)
    hf_gen = dict(gen, clean_up_tokenization_spaces=True)

    def ours():
        return run_ours(nlp, texts, field, batch_size=pipe_batch_size)

    def hf_run():
        model.eval()
        return run_hf_pipeline(hf_pipe, texts, prefix, batch_size, key, **hf_gen)

    def bare():
        model.eval()
        return run_bare_generate(model, tokenizer, texts, prefix, batch_size, max_input_length, **gen)

    warm = texts[: 2 * batch_size]
    run_ours(nlp, warm, field, batch_size)
    run_hf_pipeline(hf_pipe, warm, prefix, batch_size, key, **hf_gen)
    run_bare_generate(model, tokenizer, warm, prefix, batch_size, max_input_length, **gen)
    times, outputs = interleaved({"ours": ours, "hf_pipeline": hf_run, "bare_generate": bare}, repeats,
                                 desc=tqdm_desc)
    # Untimed: the HF pipeline on our batches (same inputs, same padding) must give our outputs.
    outputs["hf_pipeline_same_batches"] = run_hf_pipeline_same_batches(hf_pipe, tokenizer, texts, prefix, batch_size,
                                                                       key, **hf_gen)
    in_lens = [len(ids) for ids in tokenizer([prefix + t for t in texts])["input_ids"]]
    result = {"task": task, "prefix": prefix, "mean_input_tokens": round(sum(in_lens) / len(in_lens), 1),
              "max_input_tokens": max(in_lens), **summarize_times(len(texts), times, outputs)}
    result["example_output"] = outputs["ours"][0][:120]
    return result


@app.command()
@user_errors
def main(
    output_path: Path = typer.Argument(..., help="Output JSON"),
    translation_data: Optional[Path] = typer.Option(None, "--translation-data", help="Source sentences, one a line, e.g. assets/translation/pairs.spa (embedded) or assets/tatoeba/por-spa.tatoeba-test-v2021-08-07.spa (`spacy project assets . --extra`)"),
    summarization_data: Optional[Path] = typer.Option(None, "--summarization-data", help="JSONL with dialogues, e.g. assets/summarization/dialogues.test.jsonl (embedded) or assets/dialogsum/dialogsum.test.jsonl (`spacy project assets . --extra`)"),
    text_field: str = typer.Option("dialogue", "--text-field", help="JSONL field of the texts to summarize"),
    model: Path = typer.Option(Path("training/seq2seq/t5-small-random"), "--model", help="T5-style save_pretrained directory (build one with scripts/make_seq2seq_model.py)"),
    n_sentences: int = typer.Option(1000, "--n-sentences", help="First N sentences to translate"),
    n_dialogues: int = typer.Option(200, "--n-dialogues", help="First N dialogues to summarize"),
    batch_size: int = typer.Option(16, "--batch-size", help="Inputs per generate call (all three runners)"),
    pipe_batch_size: int = typer.Option(1024, "--pipe-batch-size", help="Docs per nlp.pipe batch: ours length-sorts the inputs of each such batch (>= the number of inputs: the same batches as the bare floor, so identical outputs)"),
    translation_max_new_tokens: int = typer.Option(32, "--translation-max-new-tokens", help="Also min_new_tokens: every runner generates exactly this many"),
    summarization_max_new_tokens: int = typer.Option(64, "--summarization-max-new-tokens", help="Also min_new_tokens"),
    num_beams: int = typer.Option(1, "--num-beams"),
    max_input_length: int = typer.Option(1024, "--max-input-length", help="Input token limit (set above the longest input, so no runner truncates or chunks)"),
    prefix: Optional[str] = typer.Option(None, "--prefix", help="Input prefix (default: the T5 task prefix)"),
    repeats: int = typer.Option(3, "--repeats", help="Timed passes per runner, interleaved; medians reported"),
    threads: int = typer.Option(0, "--threads", help="torch CPU threads (0: torch's default)"),
    gpu_id: int = typer.Option(-1, "--gpu-id"),
):
    """Prints items/s per runner, ratios ours/HF pipeline and ours/bare generate, and the exact
    output agreement, as JSON (also written to OUTPUT)."""
    output_file(output_path, "OUTPUT_PATH")
    if translation_data:
        existing_file(translation_data, "--translation-data")
    if summarization_data:
        existing_file(summarization_data, "--summarization-data")
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    if translation_data is None and summarization_data is None:
        fail("Give --translation-data and/or --summarization-data.")
    if not (model / "config.json").exists():
        fail(f"--model: no model at {model} (config.json missing); build one with "
             f"`python scripts/make_seq2seq_model.py {model} --text ...`.")
    try:
        inputs = {}
        if translation_data is not None:
            inputs["translation"] = first_lines(translation_data, n_sentences)
        if summarization_data is not None:
            inputs["summarization"] = first_records(summarization_data, n_dialogues, text_field)
    except (InputError, FileNotFoundError) as err:
        fail(f"error: {err}")
    result = {"model": str(model), "device": "cpu" if gpu_id < 0 else f"cuda:{gpu_id}",
              "torch_threads": torch.get_num_threads(), "batch_size": batch_size,
              "pipe_batch_size": pipe_batch_size, "num_beams": num_beams,
              "repeats": repeats, "tasks": {}}
    for task, texts in inputs.items():
        max_new = translation_max_new_tokens if task == "translation" else summarization_max_new_tokens
        res = _bench_task(task, texts, model, prefix=prefix, batch_size=batch_size, pipe_batch_size=pipe_batch_size,
                          max_new_tokens=max_new,
                          num_beams=num_beams, max_input_length=max_input_length, repeats=repeats,
                          tqdm_desc=task)
        res["max_new_tokens"] = res["min_new_tokens"] = max_new
        result["tasks"][task] = res
        typer.echo(json.dumps(res), err=True)
    write_json_atomic(result, output_path)
    typer.echo(json.dumps(result))


if __name__ == "__main__":
    app()
