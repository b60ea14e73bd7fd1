"""Short training runs are honest (issue #13): with a small --training.max_steps the QA and
seq2seq configs evaluate several times and warm up within the budget, instead of scoring
step 0 only and shipping untrained weights."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
import srsly

from qa_fixtures import qa_models  # noqa: F401
from spacy_task_pipes.hf import fit_training_to_steps
from test_qa_training import generated_squad

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["qa", "translate", "summarize"])
def test_configs_cap_eval_frequency_and_warmup_to_the_budget(name):
    config = spacy.util.load_config(ROOT / "configs" / f"{name}.cfg")
    assert config["initialize"]["after_init"]["@callbacks"] == "spacy_task_pipes.fit_to_step_budget.v1"
    config["training"]["max_steps"] = 30
    changed = fit_training_to_steps(config, evaluations=10, warmup_fraction=0.1)
    assert config["training"]["eval_frequency"] == 3
    assert config["training"]["optimizer"]["learn_rate"]["warmup_steps"] == 3
    assert changed["training.eval_frequency"] == (500, 3)
    # a long run keeps the configured values
    config = spacy.util.load_config(ROOT / "configs" / f"{name}.cfg")
    assert fit_training_to_steps(config, 10, 0.1) == {}
    assert config["training"]["eval_frequency"] == 500


def test_the_schedule_that_runs_is_logged_also_when_nothing_changed(capsys, caplog):
    import logging
    from types import SimpleNamespace

    from spacy_task_pipes.hf import create_fit_to_step_budget

    fit = create_fit_to_step_budget(evaluations=10, warmup_fraction=0.1)
    nlp = SimpleNamespace(config=spacy.util.load_config(ROOT / "configs" / "translate.cfg"))
    with caplog.at_level(logging.INFO, logger="spacy"):
        fit(nlp)
    logged = [r.getMessage() for r in caplog.records if "fit_to_step_budget" in r.getMessage()]
    assert logged == ["fit_to_step_budget: eval_frequency 500, warmup_steps 500, max_steps 20000 (unchanged)"]
    shown = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out).split())  # wasabi colours and wraps
    assert "eval_frequency 500, warmup_steps 500, max_steps 20000 (unchanged)" in shown
    caplog.clear()
    nlp.config["training"]["max_steps"] = 20
    with caplog.at_level(logging.INFO, logger="spacy"):
        fit(nlp)
    logged = [r.getMessage() for r in caplog.records if "fit_to_step_budget" in r.getMessage()]
    assert logged[-1] == "fit_to_step_budget: eval_frequency 2, warmup_steps 2, max_steps 20"
    assert len(logged) == 3  # eval_frequency and warmup_steps changed, then the schedule


@pytest.mark.slow
def test_short_spacy_train_is_evaluated_and_warmed_up_within_budget(qa_models, tmp_path):
    train = tmp_path / "train.json"
    srsly.write_json(train, generated_squad(6))
    out = tmp_path / "training"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "spacy", "train", str(ROOT / "configs" / "qa.cfg"), "--output", str(out),
         "--paths.train", str(train), "--paths.dev", str(train), "--paths.qa_model", str(qa_models["distilbert"]),
         "--training.max_steps", "20", "--components.question_answerer.max_seq_length", "128",
         "--components.question_answerer.doc_stride", "32"],
        capture_output=True, text=True, env=env, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    shown = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout).split())  # wasabi colours and wraps
    assert "fit_to_step_budget: training.eval_frequency 500 -> 2 (max_steps 20)" in shown
    # one table row per evaluation: steps 0, 2, ..., 20
    rows = [line for line in proc.stdout.splitlines() if re.fullmatch(r"\s*\d+\s+\d+\s+[\d.\s]+", line)]
    assert len(rows) == 11, proc.stdout
    saved = spacy.util.load_config(out / "model-last" / "config.cfg")
    assert saved["training"]["eval_frequency"] == 2
    assert saved["training"]["optimizer"]["learn_rate"]["warmup_steps"] == 2
