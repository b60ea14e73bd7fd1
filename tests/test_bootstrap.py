import json

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_task_pipes.ner.bootstrap import (
    Pattern,
    RuleMatcher,
    bootstrap_docs,
    load_patterns,
    merge_rehearsal,
    split_docs,
)
from spacy_task_pipes.io import InputError

from conftest import run_script

IPHONE_PATTERNS = [
    Pattern("GADGET", [{"LOWER": "iphone"}, {"LOWER": "x"}], "iphone-x", 1),
    Pattern("GADGET", [{"LOWER": "iphone"}, {"IS_DIGIT": True, "OP": "?"}], "iphone-n", 2),
]


def ents(doc):
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents]


def test_longest_match_wins_on_overlap():
    nlp = spacy.blank("en")
    matcher = RuleMatcher(nlp, IPHONE_PATTERNS)
    (doc,) = bootstrap_docs(nlp, ["How to preorder the iPhone X"], matcher)
    assert ents(doc) == [(20, 28, "GADGET")]
    assert matcher.stats.overlaps_resolved == 1
    assert dict(matcher.stats.kept_per_pattern) == {"iphone-x": 1}


def test_stats_and_explicit_outside_tokens():
    nlp = spacy.blank("en")
    patterns = IPHONE_PATTERNS + [Pattern("GADGET", "PlayStation 5", "ps5", 3)]
    matcher = RuleMatcher(nlp, patterns)
    texts = ["my iphone 12 and my playstation 5 both died", "The weather is nice today.", "iPhone X vs iPhone 8"]
    docs = bootstrap_docs(nlp, texts, matcher)
    assert ents(docs[0]) == [(3, 12, "GADGET"), (20, 33, "GADGET")]
    assert ents(docs[2]) == [(0, 8, "GADGET"), (12, 20, "GADGET")]
    # Texts without matches are negatives, not missing annotation
    assert all(t.ent_iob_ == "O" for t in docs[1])
    assert all(t.ent_iob_ in ("B", "I", "O") for d in docs for t in d)
    stats = matcher.stats.to_dict()
    assert stats["texts"] == 3
    assert stats["texts_without_entities"] == 1
    assert stats["entities_per_label"] == {"GADGET": 4}
    assert stats["matches_per_pattern"]["ps5"] == {"candidates": 1, "kept": 1}
    assert stats["matches_per_pattern"]["iphone-n"]["kept"] == 2


def test_load_patterns_reports_bad_lines(tmp_path):
    path = tmp_path / "patterns.jsonl"
    path.write_text('{"label": "GADGET", "pattern": "Pixel 7"}\n{"label": "GADGET", "pattern": \n')
    with pytest.raises(InputError, match=r"patterns.jsonl:2: invalid JSON"):
        load_patterns(path)
    path.write_text('{"label": "GADGET", "pattern": "Pixel 7"}\n{"pattern": "Pixel 8"}\n')
    with pytest.raises(InputError, match=r"patterns.jsonl:2: a pattern needs 'label' and 'pattern'"):
        load_patterns(path)
    path.write_text('{"label": "GADGET", "pattern": []}\n')
    with pytest.raises(InputError, match=r":1: 'pattern' must be a non-empty"):
        load_patterns(path)
    path.write_text('{"label": "GADGET", "pattern": [{"LOWERR": "pixel"}], "id": "px"}\n')
    with pytest.raises(InputError, match=r"patterns.jsonl:1: invalid token pattern 'px': \[pattern -> 0 -> LOWERR\]"):
        RuleMatcher(spacy.blank("en"), load_patterns(path))


def test_split_is_seeded_and_disjoint():
    nlp = spacy.blank("en")
    docs = list(nlp.pipe([f"text number {i}" for i in range(50)]))
    train, dev = split_docs(docs, 0.2, seed=3)
    again_train, again_dev = split_docs(docs, 0.2, seed=3)
    assert [d.text for d in dev] == [d.text for d in again_dev]
    assert len(dev) == 10 and len(train) == 40
    assert not {d.text for d in train} & {d.text for d in dev}
    _, other_dev = split_docs(docs, 0.2, seed=4)
    assert [d.text for d in dev] != [d.text for d in other_dev]


