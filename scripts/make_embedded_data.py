"""Regenerate the embedded default data of the qa, translation and summarization workflows
from the hand-written tables next to it (assets/qa/facts.json,
assets/translation/phrases.json, assets/summarization/scenes.json).

Seeded: every run writes the same bytes, so the committed files can be checked against
the tables (tests/test_workflow_offline.py does)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import typer

from spacy_task_pipes.cli import existing_file, output_file, user_errors
from spacy_task_pipes.io import write_files_atomic

app = typer.Typer(add_completion=False, help=__doc__)

Record = Dict[str, Any]

# Articles per kind (company / gadget / place) in the dev and the test split of the QA file.
QA_HELD_OUT_PER_KIND = 2
N_PAIRS = 480
N_DIALOGUES = 400
SUMMARY_SPLITS = {"train": 320, "dev": 40, "test": 40}


def _dump(data: Any) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def _jsonl(records: Sequence[Record]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# ----------------------------------------------------------------------------- QA


def _subject(kind: Dict[str, Any], name: str, first: bool, rng: random.Random) -> str:
    """The entity's name (always in a paragraph's first sentence) or an anaphor."""
    if first or rng.random() < 0.3:
        return kind["name_form"].format(name=name)
    return rng.choice(kind["anaphors"])


def _paragraph(kind: Dict[str, Any], entity: Record, relations: Sequence[str],
               rng: random.Random) -> Tuple[str, Dict[str, int]]:
    """The context text and the character offset of each relation's value in it."""
    text, starts = "", {}
    for i, relation in enumerate(relations):
        subject = _subject(kind, entity["name"], i == 0, rng)
        before, after = rng.choice(kind["sentences"][relation]).split("{v}")
        before = before.format(S=_cap(subject), s=subject)
        text += " " if text else ""
        starts[relation] = len(text) + len(before)
        text += before + entity["facts"][relation] + after.format(S=_cap(subject), s=subject)
    return text, starts


def _questions(kind: Dict[str, Any], name: str, relation: str, rng: random.Random) -> List[str]:
    """One or two phrasings of the question about ``relation``."""
    templates = kind["questions"][relation]
    k = 2 if len(templates) > 1 and rng.random() < 0.5 else 1
    return [t.format(n=name) for t in rng.sample(templates, k)]


def _unanswerable(kind: Dict[str, Any], entity: Record, others: Sequence[Record], context: str,
                  relations: Sequence[str], rng: random.Random) -> List[str]:
    """SQuAD 2.0-style questions the context cannot answer: a relation of the entity's
    kind the paragraph does not state, and sometimes the same about another entity."""
    out = []
    missing = [r for r in kind["questions"] if r not in relations and entity["facts"].get(r, "") not in context]
    if missing:
        out.append(rng.choice(kind["questions"][rng.choice(missing)]).format(n=entity["name"]))
    if rng.random() < 0.5:
        other = rng.choice(others)
        relation = rng.choice(sorted(other["facts"]))
        if other["facts"][relation] not in context and other["name"] not in context:
            out.append(rng.choice(kind["questions"][relation]).format(n=other["name"]))
    return out


def _article(kinds: Dict[str, Any], entity: Record, others: Sequence[Record], rng: random.Random) -> Record:
    kind = kinds[entity["kind"]]
    relations = sorted(entity["facts"])
    rng.shuffle(relations)
    half = (len(relations) + 1) // 2
    paragraphs = []
    for p, part in enumerate((relations[:half], relations[half:])):
        context, starts = _paragraph(kind, entity, part, rng)
        qas: List[Record] = []
        for relation in part:
            answer = {"text": entity["facts"][relation], "answer_start": starts[relation]}
            for question in _questions(kind, entity["name"], relation, rng):
                qas.append({"id": "", "question": question, "answers": [answer], "is_impossible": False})
        for question in _unanswerable(kind, entity, others, context, part, rng):
            qas.append({"id": "", "question": question, "answers": [], "is_impossible": True})
        for k, qa in enumerate(qas):
            qa["id"] = f"{_slug(entity['name'])}-p{p}-q{k}"
        paragraphs.append({"context": context, "qas": qas})
    return {"title": entity["name"], "paragraphs": paragraphs}


