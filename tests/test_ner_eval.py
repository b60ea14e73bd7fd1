import json

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_task_pipes.ner.bootstrap import Pattern, RuleMatcher
from spacy_task_pipes.ner.evaluation import evaluate_ner, render_comparison

from conftest import run_script

TEXTS = [
    ("I love my Pixel 7 and my Steam Deck.", [(10, 17, "GADGET"), (25, 35, "GADGET")]),
    ("The Galaxy S21 is old.", [(4, 14, "GADGET")]),
    ("Madrid is sunny.", []),
]


@pytest.fixture
def setup():
    """A 'model' that is an entity ruler: it finds Pixel 7 exactly, Galaxy (a boundary
    error) and Madrid (a false positive); the rules find Pixel 7 and Galaxy S21."""
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(
        [{"label": "GADGET", "pattern": "Pixel 7"}, {"label": "GADGET", "pattern": "Galaxy"}, {"label": "GADGET", "pattern": "Madrid"}]
    )
    gold = []
    for text, spans in TEXTS:
        doc = nlp.make_doc(text)
        doc.set_ents([doc.char_span(s, e, label) for s, e, label in spans], default="outside")
        gold.append(doc)
    matcher = RuleMatcher(nlp, [Pattern("GADGET", "Pixel 7", "pixel", 1), Pattern("GADGET", "Galaxy S21", "galaxy", 2)])
    return nlp, gold, matcher


def test_metrics_against_hand_computed_values(setup):
    nlp, gold, matcher = setup
    metrics, pred_docs = evaluate_ner(nlp, gold, matcher)
    assert metrics["docs"] == 3 and metrics["gold_entities"] == 3
    # model: 3 predictions, 1 correct; 3 gold
    assert metrics["model"]["p"] == pytest.approx(1 / 3, abs=1e-4)
    assert metrics["model"]["r"] == pytest.approx(1 / 3, abs=1e-4)
    assert metrics["model"]["per_label"]["GADGET"]["f"] == pytest.approx(1 / 3, abs=1e-4)
    # rules: 2 predictions, both correct
    assert metrics["rules"]["p"] == 1.0 and metrics["rules"]["r"] == pytest.approx(2 / 3, abs=1e-4)
    beyond = metrics["beyond_rules"]
    assert beyond["gold_mentions_matched_by_rules"] == 2
    assert beyond["gold_mentions_unmatched_by_rules"] == 1  # Steam Deck
    assert beyond["model_recall_on_matched"] == 0.5  # Pixel 7 yes, Galaxy S21 no
    assert beyond["model_recall_on_unmatched"] == 0.0
    assert [e.text for e in pred_docs[2].ents] == ["Madrid"]


def test_html_marks_correct_wrong_and_missed(setup):
    nlp, gold, matcher = setup
    _, pred_docs = evaluate_ner(nlp, gold, matcher)
    html = render_comparison(pred_docs, gold, title="check")
    assert "<title>check</title>" in html
    assert html.count("MISSED GADGET") == 1  # Steam Deck (Galaxy S21 overlaps the wrong 'Galaxy')
    assert html.count("FP GADGET") == 2  # Galaxy, Madrid
    assert "Steam Deck" in html


def test_evaluate_cli(setup, tmp_path):
    nlp, gold, _ = setup
    model_dir = tmp_path / "model"
    nlp.to_disk(model_dir)
    gold_path = tmp_path / "gold.spacy"
    db = DocBin()
    for doc in gold:
        db.add(doc)
    db.to_disk(gold_path)
    patterns = tmp_path / "patterns.jsonl"
    patterns.write_text('{"label": "GADGET", "pattern": "Pixel 7"}\n{"label": "GADGET", "pattern": "Galaxy S21"}\n')
    result = run_script(
        "evaluate_ner", model_dir, gold_path, tmp_path / "m.json", "--html", tmp_path / "p.html", "--patterns", patterns
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert set(metrics) >= {"model", "rules", "beyond_rules", "docs", "gold_entities"}
    assert "model recall on mentions the rules miss: 0.0 (1 mentions)" in result.output
    assert (tmp_path / "p.html").read_text().startswith("<!DOCTYPE html>")