def test_rehearsal_rules_win_conflicts():
    nlp = spacy.blank("en")
    matcher = RuleMatcher(nlp, IPHONE_PATTERNS)
    doc = nlp("Apple sold the iPhone X in Paris")
    base = nlp("Apple sold the iPhone X in Paris")
    base.ents = [base.char_span(0, 5, "ORG"), base.char_span(15, 21, "PRODUCT"), base.char_span(27, 32, "GPE")]
    merged = merge_rehearsal(doc, matcher(doc), base, matcher.labels, matcher.stats)
    assert [(s.text, s.label_) for s in merged] == [("Apple", "ORG"), ("iPhone X", "GADGET"), ("Paris", "GPE")]
    assert matcher.stats.rehearsal_dropped_conflicts == 1


CITY_SENTENCES = [
    ("I flew to Paris last week.", (10, 15)),
    ("We drove from Berlin yesterday.", (14, 20)),
    ("She moved to Madrid in May.", (13, 19)),
    ("He lives in Tokyo now.", (12, 17)),
    ("They visited Rome and loved it.", (13, 17)),
    ("Our office is in Lisbon.", (17, 23)),
]


@pytest.fixture(scope="module")
def base_pipeline(tmp_path_factory):
    """A small NER pipeline with a label the rules don't know (CITY), trained here."""
    from spacy.training import Example

    nlp = spacy.blank("en")
    ner = nlp.add_pipe("ner")
    ner.add_label("CITY")
    examples = [
        Example.from_dict(nlp.make_doc(text), {"entities": [(s, e, "CITY")]}) for text, (s, e) in CITY_SENTENCES
    ]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(40):
        nlp.update(examples, sgd=optimizer, drop=0.0)
    path = tmp_path_factory.mktemp("base") / "base_model"
    nlp.to_disk(path)
    predicted = [ents(d) for d in nlp.pipe(t for t, _ in CITY_SENTENCES)]
    assert predicted == [[(s, e, "CITY")] for _, (s, e) in CITY_SENTENCES], "base pipeline did not learn CITY"
    return path


def test_bootstrap_cli_with_rehearsal(tmp_path, base_pipeline):
    texts = tmp_path / "texts.jsonl"
    lines = [text.replace(".", " with my iPhone X today.", 1) for text, _ in CITY_SENTENCES[:3]]
    lines += [text for text, _ in CITY_SENTENCES[3:]]
    texts.write_text("".join(json.dumps({"text": t}) + "\n" for t in lines))
    patterns = tmp_path / "patterns.jsonl"
    patterns.write_text("".join(json.dumps({"label": p.label, "pattern": p.pattern, "id": p.id}) + "\n" for p in IPHONE_PATTERNS))
    out = tmp_path / "corpus"
    result = run_script("bootstrap", texts, patterns, out, "--dev-fraction", "0.5", "--base-model", base_pipeline)
    assert result.exit_code == 0, result.output
    stats = json.loads((out / "bootstrap_stats.json").read_text())
    assert stats["entities_per_label"] == {"GADGET": 3}
    assert stats["rehearsal_entities_per_label"].get("CITY", 0) >= 5
    nlp = spacy.blank("en")
    docs = [d for name in ("train", "dev") for d in DocBin().from_disk(out / f"{name}.spacy").get_docs(nlp.vocab)]
    assert sorted(d.text for d in docs) == sorted(lines)
    labels = {e.label_ for d in docs for e in d.ents}
    assert labels == {"GADGET", "CITY"}
    for doc in docs:
        if "iPhone X" in doc.text:
            assert "iPhone X" in [e.text for e in doc.ents if e.label_ == "GADGET"]


def test_bootstrap_cli_reports_bad_input(tmp_path):
    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"text": "fine"}\n{"txt": "oops"}\n')
    patterns = tmp_path / "patterns.jsonl"
    patterns.write_text('{"label": "GADGET", "pattern": "Pixel 7"}\n')
    result = run_script("bootstrap", texts, patterns, tmp_path / "out")
    assert result.exit_code == 2
    assert "texts.jsonl:2: expected an object with a string 'text' field" in result.output
    assert not (tmp_path / "out").exists()
