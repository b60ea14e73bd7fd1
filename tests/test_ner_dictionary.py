"""The rules' dictionary at inference: spaCy's span_ruler after ner, kept where the gold dev set says."""

import json

import pytest
import spacy
from spacy.tokens import DocBin, Span

from conftest import run_script, train_tiny_ner
from spacy_task_pipes.ner.bootstrap import Pattern
from spacy_task_pipes.ner.confidence import thresholded
from spacy_task_pipes.ner.dictionary import DICTIONARY_NAME, add_dictionary, choose_dictionary, longest_entities_filter
from spacy_task_pipes.safety import safe_load

# Names the model never saw; "Walkman" and "Zune" are gadgets, "Apple" here is a fruit.
DEV = [
    ("An old Walkman still plays.", [(7, 14)]),
    ("My Zune is gone.", [(3, 7)]),
    ("He ate an apple and a Pixel 8 fell.", [(22, 29)]),
]
GOOD = [Pattern("GADGET", "Walkman", "walkman", 1), Pattern("GADGET", "Zune", "zune", 2)]
BAD = [Pattern("GADGET", "apple", "apple", 1), Pattern("GADGET", "old", "old", 2), Pattern("GADGET", "ate", "ate", 3)]


def _gold(nlp, rows):
    docs = []
    for text, spans in rows:
        doc = nlp.make_doc(text)
        doc.set_ents([doc.char_span(s, e, label="GADGET") for s, e in spans], default="outside")
        docs.append(doc)
    return docs


@pytest.fixture(scope="module")
def trained():
    return train_tiny_ner()


@pytest.fixture()
def nlp(trained):
    yield trained
    for name in (DICTIONARY_NAME, "entity_confidence"):
        if name in trained.pipe_names:
            trained.remove_pipe(name)


@pytest.fixture()
def fixed():
    """A stand-in for a trained model that finds only "Pixel 8" (the choice does not depend on what the model is)."""
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler", name="model").add_patterns([{"label": "GADGET", "pattern": "Pixel 8"}])
    return nlp


def _ents(doc):
    return [(e.text, e.label_) for e in doc.ents]


def test_the_longest_span_wins_and_at_equal_length_the_dictionary(nlp):
    text = "My Pixel 8 and iPhone 12 both broke, and my Walkman too."
    plain = nlp(text)
    assert ("Pixel 8", "GADGET") in _ents(plain) and ("iPhone 12", "GADGET") in _ents(plain)
    nlp.add_pipe("entity_confidence")
    patterns = [Pattern("GADGET", "Pixel", "pixel", 1),  # inside a longer prediction: the prediction stays
                Pattern("PHONE", "iPhone 12", "iphone", 2),  # the same span: the dictionary's label wins
                Pattern("GADGET", "walkman", "walkman", 3),  # where the model saw nothing
                Pattern("GADGET", "my Walkman too", "longer", 4)]  # longer than the match above: it wins that overlap
    add_dictionary(nlp, patterns)
    assert nlp.pipe_names[-1] == DICTIONARY_NAME
    doc = nlp(text)
    by_text = {e.text: e for e in doc.ents}
    assert by_text["Pixel 8"].label_ == "GADGET" and by_text["Pixel 8"].ent_id_ == ""
    assert by_text["Pixel 8"]._.confidence is not None
    assert by_text["iPhone 12"].label_ == "PHONE" and by_text["iPhone 12"].ent_id_ == "iphone"
    assert by_text["my Walkman too"].ent_id_ == "longer" and by_text["my Walkman too"]._.confidence is None
    assert "Walkman" not in by_text
    # every other prediction of the model stays
    for ent in plain.ents:
        if ent.text not in ("iPhone 12",):
            overlapped = any(ent.start < e.end and e.start < ent.end for e in doc.ents)
            assert (ent.text, ent.label_) in _ents(doc) or overlapped
    # the dictionary's entities count at every threshold; a prediction they replaced at none
    spans = [(text.index(name), text.index(name) + len(name)) for name in ("Pixel 8", "iPhone 12", "my Walkman too")]
    gold = _gold(nlp, [(text, spans)])
    table = thresholded([doc], gold, [0.0, 1.01])
    assert table["1.01"]["entities"] == 2 and table["1.01"]["p"] == 0.5  # "my Walkman too" right, iPhone mislabelled
    assert table["0.0"]["entities"] == len(doc.ents)


