"""Convert annotated NER data (JSONL offsets, (text, annotations) tuples, CoNLL/IOB) to DocBin."""

from pathlib import Path

import spacy
import typer

from spacy_task_pipes.convert import ALIGNMENT_MODES, FORMATS, convert_file
from spacy_task_pipes.io import InputError, write_docbin_atomic

app = typer.Typer(add_completion=False)


@app.command()
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
):
    """Convert one annotated file to a .spacy DocBin. Any error names the file and line,
    and leaves no partial output behind."""
    if fmt not in FORMATS or alignment_mode not in ALIGNMENT_MODES:
        typer.secho(f"--format must be one of {FORMATS}; --alignment-mode one of {ALIGNMENT_MODES}", fg="red", err=True)
        raise typer.Exit(2)
    nlp = spacy.blank(lang)
    try:
        docs, report = convert_file(nlp, input_path, fmt, alignment_mode, encoding, n_sents)
    except (InputError, FileNotFoundError) as err:
        typer.secho(str(err), fg="red", err=True)
        raise typer.Exit(1)
    for msg in report.messages:
        typer.secho(msg, fg="yellow", err=True)
    write_docbin_atomic(docs, output_path)
    typer.echo(f"{input_path}: {report.docs} docs, {report.entities} entities ({report.realigned} realigned) -> {output_path}")


if __name__ == "__main__":
    app()
