"""scripts/benchmark_training.py: ours (`spacy train`) vs. the Hugging Face Trainer from the same
initial weights, on tiny models built by fixtures, a few steps."""

import json
import math
from pathlib import Path

import pytest

from conftest import run_script
from qa_fixtures import qa_models, squad_file  # noqa: F401
from seq2seq_fixtures import SENTENCES, seq2seq_models  # noqa: F401

from spacy_task_pipes.bench.training import loss_windows, median_step_seconds, ordered_batches, seconds_per_step


def _parallel_files(tmp_path: Path, n: int = 48):
    """Aligned source/target lines from the fixtures' sentences (Spanish -> Portuguese)."""
    spa, por = SENTENCES[5:10], SENTENCES[10:15]
    src, tgt = tmp_path / "pairs.spa", tmp_path / "pairs.por"
    src.write_text("\n".join(f"{spa[i % 5]} {i}" for i in range(n)) + "\n", encoding="utf-8")
    tgt.write_text("\n".join(f"{por[i % 5]} {i}" for i in range(n)) + "\n", encoding="utf-8")
    return src, tgt


def _check_both_sides(out: Path, steps: int, window: int) -> dict:
    summary = json.loads(out.read_text(encoding="utf-8"))
    for side in ("ours", "ref"):
        (run,) = summary[side]["runs"]
        assert run["steps"] == steps
        assert len(run["loss_windows"]) == math.ceil(steps / window)
        assert all(math.isfinite(v) and v > 0 for v in run["loss_windows"])
        assert run["quality"] is not None and run["n_test"] > 0
        assert run["wall_seconds"] > 0 and run["seconds_per_step"] > 0
        if summary["task"] == "qa":
            assert run["test_loss"] is None
        else:  # teacher-forced loss on the test split, through the same scoring pipeline
            assert math.isfinite(run["test_loss"]) and run["test_loss"] > 0
    # the same initial weights: each side's loaded model gives the same loss on the same batch
    (probe_diff,) = summary["initial_probe_loss_difference"]
    assert abs(probe_diff) < 1e-4, summary["initial_probe_loss_difference"]
    # and the first optimizer step (different examples, same weights) starts from about the same loss
    ours, ref = summary["ours"]["runs"][0]["first_step_loss"], summary["ref"]["runs"][0]["first_step_loss"]
    assert abs(ours - ref) < 0.1 * ref
    assert summary["time_ratio"] > 0 and summary["quality_difference"] is not None
    png = Path(summary["png"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return summary


def test_translation_both_sides_from_the_same_weights(tmp_path, seq2seq_models):  # noqa: F811
    src, tgt = _parallel_files(tmp_path)
    out = tmp_path / "bench" / "translation.json"
    res = run_script("benchmark_training", "--task", "translation", "--output", out,
                     "--model", seq2seq_models["t5-train"], "--source", src, "--target", tgt,
                     "--train-slice", "0:32", "--dev-slice", "32:36", "--test-slice", "36:48",
                     "--steps", "4", "--batch-size", "8", "--window", "2", "--eval-max-new-tokens", "8")
    assert res.exit_code == 0, res.output
    summary = _check_both_sides(out, steps=4, window=2)
    assert summary["settings"]["initial"]["model"] == str(seq2seq_models["t5-train"])
    printed = json.loads(res.stdout.strip().splitlines()[-1])
    assert set(printed) >= {"ours", "ref", "quality_difference", "time_ratio"}


def _with_config(model: Path, **values) -> Path:
    """``model`` with ``values`` set in its config.json."""
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    config.update(values)
    (model / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return model


def _bart_without_dropout(path: Path) -> Path:
    """A tiny random BART (tied embeddings, as the parity runs' model) with every dropout at 0."""
    from spacy_task_pipes.bench.seq2seq import build_seq2seq_model_dir

    model = build_seq2seq_model_dir(SENTENCES * 20, path, arch="bart", size="tiny", vocab_size=200, seed=0)
    return _with_config(model, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0)


def _bert2bert_without_dropout(encoder: Path, path: Path) -> Path:
    """A BERT2BERT warm-started from the tiny BERT fixture, every dropout at 0."""
    from spacy_task_pipes.bench.seq2seq import build_bert2bert_model_dir

    return build_bert2bert_model_dir(path, encoder, seed=0, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


@pytest.mark.parametrize("arch, n_train", [("t5", 32), ("bart", 28), ("bert2bert", 32)])
def test_with_the_same_order_both_sides_take_the_same_steps(tmp_path, seq2seq_models, qa_models,  # noqa: F811
                                                            arch, n_train):
    """--same-order: the Trainer takes the batches spacy train took (the short last batch of an
    epoch too). Without dropout both sides then compute the same update at every step: the
    same optimizer (AdamW, global-norm clipping, no decay for biases and norm weights, tied
    embeddings updated once), warm-up and decay, so the same loss step after step, not only
    at the first one."""
    src, tgt = _parallel_files(tmp_path)
    out = tmp_path / "bench" / "translation.json"
    model = {"t5": lambda: seq2seq_models["t5-train"], "bart": lambda: _bart_without_dropout(tmp_path / "bart"),
             "bert2bert": lambda: _bert2bert_without_dropout(qa_models["bert"], tmp_path / "b2b")}[arch]()
    res = run_script("benchmark_training", "--task", "translation", "--output", out, "--same-order",
                     "--model", model, "--source", src, "--target", tgt,
                     "--train-slice", f"0:{n_train}", "--dev-slice", "32:36", "--test-slice", "36:48",
                     "--steps", "6", "--batch-size", "8", "--window", "1", "--warmup-steps", "2",
                     "--learning-rate", "3e-3", "--max-grad-norm", "0.5", "--eval-max-new-tokens", "8",
                     # both sides truncate the sources alike (the fixture's sentences are longer than 12 pieces)
                     *(["--max-input-length", "12"] if arch == "bert2bert" else []))
    assert res.exit_code == 0, res.output
    summary = _check_both_sides(out, steps=6, window=1)
    assert summary["settings"]["same_order"] is True
    ours, ref = (summary[side]["runs"][0]["loss_windows"] for side in ("ours", "ref"))
    assert ours[-1] < ours[0] - 0.05, ours  # it trains (6 steps over 32 pairs, into a second epoch)
    assert ours == pytest.approx(ref, abs=2e-3), (ours, ref)
    # the same training gives the same model: the same held-out loss, and one repeat is one pair
    (test_loss_diff,) = summary["test_loss_difference_per_repeat"]
    assert abs(test_loss_diff) < 2e-3, summary["test_loss_difference_per_repeat"]
    assert summary["quality_difference_mean"] == summary["quality_difference_per_repeat"][0]
    order = json.loads((out.parent / "translation" / "ours_0" / "order.json").read_text(encoding="utf-8"))
    assert [len(batch) for batch in order] == ([8] * 6 if n_train == 32 else [8, 8, 8, 4, 8, 8])
    assert sorted(i for batch in order[:4] for i in batch) == list(range(n_train))  # one epoch, each pair once


def test_same_order_batches_are_the_features_of_the_recorded_docs():
    # doc 1 has two windows (QA), doc 3 none
    per_doc = [[0], [1, 2], [3], [], [4]]
    assert ordered_batches(per_doc, [[4, 0], [1, 3], [2]], 3, "order.json") == [[4, 0], [1, 2], [3]]
    assert ordered_batches(per_doc, [[4, 0], [1, 3], [2]], 2, "order.json") == [[4, 0], [1, 2]]
    with pytest.raises(ValueError, match="order.json: 3 recorded steps, 4 needed."):
        ordered_batches(per_doc, [[4, 0], [1, 3], [2]], 4, "order.json")


def _qa_model_without_dropout(model: Path, path: Path) -> Path:
    import shutil

    shutil.copytree(model, path)
    return _with_config(path, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


@pytest.mark.slow
def test_qa_with_the_same_order_and_loss_both_sides_take_the_same_steps(tmp_path, qa_models):  # noqa: F811
    """QA --same-order: the Trainer takes the windows of the questions spacy train took in
    each step (more windows than questions where a context is split). With the loss over
    padding positions, as the HF head computes it, and without dropout, both sides take the
    same steps; our default loss (windows' own tokens) starts lower from the same weights."""
    squad = squad_file(tmp_path, n_articles=6, n_paragraphs=2)
    model = _qa_model_without_dropout(qa_models["bert"], tmp_path / "bert")
    args = ["--task", "qa", "--model", model, "--data", squad, "--train-slice", "0:3", "--dev-slice", "3:4",
            "--test-slice", "4:", "--steps", "6", "--batch-size", "4", "--window", "1", "--max-seq-length", "32",
            "--doc-stride", "8", "--learning-rate", "3e-3", "--warmup-steps", "2", "--same-order"]
    curves = {}
    for loss in ("--loss-over-padding", "--loss-over-tokens"):
        out = tmp_path / loss.strip("-") / "qa.json"
        res = run_script("benchmark_training", *args, loss, "--output", out)
        assert res.exit_code == 0, res.output
        summary = json.loads(out.read_text(encoding="utf-8"))
        assert summary["settings"]["loss_over_padding"] is (loss == "--loss-over-padding")
        curves[loss] = [summary[side]["runs"][0]["loss_windows"] for side in ("ours", "ref")]
    ours, ref = curves["--loss-over-padding"]
    assert ours[-1] < ours[0] - 0.1, ours  # it trains
    assert ours == pytest.approx(ref, abs=2e-3), (ours, ref)
    tokens_only, ref_again = curves["--loss-over-tokens"]
    assert ref_again == pytest.approx(ref, abs=2e-3)  # the reference does not change
    assert tokens_only[0] < ref[0] - 0.01, (tokens_only, ref)  # padding positions left out of the softmax


@pytest.mark.slow
def test_qa_both_sides_from_the_same_weights(tmp_path, qa_models):  # noqa: F811
    squad = squad_file(tmp_path, n_articles=6, n_paragraphs=2)
    out = tmp_path / "bench" / "qa.json"
    res = run_script("benchmark_training", "--task", "qa", "--output", out, "--model", qa_models["bert"],
                     "--data", squad, "--train-slice", "0:3", "--dev-slice", "3:4", "--test-slice", "4:",
                     "--steps", "3", "--batch-size", "4", "--window", "2", "--max-seq-length", "64",
                     "--doc-stride", "32", "--learning-rate", "1e-4")
    assert res.exit_code == 0, res.output
    _check_both_sides(out, steps=3, window=2)


@pytest.mark.parametrize("args, message", [
    (["--task", "parsing"], "--task: 'parsing' is not one of translation, summarization, qa."),
    (["--task", "qa", "--steps", "0"], "--steps must be >= 1, got 0."),
    (["--task", "translation", "--source", "missing.spa"], "--source: file not found: missing.spa"),
    (["--task", "qa", "--output", "out.txt"], "--output: out.txt must end in .json"),
    (["--task", "translation", "--loss-over-padding"], "--loss-over-padding: only for qa"),
    (["--task", "qa", "--max-input-length", "128"], "--max-input-length: only for seq2seq"),
    (["--task", "summarization", "--max-input-length", "-1"], "--max-input-length must be >= 0, got -1."),
])
def test_bad_argument_is_one_line(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    res = run_script("benchmark_training", *args)
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], res.output


def test_loss_windows_and_seconds_per_step():
    assert loss_windows([4.0, 2.0, 3.0, 1.0, 5.0], 2) == [3.0, 2.0, 5.0]
    # an evaluation between two steps is one long gap: in the mean (throughput), not the median
    assert seconds_per_step([0.0, 1.0, 2.0, 12.0, 13.0]) == 3.25
    assert median_step_seconds([0.0, 1.0, 2.0, 12.0, 13.0]) == 1.0
    assert seconds_per_step([5.0]) is None
    with pytest.raises(ValueError, match="--window"):
        loss_windows([1.0], 0)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_side_process_ends_with_the_benchmark():
    """A benchmark killed mid-run (SIGTERM, or SIGKILL) leaves no side training on: the side's
    process is started with the preexec hook run_worker uses and gets SIGTERM when it dies."""
    import signal
    import subprocess
    import sys
    import time

    import psutil

    code = ("import subprocess, time\n"
            "from spacy_task_pipes.bench.parity import end_with_parent\n"
            "side = subprocess.Popen(['sleep', '120'], preexec_fn=end_with_parent)\n"
            "print(side.pid, flush=True)\n"
            "time.sleep(120)\n")
    for sig in (signal.SIGTERM, signal.SIGKILL):
        benchmark = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        side = psutil.Process(int(benchmark.stdout.readline()))
        assert side.is_running() and side.status() != psutil.STATUS_ZOMBIE
        benchmark.send_signal(sig)
        benchmark.wait(timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if not side.is_running() or side.status() == psutil.STATUS_ZOMBIE:
                break
            time.sleep(0.1)
        else:
            side.kill()
            pytest.fail(f"the side process {side.pid} outlived the benchmark ({sig.name})")
