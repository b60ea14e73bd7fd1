"""Baseline: fine-tune the same QA model with Hugging Face's `Trainer` on the same SQuAD
questions and hyper-parameters as `spacy train configs/qa.cfg`, for parity checks."""

import json
import time
from pathlib import Path

import typer

from spacy_task_pipes.bench.training import hf_trainer, qa_train_features
from spacy_task_pipes.io import normal_modes, write_json_atomic
from spacy_task_pipes.qa.data import read_squad_json
from spacy_task_pipes.cli import existing_file, fail, output_file, user_errors

app = typer.Typer(add_completion=False)


@app.command()
@user_errors
def main(
    model_name: str = typer.Argument(..., help="Hub name or local save_pretrained directory (encoder + QA head)"),
    train_path: Path = typer.Argument(..., help="SQuAD JSON with the training questions"),
    output_dir: Path = typer.Argument(..., help="Where the fine-tuned model is saved (save_pretrained, safetensors)"),
    articles: str = typer.Option("", "--articles", help="Article slice START:END, as scripts/convert_qa.py"),
    max_questions: int = typer.Option(0, "--max-questions", help="First N questions of the slice (0: all)"),
    learning_rate: float = typer.Option(5e-5, "--learning-rate"),
    batch_size: int = typer.Option(16, "--batch-size", help="Features per step"),
    epochs: float = typer.Option(1.0, "--epochs"),
    warmup_steps: int = typer.Option(12, "--warmup-steps"),
    weight_decay: float = typer.Option(0.01, "--weight-decay"),
    max_grad_norm: float = typer.Option(1.0, "--max-grad-norm"),
    max_seq_length: int = typer.Option(256, "--max-seq-length"),
    doc_stride: int = typer.Option(128, "--doc-stride"),
    seed: int = typer.Option(0, "--seed"),
):
    """Train with transformers.Trainer (AdamW, linear schedule with warmup) and save the
    model; score it with scripts/evaluate_qa.py, which uses the same decoder and scorer
    as the spaCy pipeline. Prints and writes <output_dir>/train_stats.json."""
    existing_file(train_path, "TRAIN_PATH")
    output_file(output_dir / "train_stats.json", "OUTPUT_DIR")
    try:
        import accelerate  # noqa: F401  (Trainer needs it)
    except ImportError:
        typer.secho("transformers.Trainer needs accelerate: pip install 'accelerate>=0.26'", fg="red", err=True)
        raise typer.Exit(1)
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer, TrainingArguments, set_seed

    try:
        paragraphs = list(read_squad_json(train_path, articles or None, max_questions))
    except (ValueError, FileNotFoundError) as err:
        fail(f"error: {err}")
    start = time.perf_counter()
    set_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_name, use_fast=True)
    model = AutoModelForQuestionAnswering.from_pretrained(model_name)
    features, n_questions, _ = qa_train_features(tokenizer, paragraphs, max_seq_length, doc_stride)
    args = TrainingArguments(
        output_dir=str(output_dir / "trainer"),
        learning_rate=learning_rate,
        per_device_train_batch_size=batch_size,
        num_train_epochs=epochs,
        warmup_steps=warmup_steps,
        weight_decay=weight_decay,
        max_grad_norm=max_grad_norm,
        lr_scheduler_type="linear",
        seed=seed,
        save_strategy="no",
        eval_strategy="no",
        report_to=[],
        logging_steps=25,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
    )
    trainer = hf_trainer("qa", model, tokenizer, features, args)
    result = trainer.train()
    model.save_pretrained(str(output_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(output_dir))
    normal_modes(output_dir)  # save_pretrained writes model.safetensors 0600
    stats = {
        "questions": n_questions,
        "features": len(features),
        "steps": result.global_step,
        "train_loss": round(result.training_loss, 4),
        "train_seconds": round(result.metrics.get("train_runtime", 0.0), 1),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "hyper_parameters": {"learning_rate": learning_rate, "batch_size": batch_size, "epochs": epochs,
                             "warmup_steps": warmup_steps, "weight_decay": weight_decay,
                             "max_grad_norm": max_grad_norm, "max_seq_length": max_seq_length,
                             "doc_stride": doc_stride, "seed": seed},
    }
    write_json_atomic(stats, output_dir / "train_stats.json")
    typer.echo(json.dumps(stats))


if __name__ == "__main__":
    app()
