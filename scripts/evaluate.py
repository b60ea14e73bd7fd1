"""`spacy evaluate` that also shows our components' scores (EM/F1, BLEU/chrF, ROUGE).

spaCy's own table lists only the scores it knows (TOK, NER P/R/F, SPEED, ...); the
QA and seq2seq scorers' figures end up in the JSON alone. This runs spaCy's evaluate
unchanged, writes the JSON atomically and prints every score it returned."""

import importlib
from pathlib import Path
from typing import Any, Dict, List, Tuple

import typer
from wasabi import Printer

from spacy_task_pipes.cli import existing_file, load_pipeline, output_file, user_errors
from spacy_task_pipes.io import write_json_atomic

app = typer.Typer(add_completion=False)

# spaCy prints these itself
_SHOWN_BY_SPACY = {"token_acc", "ents_p", "ents_r", "ents_f", "speed", "sents_p", "sents_r", "sents_f"}


def score_rows(scores: Dict[str, Any]) -> List[Tuple[str, str]]:
    """``(name, value)`` rows for the numeric scores spaCy's table leaves out, as
    percentages like spaCy's (our scorers report fractions); lengths as they are."""
    rows = []
    for key, value in scores.items():
        if key in _SHOWN_BY_SPACY or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        rows.append((key, f"{value:.2f}" if key.endswith("_len") else f"{value * 100:.2f}"))
    return rows


@app.command()
@user_errors
def main(
    model: str = typer.Argument(..., help="Pipeline (directory or installed package)"),
    data_path: Path = typer.Argument(..., help="Evaluation data (.spacy)"),
    output_path: Path = typer.Argument(..., help="Metrics JSON (written atomically)"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU id, or -1 for CPU"),
):
    """Run `spacy evaluate MODEL DATA_PATH` and print all its scores, including the ones
    of the question_answerer, translator and summarizer."""
    existing_file(data_path, "DATA_PATH")
    output_file(output_path, "OUTPUT_PATH")
    load_pipeline(model, "MODEL")  # a bad model is one line here, not a traceback below
    evaluate = importlib.import_module("spacy.cli.evaluate").evaluate
    scores = evaluate(model, data_path, output=None, use_gpu=gpu_id, silent=False)
    write_json_atomic(scores, output_path)
    rows = score_rows(scores)
    if rows:
        Printer().table(rows, header=("Score", "Value"), divider=True, aligns=("l", "r"))
    typer.echo(f"wrote {output_path}")


if __name__ == "__main__":
    app()
