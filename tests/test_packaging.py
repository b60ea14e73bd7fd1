"""Packages install offline (issue #13): `package`/`package-qa` write the pipeline's wheel
and the wheel of spacy-task-pipes (which the pipeline requires and no index has) into
packages/, with a model card (description, author, license, test-set scores), and
`pip install --no-index --find-links packages/ <name>` works in an environment without the
library."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Dict, List

import pytest

from conftest import ROOT, run_script

NAME = "qa_packaging_test"
PACKAGE = f"en_{NAME}"
DEV_SCORES = {"qa_exact_match": 0.25, "qa_f1": 0.5, "speed": 1234.5}


def package_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("package_script", ROOT / "scripts" / "package.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def card(**overrides: str) -> Dict[str, str]:
    return dict(name=NAME, version="0.1.0", description="Extractive QA for tests.", author="Test Author",
                license_name="MIT", trained_on="assets/qa/gadgets_squad.json, articles 0:29",
                test_data="assets/qa/gadgets_squad.json, articles 35:", **overrides)


def test_meta_has_the_model_card_and_the_test_scores() -> None:
    from spacy.cli.package import generate_readme

    dev_scores = {**DEV_SCORES, "question_answerer_loss": 7972.2}
    model_meta = {"lang": "en", "name": "pipeline", "version": "0.0.0", "spacy_version": ">=3.8.0,<3.9.0",
                  "pipeline": ["question_answerer"], "performance": dev_scores}
    test_scores = {"qa_exact_match": 0.125, "qa_f1": 0.3125, "token_acc": 1.0, "speed": 999.0}
    meta = package_script().build_meta(model_meta, test_scores=test_scores, **card())
    assert (meta["description"], meta["author"], meta["license"]) == ("Extractive QA for tests.", "Test Author", "MIT")
    assert meta["performance"] == test_scores and meta["performance_dev"] == dev_scores
    assert model_meta["performance"] == dev_scores  # the trained pipeline's meta is not changed
    readme = generate_readme(meta)
    assert "Extractive QA for tests." in readme and "articles 0:29" in readme and "Test Author" in readme
    # spaCy's accuracy table (test scores) and ours: test and dev side by side, speed as is
    assert "| `QA_F1` | 31.25 |" in readme
    assert "| `qa_f1` | 31.25 | 50.00 |" in readme and "| `speed` | 999.0 | 1234.5 |" in readme
    assert "question_answerer_loss" not in readme  # a training loss is no score
    assert f"pip install --no-index --find-links packages/ {PACKAGE}" in readme


def test_package_refuses_metrics_without_scores(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "meta.json").write_text("{}")
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"note": "no numbers"}))
    result = run_script("package", model, tmp_path / "packages", "--name", NAME, "--test-metrics", metrics,
                        "--test-data", "x", "--description", "x", "--trained-on", "x", "--no-install")
    assert result.exit_code == 2 and "holds no scores" in result.output


def tiny_qa_pipeline(path: Path) -> Path:
    """A question_answerer pipeline on the tiny BERT of the QA fixtures, saved with dev scores."""
    from qa_fixtures import get_tiny_qa_models, make_qa_nlp

    nlp = make_qa_nlp(get_tiny_qa_models()["bert"], max_seq_length=128, doc_stride=32)
    nlp.meta["performance"] = dict(DEV_SCORES)
    nlp.to_disk(path)
    return path


def evaluate_on_test_articles(tmp_path: Path, model: Path) -> Path:
    """scripts/evaluate.py on the test articles of the embedded QA set."""
    corpus = tmp_path / "test.spacy"
    result = run_script("convert_qa", corpus, "--input", ROOT / "assets/qa/gadgets_squad.json", "--articles", "35:")
    assert result.exit_code == 0, result.output
    metrics = tmp_path / "metrics_test.json"
    result = run_script("evaluate", model, corpus, metrics)
    assert result.exit_code == 0, result.output
    return metrics


def venv_without_the_library(root: Path) -> Path:
    """A virtual environment that sees this one's packages except spacy-task-pipes (a
    filtered view of site-packages added by a .pth file), so pip must take the library
    from packages/. Returns its python."""
    site_packages = Path(sysconfig.get_paths()["purelib"])
    shared = root / "shared-site"
    shared.mkdir()
    for entry in site_packages.iterdir():
        if "spacy_task_pipes" not in entry.name and not entry.name.startswith(PACKAGE):
            (shared / entry.name).symlink_to(entry)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    python = root / "venv" / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "shared_site.pth").write_text(f"import site; site.addsitedir({str(shared)!r})\n")
    return python


def run(args: List[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONNOUSERSITE="1")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.mark.slow
def test_package_builds_both_wheels_that_install_offline(tmp_path: Path) -> None:
    model = tiny_qa_pipeline(tmp_path / "model-best")
    metrics = evaluate_on_test_articles(tmp_path, model)
    packages = tmp_path / "packages"
    c = card()
    run([sys.executable, ROOT / "scripts/package.py", model, packages, "--name", NAME, "--test-metrics", metrics,
         "--test-data", c["test_data"], "--description", c["description"], "--trained-on", c["trained_on"],
         "--author", c["author"], "--license", c["license_name"], "--library-dir", ROOT, "--no-install"], cwd=tmp_path)
    wheels = sorted(p.name for p in packages.glob("*.whl"))
    assert wheels == [f"{PACKAGE}-0.1.0-py3-none-any.whl", "spacy_task_pipes-0.1.0-py3-none-any.whl"]
    with zipfile.ZipFile(packages / wheels[0]) as wheel:
        meta = json.loads(wheel.read(f"{PACKAGE}/{PACKAGE}-0.1.0/meta.json"))
        readme = wheel.read(f"{PACKAGE}/{PACKAGE}-0.1.0/README.md").decode("utf-8")
        requires = wheel.read(f"{PACKAGE}-0.1.0.dist-info/METADATA").decode("utf-8")
    scores = json.loads(metrics.read_text())
    assert meta["performance"] == scores and meta["performance_dev"] == DEV_SCORES
    assert (meta["description"], meta["author"], meta["license"]) == (c["description"], c["author"], "MIT")
    assert f"| `qa_f1` | {scores['qa_f1'] * 100:.2f} | 50.00 |" in readme and c["trained_on"] in readme
    assert "Requires-Dist: spacy-task-pipes" in requires
    # a fresh environment without the library: both come from packages/, nothing from an index
    python = venv_without_the_library(tmp_path)
    run([python, "-m", "pip", "install", "-q", "--no-index", "--find-links", packages, PACKAGE], cwd=tmp_path)
    where = run([python, "-c", "import spacy_task_pipes; print(spacy_task_pipes.__file__)"], cwd=tmp_path).stdout
    assert where.startswith(str(tmp_path / "venv")), where
    context = "The Orbit S5 is made by Calder Systems. It came out in 2020."
    checked = run([python, ROOT / "scripts/check_package.py", PACKAGE, "--text", context,
                   "--question", "Who makes the Orbit S5?"], cwd=tmp_path).stdout
    answers = json.loads(checked.strip().splitlines()[-1])["answers"]
    assert [a["question"] for a in answers] == ["Who makes the Orbit S5?"]
