"""question_answerer training: window labels, SQuAD reader/convert, scorer, update(),
and (slow) `spacy train configs/qa.cfg` on a generated QA set."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest
import spacy
import srsly
from thinc.api import Adam

from conftest import ROOT
from qa_fixtures import make_qa_nlp, qa_models  # noqa: F401
from spacy_task_pipes.qa.decode import char_to_token_labels
from spacy_task_pipes.qa.data import (
    create_squad_corpus,
    normalize_answer,
    squad_scores,
    squad_scores_by_answerability,
    squad_to_docbin,
)
from spacy_task_pipes.qa.component import answer_questions_pipe

PEOPLE = ["Marie", "José", "Zoë", "Alice", "Bob", "François", "Olga"]
CITIES = ["Warsaw", "Paris", "Zürich", "Athens", "Cairo", "Tokyo", "Москва"]
FRUITS = ["apples", "pears", "melons"]


def generated_squad(n: int = 12, seed: int = 0, with_impossible: bool = False) -> dict:
    """A small SQuAD-format data set whose answers follow from the text."""
    rng = random.Random(seed)
    paragraphs = []
    for i in range(n):
        person, city, fruit = rng.choice(PEOPLE), rng.choice(CITIES), rng.choice(FRUITS)
        context = f"{person} lives in {city} and likes {fruit}."
        qas = [
            {"id": f"{i}-where", "question": f"Where does {person} live?",
             "answers": [{"text": city, "answer_start": context.index(city)}]},
            {"id": f"{i}-who", "question": "Who lives there?",
             "answers": [{"text": person, "answer_start": 0}]},
        ]
        if with_impossible:
            qas.append({"id": f"{i}-none", "question": "What is the price?", "answers": [], "is_impossible": True})
        paragraphs.append({"context": context, "qas": qas})
    return {"version": "v2.0" if with_impossible else "1.1", "data": [{"title": "gen", "paragraphs": paragraphs}]}


# --------------------------------------------------------------- labels


def test_labels_point_at_cls_outside_the_window(qa_models):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(qa_models["bert"]))
    context = " ".join(f"w{i}" for i in range(300)) + " Warsaw is the answer."
    start = context.index("Warsaw")
    enc = tok("Where?", context, truncation="only_second", max_length=64, stride=16,
              return_overflowing_tokens=True)
    labels = [
        char_to_token_labels(e.offsets, e.sequence_ids, start, start + 6, 0) for e in enc.encodings
    ]
    inside = [(i, lab) for i, lab in enumerate(labels) if lab != (0, 0)]
    assert inside and labels[0] == (0, 0)
    for i, (s, e) in inside:
        offsets = enc.encodings[i].offsets
        assert context[offsets[s][0] : offsets[e][1]] == "Warsaw"
    # an answer cut by the window border is outside too
    e = enc.encodings[0]
    last_ctx = max(i for i, s in enumerate(e.sequence_ids) if s == 1)
    assert char_to_token_labels(e.offsets, e.sequence_ids, e.offsets[last_ctx][0], e.offsets[last_ctx][1] + 5, 0) == (0, 0)


# ----------------------------------------------------------- reader/convert


def test_reader_json_and_docbin_agree(tmp_path):
    nlp = spacy.blank("en")
    path = tmp_path / "train.json"
    srsly.write_json(path, generated_squad(4, with_impossible=True))
    from_json = list(create_squad_corpus(path)(nlp))
    assert len(from_json) == 4
    eg = from_json[0]
    assert eg.predicted._.questions == eg.reference._.questions
    assert len(eg.reference._.gold_answers) == 3
    assert eg.reference._.gold_answers[2]["is_impossible"] is True
    gold = eg.reference._.gold_answers[0]["answers"][0]
    assert eg.reference.text[gold["start"] : gold["start"] + len(gold["text"])] == gold["text"]
    spacy_path = tmp_path / "train.spacy"
    squad_to_docbin(nlp, path).to_disk(spacy_path)
    from_db = list(create_squad_corpus(spacy_path)(nlp))
    assert [e.reference._.gold_answers for e in from_db] == [e.reference._.gold_answers for e in from_json]
    assert [e.predicted._.questions for e in from_db] == [e.predicted._.questions for e in from_json]
    assert len(list(create_squad_corpus(path, limit=2)(nlp))) == 2


def test_reader_bad_offsets_name_the_question(tmp_path):
    data = generated_squad(1)
    data["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["text"] = "Nowhere"
    path = tmp_path / "bad.json"
    srsly.write_json(path, data)
    with pytest.raises(ValueError, match="0-where"):
        list(create_squad_corpus(path)(spacy.blank("en")))
    with pytest.raises(FileNotFoundError, match="missing.json"):
        list(create_squad_corpus(tmp_path / "missing.json")(spacy.blank("en")))


# ---------------------------------------------------------------- scorer


def test_squad_scores_official_rules():
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_answer("an apple, a day") == "apple day"
    scores = squad_scores(
        ["the Warsaw", "Paris France", "", "", "x"],
        [["Warsaw"], ["Paris", "Lyon"], [], ["Bob"], []],
    )
    # EM: 1, 0, 1 (null answer matches unanswerable), 0, 0
    assert scores["qa_exact_match"] == pytest.approx(2 / 5)
    # F1: 1, 2/3 (max over refs), 1, 0, 0
    assert scores["qa_f1"] == pytest.approx((1 + 2 / 3 + 1) / 5)
    assert squad_scores([], [])["qa_f1"] is None
    by = squad_scores_by_answerability(
        ["the Warsaw", "Paris France", "", "", "x"],
        [["Warsaw"], ["Paris", "Lyon"], [], ["Bob"], []],
    )
    assert by["all"] == {"questions": 5, "exact_match": 40.0, "f1": round(100 * (1 + 2 / 3 + 1) / 5, 2)}
    # answerable: Warsaw (1/1), Paris (0/0.667), Bob (0/0)
    assert by["has_ans"] == {"questions": 3, "exact_match": 33.33, "f1": round(100 * (1 + 2 / 3) / 3, 2)}
    # unanswerable: one left empty, one answered "x"
    assert by["no_ans"] == {"questions": 2, "exact_match": 50.0, "f1": 50.0}
    assert squad_scores_by_answerability(["Paris"], [["Paris"]])["no_ans"] == {"questions": 0, "exact_match": None, "f1": None}


# ---------------------------------------------------------------- update


def _without_dropout(nlp):
    """The pipe's torch model, every dropout probability set to 0 (SDPA attention keeps its own rate)."""
    import torch

    from spacy_task_pipes.hf import get_hf_shim

    hf_model = get_hf_shim(nlp.get_pipe("question_answerer").model).hf_objects.transformer
    for module in hf_model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if hasattr(module, "dropout_prob"):
            module.dropout_prob = 0.0
    return hf_model


