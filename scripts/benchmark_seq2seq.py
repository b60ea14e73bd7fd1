"""Seq2seq throughput on CPU/GPU: our translator/summarizer (nlp.pipe; float, int8 and
CTranslate2 float32/int8) vs. transformers' translation/summarization pipeline vs. bare
length-sorted batched model.generate (float and dynamic int8) vs. CTranslate2's
translate_batch (float32 and int8), on the same model weights, inputs, batches and
generation settings, in one process."""

import json
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import spacy
import typer

from spacy_task_pipes.hf import get_hf_shim, quantize_torch_int8
from spacy_task_pipes.hf.inference import generation_options
from spacy_task_pipes.io import InputError, write_json_atomic
from spacy_task_pipes.bench.seq2seq import (
    convert_ctranslate2,
    ctranslate2_translator,
    first_lines,
    first_records,
    interleaved,
    run_bare_generate,
    run_ctranslate2,
    run_hf_pipeline,
    run_hf_pipeline_same_batches,
    run_ours,
    hf_pipeline_unavailable,
    say_skipped,
    select_runners,
    summarize_times,
)
from spacy_task_pipes.cli import at_least, existing_file, fail, output_file, user_errors

app = typer.Typer(add_completion=False)

TASKS = {
    # task: (factory, doc field, HF pipeline task, HF output key, default prefix)
    "translation": ("translator", "translation", "translation", "translation_text", "translate Spanish to Portuguese: "),
    "summarization": ("summarizer", "summary", "summarization", "summary_text", "summarize: "),
}
# Our component with these [components.<name>.model] settings.
OURS_SETTINGS: Dict[str, Dict[str, Any]] = {
    "ours": {},
    "ours_int8": {"quantize": "int8", "backend": "torch"},
    "ours_ctranslate2_fp32": {"quantize": None, "backend": "ctranslate2"},
    "ours_ctranslate2_int8": {"quantize": "int8", "backend": "ctranslate2"},
}
CTRANSLATE2_PEERS = {"ctranslate2_fp32": "float32", "ctranslate2_int8": "int8"}
# Interleaving order.
RUNNERS = ("ours", "hf_pipeline", "bare_generate", "ours_int8", "generate_int8", "ours_ctranslate2_fp32",
           "ctranslate2_fp32", "ours_ctranslate2_int8", "ctranslate2_int8")
NEEDS = {name: ("ctranslate2",) for name in ("ours_ctranslate2_fp32", "ours_ctranslate2_int8", *CTRANSLATE2_PEERS)}