def _split_by_kind(entities: Sequence[Record], rng: random.Random) -> List[List[Record]]:
    """[train, dev, test] entity lists; dev and test hold QA_HELD_OUT_PER_KIND of each kind."""
    splits: List[List[Record]] = [[], [], []]
    for kind in sorted({e["kind"] for e in entities}):
        group = [e for e in entities if e["kind"] == kind]
        rng.shuffle(group)
        n = QA_HELD_OUT_PER_KIND
        for split, part in zip(splits, (group[: -2 * n], group[-2 * n : -n], group[-n:])):
            split.extend(part)
    for split in splits:
        rng.shuffle(split)
    return splits


def make_qa(table: Record, seed: int) -> Tuple[Record, List[int]]:
    """SQuAD 2.0 JSON (articles ordered train, dev, test) and the article counts per split."""
    rng = random.Random(seed)
    splits = _split_by_kind(table["entities"], rng)
    articles = []
    for split in splits:
        for entity in split:
            others = [e for e in table["entities"] if e["kind"] == entity["kind"] and e is not entity]
            articles.append(_article(table["kinds"], entity, others, rng))
    return {"version": "v2.0", "data": articles}, [len(s) for s in splits]


# -------------------------------------------------------------------- translation


def _clause(table: Record, rng: random.Random, with_place: bool) -> Tuple[Record, List[str], List[str]]:
    """A subject and the aligned verb + object (+ place) words in Spanish and Portuguese."""
    subject = rng.choice(table["subjects"])
    verb = rng.choice(table["verbs"])
    obj = rng.choice(verb["objects"])
    es, pt = [verb["es"][subject["person"]], obj[0]], [verb["pt"][subject["person"]], obj[1]]
    if with_place and verb["places"] and rng.random() < 0.5:
        place = rng.choice(verb["places"])
        es.append(place[0])
        pt.append(place[1])
    return subject, es, pt


def _maybe_time(table: Record, rng: random.Random) -> Tuple[List[str], List[str]]:
    if rng.random() < 0.5:
        return [], []
    es, pt = rng.choice(table["times"])
    return [es], [pt]


def _lower_subject(subject: Record, lang: str) -> str:
    return subject[lang] if subject.get("name") else subject[lang][:1].lower() + subject[lang][1:]


def _sentence_pair(table: Record, rng: random.Random) -> Tuple[str, str]:
    """One Spanish sentence and its Portuguese translation, from one of five patterns."""
    pattern = rng.choices(["statement", "negative", "fronted", "state", "question"], [4, 2, 2, 2, 2])[0]
    if pattern == "state":
        subject = rng.choice(table["subjects"])
        adjective = rng.choice(table["adjectives"])
        number = "p" if subject["person"].endswith("p") else "s"
        time_es, time_pt = _maybe_time(table, rng)
        es = [subject["es"], table["estar"]["es"][subject["person"]], adjective["es"][subject["gender_es"] + number]]
        pt = [subject["pt"], table["estar"]["pt"][subject["person"]], adjective["pt"][subject["gender_pt"] + number]]
        return " ".join(es + time_es) + ".", " ".join(pt + time_pt) + "."
    subject, es, pt = _clause(table, rng, with_place=pattern in ("statement", "question"))
    if pattern == "fronted":
        time_es, time_pt = rng.choice(table["times"])
        return (f"{_cap(time_es)}, {_lower_subject(subject, 'es')} {' '.join(es)}.",
                f"{_cap(time_pt)}, {_lower_subject(subject, 'pt')} {' '.join(pt)}.")
    if pattern == "negative":
        es, pt = [table["negation"][0]] + es, [table["negation"][1]] + pt
    time_es, time_pt = _maybe_time(table, rng) if pattern != "question" else ([], [])
    es_text = " ".join([subject["es"]] + es + time_es)
    pt_text = " ".join([subject["pt"]] + pt + time_pt)
    if pattern == "question":
        return f"¿{es_text}?", f"{pt_text}?"
    return es_text + ".", pt_text + "."


def make_translation(table: Record, seed: int, n: int = N_PAIRS) -> List[Tuple[str, str]]:
    """``n`` distinct (Spanish, Portuguese) sentence pairs in a seeded random order."""
    rng = random.Random(seed)
    pairs: Dict[str, str] = {}
    while len(pairs) < n:
        es, pt = _sentence_pair(table, rng)
        pairs.setdefault(es, pt)
    return list(pairs.items())


# ------------------------------------------------------------------ summarization


def _fill(template: str, values: Dict[str, str]) -> str:
    slots = dict(values, **{f"{k}_cap": _cap(v) for k, v in values.items()})
    return template.format(**slots)