@pytest.mark.parametrize("over_padding", [False, True])
def test_update_chunks_give_the_same_gradients_and_loss(qa_models, tmp_path, over_padding):
    """update_batch_size only changes how the step's features are padded and chunked: the
    summed gradients and the loss equal those of one forward/backward over all features
    (with loss_over_padding too: every chunk is padded as the whole step would be)."""
    import torch

    path = tmp_path / "train.json"
    srsly.write_json(path, generated_squad(6, with_impossible=True))
    results = []
    for chunk in (1, 3, 64):
        nlp = make_qa_nlp(qa_models["bert"], max_seq_length=32, doc_stride=8, update_batch_size=chunk,
                          loss_over_padding=over_padding)
        hf_model = _without_dropout(nlp)
        examples = list(create_squad_corpus(path)(nlp))
        losses = nlp.get_pipe("question_answerer").update(examples, sgd=None)
        grads = {name: p.grad.clone() for name, p in hf_model.named_parameters() if p.grad is not None}
        results.append((losses["question_answerer"], grads))
    (loss_one, grads_one), *others = results
    assert len(grads_one) > 10
    for loss, grads in others:
        assert loss == pytest.approx(loss_one, rel=1e-5)
        assert grads.keys() == grads_one.keys()
        for name, grad in grads.items():
            torch.testing.assert_close(grad, grads_one[name], rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="update_batch_size"):
        make_qa_nlp(qa_models["bert"], update_batch_size=0)


