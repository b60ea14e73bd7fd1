"""Pattern precision on a gold sample and scripts/filter_patterns.py: the imprecise ids are
dropped, the rest is copied as it was, the report says why, and bad input is one line."""

import importlib.util
import json
from pathlib import Path

import pytest
import spacy
from spacy.tokens import Doc, DocBin
from typer.testing import CliRunner

from spacy_task_pipes.ner.bootstrap import Pattern
from spacy_task_pipes.ner.pattern_filter import drop_patterns, pattern_precision

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"

GOLD = [  # (words, BIO tags)
    ("I moved to New York last year".split(), ["O", "O", "O", "B-LOC", "I-LOC", "O", "O"]),
    ("a new phone and a new car".split(), ["O"] * 7),
    ("new shoes from New York".split(), ["O", "O", "O", "B-LOC", "I-LOC"]),
    ("Paris in spring".split(), ["B-LOC", "O", "O"]),
    ("so new".split(), ["O", "O"]),
]
PATTERNS = [
    {"label": "LOC", "pattern": "new", "id": "new"},
    {"label": "LOC", "pattern": "New York", "id": "nyc", "note": "kept as written"},
    {"label": "LOC", "pattern": "NYC", "id": "nyc"},
    {"label": "LOC", "pattern": "Paris"},
    {"label": "ORG", "pattern": [{"LOWER": "spring"}], "id": "spring"},
]


def _gold_docs(nlp):
    return [Doc(nlp.vocab, words=w, spaces=[True] * (len(w) - 1) + [False], ents=t) for w, t in GOLD]


def _patterns():
    return [Pattern(label=r["label"], pattern=r["pattern"], id=r.get("id") or f"line{i}", line=i)
            for i, r in enumerate(PATTERNS, start=1)]


def _script():
    spec = importlib.util.spec_from_file_location("filter_patterns", ROOT / "scripts" / "filter_patterns.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


def _files(tmp_path):
    nlp = spacy.blank("en")
    patterns = tmp_path / "patterns.jsonl"
    patterns.write_text("".join(json.dumps(r) + "\n" for r in PATTERNS), encoding="utf-8")
    gold = tmp_path / "gold.spacy"
    DocBin(docs=_gold_docs(nlp)).to_disk(gold)
    return patterns, gold


def test_precision_counts_kept_matches_against_gold_entities():
    nlp = spacy.blank("en")
    result = pattern_precision(nlp, _patterns(), _gold_docs(nlp))
    # "new" inside "New York" loses to the longer match, so it is judged on its 4 own matches
    assert result.matches["new"] == 4 and result.correct["new"] == 0
    assert (result.matches["nyc"], result.correct["nyc"]) == (2, 2)
    assert (result.matches["line4"], result.correct["line4"]) == (1, 1)
    assert (result.matches["spring"], result.correct["spring"]) == (1, 0)
    assert result.docs == 5 and result.gold_entities == 3
    assert result.imprecise(0.2, 3) == ["new"]  # "spring" is wrong too, but one match is no evidence
    assert result.imprecise(0.2, 1) == ["new", "spring"]
    report = result.to_dict()
    assert report["per_pattern"]["new"] == {"matches": 4, "correct": 0, "precision": 0.0}
    assert list(report["per_pattern"])[0] == "new" and report["precision"] == pytest.approx(3 / 8)


def test_dropping_an_id_drops_every_line_of_it():
    kept = drop_patterns(_patterns(), ["nyc"])
    assert [p.id for p in kept] == ["new", "line4", "spring"]


def test_cli_writes_the_patterns_that_pass_and_a_report(tmp_path):
    patterns, gold = _files(tmp_path)
    out = tmp_path / "kept" / "patterns.jsonl"
    result = CliRunner().invoke(_script(), [str(patterns), str(gold), str(out), "--min-matches", "2"])
    assert result.exit_code == 0, result.output
    assert "1 below 0.2 dropped: new" in result.output
    kept = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert kept == PATTERNS[1:]  # records copied as they were (extra keys, no id added)
    report = json.loads(out.with_suffix(".report.json").read_text(encoding="utf-8"))
    assert report["dropped_ids"] == ["new"] and report["kept_lines"] == 4 and report["patterns"] == 5
    assert report["per_pattern"]["nyc"]["precision"] == 1.0

    # bootstrap reads the filtered file: "new" no longer makes silver entities
    from spacy_task_pipes.ner.bootstrap import RuleMatcher, load_patterns

    nlp = spacy.blank("en")
    matcher = RuleMatcher(nlp, load_patterns(out))
    assert [s.text for s in matcher(nlp.make_doc("a new car in New York"))] == ["New York"]


def test_min_precision_zero_keeps_every_pattern_and_reports(tmp_path):
    patterns, gold = _files(tmp_path)
    out, report = tmp_path / "all.jsonl", tmp_path / "r.json"
    result = CliRunner().invoke(_script(), [str(patterns), str(gold), str(out), "--min-precision", "0",
                                            "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == 5
    assert json.loads(report.read_text(encoding="utf-8"))["per_pattern"]["new"]["matches"] == 4


@pytest.mark.parametrize("case, message", [
    ("same_file", "is PATTERNS_PATH"),
    ("no_entities", "has no entities"),
    ("not_docbin", "is not a .spacy file"),
    ("drops_all", "drops every pattern"),
    ("bad_precision", "--min-precision: must be within [0, 1]"),
    ("bad_attr", "--phrase-attr: 'LEMMA' is not a token attribute"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, case, message):
    patterns, gold = _files(tmp_path)
    out = tmp_path / "out.jsonl"
    args = [str(patterns), str(gold), str(out)]
    if case == "same_file":
        args[2] = str(patterns)
    elif case == "no_entities":
        nlp = spacy.blank("en")
        DocBin(docs=[nlp.make_doc("nothing here")]).to_disk(gold)
    elif case == "not_docbin":
        gold.write_text("not a docbin", encoding="utf-8")
    elif case == "drops_all":
        patterns.write_text(json.dumps(PATTERNS[0]) + "\n", encoding="utf-8")
    elif case == "bad_precision":
        args += ["--min-precision", "1.5"]
    elif case == "bad_attr":
        args += ["--phrase-attr", "LEMMA"]
    result = CliRunner().invoke(_script(), args)
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not out.exists() and not out.with_suffix(".report.json").exists()


@pytest.mark.skipif(not (SHARED / "bond").is_dir(), reason="../shared/data is not beside the project")
def test_bond_twitter_noise_is_what_the_dev_set_drops():
    spec = importlib.util.spec_from_file_location("benchmark_distant", ROOT / "scripts" / "benchmark_distant.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    data = module.load_dataset("twitter", seed=0)
    dropped = pattern_precision(spacy.blank("en"), data.patterns, data.dev).imprecise(0.2, 3)
    lower = {pid.lower() for pid in dropped}
    assert {"new", "u", "la", "city"} <= lower  # "u" (movie), "new" (geo-loc): words, not names
    assert not {"twitter", "new orleans", "detroit"} & lower
