"""Bad inputs and kills for bootstrap and the converters (issue #14, items 5, 6 and 9).

* A table of bad inputs: each kind ends as one clear line on stderr naming the file and
  line (or the argument), exit code 2 and every file left byte-identical; or as a
  reported repair; or (a byte-order mark) is simply accepted.
* Kill tests: each script is SIGKILLed at many points of a run over a previous run's
  outputs; the outputs are then all the old ones or all complete new ones, load, and the
  next run leaves no temporaries. ``RELIABILITY_KILL_REPEAT=20`` repeats them.

The kills go through a "zygote": one Python process that imports spaCy and the package
once, then forks a child per run that executes ``scripts/<name>.py`` as ``__main__``
(``runpy``) and is SIGKILLed by the zygote itself (no pid-reuse race). A fresh
``python scripts/X.py`` per kill would spend ~3-5 s importing for a ~0.2 s run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Hashable, Iterator, List, Optional, Sequence, Tuple, Union

import pytest
import spacy
import srsly
from click.testing import Result
from spacy.tokens import DocBin

from spacy_task_pipes.io import recover_outputs
from spacy_task_pipes.qa.data import iter_squad_paragraphs
from spacy_task_pipes.seq2seq.base import register_doc_field

from conftest import ROOT, run_script

BOM = "\ufeff"
OLD_BYTES = b"previous output\n"
JOURNAL = ".spacy_task_pipes.commit.json"
BOOTSTRAP_OUTPUTS = ("train.spacy", "dev.spacy", "bootstrap_stats.json")
Content = Union[str, bytes]
Build = Callable[[Path], List[str]]  # writes a case's inputs into a folder, returns the CLI args


# ----------------------------------------------------------------- input builders


def put(d: Path, name: str, content: Content, encoding: str = "utf-8") -> Path:
    path = d / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def jsonl(*records: object) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def ner(d: Path, *entities: list, text: str = "Apple makes the iPhone X") -> List[str]:
    """convert args over one JSONL record with ``entities``."""
    return [str(put(d, "in.jsonl", jsonl({"text": text, "entities": list(entities)}))), str(d / "out.spacy")]


def ner_raw(content: Content, name: str = "in.jsonl", *options: str) -> Build:
    return lambda d: [str(put(d, name, content)), str(d / "out.spacy"), *options]


def bootstrap(texts: Optional[Content] = None, patterns: Optional[Content] = None, *options: str,
              texts_name: str = "texts.jsonl") -> Build:
    """bootstrap args over (by default valid) texts and patterns files."""
    texts = jsonl({"text": "I bought a Pixel 7 today"}, {"text": "No gadget here"}) if texts is None else texts
    patterns = jsonl({"label": "GADGET", "pattern": "Pixel 7"}) if patterns is None else patterns
    return lambda d: [str(put(d, texts_name, texts)), str(put(d, "patterns.jsonl", patterns)), str(d / "corpus"), *options]


CONTEXT = "Bob met Ann. Later Bob met Tom, and Bob left."  # "Bob" at 0, 19 and 36


def squad(answer: Optional[dict] = None, **question: object) -> dict:
    qa = {"id": "q1", "question": "Who met Ann?", "answers": [answer or {"text": "Bob", "answer_start": 0}]}
    qa.update(question)
    return {"version": "v2.0", "data": [{"title": "T", "paragraphs": [{"context": CONTEXT, "qas": [qa]}]}]}


def qa(data: Union[None, Content, dict, list] = None, *options: str) -> Build:
    """convert_qa args over a SQuAD file: ``data`` as JSON, or the file's text or bytes."""
    content = data if isinstance(data, (str, bytes)) else json.dumps(squad() if data is None else data)
    return lambda d: [str(d / "out.spacy"), "--input", str(put(d, "squad.json", content)), *options]


def pairs(name: str, content: Content, *options: str, task: str = "translation") -> Build:
    return lambda d: [task, str(d / "out.spacy"), "--input", str(put(d, name, content)), *options]


def make_dir(name: str) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        (d / name).mkdir(parents=True, exist_ok=True)
        return d / name

    return build


def with_setup(setup: Callable[[Path], object], build: Build) -> Build:
    def both(d: Path) -> List[str]:
        setup(d)
        return build(d)

    return both


# ----------------------------------------------------------------- output checks


def docs_of(path: Path) -> list:
    return list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))


def ents_are(expected: List[Tuple[str, str]]) -> Callable[[Path], None]:
    def check(d: Path) -> None:
        assert [(e.text, e.label_) for doc in docs_of(d / "out.spacy") for e in doc.ents] == expected

    return check


