"""Score a question-answering pipeline (or a bare Hugging Face QA model directory) on
SQuAD-format data: exact match / F1, optionally with and without handle_impossible_answer,
and a displaCy page of the predicted answer spans."""

import json
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import spacy
import typer
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example

from spacy_task_pipes.io import write_json_atomic, write_text_atomic
from spacy_task_pipes.qa.data import create_squad_corpus, squad_predictions, squad_scores_by_answerability
from spacy_task_pipes.cli import at_least, existing_file, fail, load_pipeline, output_file, user_errors
from spacy_task_pipes.hf import get_hf_shim

app = typer.Typer(add_completion=False)


def check_inference_options(quantize: str, backend: str) -> None:
    """One line before anything is loaded; the question_answerer runs on torch or onnxruntime."""
    if quantize not in ("", "int8", "none"):
        fail(f"--quantize: {quantize!r} is not one of int8, none.")
    if backend not in ("", "torch", "onnxruntime"):
        fail(f"--backend: {backend!r} is not one of torch, onnxruntime (the question_answerer's runtimes).")


def load_qa_pipeline(model: str, max_seq_length: int, doc_stride: int, quantize: str = "",
                     backend: str = "") -> Language:
    """A saved spaCy pipeline, or a blank English one around an HF QA model directory, with
    the CPU inference settings ``quantize`` ("int8", "none": float32) and ``backend``
    ("torch", "onnxruntime"); empty: the pipeline's own (a bare HF directory: float torch)."""
    path = Path(model)
    if (path / "config.cfg").exists() or not (path / "config.json").exists():
        return load_pipeline(model, "MODEL", quantize=quantize, backend=backend)
    model_block: Dict[str, Any] = {"@architectures": "spacy_task_pipes.QuestionAnswering.v1", "name": str(path)}
    if quantize:
        model_block["quantize"] = None if quantize == "none" else quantize
    if backend:
        model_block["backend"] = backend
    nlp = spacy.blank("en")
    try:
        nlp.add_pipe("question_answerer", config={
            "model": model_block, "max_seq_length": max_seq_length, "doc_stride": doc_stride,
        })
    except ImportError as err:  # the backend's package is missing: the message says what to install
        fail(f"--backend: {err}")
    nlp.initialize()
    return nlp


def render_answers(docs: Sequence[Doc], limit: int) -> str:
    from spacy import displacy

    shown = []
    for doc in docs[:limit]:
        spans = []
        for span, question in zip(doc.spans.get("answers", []), doc.spans["answers"].attrs.get("questions", [])):
            spans.append(Span(doc, span.start, span.end, label=question[:60]))
        doc.spans["answers_html"] = spans
        shown.append(doc)
    return displacy.render(shown, style="span", options={"spans_key": "answers_html"}, page=True)


def answer_examples(nlp: Language, examples: Sequence[Example], batch_size: int,
                    desc: str) -> Tuple[List[Doc], float]:
    """Answer the questions of every example (a progress bar on stderr); the docs carry the
    questions again for scoring. Returns the docs and the seconds ``nlp.pipe`` took."""
    from tqdm import tqdm

    start = time.perf_counter()
    inputs = (eg.predicted.copy() for eg in examples)
    docs = list(tqdm(nlp.pipe(inputs, batch_size=batch_size), total=len(examples), desc=desc, unit="context",
                     leave=False))
    seconds = time.perf_counter() - start
    for doc, eg in zip(docs, examples):
        doc._.questions = eg.predicted._.questions
    return docs, seconds


def score_answers(docs: Sequence[Doc], examples: Sequence[Example], seconds: float) -> Dict[str, Any]:
    """SQuAD EM/F1 over all questions, and the has_ans/no_ans breakdown on SQuAD 2.0-style data."""
    scores = squad_scores_by_answerability(
        *squad_predictions(Example(d, eg.reference) for d, eg in zip(docs, examples)))
    out: Dict[str, Any] = {"exact_match": scores["all"]["exact_match"], "f1": scores["all"]["f1"],
                           "seconds": round(seconds, 1)}
    if scores["no_ans"]["questions"]:
        out.update({"has_ans": scores["has_ans"], "no_ans": scores["no_ans"]})
    return out


@app.command()
@user_errors
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
    quantize: str = typer.Option("", "--quantize", help="CPU inference weights: int8, or none (float32); empty: as the pipeline says"),
    backend: str = typer.Option("", "--backend", help="CPU inference runtime: torch or onnxruntime; empty: as the pipeline says"),
) -> None:
    """Answer every question of the data and print SQuAD EM/F1 (0-100) as JSON; on data with
    unanswerable questions also over the answerable (has_ans) and unanswerable (no_ans) ones."""
    existing_file(data_path, "DATA_PATH")
    output_file(output_path, "OUTPUT_PATH")
    at_least(1, batch_size=batch_size, max_seq_length=max_seq_length, html_docs=html_docs)
    at_least(0, limit=limit, doc_stride=doc_stride)
    if html:
        output_file(html, "--html")
    if impossible not in ("config", "on", "off", "both"):
        fail(f"--handle-impossible: {impossible!r} is not one of config, on, off, both.")
    check_inference_options(quantize, backend)
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    try:
        nlp = load_qa_pipeline(model, max_seq_length, doc_stride, quantize, backend)
        examples = list(create_squad_corpus(data_path, limit=limit)(nlp))
    except (ValueError, FileNotFoundError, OSError) as err:
        fail(f"error: {err}")
    qa = nlp.get_pipe("question_answerer")
    if null_threshold is not None:
        qa.cfg["null_score_diff_threshold"] = null_threshold
    settings: List[Optional[bool]] = {"config": [None], "on": [True], "off": [False], "both": [False, True]}[impossible]
    shim = get_hf_shim(qa.model)
    result = {"model": model, "quantize": shim.quantize, "backend": shim.backend,
              "data": str(data_path), "contexts": len(examples),
              "null_score_diff_threshold": qa.cfg["null_score_diff_threshold"],
              "questions": sum(len(eg.reference._.gold_answers) for eg in examples)}
    docs: List[Doc] = []
    for setting in settings:
        if setting is not None:
            qa.cfg["handle_impossible_answer"] = setting
        key = f"handle_impossible_answer={qa.cfg['handle_impossible_answer']}"
        docs, seconds = answer_examples(nlp, examples, batch_size, desc=key)
        result[key] = score_answers(docs, examples, seconds)
    write_json_atomic(result, output_path)
    if html is not None:
        write_text_atomic(render_answers(docs, html_docs), html)
    typer.echo(json.dumps(result))


if __name__ == "__main__":
    app()