def _bench_task(task, texts, model_dir, *, names, ct2_dir, prefix, batch_size, pipe_batch_size, max_new_tokens,
                num_beams, max_input_length, repeats, tqdm_desc):
    import torch

    factory, field, hf_task, key, default_prefix = TASKS[task]
    prefix = default_prefix if prefix is None else prefix
    gen = {"num_beams": num_beams, "max_new_tokens": max_new_tokens, "min_new_tokens": max_new_tokens,
           "no_repeat_ngram_size": 0, "do_sample": False}
    if num_beams > 1:
        gen.update({"length_penalty": 1.0, "early_stopping": True})

    def make_nlp(settings: Dict[str, Any]):
        nlp = spacy.blank("xx")
        nlp.add_pipe(factory, config={
            "model": {"@architectures": "spacy_task_pipes.Seq2SeqLM.v1", "name": str(model_dir), **settings},
            "prefix": prefix, "max_input_length": max_input_length, "max_batch_size": batch_size,
            "batch_token_budget": batch_size * max_input_length * num_beams, **gen,
            **({"sentence_mode": False} if task == "translation" else {"max_summary_rounds": 1}),
        })
        nlp.initialize()
        return nlp

    nlps = {name: make_nlp(settings) for name, settings in OURS_SETTINGS.items() if name == "ours" or name in names}
    hf = get_hf_shim(nlps["ours"].get_pipe(factory).model).hf_objects  # the very same weights
    model, tokenizer = hf.transformer, hf.tokenizer
    model.eval()
    hf_gen = dict(gen, clean_up_tokenization_spaces=True)
    forced_eos = getattr(model.generation_config, "forced_eos_token_id", None) is not None
    ct2_options = generation_options(gen, forced_eos=forced_eos)
    threads = torch.get_num_threads()
    warm = texts[: 2 * batch_size]
    runners: Dict[str, Callable[[], List[str]]] = {}
    setup: Dict[str, float] = {}
    generated: Dict[str, List[int]] = {}  # tokens per input of the bare runners' last pass
    hf_pipe = None
    for name in names:
        start = time.perf_counter()
        if name in OURS_SETTINGS:
            nlp = nlps[name]
            run_ours(nlp, warm, field, batch_size)  # builds the int8 / CTranslate2 runner
            runners[name] = lambda nlp=nlp: run_ours(nlp, texts, field, batch_size=pipe_batch_size)
        elif name == "hf_pipeline":
            from transformers import pipeline

            hf_pipe = pipeline(hf_task, model=model, tokenizer=tokenizer, device=model.device)

            def hf_run(subset: Sequence[str] = texts) -> List[str]:
                model.eval()
                return run_hf_pipeline(hf_pipe, subset, prefix, batch_size, key, **hf_gen)

            hf_run(warm)
            runners[name] = hf_run
        elif name in ("bare_generate", "generate_int8"):
            target = model if name == "bare_generate" else quantize_torch_int8(model)
            lengths = generated.setdefault(name, [])

            def bare(subset: Sequence[str] = texts, target=target, lengths=lengths) -> List[str]:
                target.eval()
                return run_bare_generate(target, tokenizer, subset, prefix, batch_size, max_input_length,
                                         lengths=lengths, **gen)

            bare(warm)
            runners[name] = bare
        elif name in CTRANSLATE2_PEERS:
            translator = ctranslate2_translator(ct2_dir, CTRANSLATE2_PEERS[name], threads)
            lengths = generated.setdefault(name, [])

            def ct2(subset: Sequence[str] = texts, translator=translator, lengths=lengths) -> List[str]:
                return run_ctranslate2(translator, tokenizer, subset, prefix, batch_size, max_input_length,
                                       ct2_options, lengths=lengths)

            ct2(warm)
            runners[name] = ct2
        else:  # pragma: no cover - RUNNERS and this function go together
            raise ValueError(f"Unknown runner {name!r}.")
        setup[name] = time.perf_counter() - start
    times, outputs = interleaved(runners, repeats, desc=tqdm_desc)
    if "ours" not in outputs:  # untimed reference of the agreement
        outputs["ours"] = run_ours(nlps["ours"], texts, field, batch_size=pipe_batch_size)
    if hf_pipe is not None:
        # Untimed: the HF pipeline on our batches (same inputs, same padding) must give our outputs.
        outputs["hf_pipeline_same_batches"] = run_hf_pipeline_same_batches(
            hf_pipe, tokenizer, texts, prefix, batch_size, key, **hf_gen)
    in_lens = [len(ids) for ids in tokenizer([prefix + t for t in texts])["input_ids"]]
    result = {"task": task, "prefix": prefix, "mean_input_tokens": round(sum(in_lens) / len(in_lens), 1),
              "max_input_tokens": max(in_lens), **summarize_times(len(texts), times, outputs, generated)}
    result["setup_seconds"] = {k: round(v, 2) for k, v in setup.items()}
    if any(name.startswith("ctranslate2") for name in names):
        result["ctranslate2_options"] = ct2_options
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
    batch_size: int = typer.Option(16, "--batch-size", help="Inputs per generate call (all runners)"),
    pipe_batch_size: int = typer.Option(1024, "--pipe-batch-size", help="Docs per nlp.pipe batch: ours length-sorts the inputs of each such batch (>= the number of inputs: the same batches as the bare floor, so identical outputs)"),
    translation_max_new_tokens: int = typer.Option(32, "--translation-max-new-tokens", help="Also min_new_tokens: every runner generates exactly this many"),
    summarization_max_new_tokens: int = typer.Option(64, "--summarization-max-new-tokens", help="Also min_new_tokens"),
    num_beams: int = typer.Option(1, "--num-beams"),
    max_input_length: int = typer.Option(1024, "--max-input-length", help="Input token limit (set above the longest input, so no runner truncates or chunks)"),
    prefix: Optional[str] = typer.Option(None, "--prefix", help="Input prefix (default: the T5 task prefix)"),
    runners_option: str = typer.Option("", "--runners", help=f"Comma list of runners to time (default: all of {','.join(RUNNERS)}; those whose package is missing are then skipped)"),
    repeats: int = typer.Option(3, "--repeats", help="Timed passes per runner, interleaved; medians reported"),
    threads: int = typer.Option(0, "--threads", help="torch CPU threads, also CTranslate2's intra_threads (0: torch's default)"),
    gpu_id: int = typer.Option(-1, "--gpu-id"),
):
    """Prints items/s per runner, the speed ratios (each runner vs ours, ours vs the peer doing
    the same work, ours* vs the fastest peer), the exact output agreement of each runner with
    ours and with its peer, and the tokens generated per input by the bare runners, as JSON
    (also written to OUTPUT)."""
    output_file(output_path, "OUTPUT_PATH")
    at_least(1, batch_size=batch_size, pipe_batch_size=pipe_batch_size, repeats=repeats)
    at_least(0, threads=threads)
    names, skipped = select_runners(runners_option, RUNNERS, NEEDS,
                                    unavailable={"hf_pipeline": hf_pipeline_unavailable()})
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
    say_skipped(skipped)
    result = {"model": str(model), "device": "cpu" if gpu_id < 0 else f"cuda:{gpu_id}",
              "torch_threads": torch.get_num_threads(), "batch_size": batch_size,
              "pipe_batch_size": pipe_batch_size, "num_beams": num_beams,
              "repeats": repeats, "runners": list(names), "skipped": skipped, "tasks": {}}
    with tempfile.TemporaryDirectory(prefix="benchmark-seq2seq-ct2-") as tmp:
        ct2_dir = None
        if any(name in CTRANSLATE2_PEERS for name in names):
            start = time.perf_counter()
            ct2_dir = convert_ctranslate2(model, Path(tmp, "ct2"))
            result["ctranslate2_convert_seconds"] = round(time.perf_counter() - start, 2)
        for task, texts in inputs.items():
            max_new = translation_max_new_tokens if task == "translation" else summarization_max_new_tokens
            res = _bench_task(task, texts, model, names=names, ct2_dir=ct2_dir, prefix=prefix, batch_size=batch_size,
                              pipe_batch_size=pipe_batch_size, max_new_tokens=max_new, num_beams=num_beams,
                              max_input_length=max_input_length, repeats=repeats, tqdm_desc=task)
            res["max_new_tokens"] = res["min_new_tokens"] = max_new
            result["tasks"][task] = res
            typer.echo(json.dumps(res), err=True)
    write_json_atomic(result, output_path)
    typer.echo(json.dumps(result))


if __name__ == "__main__":
    app()
