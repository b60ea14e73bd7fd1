"""Score a question-answering pipeline (or a bare Hugging Face QA model directory) on
SQuAD-format data: exact match / F1, optionally with and without handle_impossible_answer,
and a displaCy page of the predicted answer spans."""

import json
import time
from pathlib import Path
from typing import List, Optional

import spacy
import typer
from spacy.tokens import Span

from spacy_task_pipes.io import write_json_atomic, write_text_atomic
from spacy_task_pipes.qa_training import create_squad_corpus, squad_predictions, squad_scores_by_answerability
from spacy_task_pipes.question_answering import ANSWERS_KEY

app = typer.Typer(add_completion=False)


def load_qa_pipeline(model: str, max_seq_length: int, doc_stride: int):
    """A saved spaCy pipeline, or a blank English one around an HF QA model directory."""
    path = Path(model)
    if (path / "config.cfg").exists() or not (path / "config.json").exists():
        return spacy.load(model)
    nlp = spacy.blank("en")
    nlp.add_pipe("question_answerer", config={
        "model": {"@architectures": "spacy_task_pipes.QuestionAnswering.v1", "name": str(path)},
        "max_seq_length": max_seq_length, "doc_stride": doc_stride,
    })
    nlp.initialize()
    return nlp


def render_answers(docs, limit: int) -> str:
    from spacy import displacy

    shown = []
    for doc in docs[:limit]:
        spans = []
        for span, question in zip(doc.spans.get("answers", []), doc.spans["answers"].attrs.get("questions", [])):
            spans.append(Span(doc, span.start, span.end, label=question[:60]))
        doc.spans["answers_html"] = spans
        shown.append(doc)
    return displacy.render(shown, style="span", options={"spans_key": "answers_html"}, page=True)


@app.command()
def main(
    model: str = typer.Argument(..., help="spaCy pipeline (dir or package) or an HF QA model directory"),
    data_path: Path = typer.Argument(..., help="SQuAD JSON or a .spacy file from scripts/convert_qa.py"),
    output_path: Path = typer.Argument(..., help="Metrics JSON"),
    html: Optional[Path] = typer.Option(None, "--html", help="Write a displaCy page of the answers of the first docs"),
    html_docs: int = typer.Option(20, "--html-docs"),
    impossible: str = typer.Option("config", "--handle-impossible", help="config | on | off | both"),
    null_threshold: Optional[float] = typer.Option(None, "--null-threshold", help="null_score_diff_threshold: an answer is empty when null score > best span score + this (default: the pipeline's config)"),
    max_seq_length: int = typer.Option(256, "--max-seq-length", help="For an HF model directory only"),
    doc_stride: int = typer.Option(128, "--doc-stride", help="For an HF model directory only"),
    batch_size: int = typer.Option(16, "--batch-size", help="Docs per nlp.pipe batch"),
    limit: int = typer.Option(0, "--limit", help="Contexts to read (0: all)"),
    gpu_id: int = typer.Option(-1, "--gpu-id"),
):
    """Answer every question of the data and print SQuAD EM/F1 (0-100) as JSON; on data with
    unanswerable questions also over the answerable (has_ans) and unanswerable (no_ans) ones."""
    if impossible not in ("config", "on", "off", "both"):
        typer.secho("--handle-impossible must be config, on, off or both", fg="red", err=True)
        raise typer.Exit(2)
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    try:
        nlp = load_qa_pipeline(model, max_seq_length, doc_stride)
        examples = list(create_squad_corpus(data_path, limit=limit)(nlp))
    except (ValueError, FileNotFoundError, OSError) as err:
        typer.secho(str(err), fg="red", err=True)
        raise typer.Exit(1)
    qa = nlp.get_pipe("question_answerer")
    if null_threshold is not None:
        qa.cfg["null_score_diff_threshold"] = null_threshold
    settings: List[Optional[bool]] = {"config": [None], "on": [True], "off": [False], "both": [False, True]}[impossible]
    result = {"model": model, "data": str(data_path), "contexts": len(examples),
              "null_score_diff_threshold": qa.cfg["null_score_diff_threshold"],
              "questions": sum(len(eg.reference._.gold_answers) for eg in examples)}
    docs = []
    for setting in settings:
        if setting is not None:
            qa.cfg["handle_impossible_answer"] = setting
        start = time.perf_counter()
        docs = list(nlp.pipe((eg.predicted.copy() for eg in examples), batch_size=batch_size))
        seconds = time.perf_counter() - start
        for doc, eg in zip(docs, examples):
            doc._.questions = eg.predicted._.questions
        scores = squad_scores_by_answerability(
            *squad_predictions(spacy.training.Example(d, eg.reference) for d, eg in zip(docs, examples)))
        key = f"handle_impossible_answer={qa.cfg['handle_impossible_answer']}"
        result[key] = {"exact_match": scores["all"]["exact_match"], "f1": scores["all"]["f1"],
                       "seconds": round(seconds, 1)}
        if scores["no_ans"]["questions"]:  # SQuAD 2.0-style data: the official breakdown too
            result[key].update({"has_ans": scores["has_ans"], "no_ans": scores["no_ans"]})
    write_json_atomic(result, output_path)
    if html is not None:
        write_text_atomic(render_answers(docs, html_docs), html)
    typer.echo(json.dumps(result))


if __name__ == "__main__":
    app()
