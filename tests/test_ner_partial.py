"""Partial labels from the rules, and a confidence per predicted entity."""

import pytest
import spacy
from spacy.tokens import DocBin

from conftest import TRAIN, train_tiny_ner
from spacy_task_pipes.ner.bootstrap import Pattern, RuleMatcher, bootstrap_docs, evidence_outside
from spacy_task_pipes.ner.confidence import SPANS_KEY, entity_confidences, thresholded

PATTERNS = [
    Pattern("GADGET", "Pixel 8", "pixel", 1),
    Pattern("GADGET", [{"LOWER": "iphone"}, {"IS_DIGIT": True}], "iphone", 2),
]
TEXTS = [
    "Just got the Pixel 8 and the Zenbook Duo, both great.",
    "my iphone 12 died, so the pixel 8 it is",
    "Nothing to see here.",
    "Great phone. It is great, and Sony is not a Nokia 3310.",
]


def _bootstrap(policy):
    nlp = spacy.blank("en")
    matcher = RuleMatcher(nlp, PATTERNS)
    return bootstrap_docs(nlp, TEXTS, matcher, unmatched=policy), matcher


def _iob(doc):
    return [t.ent_iob_ or "-" for t in doc]


def test_outside_writes_every_unmatched_token_as_o():
    docs, matcher = _bootstrap("outside")
    assert _iob(docs[0]) == ["O", "O", "O", "B", "I", "O", "O", "O", "O", "O", "O", "O", "O"]
    assert matcher.stats.tokens_missing == 0


def test_missing_leaves_every_unmatched_token_unknown():
    docs, matcher = _bootstrap("missing")
    assert _iob(docs[0]) == ["-", "-", "-", "B", "I", "-", "-", "-", "-", "-", "-", "-", "-"]
    assert matcher.stats.tokens_outside == 0


def test_evidence_marks_o_only_where_a_name_cannot_be():
    docs, matcher = _bootstrap("evidence")
    first = {t.text: t.ent_iob_ or "-" for t in docs[0]}
    # punctuation and lower-case words no pattern uses are O
    assert first["got"] == first["and"] == first["great"] == first[","] == first["."] == "O"
    # capitalised stop words are O; the name the rules miss stays unknown
    assert first["Just"] == "O"
    assert first["Zenbook"] == first["Duo"] == "-"
    second = {t.text: t.ent_iob_ or "-" for t in docs[1]}
    # words the patterns name are never evidence for O, even lower-cased outside a match
    assert second["iphone"] == "B" and second["pixel"] == "B"
    assert matcher.pattern_words >= {"pixel", "8", "iphone"}
    assert evidence_outside(docs[2], matcher.pattern_words)  # "to", "see", "here", "."
    fourth = {t.text: t.ent_iob_ or "-" for t in docs[3]}
    # a capitalised word the corpus also writes in lower case is O, and so is a lone unknown
    # word between known tokens (a brand on its own); a run with digits stays unknown
    assert fourth["Great"] == "O" and fourth["Sony"] == "O"
    assert fourth["Nokia"] == fourth["3310"] == "-"
    assert matcher.stats.tokens_outside + matcher.stats.tokens_missing == sum(
        1 for d in docs for t in d if t.ent_iob_ != "B" and t.ent_iob_ != "I"
    )


def test_a_lone_number_is_o_unless_it_touches_a_match_or_a_pattern_word():
    nlp = spacy.blank("en")
    matcher = RuleMatcher(nlp, [Pattern("GADGET", "Pixel", "pixel", 1), Pattern("GADGET", "Air Max 90", "air", 2)])
    texts = ["a battery for over 80 hours , v2 here", "the Pixel 9 in size 44", "size 90 , Nokia 3310 ."]
    docs = bootstrap_docs(nlp, texts, matcher, unmatched="evidence")
    first, second, third = ({t.text: t.ent_iob_ or "-" for t in doc} for doc in docs)
    # between known words, a number (or a number with letters, "v2") is not a name
    assert first["80"] == first["v2"] == "O"
    assert second["44"] == "O"
    # next to a match it may be the model number the pattern left out; a number the
    # patterns use ("Air Max 90") and one next to an unknown capitalised word stay unknown
    assert second["Pixel"] == "B" and second["9"] == "-"
    assert third["90"] == "-" and third["3310"] == "-"


