"""Drop the patterns that are mostly wrong on a gold-labelled sample, before bootstrap.

    python scripts/filter_patterns.py assets/en/patterns.jsonl corpus/en/gold_dev.spacy corpus/en/patterns.jsonl

Each pattern's kept matches over the sample's texts are checked against its gold entities
(same characters, same label). A pattern id with at least --min-matches matches and a
precision below --min-precision is left out of OUTPUT_PATTERNS (the other lines are copied
as they are); the report (per-pattern matches, correct ones, precision, the dropped ids)
goes to --report. Bootstrap, self-training and evaluation then read OUTPUT_PATTERNS.
--min-precision 0 keeps every pattern and only reports.
"""

from pathlib import Path
from typing import Optional

import srsly
import typer
from spacy.tokens import DocBin

from spacy_task_pipes.cli import (
    at_least,
    blank_pipeline,
    check_encoding,
    existing_file,
    fail,
    output_file,
    phrase_attr_option,
    user_errors,
)
from spacy_task_pipes.io import iter_jsonl, write_json_atomic, write_text_atomic
from spacy_task_pipes.ner.bootstrap import PHRASE_ATTRS, load_patterns
from spacy_task_pipes.ner.pattern_filter import MIN_MATCHES, MIN_PRECISION, pattern_precision

app = typer.Typer(add_completion=False)


@app.command()
@user_errors
def main(
    patterns_path: Path = typer.Argument(..., help="EntityRuler-style JSONL patterns (bootstrap's input)"),
    gold_path: Path = typer.Argument(..., help="Gold-labelled .spacy sample (e.g. the gold dev set)"),
    output_path: Path = typer.Argument(..., help="The patterns JSONL without the dropped ones"),
    report_path: Optional[Path] = typer.Option(
        None, "--report", help="Per-pattern precision JSON (default: OUTPUT_PATH with .report.json)"),
    min_precision: float = typer.Option(
        MIN_PRECISION, "--min-precision",
        help="Drop a pattern id whose precision on the sample is below this (0: keep all)"),
    min_matches: int = typer.Option(
        MIN_MATCHES, "--min-matches", help="Only judge pattern ids with at least this many matches on the sample"),
    lang: str = typer.Option("en", "--lang", "-l", help="Language of the blank tokenizer (as in bootstrap)"),
    phrase_attr: str = typer.Option(
        "LOWER", "--phrase-attr",
        help=f"As in bootstrap: the attribute phrase patterns match on ({', '.join(PHRASE_ATTRS)})"),
    encoding: str = typer.Option("utf-8", "--encoding", help="Encoding of the pattern file"),
) -> None:
    """Estimate each pattern's precision on GOLD_PATH and write the patterns that pass."""
    existing_file(patterns_path, "PATTERNS_PATH")
    existing_file(gold_path, "GOLD_PATH")
    report_path = report_path or output_path.with_suffix(".report.json")
    output_file(output_path, "OUTPUT_PATH")
    output_file(report_path, "--report")
    if output_path.resolve() == patterns_path.resolve():
        fail("OUTPUT_PATH: is PATTERNS_PATH; write the filtered patterns to another file.")
    if not 0.0 <= min_precision <= 1.0:
        fail(f"--min-precision: must be within [0, 1], got {min_precision}.")
    at_least(1, min_matches=min_matches)
    phrase_attr = phrase_attr_option(phrase_attr)
    check_encoding(encoding)
    nlp = blank_pipeline(lang)
    patterns = load_patterns(patterns_path, encoding=encoding)
    try:
        gold = list(DocBin().from_disk(gold_path).get_docs(nlp.vocab))
    except ValueError as err:
        fail(f"GOLD_PATH: {gold_path} is not a .spacy file (DocBin) ({err}); convert it first "
             "(scripts/convert.py).")
    if not any(doc.ents for doc in gold):
        fail(f"GOLD_PATH: {gold_path} has no entities ({len(gold)} docs): a precision estimate needs "
             "gold-labelled docs.")
    result = pattern_precision(nlp, patterns, gold, phrase_attr=phrase_attr)
    dropped = result.imprecise(min_precision, min_matches) if min_precision > 0 else []
    dropped_ids = set(dropped)
    kept_lines = [srsly.json_dumps(record) for lineno, record in iter_jsonl(patterns_path, encoding=encoding)
                  if str(record.get("id") or f"line{lineno}") not in dropped_ids]
    if not kept_lines:
        fail(f"--min-precision {min_precision} drops every pattern of {patterns_path}; lower it.")
    report = result.to_dict()
    report.update({"patterns_path": str(patterns_path), "gold_path": str(gold_path), "min_precision": min_precision,
                   "min_matches": min_matches, "phrase_attr": phrase_attr, "patterns": len(patterns),
                   "kept_lines": len(kept_lines), "dropped_ids": dropped})
    write_json_atomic(report, report_path)
    write_text_atomic("\n".join(kept_lines) + "\n", output_path)
    judged = sum(1 for n in result.matches.values() if n >= min_matches)
    typer.echo(f"{result.docs} gold docs, {sum(result.matches.values())} matches of {len(result.matches)} pattern ids "
               f"(precision {report['precision']}); {judged} ids with >= {min_matches} matches judged, "
               f"{len(dropped)} below {min_precision} dropped: {', '.join(dropped[:20]) or 'none'}"
               f"{' ...' if len(dropped) > 20 else ''}")
    typer.echo(f"wrote {len(kept_lines)} of {len(patterns)} pattern lines to {output_path}; report {report_path}")


if __name__ == "__main__":
    app()
