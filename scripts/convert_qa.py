"""Convert SQuAD-format data (v1.1/v2.0 JSON file, or a `datasets` hub name) to a DocBin."""

import json
from pathlib import Path
from typing import Optional

import spacy
import typer

from spacy_task_pipes.io import write_docbin_atomic
from spacy_task_pipes.qa_training import (
    hf_records_to_squad,
    iter_squad_paragraphs,
    load_squad_data,
    parse_article_slice,
    squad_docs_from_paragraphs,
)

app = typer.Typer(add_completion=False)


@app.command()
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
):
    """Write SQuAD paragraphs as context Docs with their questions and gold answers
    (doc._.questions, doc._.gold_answers) for `spacy train configs/qa.cfg`.
    Errors name the file and record; nothing is written on error."""
    if (input_path is None) == (not hf_dataset):
        typer.secho("Give exactly one of --input FILE or --hf-dataset NAME.", fg="red", err=True)
        raise typer.Exit(2)
    try:
        article_slice = parse_article_slice(articles)
        if input_path is not None:
            source = str(input_path)
            data = load_squad_data(input_path)
        else:
            import datasets

            source = f"{hf_dataset}[{split}]"
            try:
                rows = datasets.load_dataset(hf_dataset, hf_config or None, split=split)
            except Exception as err:  # network, unknown name or split
                raise ValueError(
                    f"Could not load the dataset {hf_dataset!r} (split {split!r}): {err}. Check the "
                    "name and split, or download the SQuAD JSON (`spacy project assets --extra`) "
                    "and pass it with --input."
                ) from None
            data = hf_records_to_squad(rows, source)
        nlp = spacy.blank(lang)
        paragraphs = list(iter_squad_paragraphs(data, source, article_slice, max_questions))
        docs = list(squad_docs_from_paragraphs(nlp, paragraphs, split_questions))
    except (ValueError, FileNotFoundError) as err:
        typer.secho(str(err), fg="red", err=True)
        raise typer.Exit(1)
    if not docs:
        typer.secho(f"{source}: no paragraphs selected (--articles {articles!r}); nothing written.", fg="red", err=True)
        raise typer.Exit(1)
    n = write_docbin_atomic(docs, output_path, store_user_data=True)
    n_q = sum(len(p["qas"]) for p in paragraphs)
    n_imp = sum(qa["is_impossible"] for p in paragraphs for qa in p["qas"])
    n_articles = len(range(len(data["data"]))[article_slice])
    typer.echo(json.dumps({"source": source, "articles": n_articles, "paragraphs": len(paragraphs),
                           "questions": n_q, "unanswerable": n_imp, "docs": n, "output": str(output_path)}))


if __name__ == "__main__":
    app()
