"""Build a randomly initialised BERT (tiny, or all-MiniLM-L6-v2's shape) with a WordPiece
vocabulary made from local text, as a save_pretrained directory (nothing downloads).

With --head qa it is a question-answering model (the qa workflow's offline default, built
by make-qa-tiny from the training articles); with --head base a plain encoder for
spacy-transformers (all-gpu offline, built by make-trf-tiny from the raw texts)."""

import json
from pathlib import Path
from typing import Iterator, List

import typer

from spacy_task_pipes.cli import existing_file, output_file, user_errors
from spacy_task_pipes.io import iter_jsonl, iter_lines
from spacy_task_pipes.qa.data import read_squad_json
from spacy_task_pipes.bench.qa import BERT_HEADS, BERT_SIZES, build_bert_model_dir, write_model_source

app = typer.Typer(add_completion=False, help=__doc__)


def squad_texts(path: Path, articles: str) -> Iterator[str]:
    """The contexts and questions of the ``articles`` slice of a SQuAD JSON file."""
    for paragraph in read_squad_json(path, articles=articles):
        yield paragraph["context"]
        for qa in paragraph["qas"]:
            yield qa["question"]


def jsonl_texts(path: Path, fields: List[str]) -> Iterator[str]:
    for _, record in iter_jsonl(path):
        for field in fields:
            if isinstance(record, dict) and isinstance(record.get(field), str):
                yield record[field]


def file_texts(paths: List[Path], fields: List[str], articles: str) -> Iterator[str]:
    """Text of each file: SQuAD .json (contexts + questions), .jsonl (the --field values)
    or plain text (one text a line)."""
    for path in paths:
        suffix = path.suffix.lower()
        if suffix == ".json":
            yield from squad_texts(path, articles)
        elif suffix == ".jsonl":
            yield from jsonl_texts(path, fields)
        else:
            yield from (line for _, line in iter_lines(path))


@app.command()
@user_errors
def main(
    output_dir: Path = typer.Argument(..., help="Output model directory (config.json, model.safetensors, vocab/tokenizer files)"),
    text: List[Path] = typer.Option(..., "--text", "-t", help="SQuAD .json, .jsonl or plain text file for the vocabulary; repeatable"),
    field: List[str] = typer.Option(["text"], "--field", help="JSONL fields used as text; repeatable"),
    articles: str = typer.Option("", "--articles", help="SQuAD files: only this article slice START:END (e.g. the training articles)"),
    size: str = typer.Option("tiny", "--size", help=f"Model shape: {', '.join(BERT_SIZES)}"),
    head: str = typer.Option("qa", "--head", help=f"{' or '.join(BERT_HEADS)}: a QA head (BertForQuestionAnswering) or the bare encoder (BertModel)"),
    vocab_size: int = typer.Option(8000, "--vocab-size", help="At most this many WordPiece entries"),
    lowercase: bool = typer.Option(False, "--lowercase/--cased", help="Uncased vocabulary (as all-MiniLM-L6-v2)"),
    seed: int = typer.Option(0, "--seed", help="Seed of the random weights"),
    force: bool = typer.Option(False, "--force", help="Rebuild an existing model directory"),
) -> None:
    """Random weights from a BertConfig (seeded) + a WordPiece vocabulary from the texts."""
    for path in text:
        existing_file(path, "--text")
    output_file(output_dir / "config.json", "OUTPUT_DIR")
    if (output_dir / "config.json").exists() and not force:
        typer.echo(f"{output_dir} exists (config.json); pass --force to rebuild.", err=True)
        raise typer.Exit(0)
    out = build_bert_model_dir(file_texts(text, field, articles), output_dir, size=size, head=head,
                               vocab_size=vocab_size, lowercase=lowercase, seed=seed)
    sources = ", ".join(str(p) for p in text) + (f" (articles {articles})" if articles else "")
    write_model_source(out, f"random {size} BERT ({head} head, seed {seed}), vocabulary from {sources}",
                       random_encoder=True)
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    typer.echo(json.dumps({"output": str(out), "size": size, "head": head, "vocab_size": config["vocab_size"],
                           "hidden_size": config["hidden_size"], "layers": config["num_hidden_layers"]}))


if __name__ == "__main__":
    app()
