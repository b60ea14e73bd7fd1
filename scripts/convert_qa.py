"""Convert SQuAD-format data (v1.1/v2.0 JSON file, or a `datasets` hub name) to a DocBin."""

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import typer

from spacy_task_pipes.cli import blank_pipeline, check_encoding, existing_file, fail, output_file, user_errors
from spacy_task_pipes.io import write_docbin_atomic
from spacy_task_pipes.qa.data import (
    AnswerRepair,
    hf_records_to_squad,
    iter_squad_paragraphs,
    load_squad_data,
    parse_article_slice,
    squad_docs_from_paragraphs,
)

app = typer.Typer(add_completion=False)


def _check_arguments(output_path: Path, input_path: Optional[Path], hf_dataset: str, encoding: str, max_questions: int) -> None:
    """Every argument mistake is found before any work is done (one line, exit code 2)."""
    if (input_path is None) == (not hf_dataset):
        fail("Give exactly one of --input FILE or --hf-dataset NAME.")
    if input_path is not None:
        existing_file(input_path, "--input")
    output_file(output_path, "OUTPUT_PATH")
    if max_questions < 0:
        fail(f"--max-questions: must be 0 (all) or more, got {max_questions}.")
    check_encoding(encoding)


def _load_hub(hf_dataset: str, hf_config: str, split: str) -> Tuple[Dict[str, Any], str]:
    try:
        import datasets
    except ImportError:
        fail("--hf-dataset needs the `datasets` package: pip install datasets")
    source = f"{hf_dataset}[{split}]"
    try:
        rows = datasets.load_dataset(hf_dataset, hf_config or None, split=split)
    except Exception as err:  # network, unknown name or split
        raise ValueError(
            f"Could not load the dataset {hf_dataset!r} (split {split!r}): {err}. Check the "
            "name and split, or download the SQuAD JSON (`spacy project assets --extra`) "
            "and pass it with --input."
        ) from None
    return hf_records_to_squad(rows, source), source


def _report_repairs(repairs: List[AnswerRepair]) -> None:
    for repair in repairs:
        typer.secho(f"repaired: {repair}", fg="yellow", err=True)
    if repairs:
        typer.secho(f"{len(repairs)} answer(s) moved to the occurrence of their text nearest to answer_start.",
                    fg="yellow", err=True)


@app.command()
@user_errors
def main(
    output_path: Path = typer.Argument(..., help="Output .spacy file (written atomically)"),
    input_path: Optional[Path] = typer.Option(None, "--input", "-i", help="SQuAD v1.1/v2.0 JSON file"),
    hf_dataset: str = typer.Option("", "--hf-dataset", help="Or a `datasets` hub name, e.g. squad or squad_v2 (needs network)"),
    hf_config: str = typer.Option("", "--hf-config", help="Dataset config name, if any"),
    split: str = typer.Option("validation", "--split", help="Dataset split (with --hf-dataset)"),
    articles: str = typer.Option("", "--articles", help="Article slice START:END, e.g. 0:40 or 40: (empty: all)"),
    max_questions: int = typer.Option(0, "--max-questions", help="Stop after this many questions (0: all)"),
    split_questions: bool = typer.Option(False, "--split-questions", help="One doc per question (batch sizes then count questions)"),
    lang: str = typer.Option("en", "--lang", "-l", help="Language of the blank tokenizer"),
    encoding: str = typer.Option("utf-8", "--encoding", help="Encoding of the --input file"),
) -> None:
    """Write SQuAD paragraphs as context Docs with their questions and gold answers
    (doc._.questions, doc._.gold_answers) for `spacy train configs/qa.cfg`.
    Errors name the file and record and exit with code 2; nothing is written on error.
    Answers moved to the occurrence of their text nearest to answer_start are reported."""
    _check_arguments(output_path, input_path, hf_dataset, encoding, max_questions)
    article_slice = parse_article_slice(articles)
    if input_path is not None:
        data, source = load_squad_data(input_path, encoding), str(input_path)
    else:
        data, source = _load_hub(hf_dataset, hf_config, split)
    repairs: List[AnswerRepair] = []
    paragraphs = list(iter_squad_paragraphs(data, source, article_slice, max_questions, repairs))
    docs = list(squad_docs_from_paragraphs(blank_pipeline(lang), paragraphs, split_questions))
    if not docs:
        fail(f"{source}: no paragraphs selected (--articles {articles!r}); nothing written.")
    n = write_docbin_atomic(docs, output_path, store_user_data=True)
    _report_repairs(repairs)
    n_q = sum(len(p["qas"]) for p in paragraphs)
    n_imp = sum(qa["is_impossible"] for p in paragraphs for qa in p["qas"])
    n_articles = len(range(len(data["data"]))[article_slice])
    typer.echo(json.dumps({"source": source, "articles": n_articles, "paragraphs": len(paragraphs),
                           "questions": n_q, "unanswerable": n_imp, "docs": n,
                           "repaired_answers": len(repairs), "repairs": [str(r) for r in repairs],
                           "output": str(output_path)}))


if __name__ == "__main__":
    app()
