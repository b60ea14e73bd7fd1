"""Bootstrap silver NER training data from Matcher/PhraseMatcher patterns.

    python scripts/bootstrap.py assets/en/raw_texts.jsonl assets/en/patterns.jsonl corpus/en
    python scripts/bootstrap.py big.jsonl assets/en/patterns.jsonl corpus/en/silver --sharded --n-process 2
    python scripts/bootstrap.py big.jsonl assets/en/patterns.jsonl corpus/en/silver --sharded --resume

The first form holds the corpus in memory and writes train.spacy, dev.spacy and
bootstrap_stats.json (a seeded shuffle picks the dev docs). --sharded streams a corpus of
any size through the annotate job's engines (this process, --n-process workers, or Ray
actors with --engine ray) into OUTPUT_DIR/train/ and OUTPUT_DIR/dev/ (one .spacy file per
shard; a stable hash of each text picks its side), with bad records in
OUTPUT_DIR/_errors.jsonl and --resume after a kill.
"""

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import typer
from spacy.language import Language
from spacy.tokens import Doc
from tqdm import tqdm

from spacy_task_pipes.ner.bootstrap import (
    OUTPUT_NAMES,
    PHRASE_ATTRS,
    UNMATCHED_POLICIES,
    RuleMatcher,
    bootstrap_docs,
    bootstrap_outputs,
    load_patterns,
    load_texts,
    split_docs,
)
from spacy_task_pipes.annotate import ENGINES, DocSplit, InputSource, RayOptions, detect_format
from spacy_task_pipes.annotate.annotator import SPLIT_KEYS
from spacy_task_pipes.cli import (
    at_least,
    blank_pipeline,
    check_encoding,
    existing_file,
    fail,
    job_options,
    output_file,
    phrase_attr_option,
    user_errors,
)
from spacy_task_pipes.io import write_files_atomic
from spacy_task_pipes.safety import safe_load

app = typer.Typer(add_completion=False)


def _check_arguments(
    texts_path: Path, patterns_path: Path, output_dir: Path, dev_fraction: float, phrase_attr: str, encoding: str,
    sharded: bool,
) -> str:
    """Every argument mistake is found before any work is done (one line, exit code 2);
    returns the matching attribute as RuleMatcher takes it (upper case)."""
    existing_file(texts_path, "TEXTS_PATH")
    existing_file(patterns_path, "PATTERNS_PATH")
    if output_dir.exists() and not output_dir.is_dir():
        fail(f"OUTPUT_DIR: {output_dir} is a file; pass a directory for {', '.join(OUTPUT_NAMES)}.")
    for name in () if sharded else OUTPUT_NAMES:
        output_file(output_dir / name, "OUTPUT_DIR")
    if not 0.0 <= dev_fraction < 1.0:
        fail(f"--dev-fraction: must be at least 0 and below 1 (e.g. 0.2 for 20% dev), got {dev_fraction}.")
    check_encoding(encoding)
    return phrase_attr_option(phrase_attr)


def _load_base_model(name: Optional[str]) -> Optional[Language]:
    if not name:
        return None
    try:
        return safe_load(name)
    except (OSError, ImportError, ValueError) as err:
        fail(f"--base-model: cannot load {name!r} ({err}). Pass an installed pipeline name or a pipeline directory.")


def _report(stats: Dict[str, Any], rehearsal: bool, output_dir: Path) -> None:
    typer.echo(
        f"{stats['texts']} texts, {sum(stats['entities_per_label'].values())} entities "
        f"{stats['entities_per_label']}, {stats['overlaps_resolved']} overlaps resolved, "
        f"{stats['texts_without_entities']} texts without entities"
    )
    if rehearsal:
        typer.echo(f"rehearsal entities: {stats['rehearsal_entities_per_label']}")
    top = list(stats["matches_per_pattern"].items())[:10]
    typer.echo("top patterns: " + ", ".join(f"{k}={v['kept']}" for k, v in top))
    typer.echo(f"wrote {stats['train_docs']} train / {stats['dev_docs']} dev docs to {output_dir}")


