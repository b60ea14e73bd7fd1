"""`bootstrap --sharded`: the rules as a pipeline run by the annotate job (streamed shards,
worker processes, stable train/dev split, bad records, --resume after SIGKILL, training
from the shard folders)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import spacy
from spacy.tokens import DocBin
from spacy.training import Corpus
from typer.testing import CliRunner

from spacy_task_pipes.ner.bootstrap import RuleMatcher, bootstrap_docs, load_patterns, load_texts

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ROOT / "assets" / "en" / "raw_texts.jsonl"
PATTERNS = ROOT / "assets" / "en" / "patterns.jsonl"
SCRIPT = ROOT / "scripts" / "bootstrap.py"

sys.path.insert(0, str(ROOT / "scripts"))
import bootstrap as bootstrap_cli  # noqa: E402

runner = CliRunner()
Labels = List[Tuple[str, str]]


def run_bootstrap(texts: Path, out: Path, *args) -> str:
    result = runner.invoke(bootstrap_cli.app, [str(texts), str(PATTERNS), str(out), "--sharded", "--no-progress",
                                               *map(str, args)])
    assert result.exit_code == 0, result.output
    return result.output


def silver(folder: Path) -> Dict[str, Labels]:
    """Text -> (IOB, label) per token of every doc in the .spacy files under ``folder``."""
    nlp = spacy.blank("en")
    return {eg.reference.text: [(t.ent_iob_, t.ent_type_) for t in eg.reference] for eg in Corpus(folder)(nlp)}


def shard_bytes(out: Path) -> Dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("part-*")) if p.is_file()}


def write_texts(path: Path, texts: List[str], ids: bool = True) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for i, text in enumerate(texts):
            fh.write(json.dumps({"id": f"t{i}", "text": text} if ids else {"text": text}) + "\n")
    return path


@pytest.fixture(scope="module")
def raw_texts() -> List[str]:
    return load_texts(TEXTS)


@pytest.mark.parametrize("unmatched", ["evidence", "outside"])
def test_sharded_silver_data_equals_the_in_memory_bootstrap(tmp_path: Path, raw_texts: List[str],
                                                            unmatched: str) -> None:
    out = tmp_path / "silver"
    run_bootstrap(TEXTS, out, "--unmatched", unmatched, "--shard-size", 100)
    nlp = spacy.blank("en")
    matcher = RuleMatcher(nlp, load_patterns(PATTERNS))
    expected = {d.text: [(t.ent_iob_, t.ent_type_) for t in d]
                for d in bootstrap_docs(nlp, raw_texts, matcher, unmatched=unmatched)}
    train, dev = silver(out / "train"), silver(out / "dev")
    assert not set(train) & set(dev)
    assert {**train, **dev} == expected
    stats = json.loads((out / "bootstrap_stats.json").read_text())
    reference = matcher.stats.to_dict()
    for key in ("texts", "entities_per_label", "matches_per_pattern", "overlaps_resolved", "tokens_outside",
                "tokens_missing"):
        assert stats[key] == reference[key], key
    assert stats["train_docs"] == len(train) and stats["dev_docs"] == len(dev)
    assert 0.12 < len(dev) / len(expected) < 0.28  # --dev-fraction 0.2 by hash
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["docs"] == {"train": len(train), "dev": len(dev)} and len(manifest["shards"]) == 8


def test_the_split_is_stable_when_texts_are_added(tmp_path: Path, raw_texts: List[str]) -> None:
    small = write_texts(tmp_path / "small.jsonl", raw_texts[:300])
    large = write_texts(tmp_path / "large.jsonl", raw_texts[300:] + raw_texts[:300])  # other order, more texts
    run_bootstrap(small, tmp_path / "a", "--shard-size", 64)
    run_bootstrap(large, tmp_path / "b", "--shard-size", 1000)
    dev_small, dev_large = silver(tmp_path / "a" / "dev"), silver(tmp_path / "b" / "dev")
    train_small = silver(tmp_path / "a" / "train")
    assert dev_small and set(dev_small) <= set(dev_large)
    assert not set(train_small) & set(dev_large)
    # another seed: another split
    run_bootstrap(small, tmp_path / "c", "--seed", 1)
    assert set(silver(tmp_path / "c" / "dev")) != set(dev_small)


def test_worker_processes_write_the_same_shards(tmp_path: Path) -> None:
    run_bootstrap(TEXTS, tmp_path / "one", "--shard-size", 150, "--unmatched", "evidence")
    run_bootstrap(TEXTS, tmp_path / "two", "--shard-size", 150, "--unmatched", "evidence", "--n-process", 2)
    assert shard_bytes(tmp_path / "two") == shard_bytes(tmp_path / "one")
    stats = [(tmp_path / name / "bootstrap_stats.json").read_bytes() for name in ("one", "two")]
    assert stats[0] == stats[1]


def test_bad_records_go_to_the_errors_file_with_their_ids(tmp_path: Path, raw_texts: List[str]) -> None:
    corpus = tmp_path / "corpus.jsonl"
    lines = [json.dumps({"id": f"t{i}", "text": t}) for i, t in enumerate(raw_texts[:50])]
    lines[3] = '{"id": "t3", "text": '  # cut off
    lines[7] = json.dumps({"id": "t7", "text": ""})
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    output = run_bootstrap(corpus, tmp_path / "out", "--shard-size", 20)
    errors = [json.loads(line) for line in (tmp_path / "out" / "_errors.jsonl").read_text().splitlines()]
    assert [(e["line"], e["id"]) for e in errors] == [(4, 4), (8, "t7")]
    assert "invalid JSON" in errors[0]["message"] and "empty text" in errors[1]["message"]
    assert "2 bad records" in output
    stats = json.loads((tmp_path / "out" / "bootstrap_stats.json").read_text())
    assert stats["train_docs"] + stats["dev_docs"] == 48 == stats["texts"]


def test_a_second_run_needs_resume_or_overwrite_and_resume_refuses_other_rules(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_bootstrap(TEXTS, out, "--shard-size", 300)
    before = shard_bytes(out)
    result = runner.invoke(bootstrap_cli.app, [str(TEXTS), str(PATTERNS), str(out), "--sharded", "--no-progress"])
    assert result.exit_code == 2 and "--resume" in result.output and "--overwrite" in result.output
    result = runner.invoke(bootstrap_cli.app, [str(TEXTS), str(PATTERNS), str(out), "--sharded", "--no-progress",
                                               "--shard-size", 300, "--resume", "--unmatched", "missing"])
    assert result.exit_code == 2 and "rules differ" in result.output, result.output
    assert shard_bytes(out) == before  # nothing touched
    run_bootstrap(TEXTS, out, "--shard-size", 300, "--resume")  # same rules: nothing to do
    assert shard_bytes(out) == before
    run_bootstrap(TEXTS, out, "--shard-size", 300, "--overwrite", "--unmatched", "missing")
    assert shard_bytes(out) != before


def test_resume_after_sigkill_gives_the_uninterrupted_shards(tmp_path: Path, raw_texts: List[str]) -> None:
    corpus = write_texts(tmp_path / "corpus.jsonl", [f"{t} ({i})" for i, t in enumerate(raw_texts * 12)])
    out, args = tmp_path / "killed", ["--shard-size", 300, "--unmatched", "evidence"]
    cmd = [sys.executable, str(SCRIPT), str(corpus), str(PATTERNS), str(out), "--sharded", "--no-progress",
           *map(str, args)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(list(out.glob("part-*.jsonl"))) < 3:
            assert proc.poll() is None, "the job ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (out / "_SUCCESS").exists()
    done = {p: p.stat().st_mtime_ns for p in out.glob("part-*.jsonl")}
    assert 3 <= len(done) < 29
    run_bootstrap(corpus, out, *args, "--resume")
    assert {p: p.stat().st_mtime_ns for p in done} == done  # finished shards untouched
    run_bootstrap(corpus, tmp_path / "whole", *args)
    assert shard_bytes(out) == shard_bytes(tmp_path / "whole")
    ids = [json.loads(line)["id"] for p in sorted(out.glob("part-*.jsonl")) for line in p.read_text().splitlines()]
    assert ids == [f"t{i}" for i in range(len(raw_texts) * 12)]


def test_spacy_train_reads_the_shard_folders(tmp_path: Path) -> None:
    out = tmp_path / "silver"
    run_bootstrap(TEXTS, out, "--shard-size", 100, "--unmatched", "evidence")
    n_train = sum(len(DocBin().from_disk(p)) for p in (out / "train").glob("*.spacy"))
    result = subprocess.run(
        [sys.executable, "-m", "spacy", "train", str(ROOT / "configs" / "ner.cfg"), "--output", str(tmp_path / "model"),
         "--paths.train", str(out / "train"), "--paths.dev", str(out / "dev"), "--training.max_steps", "4",
         "--training.eval_frequency", "2", "--training.max_epochs", "-1"],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    nlp = spacy.load(tmp_path / "model" / "model-last")
    assert nlp.get_pipe("ner").labels == ("GADGET",)
    assert n_train == len(list(Corpus(out / "train")(nlp)))


def test_help_names_the_sharded_options() -> None:
    result = runner.invoke(bootstrap_cli.app, ["--help"])
    assert result.exit_code == 0
    for option in ("--sharded", "--n-process", "--engine", "--resume", "--split-by"):
        assert option in result.output


@pytest.fixture(scope="module")
def base_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A base pipeline with other entity labels (ORG, and a GADGET that the rules override)."""
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "ORG", "pattern": "Apple"}, {"label": "ORG", "pattern": "Samsung"},
                        {"label": "ORG", "pattern": "Sony"}, {"label": "GADGET", "pattern": "camera"}])
    path = tmp_path_factory.mktemp("base") / "pipeline"
    nlp.to_disk(path)
    return path


