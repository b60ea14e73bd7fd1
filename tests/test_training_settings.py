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
    found += [v for m in module.modules() for k, v in vars(m).items()
              if "drop" in k and "layerdrop" not in k and "drop_path" not in k and isinstance(v, float)]
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


@pytest.mark.parametrize("kind,dropout", [
    ("bert", {"hidden_dropout_prob": 0.3, "attention_probs_dropout_prob": 0.3}),
    ("distilbert", {"dropout": 0.3, "attention_dropout": 0.3, "qa_dropout": 0.3}),
])
def test_qa_use_training_dropout(qa_models, tmp_path, kind, dropout):
    import srsly

    from spacy_task_pipes.qa.data import create_squad_corpus

    path = tmp_path / "train.json"
    srsly.write_json(path, generated_squad(2))
    nlp = spacy.blank("en")
    nlp.add_pipe("question_answerer", config={
        "model": {"name": str(qa_models[kind]), "transformer_config": dropout},
        "max_seq_length": 64, "doc_stride": 16, "use_training_dropout": True})
    nlp.initialize()
    pipe = nlp.get_pipe("question_answerer")
    examples = list(create_squad_corpus(path)(nlp))
    model = pipe.model.layers[0].shims[0].hf_objects.transformer
    assert set(dropout_probabilities(model)) == {0.3}
    losses = [pipe.update(examples, drop=0.0)["question_answerer"] for _ in range(2)]
    assert losses[0] == losses[1] and set(dropout_probabilities(model)) == {0.0}
    losses = [pipe.update(examples, drop=0.5)["question_answerer"] for _ in range(2)]
    assert losses[0] != losses[1] and set(dropout_probabilities(model)) == {0.5}
    with pytest.raises(ValueError, match="use_training_dropout"):
        spacy.blank("en").add_pipe("question_answerer", config={"use_training_dropout": "yes"})


# ------------------------------------------------- generation while training evaluates


@pytest.fixture
def generate_calls(monkeypatch):
    """The (num_beams, max_new_tokens) of every generation batch of any seq2seq pipe."""
    from spacy_task_pipes.seq2seq.base import Seq2SeqPipe

    calls = []
    original = Seq2SeqPipe._generate_batch

    def recording(self, rows, kwargs):
        calls.append((kwargs["num_beams"], kwargs["max_new_tokens"]))
        return original(self, rows, kwargs)

    monkeypatch.setattr(Seq2SeqPipe, "_generate_batch", recording)
    return calls


def test_evaluation_after_update_is_greedy_and_short_until_saved(seq2seq_models, generate_calls, caplog):
    nlp = make_seq2seq_nlp("translator", seq2seq_models["t5-train"], prefix=PREFIX, num_beams=3, max_new_tokens=20)
    pipe = nlp.get_pipe("translator")
    examples = examples_for(nlp, PAIRS[:3])
    nlp("El perro come carne.")
    assert generate_calls == [(3, 20)] and not pipe.evaluating_in_training
    pipe.update(examples)
    assert pipe.evaluating_in_training
    with caplog.at_level(logging.INFO, logger="spacy"):
        nlp.evaluate(examples)
        nlp.evaluate(examples)
    assert set(generate_calls[1:]) == {(1, 64)}
    notes = [r.getMessage() for r in caplog.records if "evaluation during training" in r.getMessage()]
    assert len(notes) == 1 and "num_beams = 1, max_new_tokens = 64" in notes[0]
    assert "nlp(...) and the saved pipeline use num_beams = 3, max_new_tokens = 20" in notes[0]
    pipe.to_bytes()  # saving ends it
    del generate_calls[:]
    nlp("El perro come carne.")
    assert generate_calls == [(3, 20)] and not pipe.evaluating_in_training
    pipe.update(examples)
    pipe.end_training_evaluation()
    nlp("El perro come carne.")
    assert generate_calls[-1] == (3, 20)


def test_null_eval_settings_are_the_inference_ones(seq2seq_models, generate_calls):
    nlp = make_seq2seq_nlp("summarizer", seq2seq_models["t5-train"], num_beams=2, max_new_tokens=12,
                           eval_num_beams=None, eval_max_new_tokens=8)
    pipe = nlp.get_pipe("summarizer")
    pipe.update(examples_for(nlp, PAIRS[:2], field="summary"))
    nlp("El perro come carne.")
    assert generate_calls == [(2, 8)]
    with pytest.raises(ValueError, match=r"\[components.summarizer\] eval_num_beams must be an integer >= 1"):
        make_seq2seq_nlp("summarizer", seq2seq_models["t5"], eval_num_beams=0)
    with pytest.raises(ValueError, match=r"min_new_tokens \(10\) is larger than eval_max_new_tokens \(8\)"):
        make_seq2seq_nlp("summarizer", seq2seq_models["t5"], min_new_tokens=10, eval_max_new_tokens=8)


def test_spacy_train_evaluates_greedy_and_saves_the_inference_settings(seq2seq_models, generate_calls, tmp_path,
                                                                       monkeypatch):
    import srsly
    from spacy.cli.train import train

    from conftest import ROOT

    data = tmp_path / "train.jsonl"
    srsly.write_jsonl(data, [{"source": s, "target": t} for s, t in PAIRS[:4]])
    out = tmp_path / "training"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    train(ROOT / "configs" / "translate.cfg", out, overrides={
        "paths.train": str(data), "paths.dev": str(data), "paths.seq2seq_model": str(seq2seq_models["t5-train"]),
        "components.translator.prefix": PREFIX, "components.translator.max_new_tokens": 30,
        "training.max_steps": 3, "training.batcher.size": 4, "training.dropout": 0.0,
    })
    # max_steps 3: fit_to_step_budget evaluates at every step (0..3), 4 docs in one batch each
    assert set(generate_calls) == {(1, 64)} and len(generate_calls) == 4
    for folder in ("model-last", "model-best"):
        saved = spacy.util.load_config(out / folder / "config.cfg")["components"]["translator"]
        assert (saved["num_beams"], saved["max_new_tokens"]) == (4, 30)
        assert (saved["eval_num_beams"], saved["eval_max_new_tokens"]) == (1, 64)
    del generate_calls[:]
    nlp = spacy.load(out / "model-last")
    list(nlp.pipe([s for s, _ in PAIRS[:2]]))
    assert set(generate_calls) == {(4, 30)}