def _annotate(nlp: Language, texts: List[str], matcher: RuleMatcher, base_nlp: Optional[Language], unmatched: str) -> List[Doc]:
    with tqdm(total=len(texts), desc="bootstrap", unit="text") as bar:
        return bootstrap_docs(nlp, texts, matcher, base_nlp=base_nlp, progress=bar, unmatched=unmatched)


def _stats(matcher: RuleMatcher, train: Sequence[Doc], dev: Sequence[Doc], n_patterns: int, seed: int) -> Dict[str, Any]:
    stats = matcher.stats.to_dict()
    stats.update({"train_docs": len(train), "dev_docs": len(dev), "patterns": n_patterns, "seed": seed})
    return stats


def _sharded(texts_path: Path, patterns, output_dir: Path, settings, split: DocSplit, input_format: str,
             text_field: str, id_field: str, encoding: str, shard_size: int, engine: str, n_process: int,
             workers: int, address: str, batch_size: int, resume: bool, overwrite: bool, progress: bool) -> None:
    from spacy_task_pipes.ner.bootstrap_job import bootstrap_corpus

    job_options(engine, ENGINES, resume, overwrite)
    at_least(1, shard_size=shard_size, n_process=n_process, workers=workers, batch_size=batch_size)
    source = InputSource(str(texts_path), detect_format(texts_path, input_format or None), text_field=text_field,
                         id_field=id_field, encoding=encoding)
    stats = bootstrap_corpus(source, patterns, output_dir, settings, split, shard_size=shard_size, engine=engine,
                             n_process=n_process, ray_options=RayOptions(workers=workers, address=address or None),
                             batch_size=batch_size, resume=resume, overwrite=overwrite, show_progress=progress)
    _report(stats, settings.base_model is not None, output_dir)
    typer.echo(f"{stats['failed']} bad records: {output_dir / '_errors.jsonl'}; train with --paths.train "
               f"{output_dir / 'train'} (spaCy reads every .spacy file in the folder)")


