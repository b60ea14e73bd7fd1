"""Put the rules' patterns back into a trained NER pipeline as a dictionary, where the gold dev set says it helps.

    python scripts/add_dictionary.py training/en/ner/model-best assets/en/patterns.jsonl corpus/en/gold_dev.spacy

The dictionary is spaCy's ``span_ruler``, last in the pipeline; where one of its matches and a
predicted entity overlap, the longer span wins and at equal length the match (as bootstrap
resolves overlapping matches), and the model's other entities stay
(:mod:`spacy_task_pipes.ner.dictionary`). With ``--choice dev`` (the default) it is
kept only if it raises F on the gold dev set by more than ``--min-gain``; ``always`` and
``never`` decide regardless. The dev scores with and without it are printed and written to
``--report``. Give the patterns bootstrap used (after ``filter_patterns.py`` where that ran).
"""

from pathlib import Path
from typing import Optional

import typer
from spacy.tokens import DocBin

from spacy_task_pipes.cli import (
    check_encoding,
    existing_file,
    fail,
    load_pipeline,
    output_file,
    phrase_attr_option,
    user_errors,
)
from spacy_task_pipes.io import save_pipeline, write_json_atomic
from spacy_task_pipes.ner.bootstrap import PHRASE_ATTRS, load_patterns
from spacy_task_pipes.ner.dictionary import CHOICES, DICTIONARY_NAME, choose_dictionary

app = typer.Typer(add_completion=False)


@app.command()
@user_errors
def main(
    model: str = typer.Argument(..., help="Trained NER pipeline (path); written back in place unless --output"),
    patterns_path: Path = typer.Argument(..., help="EntityRuler-style JSONL patterns (the ones bootstrap used)"),
    dev_path: Path = typer.Argument(..., help="Gold dev .spacy file (the one that picked model-best)"),
    output: Optional[Path] = typer.Option(None, "--output", help="Write the pipeline here instead"),
    choice: str = typer.Option(
        "dev", "--choice", help=f"{', '.join(CHOICES)}: keep the dictionary where it raises dev F, always, or never"),
    min_gain: float = typer.Option(0.0, "--min-gain", help="With --choice dev: the dev F it must gain, more than this"),
    phrase_attr: str = typer.Option(
        "LOWER", "--phrase-attr",
        help=f"As in bootstrap: the attribute phrase patterns match on ({', '.join(PHRASE_ATTRS)})"),
    report: Optional[Path] = typer.Option(None, "--report", help="JSON with the dev scores with and without it"),
    encoding: str = typer.Option("utf-8", "--encoding", help="Encoding of the pattern file"),
) -> None:
    """The pipeline is saved atomically: a kill leaves the old pipeline or the new one."""
    existing_file(patterns_path, "PATTERNS_PATH")
    existing_file(dev_path, "DEV_PATH")
    if choice not in CHOICES:
        fail(f"--choice: use one of {', '.join(CHOICES)}; got {choice!r}.")
    if not 0.0 <= min_gain < 1.0:
        fail(f"--min-gain: use a number in [0, 1), got {min_gain}.")
    phrase_attr = phrase_attr_option(phrase_attr)
    check_encoding(encoding)
    if report is not None:
        output_file(report, "--report")
    patterns = load_patterns(patterns_path, encoding=encoding)
    nlp = load_pipeline(model, "MODEL")
    gold = list(DocBin().from_disk(dev_path).get_docs(nlp.vocab))
    if not gold:
        fail(f"DEV_PATH: {dev_path} holds no docs; give the gold dev set.")
    had = DICTIONARY_NAME in nlp.pipe_names
    result = choose_dictionary(nlp, patterns, gold, choice=choice, phrase_attr=phrase_attr, min_gain=min_gain)
    # the folder changes only where the pipeline did (or a new one is asked for)
    target = (output or Path(model)) if (result.kept or had or output is not None) else None
    if target is not None:
        save_pipeline(nlp, target)
    for key in ("without", "with"):
        row = result.scores[key]
        typer.echo(f"dev, {key} the dictionary: P={row['p']:.3f} R={row['r']:.3f} F={row['f']:.3f}")
    if report is not None:
        write_json_atomic({"model": str(model), "patterns": str(patterns_path), "dev": str(dev_path),
                           "phrase_attr": phrase_attr, **result.to_dict()}, report)
    verdict = "added last" if result.kept else "left out"
    reason = f"dev F {result.gain:+.3f}" + (f", more than {min_gain}" if result.kept and choice == "dev" else "")
    typer.echo(f"dictionary ({len(patterns)} patterns) {verdict} ({reason}, --choice {choice}); pipeline at "
               f"{target or model} ({', '.join(nlp.pipe_names)})")


if __name__ == "__main__":
    app()
