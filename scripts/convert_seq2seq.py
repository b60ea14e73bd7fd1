"""Convert translation pairs or summarization records to DocBin files for `spacy train`
(configs/translate.cfg, configs/summarize.cfg): the source text is the doc, the target is
stored in doc._.translation / doc._.summary (DocBin with user data)."""

import json
from pathlib import Path
from typing import Iterable, Iterator, Optional, Tuple

import typer

from spacy_task_pipes.cli import blank_pipeline, check_encoding, existing_file, fail, output_file, user_errors
from spacy_task_pipes.io import write_docbin_atomic
from spacy_task_pipes.seq2seq.data import (
    Pair,
    load_hub_pairs,
    parse_slice,
    read_pairs_file,
    read_parallel_text,
    reference_doc,
    select_pairs,
)

app = typer.Typer(add_completion=False, help=__doc__)

SLICE_HELP = "Record slice START:END (Python slicing, before --limit), e.g. 0:2000 for train and 2000:2300 for dev"
ENCODING_HELP = "Encoding of the input file(s), e.g. latin-1 (a UTF-8 byte-order mark is accepted)"


def _check_files(output_path: Path, encoding: str, limit: int, **inputs: Optional[Path]) -> None:
    """Every argument mistake is found before any work is done (one line, exit code 2)."""
    for option, path in inputs.items():
        if path is not None:
            existing_file(path, f"--{option}")
    output_file(output_path, "OUTPUT_PATH")
    if limit < 0:
        fail(f"--limit: must be 0 (all) or more, got {limit}.")
    check_encoding(encoding)


def _write(pairs: Iterable[Pair], output_path: Path, field: str, lang: str, source: str, select: str, limit: int) -> None:
    nlp = blank_pipeline(lang)
    docs, n_read, n_empty_target = [], 0, 0
    try:
        for src, tgt in select_pairs(pairs, parse_slice(select), limit):
            n_read += 1
            if not src.strip():
                continue
            n_empty_target += not tgt.strip()
            docs.append(reference_doc(nlp, src, tgt, field))
    except ImportError as err:  # --hf-dataset without the `datasets` package
        fail(str(err))
    if not docs:
        fail(f"{source}: no records selected (--slice {select!r}, --limit {limit}); nothing written.")
    n = write_docbin_atomic(docs, output_path, store_user_data=True)
    typer.echo(json.dumps({"source": source, "field": field, "records": n_read, "docs": n,
                           "skipped_empty_source": n_read - n, "empty_target": n_empty_target,
                           "output": str(output_path)}))


def _check_one(files: bool, hub: str) -> None:
    if files == bool(hub):
        fail("Give exactly one input: a file (--input, or --source and --target) or --hf-dataset NAME.")


def _pairs_from_file_or_hub(input_path: Optional[Path], hf_dataset: str, hf_config: str, split: str,
                            source_field: str, target_field: str, encoding: str) -> Tuple[Iterator[Pair], str]:
    """(pairs, name) from one pairs file (.tsv/.jsonl/.csv) or a `datasets` hub name."""
    if hf_dataset:
        pairs = load_hub_pairs(hf_dataset, config=hf_config, split=split, source_field=source_field,
                               target_field=target_field)
        return pairs, f"{hf_dataset}[{split}]"
    assert input_path is not None
    return read_pairs_file(input_path, source_field, target_field, encoding), str(input_path)


@app.command("translation")
@user_errors
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
    encoding: str = typer.Option("utf-8", "--encoding", help=ENCODING_HELP),
) -> None:
    """Parallel text -> DocBin with the target in doc._.translation. Errors name the file
    and line and exit with code 2; the output is then left untouched."""
    if (source is None) != (target is None):
        fail("--source and --target go together: give both line-aligned files.")
    if source is not None and input_path is not None:
        fail("Give either --input or --source/--target, not both.")
    _check_one(source is not None or input_path is not None, hf_dataset)
    _check_files(output_path, encoding, limit, source=source, target=target, input=input_path)
    if source is not None and target is not None:
        pairs, name = read_parallel_text(source, target, encoding), f"{source} + {target}"
    else:
        pairs, name = _pairs_from_file_or_hub(input_path, hf_dataset, hf_config, split, source_field, target_field,
                                              encoding)
    _write(pairs, output_path, field, lang, name, select, limit)


@app.command("summarization")
@user_errors
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
    encoding: str = typer.Option("utf-8", "--encoding", help=ENCODING_HELP),
) -> None:
    """Texts with reference summaries -> DocBin with the summary in doc._.summary. Errors
    name the file and line and exit with code 2; the output is then left untouched."""
    _check_one(input_path is not None, hf_dataset)
    _check_files(output_path, encoding, limit, input=input_path)
    pairs, name = _pairs_from_file_or_hub(input_path, hf_dataset, hf_config, split, text_field, summary_field,
                                          encoding)
    _write(pairs, output_path, field, lang, name, select, limit)


if __name__ == "__main__":
    app()
