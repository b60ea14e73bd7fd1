"""NER speed on CPU: the trained pipeline vs. one with the same components from `spacy init config`."""

import json
import statistics
import time
from pathlib import Path

import typer
from spacy.cli.init_config import init_config
from spacy.util import load_model_from_config

from spacy_task_pipes.io import read_texts, write_json_atomic
from spacy_task_pipes.cli import at_least, existing_file, load_pipeline, output_file, user_errors

app = typer.Typer(add_completion=False)


def words_per_second(nlp, texts, batch_size: int, n_words: int) -> float:
    start = time.perf_counter()
    for _ in nlp.pipe(texts, batch_size=batch_size):
        pass
    return n_words / (time.perf_counter() - start)


@app.command()
@user_errors
def main(
    model: str = typer.Argument(..., help="Trained pipeline (path or package name)"),
    texts_path: Path = typer.Argument(..., help="Raw texts (JSONL with 'text', or .txt)"),
    output_path: Path = typer.Argument(..., help="Output JSON"),
    batch_size: int = typer.Option(256, "--batch-size"),
    repeats: int = typer.Option(5, "--repeats", help="Timed passes per pipeline (interleaved); medians reported"),
    copies: int = typer.Option(4, "--copies", help="Repeat the text list this many times per pass"),
):
    """Words per second through nlp.pipe for both pipelines in the same process,
    interleaved pass by pass, with the ratio of the medians."""
    existing_file(texts_path, "TEXTS_PATH")
    output_file(output_path, "OUTPUT_PATH")
    at_least(1, batch_size=batch_size, repeats=repeats, copies=copies)
    ours = load_pipeline(model, "MODEL")
    # spaCy's own components are compared with their `spacy init config` twins; ours that
    # score their output (entity_confidence) are timed separately, as their cost
    extras = [name for name in ours.pipe_names if ours.get_pipe_meta(name).factory == "entity_confidence"]
    components = [name for name in ours.pipe_names if name != "tok2vec" and name not in extras]
    config = init_config(lang=ours.lang, pipeline=components, optimize="efficiency", gpu=False)
    reference = load_model_from_config(config, auto_fill=True, validate=True)
    for name in components:
        for label in ours.get_pipe(name).labels:
            reference.get_pipe(name).add_label(label)
    reference.initialize()
    texts = read_texts(texts_path) * copies
    n_words = sum(len(d) for d in ours.tokenizer.pipe(texts))
    runs = {"ours": [], "init_config": []}
    if extras:
        runs["ours_with_" + "_".join(extras)] = []
    for nlp in (ours, reference):  # warm-up
        words_per_second(nlp, texts[:batch_size], batch_size, 1)
    for _ in range(repeats):
        with ours.select_pipes(disable=extras):
            runs["ours"].append(words_per_second(ours, texts, batch_size, n_words))
        runs["init_config"].append(words_per_second(reference, texts, batch_size, n_words))
        if extras:
            runs["ours_with_" + "_".join(extras)].append(words_per_second(ours, texts, batch_size, n_words))
    result = {
        "texts": len(texts),
        "words": n_words,
        "batch_size": batch_size,
        "pipeline": ours.pipe_names,
        "ours_wps_median": round(statistics.median(runs["ours"])),
        "init_config_wps_median": round(statistics.median(runs["init_config"])),
        "ratio_ours_vs_init_config": round(statistics.median(runs["ours"]) / statistics.median(runs["init_config"]), 3),
        **{f"{key}_wps_median": round(statistics.median(vals)) for key, vals in runs.items() if key.startswith("ours_with_")},
        "runs": {k: [round(v) for v in vals] for k, vals in runs.items()},
    }
    write_json_atomic(result, output_path)
    typer.echo(json.dumps({k: v for k, v in result.items() if k != "runs"}))


if __name__ == "__main__":
    app()