def test_addresses_are_o_but_not_a_pattern_word_or_a_name_beside_them():
    nlp = spacy.blank("en")
    matcher = RuleMatcher(nlp, [Pattern("GADGET", "Pixel", "pixel", 1), Pattern("BRAND", "@Sonos", "sonos", 2)])
    texts = ["RT @Phil_Heim : my Pixel Fold Pro is at https://t.co/Xy12 or Help@Shop.com "
             "from Diversia.com @Sonos Era 300"]
    doc = bootstrap_docs(nlp, texts, matcher, unmatched="evidence")[0]
    iob = {t.text: t.ent_iob_ or "-" for t in doc}
    # a user name, a web address and an e-mail address are not names
    assert iob["@Phil_Heim"] == iob["https://t.co/Xy12"] == iob["Help@Shop.com"] == "O"
    # a bare domain is often a company's name: it stays unknown
    assert iob["Diversia.com"] == "-"
    # a handle a pattern names is matched, and the names beside the addresses stay unknown
    assert iob["@Sonos"] == "B" and iob["Pixel"] == "B"
    assert iob["Fold"] == iob["Pro"] == iob["Era"] == iob["300"] == "-"
    # a lone word beside a handle is O by the lone-word rule, as beside any known token
    assert iob["RT"] == "O"


def test_a_pattern_word_is_o_unless_a_neighbour_may_be_part_of_a_name():
    nlp = spacy.blank("en")
    patterns = [Pattern("EVENT", "Day of the Dead", "dotd", 1), Pattern("GADGET", "Pixel 8 Pro", "pixel", 2)]
    matcher = RuleMatcher(nlp, patterns)
    texts = ["out in the day of rest , then the Pixel 9 pro and the days of the Dead Sea", "so the Pro of it"]
    doc, second = bootstrap_docs(nlp, texts, matcher, unmatched="evidence")
    iob = [(t.text, t.ent_iob_ or "-") for t in doc]
    # words the patterns use, among plain words: O like any other word
    assert iob[1:6] == [("in", "O"), ("the", "O"), ("day", "O"), ("of", "O"), ("rest", "O")]
    # beside a capitalised word or a number they may extend a name the rules miss: unknown
    assert iob[8:12] == [("the", "-"), ("Pixel", "-"), ("9", "-"), ("pro", "-")]
    assert iob[13:17] == [("the", "O"), ("days", "O"), ("of", "O"), ("the", "-")]
    assert iob[17:] == [("Dead", "-"), ("Sea", "-")]
    # a word no pattern uses is O next to a capitalised word too
    assert iob[7] == ("then", "O") and iob[12] == ("and", "O")
    # a capitalised pattern word may itself be a name: unknown, though the corpus writes "pro"
    assert [(t.text, t.ent_iob_ or "-") for t in second] == [("so", "O"), ("the", "-"), ("Pro", "-"), ("of", "-"),
                                                              ("it", "O")]


def test_missing_tokens_survive_the_docbin():
    docs, _ = _bootstrap("evidence")
    back = list(DocBin(docs=docs).get_docs(spacy.blank("en").vocab))
    assert [_iob(d) for d in back] == [_iob(d) for d in docs]


def test_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="unmatched must be one of"):
        _bootstrap("sometimes")


@pytest.fixture(scope="module")
def trained_ner():
    return train_tiny_ner()


def test_confidences_score_exactly_the_predicted_entities(trained_ner):
    nlp = trained_ner
    texts = [t for t, _ in TRAIN] + ["A new Pixel 9 and an old Walkman.", "Nothing here."]
    docs = list(nlp.pipe(texts))
    before = [[(e.start, e.end, e.label_) for e in d.ents] for d in docs]
    results = entity_confidences(nlp.get_pipe("ner"), docs)
    assert [[(e.start, e.end, e.label_) for e in d.ents] for d in docs] == before  # put back
    assert any(d.ents for d in docs)
    for doc, result in zip(docs, results):
        assert set(result.entities) == {(e.start, e.end, e.label_) for e in doc.ents}
        assert all(0.0 < p <= 1.0 for p in result.entities.values())
        # every token outside an entity had an O action, with its probability
        inside = {i for e in doc.ents for i in range(e.start, e.end)}
        assert set(result.outside) == set(range(len(doc))) - inside
    # the ner's own entities on the docs must not constrain the walk: the scores are those
    # of the same docs before ner ran, and not all 1.0
    fresh = [nlp.get_pipe("tok2vec")(nlp.make_doc(text)) for text in texts]
    again = entity_confidences(nlp.get_pipe("ner"), fresh)
    for result, other in zip(results, again):
        assert result.entities == pytest.approx(other.entities)
    assert min(p for r in results for p in list(r.entities.values()) + list(r.outside.values())) < 0.99


