"""Evaluate a trained NER pipeline on hand-labelled data: metrics JSON + displaCy HTML."""

from pathlib import Path
from typing import Optional

import spacy
import typer
from spacy.tokens import DocBin

from spacy_task_pipes.ner.bootstrap import PHRASE_ATTRS, RuleMatcher, load_patterns
from spacy_task_pipes.io import write_json_atomic, write_text_atomic
from spacy_task_pipes.ner.evaluation import evaluate_ner, render_comparison
from spacy_task_pipes.cli import existing_file, load_pipeline, output_file, phrase_attr_option, user_errors

app = typer.Typer(add_completion=False)


@app.command()
@user_errors
def main(
    model: str = typer.Argument(..., help="Trained pipeline (path or package name)"),
    gold_path: Path = typer.Argument(..., help="Hand-labelled .spacy file"),
    metrics_path: Path = typer.Argument(..., help="Output metrics JSON"),
    html_path: Optional[Path] = typer.Option(None, "--html", help="Output displaCy HTML of predictions"),
    patterns_path: Optional[Path] = typer.Option(
        None, "--patterns", help="Patterns used for bootstrapping: adds the rules baseline and recall beyond the rules"
    ),
    phrase_attr: str = typer.Option(
        "LOWER", "--phrase-attr", help=f"As in bootstrap: the attribute phrase patterns match on ({', '.join(PHRASE_ATTRS)})"
    ),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU id, or -1 for CPU"),
):
    """Overall and per-label P/R/F of the model (and of the rules alone), and the model's
    recall on gold mentions the rules match vs. those they miss."""
    existing_file(gold_path, "GOLD_PATH")
    output_file(metrics_path, "METRICS_PATH")
    if patterns_path:
        existing_file(patterns_path, "--patterns")
    phrase_attr = phrase_attr_option(phrase_attr)
    if html_path:
        output_file(html_path, "--html")
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    nlp = load_pipeline(model, "MODEL")
    gold_docs = list(DocBin().from_disk(gold_path).get_docs(nlp.vocab))
    matcher = RuleMatcher(nlp, load_patterns(patterns_path), phrase_attr=phrase_attr) if patterns_path else None
    metrics, pred_docs = evaluate_ner(nlp, gold_docs, matcher)
    metrics["model_path"] = str(model)
    metrics["gold_path"] = str(gold_path)
    write_json_atomic(metrics, metrics_path)
    m = metrics["model"]
    typer.echo(f"model: P={m['p']:.3f} R={m['r']:.3f} F={m['f']:.3f} on {metrics['gold_entities']} gold entities in {metrics['docs']} docs")
    for threshold, row in (metrics.get("by_confidence") or {}).items():
        typer.echo(f"  confidence >= {threshold}: P={row['p']:.3f} R={row['r']:.3f} F={row['f']:.3f} ({row['entities']} entities)")
    if matcher is not None:
        r, b = metrics["rules"], metrics["beyond_rules"]
        typer.echo(f"rules: P={r['p']:.3f} R={r['r']:.3f} F={r['f']:.3f}")
        typer.echo(
            f"model recall on mentions the rules miss: {b['model_recall_on_unmatched']} "
            f"({b['gold_mentions_unmatched_by_rules']} mentions); on those they match: {b['model_recall_on_matched']}"
        )
    if html_path is not None:
        write_text_atomic(render_comparison(pred_docs, gold_docs, title=f"{model} on {gold_path.name}"), html_path)
        typer.echo(f"wrote {metrics_path} and {html_path}")


if __name__ == "__main__":
    app()
