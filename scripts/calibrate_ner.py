"""Give a trained NER pipeline its entity confidences: add the ``entity_confidence``
component after ``ner``, report P/R/F on a gold dev set per confidence threshold, and
set its ``min_confidence`` (entities below it are dropped; 0 keeps every entity) to a
given value or, with ``--min-confidence dev``, to the threshold that scores best on the
dev set."""

from pathlib import Path
from typing import Optional

import typer
from spacy.tokens import DocBin

from spacy_task_pipes.cli import existing_file, fail, load_pipeline, output_file, user_errors
from spacy_task_pipes.io import save_pipeline, write_json_atomic
from spacy_task_pipes.ner.evaluation import evaluate_ner

app = typer.Typer(add_completion=False)
DEFAULT_THRESHOLDS = "0,0.5,0.7,0.8,0.9,0.95,0.99"


def parse_thresholds(value: str) -> list:
    try:
        thresholds = sorted({float(v) for v in value.split(",") if v.strip()})
    except ValueError:
        fail(f"--thresholds: use comma-separated numbers between 0 and 1, e.g. {DEFAULT_THRESHOLDS}; got {value!r}.")
    if not thresholds or not all(0.0 <= t <= 1.0 for t in thresholds):
        fail(f"--thresholds: use comma-separated numbers between 0 and 1, e.g. {DEFAULT_THRESHOLDS}; got {value!r}.")
    return thresholds


@app.command()
@user_errors
def main(
    model: str = typer.Argument(..., help="Trained NER pipeline (path); written back in place unless --output"),
    dev_path: Path = typer.Argument(..., help="Gold dev .spacy file (the one that picked model-best)"),
    output: Optional[Path] = typer.Option(None, "--output", help="Write the calibrated pipeline here instead"),
    thresholds: str = typer.Option(DEFAULT_THRESHOLDS, "--thresholds", help="Candidate thresholds, comma-separated"),
    report: Optional[Path] = typer.Option(None, "--report", help="JSON with P/R/F on the dev set per threshold"),
    ner_name: str = typer.Option("ner", "--ner", help="Name of the NER component"),
    min_confidence: str = typer.Option(
        "dev", "--min-confidence", help="A number in [0, 1], or 'dev': the candidate threshold with the best dev F"
    ),
) -> None:
    """The pipeline is saved atomically: a kill leaves the old pipeline or the new one."""
    existing_file(dev_path, "DEV_PATH")
    candidates = parse_thresholds(thresholds)
    fixed = None
    if min_confidence != "dev":
        try:
            fixed = float(min_confidence)
        except ValueError:
            fixed = -1.0
        if not 0.0 <= fixed <= 1.0:
            fail(f"--min-confidence: use a number between 0 and 1 or 'dev'; got {min_confidence!r}.")
        candidates = sorted(set(candidates) | {fixed})
    if report is not None:
        output_file(report, "--report")
    nlp = load_pipeline(model, "MODEL")
    if ner_name not in nlp.pipe_names or not hasattr(nlp.get_pipe(ner_name), "moves"):
        fail(f"MODEL: {model} has no transition-based NER component named {ner_name!r} "
             f"(components: {', '.join(nlp.pipe_names)}); pass --ner NAME.")
    if "entity_confidence" in nlp.pipe_names:
        nlp.remove_pipe("entity_confidence")
    gold = list(DocBin().from_disk(dev_path).get_docs(nlp.vocab))
    metrics, _ = evaluate_ner(nlp, gold, thresholds=candidates, ner_name=ner_name)
    table = metrics["by_confidence"]
    best = fixed if fixed is not None else max(candidates, key=lambda t: (table[str(t)]["f"], -t))
    nlp.add_pipe("entity_confidence", after=ner_name, config={"ner_name": ner_name, "min_confidence": best})
    target = output or Path(model)
    save_pipeline(nlp, target)
    for t in candidates:
        row = table[str(t)]
        mark = "  <- min_confidence" if t == best else ""
        typer.echo(f"dev, confidence >= {t}: P={row['p']:.3f} R={row['r']:.3f} F={row['f']:.3f}{mark}")
    if report is not None:
        write_json_atomic({"model": str(model), "dev": str(dev_path), "by_confidence": table, "min_confidence": best}, report)
    typer.echo(f"entity_confidence (min_confidence {best}) added after {ner_name!r}; saved to {target}")


if __name__ == "__main__":
    app()
