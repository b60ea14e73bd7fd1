"""Build a randomly initialised T5 model (t5-small-sized, mini or tiny) with a SentencePiece
tokenizer trained on local text files, as a save_pretrained directory (nothing downloads)."""

import json
from pathlib import Path
from typing import List

import typer

from spacy_task_pipes.io import InputError, iter_jsonl, iter_lines
from spacy_task_pipes.seq2seq_benchmark import MODEL_SIZES, build_t5_model_dir

app = typer.Typer(add_completion=False)


def _texts(paths: List[Path], fields: List[str], max_lines: int):
    for path in paths:
        if path.suffix.lower() == ".jsonl":
            for n, rec in iter_jsonl(path):
                if max_lines and n > max_lines:
                    break
                for field in fields:
                    if isinstance(rec, dict) and isinstance(rec.get(field), str):
                        yield rec[field]
        else:
            for n, line in iter_lines(path):
                if max_lines and n > max_lines:
                    break
                yield line


@app.command()
def main(
    output_dir: Path = typer.Argument(..., help="Output model directory (config.json, model.safetensors, tokenizer)"),
    text: List[Path] = typer.Option(..., "--text", "-t", help="Text file (one sentence a line) or JSONL to train the tokenizer on; repeatable"),
    field: List[str] = typer.Option(["dialogue", "summary"], "--field", help="JSONL fields used as text; repeatable"),
    max_lines: int = typer.Option(0, "--max-lines", help="Use only the first N lines (records) of each --text file, e.g. the training slice (0: all)"),
    size: str = typer.Option("t5-small", "--size", help=f"Model shape: {', '.join(MODEL_SIZES)}"),
    vocab_size: int = typer.Option(0, "--vocab-size", help="SentencePiece vocabulary (0: the size's default)"),
    max_length: int = typer.Option(512, "--max-length", help="Tokenizer model_max_length"),
    seed: int = typer.Option(0, "--seed"),
    initializer_factor: float = typer.Option(1.0, "--initializer-factor", help="T5 init scale: 1.0 trains well; 5.0 gives peaky logits, i.e. varied (non-empty) outputs from random weights for benchmarks"),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing model directory"),
):
    """Random weights from a T5Config (seeded) + a locally trained SentencePiece tokenizer."""
    if (output_dir / "config.json").exists() and not force:
        typer.echo(f"{output_dir} exists (config.json); pass --force to rebuild.", err=True)
        raise typer.Exit(0)
    try:
        out = build_t5_model_dir(_texts(text, field, max_lines), output_dir, size=size, vocab_size=vocab_size or None,
                                 seed=seed, max_length=max_length,
                                 initializer_factor=initializer_factor)
    except (InputError, ValueError, FileNotFoundError) as err:
        typer.secho(str(err), fg="red", err=True)
        raise typer.Exit(1)
    cfg = json.loads((out / "config.json").read_text())
    typer.echo(json.dumps({"output": str(out), "size": size, "vocab_size": cfg["vocab_size"],
                           "d_model": cfg["d_model"], "layers": [cfg["num_layers"], cfg["num_decoder_layers"]]}))


if __name__ == "__main__":
    app()