@app.command()
@user_errors
def main(
    texts_path: Path = typer.Argument(..., help="Raw texts: JSONL with a 'text' field, or .txt (one text per line); "
                                                "with --sharded also .csv or .parquet"),
    patterns_path: Path = typer.Argument(..., help="EntityRuler-style JSONL patterns (phrase or token patterns)"),
    output_dir: Path = typer.Argument(..., help="Where train.spacy, dev.spacy and bootstrap_stats.json go "
                                                "(--sharded: train/, dev/, bootstrap_stats.json, _errors.jsonl, ...)"),
    lang: str = typer.Option("en", "--lang", "-l", help="Language of the blank tokenizer"),
    dev_fraction: float = typer.Option(0.2, "--dev-fraction", help="Share of texts held out as silver dev, in [0, 1)"),
    seed: int = typer.Option(0, "--seed", help="Seed of the train/dev shuffle (--sharded: of the split's hash)"),
    phrase_attr: str = typer.Option(
        "LOWER", "--phrase-attr", help=f"Token attribute phrase patterns match on: {', '.join(PHRASE_ATTRS)}"
    ),
    base_model: Optional[str] = typer.Option(
        None, "--base-model", help="Pipeline (name or path) whose other labels are merged in (rehearsal)"
    ),
    unmatched: str = typer.Option(
        "outside", "--unmatched",
        help="Tokens no pattern matched: outside (O), missing (unknown) or evidence (O only for punctuation and "
             "lower-case words no pattern uses, unknown elsewhere)"),
    encoding: str = typer.Option("utf-8", "--encoding", help="Encoding of the input files"),
    sharded: bool = typer.Option(False, "--sharded", help="Stream a corpus of any size into train/ and dev/ shard "
                                                          "folders through the annotate job (the options below)"),
    shard_size: int = typer.Option(10_000, "--shard-size", help="--sharded: texts per shard (the unit of work, of "
                                                                "atomic writes and of --resume)"),
    engine: str = typer.Option("local", "--engine", help="--sharded: local or ray (needs the 'ray' extra)"),
    n_process: int = typer.Option(1, "--n-process", help="--sharded, local: worker processes"),
    workers: int = typer.Option(1, "--workers", help="--sharded, ray: number of actors"),
    address: str = typer.Option("", "--address", help="--sharded, ray: join this cluster (default: start a local one)"),
    batch_size: int = typer.Option(256, "--batch-size", help="--sharded: docs per nlp.pipe batch"),
    split_by: str = typer.Option("text", "--split-by",
                                 help=f"--sharded: what the split hashes: {', '.join(SPLIT_KEYS)}"),
    lower_words_texts: int = typer.Option(
        100_000, "--lower-words-texts",
        help="--sharded, --unmatched evidence: texts read first for the words the corpus writes in lower case "
             "(0: all)"),
    input_format: str = typer.Option("", "--input-format",
                                     help="--sharded: jsonl, csv, parquet or txt (default: suffix)"),
    text_field: str = typer.Option("text", "--text-field", help="--sharded: field/column holding the text"),
    id_field: str = typer.Option("id", "--id-field", help="--sharded: field/column with the record id (errors file)"),
    resume: bool = typer.Option(False, "--resume",
                                help="--sharded: finish a killed job; finished shards stay as they are"),
    overwrite: bool = typer.Option(False, "--overwrite", help="--sharded: replace a previous job in OUTPUT_DIR"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar"),
) -> None:
    """Match the patterns over the texts, resolve overlaps (longest span wins) and write
    a train/dev split of silver docs plus match statistics. Without --sharded the three
    outputs are written as one transaction: after a crash they are all from the old run or
    all from the new one, and on any error they are left untouched. With --sharded each
    shard is written atomically and --resume finishes a killed run."""
    phrase_attr = _check_arguments(texts_path, patterns_path, output_dir, dev_fraction, phrase_attr, encoding, sharded)
    if unmatched not in UNMATCHED_POLICIES:
        fail(f"--unmatched: use one of {', '.join(UNMATCHED_POLICIES)}; got {unmatched!r}.")
    patterns = load_patterns(patterns_path, encoding=encoding)
    if sharded:
        from spacy_task_pipes.ner.bootstrap_job import RuleSettings

        if split_by not in SPLIT_KEYS:
            fail(f"--split-by: use one of {', '.join(SPLIT_KEYS)}; got {split_by!r}.")
        at_least(0, lower_words_texts=lower_words_texts)
        settings = RuleSettings(lang=lang, base_model=base_model or None, phrase_attr=phrase_attr,
                                unmatched=unmatched, lower_words_texts=lower_words_texts)
        blank_pipeline(lang)
        _sharded(texts_path, patterns, output_dir, settings, DocSplit(dev_fraction, seed, split_by), input_format,
                 text_field, id_field, encoding, shard_size, engine, n_process, workers, address, batch_size,
                 resume, overwrite, progress)
        return
    texts = load_texts(texts_path, encoding=encoding)
    nlp = blank_pipeline(lang)
    matcher = RuleMatcher(nlp, patterns, phrase_attr=phrase_attr)
    base_nlp = _load_base_model(base_model)
    train, dev = split_docs(_annotate(nlp, texts, matcher, base_nlp, unmatched), dev_fraction, seed)
    stats = _stats(matcher, train, dev, len(patterns), seed)
    stats.update({"unmatched": unmatched, "phrase_attr": phrase_attr})
    write_files_atomic(bootstrap_outputs(output_dir, train, dev, stats))
    _report(stats, base_nlp is not None, output_dir)


if __name__ == "__main__":
    app()
