"""Benchmark the rule-bootstrapped NER path on public distant-supervision data.

Datasets (read where they are; nothing is copied into the project):

- ``webpage``, ``twitter``: BOND's distantly labelled sets (KDD 2020; train labels from
  knowledge-base and gazetteer matching, gold dev/test). The patterns are the distant
  train entity strings, each with its majority label, as phrase patterns.
- ``conll_es``: CoNLL-2002 Spanish with an incomplete dictionary: a seeded half of the
  train set's distinct entity names (majority label) as patterns; the train texts are
  bootstrapped without their labels; scored on testb.
- ``en``, ``es``: the project's own sets (``assets/<lang>``).

Variants (each trains ``configs/ner.cfg`` on the bootstrap of the train texts; the gold
dev set picks model-best; the test set only scores):

- ``rules``: the rules alone on the test texts (no training);
- ``outside``: unmatched tokens are O (the bootstrap's behaviour before partial labels);
- ``evidence``: unmatched tokens O only where there is evidence (partial labels);
- ``self_train``: ``evidence`` plus one self-training round (the student starts from the
  first model's weights and trains 1,000 steps, as in the workflow);
- ``self_train_filter``: the same, dropping patterns the teacher agrees with less than
  half of the time;
- ``self_train_outside``: ``outside`` plus one self-training round whose relabelled data
  is ``outside`` too (for text where the evidence rules do not hold, such as tweets);
- ``<variant>_dev_filter`` (``rules``, ``outside``, ``evidence``, ``self_train``,
  ``self_train_outside``): the same after ``scripts/filter_patterns.py``'s filter: pattern ids
  with 3 or more matches on the gold dev texts and a precision below 0.2 there are dropped (the
  dev set also picks model-best; the test set only scores). ``self_train_dev_filter`` is the
  path of the workflow's ``all``: ``filter-patterns``, ``bootstrap --unmatched evidence``,
  ``train``, ``self-train``.

Each trained row also gives the model with its bootstrap's patterns as a dictionary at
inference (:mod:`spacy_task_pipes.ner.dictionary`; ``scripts/add_dictionary.py --choice dev``):
a ``span_ruler`` after ``ner`` (where a match and a prediction overlap, the longer wins, at
equal length the match), kept where it raises gold dev F;
the table shows it as ``<variant> + dictionary``.

Published figures (BOND's README, entity-level F1 on test, RoBERTa-base) are printed
beside ours for the BOND sets.
"""

import json
import random
import shutil
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import spacy
import typer
from spacy.tokens import Doc, DocBin

from spacy_task_pipes.cli import fail, output_file, user_errors
from spacy_task_pipes.io import write_json_atomic, write_text_atomic
from spacy_task_pipes.ner.bootstrap import Pattern, RuleMatcher, bootstrap_docs, load_patterns, load_texts
from spacy_task_pipes.ner.convert import convert_file, read_conll
from spacy_task_pipes.ner.dictionary import choose_dictionary
from spacy_task_pipes.ner.evaluation import evaluate_ner
from spacy_task_pipes.ner.pattern_filter import MIN_MATCHES, MIN_PRECISION, drop_patterns, pattern_precision
from spacy_task_pipes.ner.self_training import RelabelStats, TrainingFailed, relabel, spacy_train, warm_start_config

app = typer.Typer(add_completion=False)

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
BASE_VARIANTS = ("rules", "outside", "evidence", "self_train", "self_train_filter", "self_train_outside")
DEV_FILTER = "_dev_filter"  # suffix: patterns filtered by their precision on the gold dev set
DEV_FILTER_BASES = ("rules", "outside", "evidence", "self_train", "self_train_outside")
VARIANTS = BASE_VARIANTS + tuple(v + DEV_FILTER for v in DEV_FILTER_BASES)
DATASETS = ("webpage", "twitter", "conll_es", "en", "es")
PUBLISHED = {  # BOND README: entity-level F1 on test
    "webpage": {"full supervision (RoBERTa)": 72.39, "previous best distant": 51.39, "BOND (RoBERTa)": 65.74},
    "twitter": {"full supervision (RoBERTa)": 52.19, "previous best distant": 26.10, "BOND (RoBERTa)": 48.01},
}


class Dataset:
    def __init__(self, name: str, lang: str, texts: List[str], patterns: List[Pattern],
                 dev: List[Doc], test: List[Doc], note: str):
        self.name, self.lang, self.texts, self.patterns = name, lang, texts, patterns
        self.dev, self.test, self.note = dev, test, note


