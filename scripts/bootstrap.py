"""Bootstrap silver NER training data from Matcher/PhraseMatcher patterns."""

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import spacy
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
from spacy_task_pipes.cli import check_encoding, existing_file, fail, output_file, user_errors
from spacy_task_pipes.io import write_files_atomic
from spacy_task_pipes.safety import safe_load

app = typer.Typer(add_completion=False)


def _check_arguments(
    texts_path: Path, patterns_path: Path, output_dir: Path, dev_fraction: float, phrase_attr: str, encoding: str
) -> None:
    """Every argument mistake is found before any work is done (one line, exit code 2)."""
    existing_file(texts_path, "TEXTS_PATH")
    existing_file(patterns_path, "PATTERNS_PATH")
    if output_dir.exists() and not output_dir.is_dir():
        fail(f"OUTPUT_DIR: {output_dir} is a file; pass a directory for {', '.join(OUTPUT_NAMES)}.")
    for name in OUTPUT_NAMES:
        output_file(output_dir / name, "OUTPUT_DIR")
    if not 0.0 <= dev_fraction < 1.0:
        fail(f"--dev-fraction: must be at least 0 and below 1 (e.g. 0.2 for 20% dev), got {dev_fraction}.")
    if phrase_attr.upper() not in PHRASE_ATTRS:
        fail(f"--phrase-attr: {phrase_attr!r} is not a token attribute the tokenizer sets; use one of {', '.join(PHRASE_ATTRS)}.")
    check_encoding(encoding)


def _blank(lang: str) -> Language:
    try:
        return spacy.blank(lang)
    except ImportError:
        fail(f"--lang: spaCy has no language {lang!r}; use a code such as en, es, de or xx (multi-language).")


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


@app.command()
@user_errors
def main(
    texts_path: Path = typer.Argument(..., help="Raw texts: JSONL with a 'text' field, or .txt (one text per line)"),
    patterns_path: Path = typer.Argument(..., help="EntityRuler-style JSONL patterns (phrase or token patterns)"),
    output_dir: Path = typer.Argument(..., help="Where train.spacy, dev.spacy and bootstrap_stats.json go"),
    lang: str = typer.Option("en", "--lang", "-l", help="Language of the blank tokenizer"),
    dev_fraction: float = typer.Option(0.2, "--dev-fraction", help="Share of texts held out as silver dev, in [0, 1)"),
    seed: int = typer.Option(0, "--seed", help="Seed of the train/dev shuffle"),
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
) -> None:
    """Match the patterns over the texts, resolve overlaps (longest span wins) and write
    a seeded train/dev split of silver docs plus match statistics. The three outputs are
    written as one transaction: after a crash they are all from the old run or all from
    the new one, and on any error they are left untouched."""
    _check_arguments(texts_path, patterns_path, output_dir, dev_fraction, phrase_attr, encoding)
    if unmatched not in UNMATCHED_POLICIES:
        fail(f"--unmatched: use one of {', '.join(UNMATCHED_POLICIES)}; got {unmatched!r}.")
    texts = load_texts(texts_path, encoding=encoding)
    patterns = load_patterns(patterns_path, encoding=encoding)
    nlp = _blank(lang)
    matcher = RuleMatcher(nlp, patterns, phrase_attr=phrase_attr)
    base_nlp = _load_base_model(base_model)
    train, dev = split_docs(_annotate(nlp, texts, matcher, base_nlp, unmatched), dev_fraction, seed)
    stats = _stats(matcher, train, dev, len(patterns), seed)
    stats.update({"unmatched": unmatched, "phrase_attr": phrase_attr.upper()})
    write_files_atomic(bootstrap_outputs(output_dir, train, dev, stats))
    _report(stats, base_nlp is not None, output_dir)


if __name__ == "__main__":
    app()
