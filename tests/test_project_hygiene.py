"""Project housekeeping a new user runs into (issue #13): `clean` removes only the current
pipeline's outputs, weasel's lock file is not committed, evaluate prints our scores."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, run_script


def test_clean_removes_only_this_languages_outputs(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "project.yml", project / "project.yml")
    for folder in ("corpus/en", "corpus/es", "training/en", "training/es", "training/qa",
                   "packages/en_ner_gadget-0.1.0", "packages/es_ner_ropa-0.1.0", "packages/en_qa_squad-0.1.0"):
        (project / folder).mkdir(parents=True)
        (project / folder / "file").write_text("x")
    proc = subprocess.run([sys.executable, "-m", "spacy", "project", "run", "clean", str(project)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    left = sorted(str(p.relative_to(project)) for p in project.glob("*/*"))
    assert left == ["corpus/es", "packages/en_qa_squad-0.1.0", "packages/es_ner_ropa-0.1.0",
                    "training/es", "training/qa"]


def test_weasel_lock_file_is_ignored():
    proc = subprocess.run(["git", "check-ignore", "-q", "project.lock"], cwd=ROOT)
    assert proc.returncode == 0


def test_evaluate_shows_the_scores_spacy_leaves_out():
    import importlib.util

    spec = importlib.util.spec_from_file_location("evaluate_script", ROOT / "scripts" / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = dict(module.score_rows({"qa_exact_match": 0.5, "qa_f1": 0.625, "translation_bleu": 0.123,
                                   "summary_gen_len": 14.0, "speed": 100.0, "token_acc": 1.0, "ents_per_type": {}}))
    assert rows == {"qa_exact_match": "50.00", "qa_f1": "62.50", "translation_bleu": "12.30", "summary_gen_len": "14.00"}
    result = run_script("evaluate", "x", "no/such.spacy", "out.json")
    assert result.exit_code == 2 and "DATA_PATH: file not found" in result.output
