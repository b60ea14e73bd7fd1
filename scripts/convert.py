"""Convert annotated NER data (JSONL offsets, (text, annotations) tuples, CoNLL/IOB) to DocBin."""

from pathlib import Path

import typer

from spacy_task_pipes.cli import blank_pipeline, check_encoding, existing_file, fail, output_file, user_errors
from spacy_task_pipes.ner.convert import ALIGNMENT_MODES, FORMATS, convert_file
from spacy_task_pipes.io import write_docbin_atomic

app = typer.Typer(add_completion=False)


def _check_arguments(input_path: Path, output_path: Path, fmt: str, alignment_mode: str, encoding: str, n_sents: int) -> None:
    """Every argument mistake is found before any work is done (one line, exit code 2)."""
    existing_file(input_path, "INPUT_PATH")
    output_file(output_path, "OUTPUT_PATH")
    if fmt not in FORMATS:
        fail(f"--format: must be one of {', '.join(FORMATS)}, got {fmt!r}.")
    if alignment_mode not in ALIGNMENT_MODES:
        fail(f"--alignment-mode: must be one of {', '.join(ALIGNMENT_MODES)}, got {alignment_mode!r}.")
    if n_sents < 1:
        fail(f"--n-sents: must be at least 1, got {n_sents}.")
    check_encoding(encoding)


@app.command()
@user_errors
def main(
    input_path: Path = typer.Argument(..., help="Annotated input file"),
    output_path: Path = typer.Argument(..., help="Output .spacy file (written atomically)"),
    lang: str = typer.Option("en", "--lang", "-l", help="Language of the blank tokenizer"),
    fmt: str = typer.Option("auto", "--format", "-f", help=f"One of {', '.join(FORMATS)}"),
    alignment_mode: str = typer.Option(
        "strict", "--alignment-mode", "-a", help=f"Spans off token boundaries: {' | '.join(ALIGNMENT_MODES)}"
    ),
    encoding: str = typer.Option("utf-8", "--encoding", help="Input encoding (CoNLL-2002 is latin-1)"),
    n_sents: int = typer.Option(10, "--n-sents", help="CoNLL: sentences per doc"),
) -> None:
    """Convert one annotated file to a .spacy DocBin. Any error names the file and line,
    exits with code 2 and leaves the output untouched."""
    _check_arguments(input_path, output_path, fmt, alignment_mode, encoding, n_sents)
    docs, report = convert_file(blank_pipeline(lang), input_path, fmt, alignment_mode, encoding, n_sents)
    for msg in report.messages:
        typer.secho(msg, fg="yellow", err=True)
    write_docbin_atomic(docs, output_path)
    typer.echo(f"{input_path}: {report.docs} docs, {report.entities} entities ({report.realigned} realigned) -> {output_path}")


if __name__ == "__main__":
    app()
