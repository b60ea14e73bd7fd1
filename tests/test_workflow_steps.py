"""The first and last steps of the workflows (issue #23 items 2, 7, 9): a misspelt
``--vars.NAME`` stops a workflow at once with one line naming the closest real var, each
workflow ends by saying where its results are, and timing runs live in their own workflow."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import srsly

from conftest import ROOT, run_script

WORKFLOWS = srsly.read_yaml(ROOT / "project.yml")["workflows"]
KNOWN = list(srsly.read_yaml(ROOT / "project.yml")["vars"])


def load_workflow_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("workflow_script", ROOT / "scripts" / "workflow.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_workflow_checks_its_vars_first_and_the_long_ones_end_with_a_summary() -> None:
    assert all(steps[0] == "check-vars" for steps in WORKFLOWS.values()), WORKFLOWS
    for name in ("all", "qa", "translation", "summarization", "benchmarks"):
        assert WORKFLOWS[name][-1] == "summary", name


def test_benchmarks_are_their_own_workflow() -> None:
    timing = {name: [s for s in steps if s.startswith("benchmark")] for name, steps in WORKFLOWS.items()}
    assert timing["benchmarks"] == ["benchmark", "benchmark-qa"]
    assert {name for name, steps in timing.items() if steps} == {"benchmarks", "seq2seq-offline", "distant"}


def test_given_vars_come_from_the_command_line_and_the_overrides_variables() -> None:
    workflow = load_workflow_script()
    argv = ["all", ".", "--vars.qa_max_steps", "30", "--vars.trf_model=x", "--force"]
    env = {"WEASEL_CONFIG_OVERRIDES": "--vars.lang es --training.max_steps=3"}
    assert workflow.given_vars(argv, env) == ["qa_max_steps", "trf_model", "lang"]
    message = workflow.unknown_var_message("trf_modle", KNOWN)
    assert message.startswith("--vars.trf_modle: project.yml has no var 'trf_modle' (did you mean --vars.trf_model?)")
    assert workflow.unknown_var_message("trf_model", KNOWN) is None
    assert "see the vars at the top of project.yml" in workflow.unknown_var_message("zzzz", KNOWN)


def test_check_vars_with_given_names() -> None:
    result = run_script("workflow", "check-vars", "--given", "qa_max_steps", "--given", "qa_max_step")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "--vars.qa_max_step: project.yml has no var 'qa_max_step' (did you mean --vars.qa_max_steps?); weasel "
        "ignores unknown vars and would run with the default."]
    assert run_script("workflow", "check-vars", "--given", "lang").exit_code == 0


@pytest.fixture
def project(tmp_path: Path) -> Path:
    dest = tmp_path / "project"
    (dest / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "project.yml", dest)
    shutil.copy(ROOT / "scripts" / "workflow.py", dest / "scripts")
    return dest


def spacy_project_run(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spacy", "project", "run", args[0], str(project), *args[1:]],
                          cwd=project, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the parent's /proc/PID/cmdline")
def test_a_misspelt_var_stops_the_workflow_before_its_first_real_step(project: Path) -> None:
    proc = spacy_project_run(project, "all", "--vars.lnag", "es")
    assert proc.returncode != 0
    assert "= check-vars =" in proc.stdout and "= bootstrap =" not in proc.stdout
    lines = [line for line in proc.stderr.splitlines() if "--vars.lnag" in line]
    assert lines == ["--vars.lnag: project.yml has no var 'lnag' (did you mean --vars.lang?); weasel ignores "
                     "unknown vars and would run with the default."], proc.stderr
    proc = spacy_project_run(project, "check-vars", "--vars.lang", "es", "--vars.label=ROPA")
    assert proc.returncode == 0 and "vars: 2 given, all defined in project.yml" in proc.stdout, proc.stderr


def test_summary_says_where_the_results_are(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workflow = load_workflow_script()
    monkeypatch.chdir(project)  # weasel runs the steps in the project folder
    (project / "training/qa/model/model-best").mkdir(parents=True)
    (project / "training/qa/metrics_test.json").write_text(json.dumps({"qa_exact_match": 0.0714, "qa_f1": 0.1751}))
    (project / "packages/en_qa_x-0.1.0").mkdir(parents=True)
    rows = dict(workflow.workflow_outputs("qa", "en", "ner_gadget", "qa_x", "0.1.0"))
    assert rows["training/qa/metrics_test.json"] == "test set EM 7.14, F1 17.51"
    assert 'spacy.load("en_qa_x")' in rows["packages/en_qa_x-0.1.0"]
    proc = spacy_project_run(project, "summary", "--vars.qa_name", "qa_x")
    assert proc.returncode == 0, proc.stderr
    assert "Results of `qa`:" in proc.stdout and "training/qa/model/model-best" in proc.stdout
    assert "test set EM 7.14, F1 17.51" in proc.stdout and "training/qa/squad_v2.json" not in proc.stdout  # absent
    assert "Results of `all`" not in proc.stdout