def test_loss_over_padding_is_the_loss_of_the_hf_head(qa_models, tmp_path):
    """loss_over_padding = true computes what the Trainer computes on the same windows:
    DataCollatorWithPadding pads them to the longest, and BertForQuestionAnswering's loss
    takes its softmax over every position, padding included. The default leaves padding out:
    a lower loss on the same windows, and one that does not depend on how they are padded."""
    import torch
    from transformers import DataCollatorWithPadding

    path = tmp_path / "train.json"
    srsly.write_json(path, generated_squad(6, with_impossible=True))
    losses = {}
    for over_padding in (False, True):
        nlp = make_qa_nlp(qa_models["bert"], max_seq_length=32, doc_stride=8, update_batch_size=2,
                          loss_over_padding=over_padding)
        hf_model = _without_dropout(nlp)
        qa = nlp.get_pipe("question_answerer")
        examples = list(create_squad_corpus(path)(nlp))
        features = qa._training_features(examples)
        lengths = {len(f.inputs["input_ids"]) for f in features}
        assert len(lengths) > 1  # windows of different lengths: some are padded
        batch = DataCollatorWithPadding(qa.tokenizer)(
            [dict(f.inputs, start_positions=f.label[0], end_positions=f.label[1]) for f in features])
        with torch.no_grad():
            hf_loss = float(hf_model(**batch).loss)
        losses[over_padding] = qa.update(examples, sgd=None)["question_answerer"]
    assert losses[True] == pytest.approx(hf_loss, rel=1e-5)
    assert losses[False] < hf_loss - 1e-3
    with pytest.raises(ValueError, match="loss_over_padding\tat root: .yes. is not"):
        make_qa_nlp(qa_models["bert"], loss_over_padding="yes")


def test_update_learns_generated_questions(qa_models, tmp_path):
    nlp = make_qa_nlp(qa_models["distilbert"])
    path = tmp_path / "train.json"
    srsly.write_json(path, generated_squad(8))
    examples = list(create_squad_corpus(path)(nlp))
    qa = nlp.get_pipe("question_answerer")
    before = nlp.evaluate(examples)["qa_exact_match"]
    opt = Adam(0.003)
    losses = [qa.update(examples, sgd=opt, losses={})["question_answerer"] for _ in range(80)]
    assert losses[-1] < losses[0] / 10
    after = nlp.evaluate(examples)
    assert after["qa_exact_match"] == 1.0 and after["qa_f1"] == 1.0
    assert before < 1.0


@pytest.mark.slow
def test_spacy_train_qa_cfg_learns(qa_models, tmp_path):
    train = tmp_path / "train.json"
    srsly.write_json(train, generated_squad(12, with_impossible=True))
    config = spacy.util.load_config(ROOT / "configs" / "qa.cfg")
    config["components"]["question_answerer"]["handle_impossible_answer"] = True
    config["training"]["optimizer"]["learn_rate"] = 0.003
    config["training"]["max_steps"] = 250
    config["training"]["eval_frequency"] = 50
    config["training"]["dropout"] = 0.0
    config["training"]["batcher"]["size"] = 12
    cfg_path = tmp_path / "qa.cfg"
    config.to_disk(cfg_path)
    out = tmp_path / "training"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "spacy", "train", str(cfg_path), "--output", str(out),
         "--paths.train", str(train), "--paths.dev", str(train),
         "--paths.qa_model", str(qa_models["distilbert"])],
        capture_output=True, text=True, env=env, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    meta = srsly.read_json(out / "model-best" / "meta.json")
    assert meta["performance"]["qa_exact_match"] == 1.0
    # the trained pipeline answers its training questions exactly (reloaded offline)
    nlp = spacy.load(out / "model-best")
    data = generated_squad(12, with_impossible=True)
    items = [(p["context"], [q["question"] for q in p["qas"]]) for p in data["data"][0]["paragraphs"]]
    for doc, para in zip(answer_questions_pipe(nlp, items), data["data"][0]["paragraphs"]):
        got = [a.text for a in doc._.answers]
        assert got == [q["answers"][0]["text"] if q["answers"] else "" for q in para["qas"]]
    # spacy evaluate on the converted DocBin goes through spaCy's own Corpus reader
    dev = tmp_path / "dev.spacy"
    squad_to_docbin(nlp, train).to_disk(dev)
    metrics = tmp_path / "metrics.json"
    ev = subprocess.run(
        [sys.executable, "-m", "spacy", "evaluate", str(out / "model-best"), str(dev),
         "--output", str(metrics)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert ev.returncode == 0, ev.stdout[-3000:] + ev.stderr[-3000:]
    assert srsly.read_json(metrics)["qa_exact_match"] == 1.0