def _words_doc(vocab, words: Sequence[str], tags: Sequence[str]) -> Doc:
    return Doc(vocab, words=list(words), spaces=[True] * (len(words) - 1) + [False], ents=list(tags))


def _majority_patterns(names: Dict[str, Counter], source: str) -> List[Pattern]:
    patterns = []
    for i, (name, labels) in enumerate(sorted(names.items()), start=1):
        label = sorted(labels.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        patterns.append(Pattern(label=label, pattern=name, id=name, line=i, path=source))
    return patterns


def _entity_names(docs: Sequence[Doc]) -> Dict[str, Counter]:
    names: Dict[str, Counter] = defaultdict(Counter)
    for doc in docs:
        for ent in doc.ents:
            names[ent.text][ent.label_] += 1
    return names


def _bond(name: str, folder: Path) -> Dataset:
    nlp = spacy.blank("en")
    tag_to_id = json.loads((folder / "tag_to_id.json").read_text(encoding="utf-8"))
    id_to_tag = {v: k for k, v in tag_to_id.items()}

    def read(split: str) -> List[Doc]:
        rows = json.loads((folder / f"{split}.json").read_text(encoding="utf-8"))
        docs = []
        for row in rows:
            if row["str_words"]:
                tags = [id_to_tag[t] for t in row["tags"]]
                docs.append(_words_doc(nlp.vocab, row["str_words"], _bio_fix(tags)))
        return docs

    train = read("train")
    patterns = _majority_patterns(_entity_names(train), str(folder / "train.json"))
    return Dataset(name, "en", [d.text for d in train], patterns, read("dev"), read("test"),
                   f"{len(train)} train texts, {len(patterns)} distant entity strings as patterns")


def _bio_fix(tags: List[str]) -> List[str]:
    """An I- tag after O (or after another label) starts an entity: BIO as spaCy reads it."""
    out, previous = [], "O"
    for tag in tags:
        if tag.startswith("I-") and (previous == "O" or previous[2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
        previous = tag
    return out


def _conll_es(folder: Path, seed: int) -> Dataset:
    nlp = spacy.blank("es")
    read = lambda split: read_conll(nlp, folder / f"esp.{split}", encoding="latin-1", n_sents=1)[0]  # noqa: E731
    train = read("train")
    names = _entity_names(train)
    kept = sorted(names)
    random.Random(seed).shuffle(kept)
    half = {n: names[n] for n in kept[: len(kept) // 2]}
    patterns = _majority_patterns(half, f"{folder / 'esp.train'} (seeded half of its names)")
    return Dataset("conll_es", "es", [d.text for d in train], patterns, read("testa"), read("testb"),
                   f"{len(train)} train sentences, {len(patterns)} of {len(names)} entity names as patterns")


def _own(lang: str) -> Dataset:
    data = ROOT / "assets" / lang
    nlp = spacy.blank(lang)
    docs = {split: convert_file(nlp, data / f"{split}.jsonl")[0] for split in ("gold_dev", "gold_test")}
    return Dataset(lang, lang, load_texts(data / "raw_texts.jsonl"), load_patterns(data / "patterns.jsonl"),
                   docs["gold_dev"], docs["gold_test"], f"assets/{lang}")


def load_dataset(name: str, seed: int) -> Dataset:
    if name in ("webpage", "twitter"):
        return _bond(name, SHARED / "bond" / f"{name}_distant")
    if name == "conll_es":
        return _conll_es(SHARED / "conll2002_es", seed)
    return _own(name)


def _out_of_dictionary_recall(pred: Sequence[Doc], gold: Sequence[Doc], names: set) -> Tuple[Optional[float], int]:
    hit = total = 0
    for p, g in zip(pred, gold):
        predicted = {(e.start_char, e.end_char, e.label_) for e in p.ents}
        for ent in g.ents:
            if ent.text not in names:
                total += 1
                hit += (ent.start_char, ent.end_char, ent.label_) in predicted
    return (round(hit / total, 4) if total else None), total


def run_variant(data: Dataset, variant: str, seed: int, config: Path, work: Path, overrides: List[str],
                student_steps: int = 1000) -> Dict:
    nlp = spacy.blank(data.lang)
    row: Dict = {"dataset": data.name, "variant": variant, "seed": seed}
    started = time.perf_counter()
    patterns = data.patterns
    if variant.endswith(DEV_FILTER):
        precision = pattern_precision(nlp, patterns, data.dev)
        dropped = precision.imprecise(MIN_PRECISION, MIN_MATCHES)
        patterns = drop_patterns(patterns, dropped)
        row["dropped_patterns"], row["dropped_pattern_ids"] = len(dropped), dropped
        variant = variant[: -len(DEV_FILTER)]
    matcher = RuleMatcher(nlp, patterns)
    if variant == "rules":
        metrics, pred = evaluate_ner(nlp, data.test, matcher, thresholds=())
        row.update(_scores(metrics["rules"]))
        row["out_of_dictionary_recall"] = 0.0
        row["seconds"] = round(time.perf_counter() - started, 1)
        return row
    folder = work / f"{data.name}-{row['variant']}-{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    DocBin(docs=data.dev).to_disk(folder / "dev.spacy")
    policy = "outside" if variant in ("outside", "self_train_outside") else "evidence"
    train = bootstrap_docs(nlp, data.texts, matcher, unmatched=policy)
    DocBin(docs=train).to_disk(folder / "train.spacy")
    seed_args = ["--system.seed", str(seed), *overrides]
    model = spacy_train(config, folder / "train.spacy", folder / "dev.spacy", folder / "round0", data.lang,
                        overrides=seed_args, log_path=folder / "round0.log")
    if variant.startswith("self_train"):
        stats = RelabelStats()
        teacher = spacy.load(model)
        agreement = 0.5 if variant == "self_train_filter" else 0.0
        docs = relabel(nlp, data.texts, matcher, teacher, unmatched=policy,
                       min_pattern_agreement=agreement, stats=stats)
        DocBin(docs=docs).to_disk(folder / "train1.spacy")
        student = warm_start_config(config, model, folder / "student.cfg")  # as the workflow's self-train
        model = spacy_train(student, folder / "train1.spacy", folder / "dev.spacy", folder / "round1", data.lang,
                            overrides=["--training.max_steps", str(student_steps), *seed_args],
                            log_path=folder / "round1.log")
        summary = stats.to_dict()
        row["added_entities"] = summary["added_entities"]
        row["dropped_patterns"] = row.get("dropped_patterns", 0) + len(summary["dropped_patterns"])
    trained = spacy.load(model)
    metrics, pred = evaluate_ner(trained, data.test, RuleMatcher(trained, data.patterns))
    row.update(_scores(metrics["model"]))
    row["recall_on_unmatched"] = metrics["beyond_rules"]["model_recall_on_unmatched"]
    names = {p.pattern for p in data.patterns if isinstance(p.pattern, str)}
    row["out_of_dictionary_recall"], row["out_of_dictionary_mentions"] = _out_of_dictionary_recall(pred, data.test, names)
    row["by_confidence"] = metrics.get("by_confidence")
    row["dictionary"] = _with_dictionary(trained, patterns, data, names, row)
    row["seconds"] = round(time.perf_counter() - started, 1)
    return row


def _with_dictionary(nlp, patterns: Sequence[Pattern], data: Dataset, names: set, model_row: Dict) -> Dict:
    """The model with the bootstrap's patterns as a dictionary at inference where the gold dev set
    keeps it (``add_dictionary.py --choice dev``): dev F with and without it, test scores of the kept
    pipeline (``model_row``'s own where the dictionary is left out: the pipeline is the model)."""
    choice = choose_dictionary(nlp, patterns, data.dev, choice="dev")
    if not choice.kept:
        return {**choice.to_dict(), **_scores(model_row),
                "out_of_dictionary_recall": model_row["out_of_dictionary_recall"]}
    metrics, pred = evaluate_ner(nlp, data.test, thresholds=())
    result = {**choice.to_dict(), **_scores(metrics["model"])}
    result["out_of_dictionary_recall"] = _out_of_dictionary_recall(pred, data.test, names)[0]
    return result


def _scores(prf: Dict) -> Dict[str, float]:
    return {"p": prf["p"], "r": prf["r"], "f": prf["f"]}


def _split(value: str, allowed: Sequence[str], option: str) -> List[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in items if v not in allowed]
    if unknown or not items:
        fail(f"{option}: unknown {', '.join(unknown) or 'empty list'}; use a comma-separated list of {', '.join(allowed)}.")
    return items


def table(rows: List[Dict]) -> str:
    """Markdown: mean (spread) of P/R/F per dataset and variant over the seeds; a trained variant
    has a second line with the dictionary at inference where the gold dev set kept it."""
    groups: Dict[Tuple[str, str], List[Dict]] = defaultdict(list)
    for row in rows:
        groups[(row["dataset"], row["variant"])].append(row)
        if row.get("dictionary"):
            kept = {**row, **row["dictionary"], "recall_on_unmatched": None}
            groups[(row["dataset"], row["variant"] + " + dictionary")].append(kept)
    lines = ["| dataset | variant | seeds | P | R | F | F spread | recall on names no rule matches | dictionary kept |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for (dataset, variant), group in groups.items():
        mean = lambda key: statistics.mean(r[key] for r in group)  # noqa: E731
        fs = [r["f"] for r in group]
        unmatched = [r["recall_on_unmatched"] for r in group if r.get("recall_on_unmatched") is not None]
        kept = f"{sum(r['kept'] for r in group)} of {len(group)}" if variant.endswith(" + dictionary") else ""
        lines.append(
            f"| {dataset} | {variant} | {len(group)} | {mean('p'):.3f} | {mean('r'):.3f} | {mean('f'):.3f} | "
            f"{min(fs):.3f}–{max(fs):.3f} | {f'{statistics.mean(unmatched):.3f}' if unmatched else ''} | {kept} |"
        )
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        for name, f in PUBLISHED.get(dataset, {}).items():
            lines.append(f"| {dataset} | published: {name} | | | | {f / 100:.3f} | | | |")
    return "\n".join(lines)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@user_errors
def main(
    ctx: typer.Context,
    output_path: Path = typer.Argument(..., help="Results JSON (rows per dataset, variant and seed); a .md table beside it"),
    datasets: str = typer.Option("webpage,twitter,conll_es", "--datasets", help=f"Comma-separated: {', '.join(DATASETS)}"),
    variants: str = typer.Option(",".join(BASE_VARIANTS), "--variants", help=f"Comma-separated: {', '.join(VARIANTS)}"),
    seeds: str = typer.Option("0", "--seeds", help="Comma-separated training seeds (means and spread over them)"),
    config_path: Path = typer.Option(ROOT / "configs" / "ner.cfg", "--config", help="spacy train config"),
    work_dir: Optional[Path] = typer.Option(None, "--work-dir", help="Keep the corpora and models here (default: a temp folder, removed)"),
    student_steps: int = typer.Option(1000, "--student-steps", help="training.max_steps of the warm-started self-training student"),
) -> None:
    """Extra arguments (e.g. --training.max_steps 500) are passed to every `spacy train`
    (the student's --student-steps come before them, so a given max_steps applies to it too)."""
    output_file(output_path, "OUTPUT_PATH")
    if student_steps < 1:
        fail(f"--student-steps: must be 1 or more, got {student_steps}.")
    names = _split(datasets, DATASETS, "--datasets")
    chosen = _split(variants, VARIANTS, "--variants")
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        fail(f"--seeds: use comma-separated integers such as 0,1,2; got {seeds!r}.")
    shared = [n for n in names if n in ("webpage", "twitter", "conll_es")]
    if shared and not SHARED.is_dir():
        fail(f"--datasets {','.join(shared)} read {SHARED}, which is not there (the shared data sits beside the project).")
    work = work_dir or Path(tempfile.mkdtemp(prefix="benchmark-distant-"))
    rows: List[Dict] = []
    try:
        for name in names:
            data = load_dataset(name, seed=0)
            typer.echo(f"{name}: {data.note}; dev {len(data.dev)} / test {len(data.test)} docs")
            for variant in chosen:
                for seed in ([0] if variant.startswith("rules") else seed_list):
                    try:
                        row = run_variant(data, variant, seed, config_path, work, list(ctx.args), student_steps)
                    except TrainingFailed as err:
                        fail(str(err))
                    rows.append(row)
                    extra = (f"; + dictionary: dev F {row['dictionary']['dev_gain']:+.3f}, "
                             f"{'kept' if row['dictionary']['kept'] else 'left out'}, F {row['dictionary']['f']:.3f}"
                             if row.get("dictionary") else "")
                    typer.echo(f"  {variant:<18} seed {seed}: P {row['p']:.3f} R {row['r']:.3f} F {row['f']:.3f} "
                               f"({row['seconds']} s){extra}")
                    write_json_atomic({"rows": rows, "overrides": list(ctx.args)}, output_path)
    finally:
        if work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    markdown = table(rows)
    write_text_atomic(markdown + "\n", output_path.with_suffix(".md"))
    typer.echo(markdown)


if __name__ == "__main__":
    app()
