"""Bootstrap silver NER training data from Matcher/PhraseMatcher patterns."""

from pathlib import Path
from typing import Optional

import spacy
import typer
from tqdm import tqdm

from spacy_task_pipes.bootstrap import RuleMatcher, bootstrap_docs, load_patterns, split_docs
from spacy_task_pipes.io import InputError, read_texts, write_docbin_atomic, write_json_atomic

app = typer.Typer(add_completion=False)


@app.command()
def main(
    texts_path: Path = typer.Argument(..., help="Raw texts: JSONL with a 'text' field, or .txt (one text per line)"),
    patterns_path: Path = typer.Argument(..., help="EntityRuler-style JSONL patterns (phrase or token patterns)"),
    output_dir: Path = typer.Argument(..., help="Where train.spacy, dev.spacy and bootstrap_stats.json go"),
    lang: str = typer.Option("en", "--lang", "-l", help="Language of the blank tokenizer"),
    dev_fraction: float = typer.Option(0.2, "--dev-fraction", help="Share of texts held out as silver dev"),
    seed: int = typer.Option(0, "--seed", help="Seed of the train/dev shuffle"),
    phrase_attr: str = typer.Option("LOWER", "--phrase-attr", help="Token attribute phrase patterns match on"),
    base_model: Optional[str] = typer.Option(
        None, "--base-model", help="Pipeline (name or path) whose other labels are merged in (rehearsal)"
    ),
    encoding: str = typer.Option("utf-8", "--encoding", help="Encoding of the input files"),
):
    """Match the patterns over the texts, resolve overlaps (longest span wins) and write
    a seeded train/dev split of silver docs plus match statistics."""
    try:
        texts = read_texts(texts_path, encoding=encoding)
        patterns = load_patterns(patterns_path, encoding=encoding)
    except (InputError, FileNotFoundError) as err:
        typer.secho(str(err), fg="red", err=True)
        raise typer.Exit(1)
    nlp = spacy.blank(lang)
    matcher = RuleMatcher(nlp, patterns, phrase_attr=phrase_attr)
    base_nlp = spacy.load(base_model) if base_model else None
    with tqdm(total=len(texts), desc="bootstrap", unit="text") as bar:
        docs = bootstrap_docs(nlp, texts, matcher, base_nlp=base_nlp, progress=bar)
    train, dev = split_docs(docs, dev_fraction, seed)
    write_docbin_atomic(train, output_dir / "train.spacy")
    write_docbin_atomic(dev, output_dir / "dev.spacy")
    stats = matcher.stats.to_dict()
    stats.update({"train_docs": len(train), "dev_docs": len(dev), "patterns": len(patterns), "seed": seed})
    write_json_atomic(stats, output_dir / "bootstrap_stats.json")
    typer.echo(
        f"{stats['texts']} texts, {sum(stats['entities_per_label'].values())} entities "
        f"{stats['entities_per_label']}, {stats['overlaps_resolved']} overlaps resolved, "
        f"{stats['texts_without_entities']} texts without entities"
    )
    if base_nlp is not None:
        typer.echo(f"rehearsal entities: {stats['rehearsal_entities_per_label']}")
    top = list(stats["matches_per_pattern"].items())[:10]
    typer.echo("top patterns: " + ", ".join(f"{k}={v['kept']}" for k, v in top))
    typer.echo(f"wrote {len(train)} train / {len(dev)} dev docs to {output_dir}")


if __name__ == "__main__":
    app()