def test_component_writes_scores_that_survive_the_docbin(trained_ner, tmp_path):
    nlp = trained_ner
    nlp.add_pipe("entity_confidence")
    try:
        doc = nlp("My Pixel 8 and iPhone 12 both broke.")
        assert doc.ents
        scores = [ent._.confidence for ent in doc.ents]
        assert all(s is not None and 0.0 < s <= 1.0 for s in scores)
        back = next(DocBin(docs=[doc]).get_docs(nlp.vocab))
        assert [e._.confidence for e in back.ents] == scores
        # a saved pipeline keeps the component
        nlp.to_disk(tmp_path / "p")
        again = spacy.load(tmp_path / "p")("My Pixel 8 and iPhone 12 both broke.")
        assert [e._.confidence for e in again.ents] == pytest.approx(scores, abs=1e-6)
    finally:
        nlp.remove_pipe("entity_confidence")


def test_thresholds_trade_recall_for_precision(trained_ner):
    nlp = trained_ner
    nlp.add_pipe("entity_confidence")
    try:
        docs = list(nlp.pipe([t for t, _ in TRAIN]))
        gold = []
        for text, spans in TRAIN:
            ref = nlp.make_doc(text)
            ref.set_ents([ref.char_span(s, e, label="GADGET") for s, e in spans], default="outside")
            gold.append(ref)
        table = thresholded(docs, gold, [0.0, 0.5, 1.01])
        assert table["0.0"]["entities"] == sum(len(d.ents) for d in docs)
        assert table["1.01"]["entities"] == 0 and table["1.01"]["r"] == 0.0
        assert table["0.0"]["entities"] >= table["0.5"]["entities"] >= table["1.01"]["entities"]
        assert docs[0].spans[SPANS_KEY].attrs["scores"]
    finally:
        nlp.remove_pipe("entity_confidence")


def test_a_missing_ner_component_is_named(trained_ner):
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_confidence", config={"ner_name": "my_ner"})
    with pytest.raises(ValueError, match='ner_name = "my_ner"'):
        nlp("text")


def test_min_confidence_drops_low_entities_and_keeps_their_scores(trained_ner):
    nlp = trained_ner
    texts = [t for t, _ in TRAIN] + ["A new Pixel 9 and an old Walkman."]
    plain = list(nlp.pipe(texts))
    nlp.add_pipe("entity_confidence", config={"min_confidence": 0.999999})
    try:
        docs = list(nlp.pipe(texts))
    finally:
        nlp.remove_pipe("entity_confidence")
    scored = [(d, list(zip(d.spans[SPANS_KEY], d.spans[SPANS_KEY].attrs["scores"]))) for d in docs]
    assert any(score < 0.999999 for _, pairs in scored for _, score in pairs), "nothing to drop"
    for before, (doc, pairs) in zip(plain, scored):
        assert [(s.start, s.end) for s, _ in pairs] == [(e.start, e.end) for e in before.ents]
        assert [(e.start, e.end) for e in doc.ents] == [(s.start, s.end) for s, p in pairs if p >= 0.999999]
        dropped = [s for s, p in pairs if p < 0.999999]
        assert all(doc[i].ent_iob_ == "O" for s in dropped for i in range(s.start, s.end))


