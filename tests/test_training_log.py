"""The JSONL training log is written line by line, in spaCy's own record format."""

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import spacy
from spacy.util import registry

ROOT = Path(__file__).resolve().parent.parent
INFO = {"epoch": 0, "step": 200, "losses": {"tok2vec": 1.5, "ner": 42.25},
        "other_scores": {"ents_f": 0.8, "ents_p": 0.9, "ents_r": 0.7, "ents_per_type": {}}, "score": 0.8}


def _nlp():
    config = spacy.util.load_config(ROOT / "configs" / "ner.cfg")
    return spacy.util.load_model_from_config(config, auto_fill=True)


def test_each_evaluation_is_on_disk_before_training_ends(tmp_path):
    path = tmp_path / "log.jsonl"
    setup = registry.loggers.get("spacy_task_pipes.ConsoleLogger.v1")(output_file=str(path))
    step, finalize = setup(_nlp(), stdout=io.StringIO(), stderr=io.StringIO())
    step(INFO)
    step(None)  # a step without evaluation writes nothing
    lines = path.read_text(encoding="utf-8").splitlines()  # read while the run is still going
    assert len(lines) == 1
    step({**INFO, "step": 400})
    assert len(path.read_text(encoding="utf-8").splitlines()) == 2
    finalize()


def test_records_are_the_ones_spacys_logger_writes(tmp_path):
    ours, theirs = tmp_path / "ours.jsonl", tmp_path / "theirs.jsonl"
    nlp = _nlp()
    for name, path in (("spacy_task_pipes.ConsoleLogger.v1", ours), ("spacy.ConsoleLogger.v3", theirs)):
        step, finalize = registry.loggers.get(name)(output_file=str(path))(nlp, stdout=io.StringIO(), stderr=io.StringIO())
        step(INFO)
        finalize()
    assert json.loads(ours.read_text()) == json.loads(theirs.read_text())


def test_a_terminated_training_run_leaves_its_log(tmp_path):
    """SIGTERM in the middle of `spacy train`: every evaluation so far is in the log."""
    train = tmp_path / "train.spacy"
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    docs = []
    for i in range(40):
        doc = nlp.make_doc(f"I bought a Pixel {i} and it works well number {i}.")
        doc.set_ents([doc.char_span(11, 11 + len(f"Pixel {i}"), label="GADGET")], default="outside")
        docs.append(doc)
    DocBin(docs=docs).to_disk(train)
    log = tmp_path / "log.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "spacy", "train", str(ROOT / "configs" / "ner.cfg"), "--paths.train", str(train),
         "--paths.dev", str(train), "--training.max_steps", "100000", "--training.eval_frequency", "5",
         "--training.logger.output_file", str(log), "--corpora.train.augmenter", "null"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 240
        while time.time() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 3):
            time.sleep(0.5)
            assert process.poll() is None, "spacy train ended early"
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    lines = log.read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 3
    assert all("ents_f" in json.loads(line)["scores"] for line in lines)