def gold_start_is(start: int) -> Callable[[Path], None]:
    def check(d: Path) -> None:
        (doc,) = docs_of(d / "out.spacy")
        (question,) = doc._.gold_answers
        assert question["answers"][0]["start"] == start and not question["is_impossible"]

    return check


def pairs_are(expected: List[Tuple[str, str]], field: str = "translation") -> Callable[[Path], None]:
    def check(d: Path) -> None:
        register_doc_field(field)
        got = [(doc.text, getattr(doc._, field)) for doc in docs_of(d / "out.spacy")]
        assert got == expected

    return check


def bootstrap_found(label_texts: List[str]) -> Callable[[Path], None]:
    def check(d: Path) -> None:
        docs = docs_of(d / "corpus" / "train.spacy") + docs_of(d / "corpus" / "dev.spacy")
        assert sorted(e.text for doc in docs for e in doc.ents) == sorted(label_texts)

    return check


# ----------------------------------------------------------------- the table


@dataclass(frozen=True)
class Case:
    kind: str
    script: str
    build: Build
    outcome: str  # "error" (exit 2, one line), "repair" (exit 0, reported) or "accept" (exit 0)
    expect: str = ""  # substring of stderr (error: incl. the file and line or the argument)
    check: Optional[Callable[[Path], None]] = None


C, B, Q, S = "convert", "bootstrap", "convert_qa", "convert_seq2seq"
CONLL = "Sony B-ORG\nmade O\nthe O\nPlayStation B-GADGET\n"
TOKENS_IPHONE = [{"LOWER": "iphone"}, {"LOWER": "x"}]