def test_the_filter_resolves_overlaps_as_bootstrap_does(nlp):
    doc = nlp.make_doc("a b c d e f")
    model = [Span(doc, 0, 2, "X"), Span(doc, 3, 4, "X")]
    matches = [Span(doc, 1, 2, "Y"), Span(doc, 3, 4, "Y"), Span(doc, 4, 6, "Y"), Span(doc, 5, 6, "Y")]
    kept = [(s.start, s.end, s.label_) for s in longest_entities_filter(model, matches)]
    assert kept == [(0, 2, "X"), (3, 4, "Y"), (4, 6, "Y")]


def test_dev_keeps_a_dictionary_that_helps_and_it_survives_saving(fixed, tmp_path):
    nlp = fixed
    dev = _gold(nlp, DEV)
    before = nlp.pipe_names
    choice = choose_dictionary(nlp, GOOD, dev)
    assert choice.kept and choice.gain > 0 and nlp.pipe_names == before + [DICTIONARY_NAME]
    assert choice.scores["with"]["r"] > choice.scores["without"]["r"]
    nlp.to_disk(tmp_path / "model")
    loaded = safe_load(tmp_path / "model")
    assert ("zune", "GADGET") in _ents(loaded("I miss my zune."))  # matched on LOWER
    assert [p["id"] for p in loaded.get_pipe(DICTIONARY_NAME).patterns] == ["walkman", "zune"]


def test_dev_leaves_out_a_dictionary_that_hurts(fixed):
    nlp = fixed
    dev = _gold(nlp, DEV)
    before = nlp.pipe_names
    choice = choose_dictionary(nlp, BAD, dev)
    assert not choice.kept and choice.gain < 0 and nlp.pipe_names == before
    assert choice.to_dict()["dev"]["with"]["p"] < choice.to_dict()["dev"]["without"]["p"]
    forced = choose_dictionary(nlp, BAD, dev, choice="always")
    assert forced.kept and nlp.pipe_names[-1] == DICTIONARY_NAME
    with pytest.raises(ValueError, match="choice: 'sometimes'"):
        choose_dictionary(nlp, BAD, dev, choice="sometimes")


def test_the_script_adds_it_in_place_and_reports(fixed, tmp_path):
    trained = fixed
    trained.to_disk(tmp_path / "model")
    DocBin(docs=_gold(trained, DEV)).to_disk(tmp_path / "dev.spacy")
    with (tmp_path / "patterns.jsonl").open("w") as f:
        for p in GOOD:
            f.write(json.dumps({"label": p.label, "pattern": p.pattern, "id": p.id}) + "\n")
    result = run_script("add_dictionary", str(tmp_path / "model"), str(tmp_path / "patterns.jsonl"),
                        str(tmp_path / "dev.spacy"), "--report", str(tmp_path / "report.json"))
    assert result.exit_code == 0, result.output
    assert "dictionary (2 patterns) added last" in result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["kept"] is True and report["dev"]["with"]["f"] > report["dev"]["without"]["f"]
    assert spacy.load(tmp_path / "model").pipe_names == ["model", DICTIONARY_NAME]
    # a hurtful dictionary leaves the folder as it was
    trained.to_disk(tmp_path / "model2")
    lines = [json.dumps({"label": "GADGET", "pattern": word}) for word in ("ate", "old")]
    (tmp_path / "bad.jsonl").write_text("\n".join(lines) + "\n")
    result = run_script("add_dictionary", str(tmp_path / "model2"), str(tmp_path / "bad.jsonl"),
                        str(tmp_path / "dev.spacy"))
    assert result.exit_code == 0 and "left out" in result.output
    assert spacy.load(tmp_path / "model2").pipe_names == ["model"]
    # a broken pattern line is named
    (tmp_path / "broken.jsonl").write_text('{"label": "GADGET"}\n')
    result = run_script("add_dictionary", str(tmp_path / "model2"), str(tmp_path / "broken.jsonl"),
                        str(tmp_path / "dev.spacy"))
    assert result.exit_code == 2 and "broken.jsonl:1" in result.output