def test_rehearsal_with_a_base_model_in_worker_processes(tmp_path: Path, raw_texts: List[str],
                                                         base_pipeline: Path) -> None:
    out = tmp_path / "silver"
    run_bootstrap(TEXTS, out, "--base-model", base_pipeline, "--n-process", 2, "--shard-size", 200)
    nlp = spacy.blank("en")
    matcher = RuleMatcher(nlp, load_patterns(PATTERNS))
    expected = {d.text: [(t.ent_iob_, t.ent_type_) for t in d]
                for d in bootstrap_docs(nlp, raw_texts, matcher, base_nlp=spacy.load(base_pipeline))}
    got = {**silver(out / "train"), **silver(out / "dev")}
    assert got == expected
    stats = json.loads((out / "bootstrap_stats.json").read_text())
    assert stats["rehearsal_entities_per_label"]["ORG"] > 10
    assert "GADGET" not in stats["rehearsal_entities_per_label"]  # the rules' label is not rehearsed


@pytest.mark.slow
def test_ray_actors_write_the_same_shards(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    run_bootstrap(TEXTS, tmp_path / "local", "--shard-size", 150, "--unmatched", "evidence")
    run_bootstrap(TEXTS, tmp_path / "ray", "--shard-size", 150, "--unmatched", "evidence", "--engine", "ray",
                  "--workers", 2)
    assert shard_bytes(tmp_path / "ray") == shard_bytes(tmp_path / "local")


def test_the_shard_reader_streams_a_shuffled_epoch_and_spacy_train_uses_it(tmp_path: Path) -> None:
    from spacy_task_pipes.ner.shards import ShardCorpus, buffered_shuffle

    out = tmp_path / "silver"
    run_bootstrap(TEXTS, out, "--shard-size", 50)
    nlp = spacy.blank("en")
    in_order = [eg.reference.text for eg in Corpus(out / "train")(nlp)]
    corpus = ShardCorpus(out / "train", buffer_size=100, seed=0)
    first, second = ([eg.reference.text for eg in corpus(nlp)] for _ in range(2))
    assert sorted(first) == sorted(in_order) == sorted(second)  # every example once per epoch
    assert first != in_order and second != first  # shuffled, and differently each epoch
    assert [eg.reference.text for eg in ShardCorpus(out / "train", buffer_size=100, seed=0)(nlp)] == first
    # the buffer bounds how far an item moves forward: never more than buffer_size places
    import random
    moved = list(buffered_shuffle(range(1000), 10, random.Random(0)))
    assert sorted(moved) == list(range(1000)) and all(moved.index(i) >= i - 10 for i in range(1000))

    result = subprocess.run(
        [sys.executable, "-m", "spacy", "train", str(ROOT / "configs" / "ner.cfg"), "--output", str(tmp_path / "m"),
         "--paths.train", str(out / "train"), "--paths.dev", str(out / "dev"), "--training.max_steps", "4",
         "--training.eval_frequency", "2", "--training.max_epochs", "-1",
         "--corpora.train.@readers", "spacy_task_pipes.ShardCorpus.v1", "--corpora.train.buffer_size", "64"],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "m" / "model-last" / "ner").is_dir()


@pytest.mark.parametrize("fmt", ["csv", "txt", "parquet"])
def test_every_input_format_gives_the_jsonl_silver_docs(tmp_path: Path, raw_texts: List[str], fmt: str) -> None:
    texts = [t.replace("\n", " ") for t in raw_texts[:120]]
    jsonl = write_texts(tmp_path / "texts.jsonl", texts)
    path = tmp_path / f"texts.{fmt}"
    if fmt == "csv":
        import csv

        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["id", "text"])
            writer.writerows([f"t{i}", t] for i, t in enumerate(texts))
    elif fmt == "txt":
        path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    else:
        pq = pytest.importorskip("pyarrow.parquet")
        import pyarrow as pa

        pq.write_table(pa.table({"id": [f"t{i}" for i in range(len(texts))], "text": texts}), path)
    run_bootstrap(jsonl, tmp_path / "from-jsonl", "--shard-size", 50, "--unmatched", "evidence")
    run_bootstrap(path, tmp_path / f"from-{fmt}", "--shard-size", 50, "--unmatched", "evidence")
    for split in ("train", "dev"):
        assert silver(tmp_path / f"from-{fmt}" / split) == silver(tmp_path / "from-jsonl" / split)