def test_calibrate_picks_the_dev_threshold_and_saves_a_loadable_pipeline(trained_ner, tmp_path):
    import importlib.util

    from typer.testing import CliRunner

    root = __import__("pathlib").Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("calibrate_ner", root / "scripts" / "calibrate_ner.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    nlp = trained_ner
    nlp.to_disk(tmp_path / "model")
    gold = []
    for text, spans in TRAIN:
        ref = nlp.make_doc(text)
        ref.set_ents([ref.char_span(s, e, label="GADGET") for s, e in spans], default="outside")
        gold.append(ref)
    DocBin(docs=gold).to_disk(tmp_path / "dev.spacy")
    result = CliRunner().invoke(module.app, [str(tmp_path / "model"), str(tmp_path / "dev.spacy"), "--min-confidence", "dev",
                                             "--report", str(tmp_path / "report.json")])
    assert result.exit_code == 0, result.output
    report = __import__("json").loads((tmp_path / "report.json").read_text())
    best = report["min_confidence"]
    assert report["by_confidence"][str(best)]["f"] == max(r["f"] for r in report["by_confidence"].values())
    loaded = spacy.load(tmp_path / "model")
    assert loaded.pipe_names[-1] == "entity_confidence"
    assert loaded.get_pipe("entity_confidence").min_confidence == best
    doc = loaded("My Pixel 8 and iPhone 12 both broke.")
    assert all(ent._.confidence >= best for ent in doc.ents)
    # a fixed threshold is kept as given (0: scores only, every entity stays)
    result = CliRunner().invoke(module.app, [str(tmp_path / "model"), str(tmp_path / "dev.spacy"), "--min-confidence", "0"])
    assert result.exit_code == 0, result.output
    assert spacy.load(tmp_path / "model").get_pipe("entity_confidence").min_confidence == 0.0
    bad = CliRunner().invoke(module.app, [str(tmp_path / "model"), str(tmp_path / "dev.spacy"), "--min-confidence", "high"])
    assert bad.exit_code == 2 and "--min-confidence" in bad.output
    # a pipeline without a transition-based NER is refused in one line
    spacy.blank("en").to_disk(tmp_path / "blank")
    refused = CliRunner().invoke(module.app, [str(tmp_path / "blank"), str(tmp_path / "dev.spacy")])
    assert refused.exit_code == 2 and "no transition-based NER" in refused.output


def test_relabel_keeps_rules_adds_confident_entities_and_drops_disagreeing_patterns(trained_ner):
    from spacy_task_pipes.ner.self_training import RelabelStats, relabel

    blank = spacy.blank("en")
    texts = [t for t, _ in TRAIN] + ["My Pixel 8 and iPhone 12 both broke."]
    # "the" is a noisy pattern (the teacher never tags it); "Pixel 8" a good one
    patterns = [Pattern("GADGET", "Pixel 8", "pixel", 1), Pattern("GADGET", "the", "the", 2)]
    matcher = RuleMatcher(blank, patterns)
    stats = RelabelStats()
    docs = relabel(blank, texts, matcher, trained_ner, min_confidence=0.0, outside_confidence=1.0,
                   min_pattern_agreement=0.5, min_pattern_matches=2, stats=stats)
    assert stats.dropped_patterns == ["the"]  # matched 4+ times, the teacher agrees with none
    assert stats.pattern_agreement()["pixel"]["teacher_agrees"] == 1.0
    by_text = {d.text: d for d in docs}
    last = by_text["My Pixel 8 and iPhone 12 both broke."]
    assert ("Pixel 8", "GADGET") in [(e.text, e.label_) for e in last.ents]  # the rule's match
    assert ("iPhone 12", "GADGET") in [(e.text, e.label_) for e in last.ents]  # the teacher's, added
    the_tokens = [t for d in docs for t in d if t.lower_ == "the"]
    assert the_tokens and all(t.ent_iob_ != "B" for t in the_tokens)  # the dropped pattern's matches are gone
    assert stats.added_entities["GADGET"] >= 1


def test_the_latest_round_is_kept_unless_the_dev_set_says_it_is_clearly_worse():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("self_train", Path(__file__).resolve().parent.parent / "scripts" / "self_train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rounds = [{"round": 0, "dev_ents_f": 0.90}, {"round": 1, "dev_ents_f": 0.895}]
    assert module.pick_round(rounds, tolerance=0.01)["round"] == 1
    assert module.pick_round(rounds, tolerance=0.0)["round"] == 0
    rounds.append({"round": 2, "dev_ents_f": 0.85})
    assert module.pick_round(rounds, tolerance=0.01)["round"] == 1


def test_a_warm_started_student_begins_with_its_teachers_weights(trained_ner, tmp_path):
    from pathlib import Path

    from spacy.util import load_config, load_model_from_config

    from spacy_task_pipes.ner.self_training import warm_start_config

    teacher = tmp_path / "teacher"
    trained_ner.to_disk(teacher)
    config = Path(__file__).resolve().parent.parent / "configs" / "ner.cfg"
    cfg = load_config(warm_start_config(config, teacher, tmp_path / "student.cfg"))
    assert cfg["components"]["ner"] == cfg["components"]["tok2vec"] == {"source": str(teacher.resolve())}
    assert cfg["training"]["max_steps"] == load_config(config)["training"]["max_steps"]  # the rest is the config's
    student = load_model_from_config(cfg, auto_fill=True)
    text = "My Pixel 8 and iPhone 12 both broke."
    assert [(e.text, e.label_) for e in student(text).ents] == [(e.text, e.label_) for e in trained_ner(text).ents]
    assert student.get_pipe("ner").model.to_bytes() == trained_ner.get_pipe("ner").model.to_bytes()
