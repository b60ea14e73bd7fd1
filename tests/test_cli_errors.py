"""Every script answers a user's mistake with one line naming the argument and exit code 2
(issue #13), never a traceback or a message about a config the user did not write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_script

MISSING = "no/such/file.json"


def _empty(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_text("")
    return path


CASES = [
    ("evaluate_ner", lambda t: ["en_core_web_sm_nowhere", MISSING, t / "m.json"], "GOLD_PATH: file not found"),
    ("evaluate_ner", lambda t: ["no_such_pipeline", _empty(t, "gold.spacy"), t / "m.json"], "MODEL: cannot load the pipeline 'no_such_pipeline'"),
    ("evaluate_ner", lambda t: ["x", t, t / "m.json"], "GOLD_PATH: " ),
    ("benchmark_ner", lambda t: ["x", MISSING, t / "o.json"], "TEXTS_PATH: file not found"),
    ("plot_training", lambda t: [MISSING, t / "o.png"], "LOG_PATH: file not found"),
    ("plot_training", lambda t: [_empty(t, "log.jsonl"), t / "o.png"], "the training log is empty"),
    ("plot_training", lambda t: [_empty(t, "log.jsonl"), t], "OUTPUT_PATH: "),
    ("package", lambda t: [t / "nope", t / "pkgs", "--name", "x", "--test-metrics", _empty(t, "m.json"), "--test-data", "d", "--description", "d", "--trained-on", "d"], "MODEL_DIR: directory not found"),
    ("package", lambda t: [t, t / "pkgs", "--name", "x", "--test-metrics", _empty(t, "m.json"), "--test-data", "d", "--description", "d", "--trained-on", "d"], "MODEL_DIR: file not found"),
    ("evaluate_qa", lambda t: ["x", MISSING, t / "o.json"], "DATA_PATH: file not found"),
    ("evaluate_qa", lambda t: ["x", _empty(t, "d.json"), t / "o.json", "--handle-impossible", "maybe"], "--handle-impossible"),
    ("benchmark_qa", lambda t: [MISSING, t / "o.json"], "DATA_PATH: file not found"),
    ("train_qa_hf", lambda t: ["x", MISSING, t / "out"], "TRAIN_PATH: file not found"),
    ("make_seq2seq_model", lambda t: [t / "m", "--text", MISSING], "no/such/file.json"),
    ("benchmark_seq2seq", lambda t: [t / "o.json", "--translation-data", MISSING], "--translation-data: file not found"),
    ("benchmark_seq2seq", lambda t: [t / "o.json", "--translation-data", _empty(t, "s.txt"), "--model", t / "none"], "--model: no model at"),
    ("check_package", lambda t: ["xx_no_such_package", "--text", "hi", "--label", "X"], "NAME: no installed package"),
    # annotate and bootstrap --sharded run the same batch job and check its options with one helper
    ("annotate", lambda t: ["x", _empty(t, "in.jsonl"), t / "out", "--engine", "spark"], "--engine: unknown engine 'spark'"),
    ("annotate", lambda t: ["x", _empty(t, "in.jsonl"), t / "out", "--resume", "--overwrite"], "--resume and --overwrite exclude each other"),
    ("bootstrap", lambda t: [_empty(t, "in.jsonl"), "assets/en/patterns.jsonl", t / "out", "--sharded", "--engine", "spark"], "--engine: unknown engine 'spark'"),
    ("bootstrap", lambda t: [_empty(t, "in.jsonl"), "assets/en/patterns.jsonl", t / "out", "--sharded", "--resume", "--overwrite"], "--resume and --overwrite exclude each other"),
]


@pytest.mark.parametrize("script,args,message", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_script_errors_are_one_line_with_exit_2(tmp_path, script, args, message):
    result = run_script(script, *args(tmp_path))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert message in lines[0]
    assert "Traceback" not in result.output and "corpus path in the config" not in result.output