def test_resume_reuses_the_lower_case_words_while_the_input_is_unchanged(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import spacy_task_pipes.ner.bootstrap_job as job

    out, args = tmp_path / "out", ["--unmatched", "evidence", "--shard-size", 300]
    run_bootstrap(TEXTS, out, *args)
    before = shard_bytes(out)
    counted = []
    real = job.count_lower_words
    monkeypatch.setattr(job, "count_lower_words", lambda *a, **k: counted.append(1) or real(*a, **k))
    run_bootstrap(TEXTS, out, *args, "--resume")
    assert not counted and shard_bytes(out) == before
    # another setting: counted again, and the other words make other rules
    result = runner.invoke(bootstrap_cli.app, [str(TEXTS), str(PATTERNS), str(out), "--sharded", "--no-progress",
                                               *map(str, args), "--resume", "--lower-words-texts", "10"])
    assert counted and result.exit_code == 2 and "rules differ" in result.output


@pytest.mark.slow
def test_the_benchmark_reports_memory_and_a_kill_campaign(tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "benchmark_bootstrap.py"), str(report_path), "--work-dir",
         str(tmp_path / "work"), "--engine-texts", "0", "--sizes", "300,900", "--kills", "2", "--kill-texts", "4000",
         "--kill-shard-size", "250", "--shard-size", "300"],
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(report_path.read_text())
    assert [row["texts"] for row in report["memory"]] == [300, 900]
    assert all(0 < row["peak_rss_mb_tree"] < 2000 for row in report["memory"])
    kills = report["kills"]
    assert kills["identical_shards"] and kills["identical_stats"] and kills["records"] == 4000
    assert kills["duplicate_ids"] == kills["missing_ids"] == 0


