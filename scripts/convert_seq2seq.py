"""Convert translation pairs or summarization records to DocBin files for `spacy train`
(configs/translate.cfg, configs/summarize.cfg): the source text is the doc, the target is
stored in doc._.translation / doc._.summary (DocBin with user data)."""

import json
from pathlib import Path
from typing import Iterable, Optional

import spacy
import typer

from spacy_task_pipes.io import write_docbin_atomic
from spacy_task_pipes.seq2seq_data import (
    load_hub_pairs,
    parse_slice,
    read_pairs_file,
    read_parallel_text,
    reference_doc,
    select_pairs,
)

app = typer.Typer(add_completion=False, help=__doc__)

SLICE_HELP = "Record slice START:END (Python slicing, before --limit), e.g. 0:2000 for train and 2000:2300 for dev"


def _write(pairs: Iterable, output_path: Path, field: str, lang: str, source: str, select: str, limit: int) -> None:
    try:
        nlp = spacy.blank(lang)
        docs, n_read, n_empty_target = [], 0, 0
        for src, tgt in select_pairs(pairs, parse_slice(select), limit):
            n_read += 1
            if not src.strip():
                continue
            n_empty_target += not tgt.strip()
            docs.append(reference_doc(nlp, src, tgt, field))
    except (ValueError, FileNotFoundError, ImportError) as err:
        typer.secho(str(err), fg="red", err=True)
        raise typer.Exit(1)
    if not docs:
        typer.secho(f"{source}: no records selected (--slice {select!r}, --limit {limit}); nothing written.",
                    fg="red", err=True)
        raise typer.Exit(1)
    n = write_docbin_atomic(docs, output_path, store_user_data=True)
    typer.echo(json.dumps({"source": source, "field": field, "records": n_read, "docs": n,
                           "skipped_empty_source": n_read - n, "empty_target": n_empty_target,
                           "output": str(output_path)}))


def _check_one(files: bool, hub: str) -> None:
    if files == bool(hub):
        typer.secho("Give exactly one input: a file (--input, or --source and --target) or --hf-dataset NAME.",
                    fg="red", err=True)
        raise typer.Exit(2)


def _pairs_from_file_or_hub(input_path: Optional[Path], hf_dataset: str, hf_config: str, split: str,
                            source_field: str, target_field: str):
    """(pairs, name) from one pairs file (.tsv/.jsonl/.csv) or a `datasets` hub name."""
    if hf_dataset:
        pairs = load_hub_pairs(hf_dataset, config=hf_config, split=split, source_field=source_field,
                               target_field=target_field)
        return pairs, f"{hf_dataset}[{split}]"
    return read_pairs_file(input_path, source_field, target_field), str(input_path)


@app.command("translation")
def translation(
    output_path: Path = typer.Argument(..., help="Output .spacy file (written atomically)"),
    source: Optional[Path] = typer.Option(None, "--source", "-s", help="Source sentences, one a line (e.g. Tatoeba .spa)"),
    target: Optional[Path] = typer.Option(None, "--target", "-t", help="Target sentences, line-aligned with --source (e.g. .por)"),
    input_path: Optional[Path] = typer.Option(None, "--input", "-i", help="Or one pairs file: .tsv (source<TAB>target), .jsonl or .csv"),
    source_field: str = typer.Option("source", "--source-field", help="JSONL/CSV/hub field of the source (nested: translation.es)"),
    target_field: str = typer.Option("target", "--target-field", help="JSONL/CSV/hub field of the target (nested: translation.pt)"),
    hf_dataset: str = typer.Option("", "--hf-dataset", help="Or a `datasets` hub name, e.g. opus_books (needs network)"),
    hf_config: str = typer.Option("", "--hf-config", help="Hub dataset config, e.g. es-pt"),
    split: str = typer.Option("train", "--split", help="Hub dataset split"),
    select: str = typer.Option("", "--slice", help=SLICE_HELP),
    limit: int = typer.Option(0, "--limit", help="At most this many records (0: all)"),
    field: str = typer.Option("translation", "--field", help="Doc extension that holds the target"),
    lang: str = typer.Option("xx", "--lang", "-l", help="Language of the blank tokenizer (the source language)"),
):
    """Parallel text -> DocBin with the target in doc._.translation."""
    if (source is None) != (target is None):
        typer.secho("--source and --target go together: give both line-aligned files.", fg="red", err=True)
        raise typer.Exit(2)
    if source is not None and input_path is not None:
        typer.secho("Give either --input or --source/--target, not both.", fg="red", err=True)
        raise typer.Exit(2)
    _check_one(source is not None or input_path is not None, hf_dataset)
    if source is not None:
        pairs, name = read_parallel_text(source, target), f"{source} + {target}"
    else:
        pairs, name = _pairs_from_file_or_hub(input_path, hf_dataset, hf_config, split, source_field, target_field)
    _write(pairs, output_path, field, lang, name, select, limit)


@app.command("summarization")
def summarization(
    output_path: Path = typer.Argument(..., help="Output .spacy file (written atomically)"),
    input_path: Optional[Path] = typer.Option(None, "--input", "-i", help="JSONL or CSV (with header), or .tsv (text<TAB>summary)"),
    text_field: str = typer.Option("dialogue", "--text-field", help="Field of the text (DialogSum: dialogue; CNN/DM: article)"),
    summary_field: str = typer.Option("summary", "--summary-field", help="Field of the reference summary (DialogSum test: summary1)"),
    hf_dataset: str = typer.Option("", "--hf-dataset", help="Or a `datasets` hub name, e.g. knkarthick/dialogsum (needs network)"),
    hf_config: str = typer.Option("", "--hf-config", help="Hub dataset config, e.g. 3.0.0 for cnn_dailymail"),
    split: str = typer.Option("train", "--split", help="Hub dataset split"),
    select: str = typer.Option("", "--slice", help=SLICE_HELP),
    limit: int = typer.Option(0, "--limit", help="At most this many records (0: all)"),
    field: str = typer.Option("summary", "--field", help="Doc extension that holds the summary"),
    lang: str = typer.Option("en", "--lang", "-l", help="Language of the blank tokenizer"),
):
    """Texts with reference summaries -> DocBin with the summary in doc._.summary."""
    _check_one(input_path is not None, hf_dataset)
    pairs, name = _pairs_from_file_or_hub(input_path, hf_dataset, hf_config, split, text_field, summary_field)
    _write(pairs, output_path, field, lang, name, select, limit)


if __name__ == "__main__":
    app()
