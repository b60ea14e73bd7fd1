"""`spacy evaluate` that also shows our components' scores (EM/F1, BLEU/chrF, ROUGE).

spaCy's own table lists only the scores it knows (TOK, NER P/R/F, SPEED, ...); the
QA and seq2seq scorers' figures end up in the JSON alone. This evaluates as spaCy's
evaluate does (same steps, same table, same JSON), on the pipeline loaded with the CPU
inference settings of --quantize/--backend where given, writes the JSON atomically and
prints every score. The settings the task components ran with are in the JSON under
"inference" (pipelines with a question_answerer, translator or summarizer only)."""

import re
from pathlib import Path
from typing import Any, Dict, List, Tuple

import typer
from wasabi import Printer

from spacy_task_pipes.cli import check_inference_options, existing_file, load_pipeline, output_file, user_errors
from spacy_task_pipes.io import write_json_atomic

app = typer.Typer(add_completion=False)

# spaCy prints these itself
_SHOWN_BY_SPACY = {"token_acc", "ents_p", "ents_r", "ents_f", "speed", "sents_p", "sents_r", "sents_f"}

# the table of `spacy evaluate` (spacy/cli/evaluate.py, spaCy 3.8): label -> score key
_SPACY_METRICS = {
    "TOK": "token_acc", "TAG": "tag_acc", "POS": "pos_acc", "MORPH": "morph_acc", "LEMMA": "lemma_acc",
    "UAS": "dep_uas", "LAS": "dep_las", "NER P": "ents_p", "NER R": "ents_r", "NER F": "ents_f",
    "TEXTCAT": "cats_score", "SENT P": "sents_p", "SENT R": "sents_r", "SENT F": "sents_f",
    "SPAN P": "spans_sc_p", "SPAN R": "spans_sc_r", "SPAN F": "spans_sc_f", "SPEED": "speed",
}


def inference_settings(nlp: Any) -> Dict[str, Dict[str, Any]]:
    """``{component: {"quantize", "backend"}}``: the CPU inference settings each transformer
    task component of ``nlp`` runs with (``{}`` when it has none)."""
    from spacy_task_pipes.hf import SafetensorsHFShim

    settings = {}
    for name, pipe in nlp.pipeline:
        model = getattr(pipe, "model", None)
        shims = [shim for node in (model.walk() if model is not None and hasattr(model, "walk") else [])
                 for shim in node.shims if isinstance(shim, SafetensorsHFShim)]
        if shims:
            settings[name] = {"quantize": shims[0].quantize, "backend": shims[0].backend}
    return settings


def spacy_evaluate(model: str, data_path: Path, use_gpu: int, quantize: str, backend: str) -> Dict[str, Any]:
    """``spacy.cli.evaluate.evaluate(model, data_path, use_gpu=..., silent=False)``, step for
    step, on the pipeline loaded by :func:`load_pipeline` with the inference settings."""
    from spacy.cli._util import setup_gpu
    from spacy.cli.evaluate import handle_scores_per_type
    from spacy.training import Corpus
    from thinc.api import fix_random_seed

    msg = Printer(no_print=False, pretty=True)
    fix_random_seed()
    if use_gpu >= 0:
        setup_gpu(use_gpu, silent=False)  # before loading, so that the weights go to the GPU
    # a bad model or setting is one line (before spaCy's notices on the CPU), not a traceback
    nlp = load_pipeline(model, "MODEL", quantize=quantize, backend=backend)
    if use_gpu < 0:
        setup_gpu(use_gpu, silent=False)
    corpus = Corpus(data_path, gold_preproc=False)
    dev_dataset = list(corpus(nlp))
    scores = nlp.evaluate(dev_dataset)
    results = {}
    data = {}
    for metric, key in _SPACY_METRICS.items():
        if key in scores:
            if key == "cats_score":
                metric = metric + " (" + scores.get("cats_score_desc", "unk") + ")"
            if isinstance(scores[key], (int, float)):
                results[metric] = f"{scores[key]:.0f}" if key == "speed" else f"{scores[key] * 100:.2f}"
            else:
                results[metric] = "-"
            data[re.sub(r"[\s/]", "_", key.lower())] = scores[key]
    msg.table(results, title="Results")
    scores = handle_scores_per_type(scores, data, spans_key="sc", silent=False)
    settings = inference_settings(nlp)
    if settings:
        scores["inference"] = settings
    return scores


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
    quantize: str = typer.Option("", "--quantize", help="CPU inference of the task components: int8, or none for float32; empty: as the pipeline says"),
    backend: str = typer.Option("", "--backend", help="CPU runtime of the task components: torch, onnxruntime (QA), ctranslate2 (translator, summarizer) or a comma list, each component taking the one it runs on; empty: as the pipeline says"),
):
    """Evaluate as `spacy evaluate MODEL DATA_PATH` does and print all its scores, including
    the ones of the question_answerer, translator and summarizer."""
    existing_file(data_path, "DATA_PATH")
    output_file(output_path, "OUTPUT_PATH")
    check_inference_options(quantize, backend)
    scores = spacy_evaluate(model, data_path, gpu_id, quantize, backend)
    write_json_atomic(scores, output_path)
    rows = score_rows(scores)
    if rows:
        Printer().table(rows, header=("Score", "Value"), divider=True, aligns=("l", "r"))
    typer.echo(f"wrote {output_path}")


if __name__ == "__main__":
    app()
