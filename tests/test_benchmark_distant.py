"""scripts/benchmark_distant.py: datasets, the rules row, a short training run, and a
clean refusal where ../shared is missing."""

import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not (SHARED / "bond").is_dir(), reason="../shared/data is not beside the project")


def _module():
    spec = importlib.util.spec_from_file_location("benchmark_distant", ROOT / "scripts" / "benchmark_distant.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bio_tags_that_start_with_i_open_an_entity():
    fix = _module()._bio_fix
    assert fix(["O", "I-PER", "I-PER", "I-LOC", "O"]) == ["O", "B-PER", "I-PER", "B-LOC", "O"]
    assert fix(["B-ORG", "I-ORG"]) == ["B-ORG", "I-ORG"]


@needs_shared
def test_bond_webpage_reads_its_splits_and_majority_patterns():
    data = _module().load_dataset("webpage", seed=0)
    assert (len(data.texts), len(data.dev), len(data.test)) == (385, 99, 135)
    assert data.patterns and all(isinstance(p.pattern, str) for p in data.patterns)
    assert {p.label for p in data.patterns} <= {"PER", "LOC", "ORG", "MISC"}
    assert sum(len(d.ents) for d in data.test) > 100


@needs_shared
def test_conll_dictionary_is_a_seeded_half_of_the_train_names():
    import spacy

    module = _module()
    first, again = module.load_dataset("conll_es", seed=0), module.load_dataset("conll_es", seed=0)
    assert [p.pattern for p in first.patterns] == [p.pattern for p in again.patterns]
    assert len(first.texts) == 8323 and len(first.test) == 1517
    train = module.read_conll(spacy.blank("es"), SHARED / "conll2002_es" / "esp.train", encoding="latin-1", n_sents=1)[0]
    names = {e.text for d in train for e in d.ents}
    assert len(first.patterns) == len(names) // 2
    assert {p.pattern for p in first.patterns} < names


def test_rules_row_on_the_projects_own_set_matches_evaluate(tmp_path):
    result = CliRunner().invoke(_module().app, [str(tmp_path / "out.json"), "--datasets", "en", "--variants", "rules"])
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "out.json").read_text())["rows"]
    assert [(r["dataset"], r["variant"]) for r in rows] == [("en", "rules")]
    assert rows[0]["f"] == pytest.approx(0.669, abs=0.002)  # the rules baseline evaluate prints
    assert "| en | rules |" in (tmp_path / "out.md").read_text()


def test_a_short_training_run_scores_the_model_and_its_confidences(tmp_path):
    result = CliRunner().invoke(_module().app, [
        str(tmp_path / "out.json"), "--datasets", "es", "--variants", "evidence",
        "--training.max_steps", "60", "--training.eval_frequency", "30"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads((tmp_path / "out.json").read_text())["rows"]
    assert row["variant"] == "evidence" and 0.0 <= row["f"] <= 1.0
    assert row["recall_on_unmatched"] is not None and set(row["by_confidence"]) >= {"0.5", "0.9"}
    # the dictionary at inference: dev F for each placement, the one the dev set kept, its test scores
    dictionary = row["dictionary"]
    assert set(dictionary["dev"]) == {"with", "without"}
    assert dictionary["kept"] == (dictionary["dev"]["with"]["f"] > dictionary["dev"]["without"]["f"])
    if not dictionary["kept"]:
        assert (dictionary["p"], dictionary["r"], dictionary["f"]) == (row["p"], row["r"], row["f"])
    assert "| es | evidence + dictionary | 1 |" in (tmp_path / "out.md").read_text()


def test_missing_shared_data_is_one_line(tmp_path, monkeypatch):
    module = _module()
    monkeypatch.setattr(module, "SHARED", tmp_path / "nowhere")
    result = CliRunner().invoke(module.app, [str(tmp_path / "out.json"), "--datasets", "webpage"])
    assert result.exit_code == 2
    assert "is not there" in result.output and len(result.output.strip().splitlines()) == 1