def _dialogue(scene: Record, rng: random.Random) -> Tuple[str, List[str]]:
    """A dialogue of ``scene`` and its three reference summaries."""
    values = {slot: rng.choice(options) for slot, options in sorted(scene["slots"].items())}
    variant = rng.randrange(len(scene["dialogues"]))
    dialogue = "\n".join(_fill(line, values) for line in scene["dialogues"][variant])
    return dialogue, [_fill(s, values) for s in scene["summaries"][variant]]


def make_summarization(table: Record, seed: int, n: int = N_DIALOGUES) -> Dict[str, List[Record]]:
    """DialogSum-style records: train/dev with ``summary``, test with ``summary1``-``summary3``."""
    rng = random.Random(seed)
    scenes = table["scenes"]
    seen: Dict[str, Tuple[str, List[str]]] = {}
    i = 0
    while len(seen) < n:
        scene = scenes[i % len(scenes)]
        dialogue, summaries = _dialogue(scene, rng)
        seen.setdefault(dialogue, (scene["topic"], summaries))
        i += 1
    items = list(seen.items())
    rng.shuffle(items)
    out: Dict[str, List[Record]] = {}
    start = 0
    for split, size in SUMMARY_SPLITS.items():
        records = []
        for k, (dialogue, (topic, summaries)) in enumerate(items[start : start + size]):
            record: Record = {"fname": f"{split}_{k}", "dialogue": dialogue}
            if split == "test":
                record.update({f"summary{j + 1}": s for j, s in enumerate(summaries)})
            else:
                record["summary"] = rng.choice(summaries)
            record["topic"] = topic
            records.append(record)
        out[split] = records
        start += size
    return out


# ---------------------------------------------------------------------------- CLI


def _read_table(path: Path, argument: str) -> Record:
    return json.loads(existing_file(path, argument).read_text(encoding="utf-8"))


@app.command("qa")
@user_errors
def qa(
    facts: Path = typer.Option(Path("assets/qa/facts.json"), "--facts", help="Hand-written fact table and templates"),
    output: Path = typer.Option(Path("assets/qa/gadgets_squad.json"), "--output", help="SQuAD 2.0 JSON to write"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Contexts and questions (some unanswerable) about fictional companies, gadgets and towns."""
    data, sizes = make_qa(_read_table(facts, "--facts"), seed)
    write_files_atomic({output_file(output, "--output"): _dump(data)})
    qas = [qa for article in data["data"] for p in article["paragraphs"] for qa in p["qas"]]
    bounds = [0, sizes[0], sizes[0] + sizes[1], sum(sizes)]
    typer.echo(json.dumps({"output": str(output), "articles": len(data["data"]), "questions": len(qas),
                           "unanswerable": sum(qa["is_impossible"] for qa in qas),
                           "slices": {name: f"{bounds[i]}:{bounds[i + 1]}"
                                      for i, name in enumerate(("train", "dev", "test"))}}))


@app.command("translation")
@user_errors
def translation(
    phrases: Path = typer.Option(Path("assets/translation/phrases.json"), "--phrases", help="Aligned phrase tables"),
    output_prefix: Path = typer.Option(Path("assets/translation/pairs"), "--output-prefix", help="Writes PREFIX.spa and PREFIX.por"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Line-aligned Spanish (.spa) and Portuguese (.por) sentences."""
    pairs = make_translation(_read_table(phrases, "--phrases"), seed)
    spa, por = output_prefix.with_suffix(".spa"), output_prefix.with_suffix(".por")
    write_files_atomic({output_file(spa, "--output-prefix"): "".join(es + "\n" for es, _ in pairs).encode("utf-8"),
                        output_file(por, "--output-prefix"): "".join(pt + "\n" for _, pt in pairs).encode("utf-8")})
    typer.echo(json.dumps({"output": [str(spa), str(por)], "pairs": len(pairs)}))


@app.command("summarization")
@user_errors
def summarization(
    scenes: Path = typer.Option(Path("assets/summarization/scenes.json"), "--scenes", help="Dialogue scenes and summary templates"),
    output_dir: Path = typer.Option(Path("assets/summarization"), "--output-dir", help="Writes dialogues.{train,dev,test}.jsonl"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Short two-person dialogues with one-sentence summaries (DialogSum layout)."""
    splits = make_summarization(_read_table(scenes, "--scenes"), seed)
    files = {output_file(output_dir / f"dialogues.{split}.jsonl", "--output-dir"): _jsonl(records)
             for split, records in splits.items()}
    write_files_atomic(files)
    typer.echo(json.dumps({"output": [str(p) for p in files], "dialogues": {s: len(r) for s, r in splits.items()}}))


if __name__ == "__main__":
    app()
