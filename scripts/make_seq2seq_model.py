"""Build a randomly initialised T5 model (t5-small-sized, mini or tiny) with a SentencePiece
tokenizer trained on local text files, as a save_pretrained directory (nothing downloads)."""

import itertools
import json
from pathlib import Path
from typing import Iterator, List

import typer

from spacy_task_pipes.io import InputError, iter_jsonl, iter_lines
from spacy_task_pipes.seq2seq.data import parse_slice
from spacy_task_pipes.bench.seq2seq import ARCHITECTURES, MODEL_SIZES, build_seq2seq_model_dir
from spacy_task_pipes.cli import existing_file, fail, output_file, user_errors

app = typer.Typer(add_completion=False)


def _records(path: Path, fields: List[str]) -> Iterator[List[str]]:
    """The texts of each line (plain text) or record (JSONL: the string ``fields``)."""
    if path.suffix.lower() == ".jsonl":
        for _, rec in iter_jsonl(path):
            yield [rec[f] for f in fields if isinstance(rec, dict) and isinstance(rec.get(f), str)]
    else:
        for _, line in iter_lines(path):
            yield [line]


def _texts(paths: List[Path], fields: List[str], select: slice) -> Iterator[str]:
    for path in paths:
        for texts in itertools.islice(_records(path, fields), select.start, select.stop, select.step):
            yield from texts


@app.command()
@user_errors
def main(
    output_dir: Path = typer.Argument(..., help="Output model directory (config.json, model.safetensors, tokenizer)"),
    text: List[Path] = typer.Option(..., "--text", "-t", help="Text file (one sentence a line) or JSONL to train the tokenizer on; repeatable"),
    field: List[str] = typer.Option(["dialogue", "summary"], "--field", help="JSONL fields used as text; repeatable"),
    select: str = typer.Option("", "--slice", help="Use only these lines (records) START:END of each --text file, e.g. the training slice 0:400 (empty: all)"),
    size: str = typer.Option("t5-small", "--size", help=f"Model shape: {', '.join(MODEL_SIZES)}"),
    arch: str = typer.Option("t5", "--arch", help=f"Architecture: {', '.join(ARCHITECTURES)} (bart: the size's shape with learned absolute positions)"),
    vocab_size: int = typer.Option(0, "--vocab-size", help="SentencePiece vocabulary (0: the size's default)"),
    max_length: int = typer.Option(512, "--max-length", help="Tokenizer model_max_length"),
    seed: int = typer.Option(0, "--seed"),
    initializer_factor: float = typer.Option(1.0, "--initializer-factor", help="T5 init scale: 1.0 trains well; 5.0 gives peaky logits, i.e. varied (non-empty) outputs from random weights for benchmarks"),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing model directory"),
) -> None:
    """Random weights from a T5Config or BartConfig (seeded) + a locally trained SentencePiece tokenizer."""
    for path in text:
        existing_file(path, "--text")
    output_file(output_dir / "config.json", "OUTPUT_DIR")
    if (output_dir / "config.json").exists() and not force:
        typer.echo(f"{output_dir} exists (config.json); pass --force to rebuild.", err=True)
        raise typer.Exit(0)
    try:
        out = build_seq2seq_model_dir(_texts(text, field, parse_slice(select)), output_dir, arch=arch, size=size,
                                      vocab_size=vocab_size or None, seed=seed, max_length=max_length,
                                      initializer_factor=initializer_factor)
    except (InputError, ValueError, FileNotFoundError) as err:
        fail(f"error: {err}")
    cfg = json.loads((out / "config.json").read_text())
    layers = [cfg["encoder_layers"], cfg["decoder_layers"]] if arch == "bart" else [cfg["num_layers"], cfg["num_decoder_layers"]]
    typer.echo(json.dumps({"output": str(out), "arch": arch, "size": size, "vocab_size": cfg["vocab_size"],
                           "d_model": cfg["d_model"], "layers": layers}))


if __name__ == "__main__":
    app()