CASES = [
    # --- convert (NER): silent corruption (item 6)
    Case("empty-label", C, lambda d: ner(d, [0, 5, ""]), "error", "in.jsonl:1: entity [0, 5, ''] needs a non-empty string label"),
    Case("whitespace-label", C, lambda d: ner(d, [0, 5, " "]), "error", "in.jsonl:1: entity [0, 5, ' '] needs a non-empty"),
    Case("padded-label", C, lambda d: ner(d, [0, 5, " ORG"]), "error", "in.jsonl:1: entity [0, 5, ' ORG'] needs a non-empty"),
    Case("bool-offset", C, lambda d: ner(d, [True, 5, "ORG"]), "error", "in.jsonl:1: entity [True, 5, 'ORG'] is not [start, end, label] with integer offsets"),
    Case("float-offset", C, lambda d: ner(d, [0, 4.5, "ORG"]), "error", "in.jsonl:1: entity [0, 4.5, 'ORG'] is not"),
    Case("string-offset", C, lambda d: ner(d, [0, "5", "ORG"]), "error", "in.jsonl:1: entity [0, '5', 'ORG'] is not"),
    Case("offset-out-of-range", C, lambda d: ner(d, [0, 99, "ORG"]), "error", "in.jsonl:1: entity [0, 99, 'ORG'] is out of range"),
    Case("misaligned-entity", C, lambda d: ner(d, [0, 3, "ORG"]), "error", "in.jsonl:1: span [0, 3, 'ORG'] 'App' does not fall on token boundaries"),
    Case("misaligned-entity-expanded", C, lambda d: ner(d, [0, 3, "ORG"]) + ["-a", "expand"], "repair",
         "in.jsonl:1: span [0, 3, 'ORG'] 'App' does not fall on token boundaries (tokens ['Apple']); expanded to 'Apple'",
         ents_are([("Apple", "ORG")])),
    Case("overlapping-entities", C, lambda d: ner(d, [0, 5, "ORG"], [0, 11, "ORG"]), "error", "in.jsonl:1: overlapping entities"),
    Case("invalid-json-line", C, ner_raw(jsonl({"text": "a", "entities": []}) + '{"text": oops}\n'), "error", "in.jsonl:2: invalid JSON"),
    Case("missing-text-field", C, ner_raw(jsonl({"txt": "a"})), "error", 'in.jsonl:1: expected {"text": ..., "entities": [...]}'),
    Case("blank-jsonl-line", C, ner_raw(jsonl({"text": "a"}) + "\n" + jsonl({"text": "b"})), "error", "in.jsonl:2: empty line"),
    Case("empty-file", C, ner_raw(""), "error", "in.jsonl: file is empty"),
    Case("bad-tuple-item", C, ner_raw(json.dumps([["ok", {"entities": []}], ["no annotations"]]), "train.json"), "error", "train.json:2: expected a [text"),
    Case("invalid-iob-tag", C, ner_raw("Sony B-ORG\nmade Q-ORG\n", "in.conll"), "error", "in.conll:2: invalid IOB tag 'Q-ORG'"),
    Case("undecodable-input", C, ner_raw("El O\nCorte B-ORG\nInglés I-ORG\n".encode("latin-1"), "in.conll"), "error",
         "in.conll:3: cannot decode byte 0xe9"),
    Case("bom-jsonl", C, ner_raw(BOM + jsonl({"text": "Apple makes it", "entities": [[0, 5, "ORG"]]})), "accept", check=ents_are([("Apple", "ORG")])),
    Case("bom-conll", C, ner_raw(BOM + CONLL, "in.conll"), "accept", check=ents_are([("Sony", "ORG"), ("PlayStation", "GADGET")])),
    # --- convert: arguments (item 9)
    Case("missing-input", C, lambda d: [str(d / "nope.jsonl"), str(d / "out.spacy")], "error", "INPUT_PATH: file not found"),
    Case("input-is-directory", C, lambda d: [str(make_dir("in.jsonl")(d)), str(d / "out.spacy")], "error", "in.jsonl is a directory; pass a file"),
    Case("output-is-directory", C, lambda d: [ner(d)[0], str(make_dir("out.d")(d))], "error", "out.d is a directory; pass a file path"),
    Case("unknown-encoding", C, lambda d: ner(d) + ["--encoding", "utf-42"], "error", "--encoding: unknown encoding 'utf-42'"),
    Case("unknown-format", C, lambda d: ner(d) + ["--format", "xml"], "error", "--format: must be one of"),
    Case("unknown-lang", C, lambda d: ner(d) + ["--lang", "zz"], "error", "--lang: spaCy has no language 'zz'"),
    # --- bootstrap (items 5, 9)
    Case("empty-texts", B, bootstrap(""), "error", "texts.jsonl: no texts found"),
    Case("blank-texts-txt", B, bootstrap("\n  \n", texts_name="texts.txt"), "error", "texts.txt: no texts found"),
    Case("texts-missing-field", B, bootstrap(jsonl({"text": "ok"}, {"txt": "oops"})), "error", "texts.jsonl:2: expected an object with a string 'text' field"),
    Case("patterns-invalid-json", B, bootstrap(None, jsonl({"label": "G", "pattern": "x"}) + "{oops\n"), "error", "patterns.jsonl:2: invalid JSON"),
    Case("pattern-bad-regex", B, bootstrap(None, jsonl({"label": "G", "pattern": "x"}, {"label": "G", "pattern": [{"TEXT": {"REGEX": "("}}], "id": "rx"})),
         "error", "patterns.jsonl:2: invalid token pattern 'rx': missing ), unterminated subpattern"),
    Case("pattern-unknown-attr", B, bootstrap(None, jsonl({"label": "G", "pattern": [{"LOWERR": "x"}], "id": "px"})), "error",
         "patterns.jsonl:1: invalid token pattern 'px': [pattern -> 0 -> LOWERR] Extra inputs are not permitted"),
    Case("pattern-bad-operator", B, bootstrap(None, jsonl({"label": "G", "pattern": [{"LOWER": "x", "OP": "%"}]})), "error",
         "patterns.jsonl:1: invalid token pattern 'line1': [pattern -> 0 -> OP"),
    Case("pattern-custom-attr", B, bootstrap(None, jsonl({"label": "G", "pattern": [{"_": {"x": 1}}]})), "error", "patterns.jsonl:1: token pattern uses a custom attribute"),
    Case("pattern-empty-label", B, bootstrap(None, jsonl({"label": "", "pattern": "x"})), "error", "patterns.jsonl:1: 'label' must be a non-empty string"),
    Case("texts-not-found", B, lambda d: [str(d / "nope.jsonl"), *bootstrap()(d)[1:]], "error", "TEXTS_PATH: file not found"),
    Case("output-dir-is-file", B, lambda d: bootstrap()(d)[:2] + [str(put(d, "corpus.txt", "x"))], "error", "corpus.txt is a file; pass a directory"),
    Case("output-target-is-directory", B, with_setup(make_dir("corpus/dev.spacy"), bootstrap()), "error", "dev.spacy is a directory; pass a file path"),
    Case("dev-fraction-out-of-range", B, bootstrap(None, None, "--dev-fraction", "1.5"), "error", "--dev-fraction: must be at least 0 and below 1"),
    Case("bad-phrase-attr", B, bootstrap(None, None, "--phrase-attr", "LEMMA"), "error", "--phrase-attr: 'LEMMA' is not a token attribute"),
    Case("missing-base-model", B, bootstrap(None, None, "--base-model", "no_such_pipeline"), "error", "--base-model: cannot load 'no_such_pipeline'"),
    Case("bootstrap-unknown-encoding", B, bootstrap(None, None, "--encoding", "nope"), "error", "--encoding: unknown encoding 'nope'"),
    Case("bom-texts-and-patterns", B, bootstrap(BOM + jsonl({"text": "my iphone x"}), BOM + jsonl({"label": "GADGET", "pattern": TOKENS_IPHONE})),
         "accept", check=bootstrap_found(["iphone x"])),
    # --- convert_qa (item 6)
    Case("answer-start-negative", Q, qa(squad({"text": "Bob", "answer_start": -5})), "error",
         "squad.json: data[0].paragraphs[0].qas[0] (id 'q1'): answers[0].answer_start -5 is outside the context"),
    Case("answer-start-huge", Q, qa(squad({"text": "Bob", "answer_start": 10**6})), "error", "(id 'q1'): answers[0].answer_start 1000000 is outside"),
    Case("answer-start-string", Q, qa(squad({"text": "Bob", "answer_start": "19"})), "error", "(id 'q1'): answers[0].answer_start must be an integer character offset, got '19' (str)"),
    Case("answer-start-float", Q, qa(squad({"text": "Bob", "answer_start": 19.7})), "error", "(id 'q1'): answers[0].answer_start must be an integer character offset, got 19.7 (float)"),
    Case("answer-start-bool", Q, qa(squad({"text": "Bob", "answer_start": True})), "error", "(id 'q1'): answers[0].answer_start must be an integer character offset, got True (bool)"),
    Case("answer-start-missing", Q, qa(squad({"text": "Bob"})), "error", "(id 'q1'): answers[0] needs 'text' (a string) and an integer 'answer_start'"),
    Case("empty-answer-text", Q, qa(squad({"text": "", "answer_start": 0})), "error", "(id 'q1'): answers[0].text is empty but the question is not is_impossible"),
    Case("answer-not-in-context", Q, qa(squad({"text": "Zed", "answer_start": 0})), "error", "(id 'q1'): answers[0].text 'Zed' is not at answer_start 0 nor anywhere"),
    Case("is-impossible-string", Q, qa(squad(is_impossible="false")), "error", "(id 'q1'): 'is_impossible' must be true or false, got 'false'"),
    Case("answer-start-slightly-off", Q, qa(squad({"text": "Bob", "answer_start": 33})), "repair",
         "squad.json: data[0].paragraphs[0] question 'q1': answer 'Bob' is not at answer_start 33; moved to its nearest occurrence at 36",
         gold_start_is(36)),
    Case("squad-invalid-json", Q, qa('{"data": [\n  {"title": oops}]}'), "error", "squad.json:2: not valid JSON"),
    Case("squad-not-squad", Q, qa([1, 2]), "error", "squad.json is not SQuAD JSON"),
    Case("squad-bom", Q, qa((BOM + json.dumps(squad({"text": "Bob", "answer_start": 19}))).encode("utf-8")), "accept", check=gold_start_is(19)),
    Case("squad-undecodable", Q, qa(json.dumps(squad(), ensure_ascii=False).replace("Ann", "Anné").encode("latin-1")), "error",
         "squad.json:1: cannot decode byte 0xe9"),
    Case("squad-missing-input", Q, lambda d: [str(d / "out.spacy"), "--input", str(d / "nope.json")], "error", "--input: file not found"),
    Case("squad-output-is-directory", Q, lambda d: [str(make_dir("out.d")(d)), *qa()(d)[1:]], "error", "out.d is a directory; pass a file path"),
    Case("squad-unknown-encoding", Q, qa(None, "--encoding", "nope"), "error", "--encoding: unknown encoding 'nope'"),
    # --- convert_seq2seq (item 6)
    Case("csv-unterminated-quote", S, pairs("p.csv", 'source,target\nhola,olá\n"adiós,tchau\nsí,sim\n'), "error",
         "p.csv:3: invalid CSV (unexpected end of data): a quote left open"),
    Case("csv-quote-swallows-a-record", S, pairs("p.csv", 'source,target\nhola,olá\nadiós,"tchau\nsí,sim"\nno,não\n'), "error",
         "p.csv:3: this record runs on to line 4 and takes in 'sí,sim'"),
    Case("csv-stray-quote", S, pairs("p.csv", 'source,target\nhola,"olá\nsí,"sim"\n'), "error", "p.csv:2: invalid CSV (',' expected after '\"')"),
    Case("csv-field-count", S, pairs("p.csv", "source,target\nhola,olá,extra\n"), "error", "p.csv:2: record has 3 field(s) but the header has 2"),
    Case("csv-undecodable", S, pairs("p.csv", "source,target\nmañana,amanhã\n".encode("latin-1")), "error",
         "p.csv:2: cannot decode byte 0xf1 at column 3 as utf-8"),
    Case("csv-latin-1-with-encoding", S, pairs("p.csv", "source,target\nmañana,amanhã\n".encode("latin-1"), "--encoding", "latin-1"),
         "accept", check=pairs_are([("mañana", "amanhã")])),
    Case("csv-bom-header", S, pairs("p.csv", BOM + "source,target\nhola,olá\n"), "accept", check=pairs_are([("hola", "olá")])),
    Case("csv-multiline-dialogues", S, pairs("d.csv", 'id,dialogue,summary\n1,"#P1#: Hi, you.\n#P2#: Hi, me, ok.",greet\n', task="summarization"),
         "accept", check=pairs_are([("#P1#: Hi, you.\n#P2#: Hi, me, ok.", "greet")], "summary")),
    Case("tsv-undecodable", S, pairs("p.tsv", "hola\tolá\nmañana\tamanhã\n".encode("latin-1")), "error", "p.tsv:1: cannot decode byte 0xe1"),
    Case("tsv-no-tab", S, pairs("p.tsv", "hola\tolá\nno tab\n"), "error", "p.tsv, line 2: expected source<TAB>target"),
    Case("jsonl-missing-field", S, pairs("p.jsonl", jsonl({"source": "a", "target": "b"}, {"source": "a"})), "error", "p.jsonl, line 2: no field(s) ['target']"),
    Case("bom-tsv", S, pairs("p.tsv", BOM + "hola\tolá\n"), "accept", check=pairs_are([("hola", "olá")])),
    Case("parallel-undecodable", S, lambda d: ["translation", str(d / "out.spacy"), "-s", str(put(d, "x.spa", "uno\nmañana\n", "latin-1")),
                                               "-t", str(put(d, "x.por", "um\namanhã\n"))], "error", "x.spa:2: cannot decode byte 0xf1"),
    Case("seq2seq-unknown-encoding", S, pairs("p.tsv", "a\tb\n", "--encoding", "nope"), "error", "--encoding: unknown encoding 'nope'"),
    Case("seq2seq-missing-input", S, lambda d: ["translation", str(d / "out.spacy"), "-i", str(d / "nope.tsv")], "error", "--input: file not found"),
    Case("seq2seq-output-is-directory", S, lambda d: ["translation", str(make_dir("out.d")(d)), "-i", str(put(d, "p.tsv", "a\tb\n"))], "error", "out.d is a directory; pass a file path"),
]

