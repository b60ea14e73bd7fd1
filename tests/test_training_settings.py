"""Training settings of the transformer components (issue #22): ``training.dropout`` is applied
(``use_training_dropout``) or reported, never silently ignored; evaluation inside ``spacy train``
generates with its own, cheaper settings while ``nlp(...)`` and the saved pipeline keep the
inference ones."""

from __future__ import annotations

import logging

import pytest
import spacy
import torch

from qa_fixtures import qa_models  # noqa: F401  (fixture)
from seq2seq_fixtures import make_seq2seq_nlp, seq2seq_models  # noqa: F401  (fixture)
from test_qa_training import generated_squad
from test_seq2seq_training import PAIRS, examples_for

PREFIX = "translate Spanish to Portuguese: "
# a dropout probability under every name the fixture models use for one
DROPOUT_CONFIG = {
    "t5": {"dropout_rate": 0.3},
    "marian": {"dropout": 0.3, "attention_dropout": 0.3, "activation_dropout": 0.3},
}


def translator(seq2seq_models, kind="t5", **cfg):
    model = {"@architectures": "spacy_task_pipes.Seq2SeqLM.v1", "name": str(seq2seq_models[kind]),
             "transformer_config": DROPOUT_CONFIG[kind]}
    nlp = make_seq2seq_nlp("translator", seq2seq_models[kind], prefix=PREFIX if kind == "t5" else "",
                           model=model, **cfg)
    return nlp, nlp.get_pipe("translator")


def dropout_probabilities(module):
    found = [m.p for m in module.modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd)]
    found += [v for m in module.modules() for k, v in vars(m).items() if k.endswith("dropout") and isinstance(v, float)]
    return found


# ------------------------------------------------------------------ dropout


@pytest.mark.parametrize("kind", ["t5", "marian"])
def test_use_training_dropout_sets_every_dropout_of_the_model(seq2seq_models, kind):
    nlp, pipe = translator(seq2seq_models, kind, use_training_dropout=True)
    examples = examples_for(nlp, PAIRS[:4])
    assert set(dropout_probabilities(pipe.hf_model)) == {0.3}
    # drop 0: no dropout anywhere, so the training loss is deterministic
    losses = [pipe.update(examples, drop=0.0)["translator"] for _ in range(2)]
    assert losses[0] == losses[1]
    assert set(dropout_probabilities(pipe.hf_model)) == {0.0}
    # drop 0.5: dropout again
    losses = [pipe.update(examples, drop=0.5)["translator"] for _ in range(2)]
    assert losses[0] != losses[1]
    assert set(dropout_probabilities(pipe.hf_model)) == {0.5}
    assert pipe.hf_model.config.to_dict()[next(iter(DROPOUT_CONFIG[kind]))] == 0.3  # saved config kept
    with pytest.raises(ValueError, match=r"use_training_dropout = true.*probability"):
        pipe.update(examples, drop=1.0)


def test_without_it_the_models_dropout_is_used_and_a_different_drop_reported_once(seq2seq_models, caplog):
    nlp, pipe = translator(seq2seq_models)
    examples = examples_for(nlp, PAIRS[:4])
    with caplog.at_level(logging.INFO, logger="spacy"):
        pipe.update(examples, drop=0.3)  # the model's own: nothing to say
        assert not [r for r in caplog.records if "training.dropout" in r.getMessage()]
        losses = [pipe.update(examples, drop=0.1)["translator"] for _ in range(2)]
    notes = [r.getMessage() for r in caplog.records if "training.dropout" in r.getMessage()]
    assert len(notes) == 1
    assert "training.dropout = 0.1" in notes[0] and "dropout_rate = 0.3" in notes[0]
    assert "[components.translator] use_training_dropout = true" in notes[0]
    assert "[components.translator.model.transformer_config] dropout_rate = 0.1" in notes[0]
    assert set(dropout_probabilities(pipe.hf_model)) == {0.3}
    assert losses[0] != losses[1]  # the model's 0.3 ran


def test_qa_use_training_dropout(qa_models, tmp_path):
    import srsly

    from spacy_task_pipes.qa.data import create_squad_corpus

    path = tmp_path / "train.json"
    srsly.write_json(path, generated_squad(2))
    nlp = spacy.blank("en")
    nlp.add_pipe("question_answerer", config={
        "model": {"name": str(qa_models["bert"]),
                  "transformer_config": {"hidden_dropout_prob": 0.3, "attention_probs_dropout_prob": 0.3}},
        "max_seq_length": 64, "doc_stride": 16, "use_training_dropout": True})
    nlp.initialize()
    pipe = nlp.get_pipe("question_answerer")
    examples = list(create_squad_corpus(path)(nlp))
    losses = [pipe.update(examples, drop=0.0)["question_answerer"] for _ in range(2)]
    assert losses[0] == losses[1]
    losses = [pipe.update(examples, drop=0.5)["question_answerer"] for _ in range(2)]
    assert losses[0] != losses[1]
    with pytest.raises(ValueError, match="use_training_dropout"):
        spacy.blank("en").add_pipe("question_answerer", config={"use_training_dropout": "yes"})