def test_reloading_the_pipeline_between_shards_changes_no_output(tmp_path: Path) -> None:
    """The annotator reloads its pipeline once the memory zones have indexed enough transient
    strings (the vocab's hash tables keep a deleted cell for each); the shards, records and
    stats are those of a pipeline that is never reloaded."""
    from spacy_task_pipes.annotate import Annotator, DocSplit, PipelineSpec
    from spacy_task_pipes.annotate.records import InputFormat, InputSource, plan_input, read_shard

    run_bootstrap(TEXTS, tmp_path / "out", "--shard-size", 200)
    spec = PipelineSpec(model=str(tmp_path / "out" / "_pipeline"), batch_size=32)
    plan = plan_input(InputSource(str(TEXTS), InputFormat.JSONL), 200)
    results = {}
    for name, after in (("never", 10**12), ("every_shard", 1)):
        annotator = Annotator.for_pipeline(spec, keep_docs=True, split=DocSplit(0.2))
        annotator.reload_after_strings = after
        first = annotator.nlp
        shards = [annotator.annotate(read_shard(plan.source, s), s.index) for s in plan.shards]
        results[name] = [(r.docbin, r.dev_docbin, r.records, r.stats) for r in shards]
        results[name + "_reloads"] = (annotator.reloads, annotator.nlp is first)
    assert len(plan.shards) == 4
    assert results["never_reloads"] == (0, True)
    assert results["every_shard_reloads"] == (3, False)  # before shards 2, 3 and 4
    assert results["every_shard"] == results["never"]
    assert sum(sum(r[3]["silver_ruler"]["entities_per_label"].values()) for r in results["never"]) > 600