DEFAULT_OUTPUTS = {C: ["out.spacy"], Q: ["out.spacy"], S: ["out.spacy"], B: [f"corpus/{n}" for n in BOOTSTRAP_OUTPUTS]}


def snapshot(d: Path) -> Dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def precreate_outputs(d: Path, script: str) -> None:
    """A previous run's outputs (any bytes), where the case left room for them."""
    for name in DEFAULT_OUTPUTS[script]:
        path = d / name
        if not path.exists() and not path.parent.is_file():
            put(d, name, OLD_BYTES)


def assert_clear_error(result: Result, case: Case, before: Dict[str, bytes], d: Path) -> None:
    assert result.exit_code == 2, f"{case.kind}: exit {result.exit_code}: {result.output}"
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit), result.output
    message = result.stderr.strip()
    assert "\n" not in message and message, f"{case.kind}: stderr is not one line: {result.stderr!r}"
    assert case.expect in message, f"{case.kind}: {case.expect!r} not in {message!r}"
    assert snapshot(d) == before, f"{case.kind}: files changed or appeared although the run failed"


@pytest.mark.parametrize("case", CASES, ids=[c.kind for c in CASES])
def test_bad_input_table(tmp_path: Path, case: Case) -> None:
    args = case.build(tmp_path)
    precreate_outputs(tmp_path, case.script)
    before = snapshot(tmp_path)
    result = run_script(case.script, *args)
    if case.outcome == "error":
        assert_clear_error(result, case, before, tmp_path)
        return
    assert result.exit_code == 0, f"{case.kind}: {result.output}"
    assert case.expect in result.stderr, f"{case.kind}: the repair is not reported: {result.stderr!r}"
    assert case.check is not None
    case.check(tmp_path)


def test_table_size() -> None:
    kinds = [c.kind for c in CASES]
    assert len(kinds) == len(set(kinds)) >= 25
    assert {c.outcome for c in CASES} == {"error", "repair", "accept"}


def test_qa_repairs_are_listed_in_the_summary(tmp_path: Path) -> None:
    data = squad({"text": "Bob", "answer_start": 33})
    data["data"][0]["paragraphs"][0]["qas"].append(
        {"id": "q2", "question": "Who else?", "answers": [{"text": "Bob", "answer_start": 17}]}
    )
    args = qa(data)(tmp_path)
    result = run_script(Q, *args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["repaired_answers"] == 2
    assert [r.split(": ", 1)[1] for r in summary["repairs"]] == [
        "data[0].paragraphs[0] question 'q1': answer 'Bob' is not at answer_start 33; moved to its nearest occurrence at 36",
        "data[0].paragraphs[0] question 'q2': answer 'Bob' is not at answer_start 17; moved to its nearest occurrence at 19",
    ]
    assert result.stderr.count("repaired: ") == 2 and "2 answer(s) moved" in result.stderr


def test_qa_repairs_warn_without_a_list() -> None:
    with pytest.warns(UserWarning, match="question 'q1': answer 'Bob' is not at answer_start 33"):
        (para,) = iter_squad_paragraphs(squad({"text": "Bob", "answer_start": 33}), "x.json")
    assert para["qas"][0]["answers"] == [{"text": "Bob", "start": 36}]


def bootstrap_inputs(d: Path, n: int = 12) -> Tuple[Path, Path]:
    texts = put(d, "texts.jsonl", jsonl(*({"text": f"Text {i}: my Pixel 7 and an iPhone X"} for i in range(n))))
    patterns = put(d, "patterns.jsonl", jsonl({"label": "GADGET", "pattern": "Pixel 7"},
                                              {"label": "GADGET", "pattern": TOKENS_IPHONE, "id": "iphone"}))
    return texts, patterns


def test_bootstrap_on_empty_texts_keeps_the_old_outputs(tmp_path: Path) -> None:
    texts, patterns = bootstrap_inputs(tmp_path)
    out = tmp_path / "corpus"
    assert run_script(B, texts, patterns, out).exit_code == 0
    before = snapshot(out)
    assert set(before) == set(BOOTSTRAP_OUTPUTS)
    for name, content in (("texts.jsonl", ""), ("texts.txt", "\n  \n")):
        empty = put(tmp_path, name, content)
        result = run_script(B, empty, patterns, out)
        assert result.exit_code == 2 and result.stderr.strip().startswith(f"error: {empty}: no texts found")
        assert snapshot(out) == before


# ----------------------------------------------------------------- kill tests

ZYGOTE = r"""
import json, os, runpy, signal, sys, time

import spacy, typer, tqdm  # noqa: F401 - imported once, shared by every forked run
import spacy_task_pipes.ner.bootstrap, spacy_task_pipes.cli, spacy_task_pipes.ner.convert  # noqa: F401
import spacy_task_pipes.qa.data, spacy_task_pipes.seq2seq.data  # noqa: F401

for lang in ("en", "xx"):
    spacy.blank(lang)


def child(job):
    log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)
    sys.argv = job["argv"]
    code = 0
    try:
        runpy.run_path(job["argv"][0], run_name="__main__")
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    except BaseException:
        import traceback
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def inode(path):
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def triggered(job, inodes):  # a file *<kill_on> shows in <watch>, or one of <replaced> is replaced
    if job.get("watch") and any(name.endswith(job["kill_on"]) for name in os.listdir(job["watch"])):
        return True
    return any(inode(path) != before for path, before in inodes.items())


def supervise(pid, job, t0, inodes):
    deadline = None if job.get("kill_after") is None else t0 + job["kill_after"]
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        now = time.perf_counter()
        if deadline is None and triggered(job, inodes):
            deadline = now + job.get("delay", 0.0)
        if deadline is not None and now >= deadline:
            os.kill(pid, signal.SIGKILL)  # not reaped yet, so pid is still our child
            return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        time.sleep(0.0001)


print("ready", flush=True)
for line in sys.stdin:
    job = json.loads(line)
    inodes = {path: inode(path) for path in job.get("replaced", [])}
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        child(job)
    code = supervise(pid, job, t0, inodes)
    print(json.dumps({"code": code, "seconds": time.perf_counter() - t0}), flush=True)
"""


@dataclass
class Run:
    code: int
    seconds: float

    @property
    def killed(self) -> bool:
        return self.code == -9


class Zygote:
    """Runs ``scripts/<name>.py`` in forked children of one warm interpreter."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen([sys.executable, "-c", ZYGOTE], cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def run(self, script: str, args: Sequence[object], **kill: object) -> Run:
        """``kill``: ``kill_after`` (seconds); or SIGKILL ``delay`` seconds after a file
        named ``*<kill_on>`` shows in the folder ``watch``, or after one of the files
        ``replaced`` is replaced (its inode changes)."""
        job = {"argv": [f"scripts/{script}.py", *map(str, args)], "log": str(self.log), **kill}
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        return Run(**json.loads(self.proc.stdout.readline()))

    def normal_run(self, script: str, args: Sequence[object]) -> Run:
        run = self.run(script, args)
        assert run.code == 0, self.log.read_text()[-3000:]
        return run

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def zygote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zygote]:
    z = Zygote(tmp_path_factory.mktemp("zygote") / "runs.log")
    yield z
    z.close()


@dataclass(frozen=True)
class KillSpec:
    """How to run one script twice (old and new) into an output folder and tell the
    two runs' outputs apart (``signature`` also checks that they are consistent)."""

    script: str
    outputs: Tuple[str, ...]
    prepare: Callable[[Path], Tuple[List[object], List[object]]]  # (old args, new args) with "{out}"
    signature: Callable[[Path], Hashable]


def bootstrap_signature(folder: Path) -> Hashable:
    train, dev = docs_of(folder / "train.spacy"), docs_of(folder / "dev.spacy")
    stats = srsly.read_json(folder / "bootstrap_stats.json")
    assert (stats["train_docs"], stats["dev_docs"]) == (len(train), len(dev)), "stats from another run"
    train_texts, dev_texts = {d.text for d in train}, {d.text for d in dev}
    assert not train_texts & dev_texts, "train and dev from different runs"
    assert stats["texts"] == len(train_texts | dev_texts)
    return stats["seed"], tuple(sorted(dev_texts))


def user_data_signature(folder: Path) -> Hashable:
    return tuple((doc.text, len(doc.user_data)) for doc in docs_of(folder / "out.spacy"))


def ner_signature(folder: Path) -> Hashable:
    return tuple((doc.text, tuple((e.start_char, e.end_char, e.label_) for e in doc.ents)) for doc in docs_of(folder / "out.spacy"))


def prepare_bootstrap(d: Path) -> Tuple[List[object], List[object]]:
    """Old and new runs over the same texts with other seeds: mixing their train and dev
    files would put a text in both or in neither."""
    texts, patterns = bootstrap_inputs(d, n=200)
    return ([texts, patterns, "{out}", "--seed", "1", "--dev-fraction", "0.3"],
            [texts, patterns, "{out}", "--seed", "2", "--dev-fraction", "0.2"])


def prepare_convert(d: Path) -> Tuple[List[object], List[object]]:
    def records(n: int, tag: str) -> str:
        start = len(f"{tag} 0: my ")
        return jsonl(*({"text": f"{tag} 0: my Pixel 7 broke ({i})", "entities": [[start, start + 7, "GADGET"]]} for i in range(n)))

    return ([put(d, "old.jsonl", records(50, "old")), "{out}/out.spacy"],
            [put(d, "new.jsonl", records(200, "new")), "{out}/out.spacy"])


def prepare_qa(d: Path) -> Tuple[List[object], List[object]]:
    def data(n: int, tag: str) -> dict:
        paragraphs = [{"context": f"{tag}. {CONTEXT} ({i})", "qas": [
            {"id": f"{tag}{i}", "question": "Who met Ann?", "answers": [{"text": "Bob", "answer_start": len(f"{tag}. ")}]}]}
            for i in range(n)]
        return {"version": "v2.0", "data": [{"title": tag, "paragraphs": paragraphs}]}

    old, new = put(d, "old.json", json.dumps(data(20, "old"))), put(d, "new.json", json.dumps(data(150, "new")))
    return ["{out}/out.spacy", "--input", old], ["{out}/out.spacy", "--input", new]


def prepare_seq2seq(d: Path) -> Tuple[List[object], List[object]]:
    def csv_text(n: int, tag: str) -> str:
        return "source,target\n" + "".join(f'"{tag} {i}, hola","{tag} {i}, olá"\n' for i in range(n))

    old, new = put(d, "old.csv", csv_text(50, "old")), put(d, "new.csv", csv_text(300, "new"))
    return ["translation", "{out}/out.spacy", "--input", old], ["translation", "{out}/out.spacy", "--input", new]


KILL_SPECS = {
    "bootstrap": KillSpec(B, BOOTSTRAP_OUTPUTS, prepare_bootstrap, bootstrap_signature),
    "convert": KillSpec(C, ("out.spacy",), prepare_convert, ner_signature),
    "convert_qa": KillSpec(Q, ("out.spacy",), prepare_qa, user_data_signature),
    "convert_seq2seq": KillSpec(S, ("out.spacy",), prepare_seq2seq, user_data_signature),
}
# Fractions of a measured run; "as soon as the first output is replaced" (a writer that
# is not transactional is then caught between its outputs); "as soon as the commit
# journal shows" (only multi-file outputs have one); last "a delay after a temporary
# shows", so that the final normal run has dead runs' temporaries to remove.
KILL_FRACTIONS = (0.3, 0.6, 0.85, 0.95)
KILL_ON_TEMP_DELAYS = (0.002, 0.0005, 0.0)
REPEAT = int(os.environ.get("RELIABILITY_KILL_REPEAT", "1"))


def kill_points(seconds: float, folder: Path, outputs: Sequence[str]) -> List[Dict[str, object]]:
    points: List[Dict[str, object]] = [{"kill_after": f * seconds} for f in KILL_FRACTIONS]
    points.append({"replaced": [str(folder / name) for name in outputs]})
    if len(outputs) > 1:
        points.append({"watch": str(folder), "kill_on": JOURNAL})
    points += [{"watch": str(folder), "kill_on": ".tmp", "delay": delay} for delay in KILL_ON_TEMP_DELAYS]
    return points


def with_out(args: Sequence[object], out: Path) -> List[str]:
    return [str(a).replace("{out}", str(out)) for a in args]


def temporaries(folder: Path) -> List[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp") or p.name == JOURNAL)


def state_after_kill(spec: KillSpec, folder: Path, old: Dict[str, bytes], new_sig: Hashable) -> str:
    """"old" (byte-identical old outputs), "new" (a complete new set) or "committing"
    (killed between the renames of a journalled commit: recovery, which the next
    writer also does, completes the new set)."""
    if (folder / JOURNAL).exists():
        recover_outputs(folder)
        assert spec.signature(folder) == new_sig and JOURNAL not in temporaries(folder)
        return "committing"
    if {name: (folder / name).read_bytes() for name in spec.outputs} == old:
        return "old"
    assert spec.signature(folder) == new_sig, "outputs are neither all old nor all new"
    return "new"


@pytest.mark.parametrize("repeat", range(REPEAT))
@pytest.mark.parametrize("name", sorted(KILL_SPECS))
def test_kill_leaves_old_or_new_outputs(tmp_path: Path, zygote: Zygote, name: str, repeat: int) -> None:
    """SIGKILL a run over the old outputs at every kill point in turn (restoring the old
    outputs in between, leaving the dead runs' temporaries); then one normal run must
    complete, remove every temporary and write the new outputs."""
    spec = KILL_SPECS[name]
    old_args, new_args = spec.prepare(tmp_path)
    old_dir, new_dir, work = tmp_path / "old", tmp_path / "new", tmp_path / "work"
    zygote.normal_run(spec.script, with_out(old_args, old_dir))
    seconds = zygote.normal_run(spec.script, with_out(new_args, new_dir)).seconds
    old = {n: (old_dir / n).read_bytes() for n in spec.outputs}
    new_sig = spec.signature(new_dir)
    assert spec.signature(old_dir) != new_sig
    shutil.copytree(old_dir, work)
    states = []
    for point in kill_points(seconds, work, spec.outputs):
        run = zygote.run(spec.script, with_out(new_args, work), **point)
        assert run.code in (0, -9), zygote.log.read_text()[-3000:]
        states.append((run.killed, state_after_kill(spec, work, old, new_sig)))
        for output, data in old.items():
            (work / output).write_bytes(data)
    left_behind = temporaries(work)
    zygote.normal_run(spec.script, with_out(new_args, work))
    assert spec.signature(work) == new_sig and not temporaries(work), temporaries(work)
    print(f"{name}: run {seconds:.2f}s; (killed, state) per kill point {states}; temporaries of dead "
          f"runs before the last run: {len(left_behind)}")
    assert (True, "old") in states, "no kill point hit a run before its commit"
