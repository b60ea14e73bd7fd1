"""The annotate job with the local engine: input formats and shard plans, output
formats, bad records, the reference outputs of the task components, worker processes,
kill + --resume, and the CLI's one-line errors."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest
import spacy
from spacy.tokens import DocBin

from annotate_fixtures import (  # noqa: F401  (fixtures)
    MARKER,
    TEXTS,
    code_file,
    combined_model_dir,
    combined_rows,
    ner_model_dir,
    ner_nlp,
    read_jsonl,
    read_parts,
    slow_model_dir,
    write_jsonl,
)
from conftest import ROOT, run_script
from qa_fixtures import qa_models  # noqa: F401
from seq2seq_fixtures import seq2seq_models  # noqa: F401
from spacy_task_pipes.annotate import InputFormat, InputSource, plan_input, read_shard


def annotate(*args: Any) -> Any:
    result = run_script("annotate", *args, "--no-progress")
    assert result.exit_code == 0, result.output
    return result


def expected_entities(text: str) -> List[Dict[str, Any]]:
    doc = ner_nlp()(text)
    return [{"text": e.text, "label": e.label_, "start": e.start_char, "end": e.end_char} for e in doc.ents]


# --------------------------------------------------------------------------- inputs


def write_input(path: Path, fmt: str, rows: List[Dict[str, Any]]) -> Path:
    """``rows`` (dicts with ``text`` and maybe ``id``) in format ``fmt``."""
    if fmt == "jsonl":
        write_jsonl(path, rows)
    elif fmt == "txt":
        path.write_text("".join(row["text"] + "\n" for row in rows), encoding="utf-8")
    elif fmt == "csv":
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["id", "text"])
            writer.writeheader()
            writer.writerows(rows)
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), str(path), row_group_size=4)  # shards of 3 cross row groups
    else:
        nlp = spacy.blank("en")
        DocBin(docs=[nlp.make_doc(row["text"]) for row in rows]).to_disk(path)
    return path


@pytest.mark.parametrize("fmt", [f.value for f in InputFormat])
def test_each_input_format_gives_the_entities_and_ids(tmp_path: Path, ner_model_dir: Path, code_file: Path,
                                                      fmt: str) -> None:
    rows = [{"id": f"t{i}", "text": text} for i, text in enumerate(TEXTS)]
    path = write_input(tmp_path / f"corpus.{fmt}", fmt, rows)
    out = tmp_path / "out"
    annotate(ner_model_dir, path, out, "--code", code_file, "--shard-size", 3, "--batch-size", 2)
    records = read_parts(out)
    has_ids = fmt in ("jsonl", "csv", "parquet")
    # without an id field: the line number (CSV's header is line 1) or the row number
    assert [r["id"] for r in records] == [row["id"] if has_ids else i + 1 for i, row in enumerate(rows)]
    assert [r["entities"] for r in records] == [expected_entities(text) for text in TEXTS]
    assert sorted(p.name for p in out.glob("part-*")) == ["part-00000.jsonl", "part-00001.jsonl", "part-00002.jsonl"]
    assert (out / "_SUCCESS").exists() and read_jsonl(out / "_errors.jsonl") == []


def sequential_records(source: InputSource) -> List[Any]:
    plan = plan_input(source, shard_size=10**9)
    return [record for spec in plan.shards for record in read_shard(plan.source, spec)]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "spacy"])
def test_shards_read_the_same_records_as_one_pass(tmp_path: Path, fmt: str) -> None:
    """Shards start at byte offsets / row groups of the plan: reading shard by shard
    gives the records (and their line numbers) of one sequential pass."""
    rows = [{"id": i, "text": f"Record {i}, with a comma and a \"quote\"" + ("\nand a second line" if i % 4 == 0 else "")}
            for i in range(11)]
    path = write_input(tmp_path / f"in.{fmt}", fmt, rows)
    source = InputSource(str(path), InputFormat(fmt))
    whole = sequential_records(source)
    plan = plan_input(source, shard_size=3)
    assert [(s.start, s.stop) for s in plan.shards] == [(0, 3), (3, 6), (6, 9), (9, 11)]
    sharded = [record for spec in plan.shards for record in read_shard(plan.source, spec)]
    assert sharded == whole and [r.text for r in sharded] == [row["text"] for row in rows]
    assert [r.index for r in sharded] == list(range(11))
    if fmt == "csv":  # multi-line records push the later lines down
        assert [r.line for r in sharded[:6]] == [2, 4, 5, 6, 7, 9]


def test_csv_blank_lines_bad_bytes_and_questions(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(
        b'text,questions\n'
        b'"First, text",Who?\n'
        b'\n'
        b'Second text,"[""Why?"", ""How?""]"\n'
        b'Bad \xff byte,\n'
        b',Who?\n'
    )
    source = InputSource(str(path), InputFormat.CSV)
    records = sequential_records(source)
    plan = plan_input(source, shard_size=1)  # a shard may start after a blank line
    assert [record for spec in plan.shards for record in read_shard(plan.source, spec)] == records
    assert [(r.line, r.id, r.text, r.questions) for r in records[:2]] == [
        (2, 2, "First, text", ("Who?",)), (4, 4, "Second text", ("Why?", "How?"))]
    assert [(r.line, r.error) for r in records[2:]] == [
        (5, "cannot decode the line as utf-8"), (6, "empty text in field 'text'")]


# --------------------------------------------------------------------------- faults


def write_faulty_corpus(path: Path) -> Path:
    """Good records around each kind of bad one; the marker sits mid-batch."""
    lines = [
        json.dumps({"id": "ok1", "text": TEXTS[0]}),
        "{this is not json",
        json.dumps({"id": "no-text", "body": TEXTS[1]}),
        json.dumps({"id": "ok2", "text": TEXTS[2]}),
        json.dumps({"id": "boom", "text": f"{MARKER} in Paris"}),
        json.dumps({"id": "ok3", "text": TEXTS[3]}),
        json.dumps({"id": "empty", "text": ""}),
        json.dumps({"id": "number", "text": 42}),
        json.dumps({"text": TEXTS[4]}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"id": "ok5", "text": TEXTS[7]}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_bad_records_go_to_the_errors_file_and_the_rest_is_written(tmp_path: Path, ner_model_dir: Path,
                                                                   code_file: Path) -> None:
    corpus = write_faulty_corpus(tmp_path / "corpus.jsonl")
    out = tmp_path / "out"
    result = annotate(ner_model_dir, corpus, out, "--code", code_file, "--batch-size", 4, "--shard-size", 6)
    assert "11 records in, 5 out, 6 failed" in result.output
    records = read_parts(out)
    # "ok2" and "ok3" shared a batch with the record that raised: retried one by one
    assert [r["id"] for r in records] == ["ok1", "ok2", "ok3", 9, "ok5"]
    good_texts = [TEXTS[0], TEXTS[2], TEXTS[3], TEXTS[4], TEXTS[7]]
    assert [r["entities"] for r in records] == [expected_entities(t) for t in good_texts]
    errors = read_jsonl(out / "_errors.jsonl")
    assert [(e["id"], e["line"], e["stage"]) for e in errors] == [
        (2, 2, "input"), ("no-text", 3, "input"), ("boom", 5, "pipeline"),
        ("empty", 7, "input"), ("number", 8, "input"), (10, 10, "input")]
    messages = [e["message"] for e in errors]
    assert messages[0].startswith("invalid JSON") and "missing text field 'text'" in messages[1]
    assert messages[2].startswith("RuntimeError: marker found") and "empty text" in messages[3]
    assert "not a string (got int)" in messages[4] and "expected a JSON object" in messages[5]
    manifest = json.loads((out / "_manifest.json").read_text("utf-8"))
    assert (manifest["records_in"], manifest["records_out"], manifest["failed"]) == (11, 5, 6)
    assert [(s["records_out"], s["failed"]) for s in manifest["shards"]] == [(3, 3), (2, 3)]


# --------------------------------------------------------------------------- task components


def reference_record(nlp: Any, row: Dict[str, Any], line: int) -> Dict[str, Any]:
    """What the components themselves give for one record (doc by doc)."""
    doc = nlp.make_doc(row["text"])
    questions = row.get("questions")
    if questions is not None:
        doc._.questions = [questions] if isinstance(questions, str) else questions
    doc = nlp(doc)
    return {
        "id": row.get("id", line),
        "entities": [{"text": e.text, "label": e.label_, "start": e.start_char, "end": e.end_char} for e in doc.ents],
        "answers": [{"question": a.question, "text": a.text, "start": a.start, "end": a.end, "score": a.score}
                    for a in doc._.answers],
        "translation": doc._.translation,
        "summary": doc._.summary,
    }


def test_task_components_give_their_own_results(tmp_path: Path, combined_model_dir: Path, code_file: Path) -> None:
    """NER + question_answerer + translator + summarizer: each record holds what the
    components set on the doc (run doc by doc here, so batches cannot differ)."""
    rows = combined_rows()
    corpus = write_jsonl(tmp_path / "corpus.jsonl", rows)
    out = tmp_path / "out"
    annotate(combined_model_dir, corpus, out, "--code", code_file, "--batch-size", 1, "--shard-size", 4)
    nlp = spacy.load(combined_model_dir)
    good = [(i + 1, row) for i, row in enumerate(rows) if row.get("id") not in ("c", "e", "f", "h")]
    assert read_parts(out) == [reference_record(nlp, row, line) for line, row in good]
    by_id = {r["id"]: r for r in read_parts(out)}
    assert [a["question"] for a in by_id["b"]["answers"]] == ["Where was Marie born?", "When did she move?"]
    assert by_id[4]["answers"] == [] and [e["text"] for e in by_id["b"]["entities"]] == ["Warsaw", "Paris"]
    assert all(r["translation"] and r["summary"] for r in by_id.values())
    errors = {e["id"]: e["message"] for e in read_jsonl(out / "_errors.jsonl")}
    assert sorted(errors, key=str) == ["c", "e", "f", "h"] and "questions" in errors["h"]


def test_quantize_and_backends_apply_to_every_task_component(tmp_path: Path, combined_model_dir: Path,
                                                             code_file: Path) -> None:
    """``--quantize int8 --backend onnxruntime,ctranslate2``: the QA model runs on ONNX Runtime,
    the translator and summarizer on CTranslate2, all with int8 weights, as loading the pipeline
    with those settings gives; the job records them so a resume cannot mix settings."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("ctranslate2")
    from spacy_task_pipes.cli import inference_overrides

    rows = [row for row in combined_rows() if row.get("id") not in ("c", "e", "f", "h")]
    corpus = write_jsonl(tmp_path / "corpus.jsonl", rows)
    out = tmp_path / "out"
    annotate(combined_model_dir, corpus, out, "--code", code_file, "--batch-size", 1,
             "--quantize", "int8", "--backend", "onnxruntime,ctranslate2")
    plain = spacy.load(combined_model_dir)
    overrides = inference_overrides(plain.config, quantize="int8", backend="onnxruntime,ctranslate2")
    assert {name: o["model"] for name, o in overrides["components"].items()} == {
        "question_answerer": {"quantize": "int8", "backend": "onnxruntime"},
        "translator": {"quantize": "int8", "backend": "ctranslate2"},
        "summarizer": {"quantize": "int8", "backend": "ctranslate2"},
    }
    nlp = spacy.load(combined_model_dir, config=overrides)
    assert read_parts(out) == [reference_record(nlp, row, line + 1) for line, row in enumerate(rows)]
    job = json.loads((out / "_job.json").read_text())
    assert (job["quantize"], job["backend"]) == ("int8", "onnxruntime,ctranslate2")
    result = run_script("annotate", combined_model_dir, corpus, out, "--code", code_file, "--resume", "--no-progress")
    assert result.exit_code == 2 and "quantize" in result.output
    bad = run_script("annotate", combined_model_dir, corpus, tmp_path / "bad", "--code", code_file, "--backend", "tensorrt")
    assert bad.exit_code == 2 and "--backend: tensorrt" in bad.output


# --------------------------------------------------------------------------- outputs


def test_parquet_output_holds_the_jsonl_records(tmp_path: Path, combined_model_dir: Path, code_file: Path) -> None:
    import pyarrow.parquet as pq

    corpus = write_jsonl(tmp_path / "corpus.jsonl", combined_rows())
    common = ["--code", code_file, "--shard-size", 2, "--batch-size", 4]
    annotate(combined_model_dir, corpus, tmp_path / "json", *common)
    annotate(combined_model_dir, corpus, tmp_path / "parquet", *common, "--output-format", "parquet")
    expected = [{**r, "id": str(r["id"])} for r in read_parts(tmp_path / "json")]
    table = pq.read_table(tmp_path / "parquet")  # the _files are skipped
    assert table.column_names == ["id", "entities", "answers", "translation", "summary"]
    assert table.to_pylist() == expected
    empty_shard = pq.read_table(tmp_path / "parquet" / "part-00002.parquet")  # e and f: both failed
    assert empty_shard.num_rows == 0 and empty_shard.schema == table.schema


def test_docbin_shards_hold_the_annotated_docs(tmp_path: Path, ner_model_dir: Path, code_file: Path) -> None:
    corpus = write_faulty_corpus(tmp_path / "corpus.jsonl")
    out = tmp_path / "out"
    annotate(ner_model_dir, corpus, out, "--code", code_file, "--shard-size", 6, "--docbin")
    nlp = spacy.blank("en")
    docs = [doc for part in sorted((out / "_docs").glob("part-*.spacy"))
            for doc in DocBin().from_disk(part).get_docs(nlp.vocab)]
    records = read_parts(out)
    assert len(docs) == len(records) == 5
    assert [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in docs] == [
        [(e["start"], e["end"], e["label"]) for e in r["entities"]] for r in records]


# --------------------------------------------------------------------------- engines and resume


@pytest.mark.slow
def test_worker_processes_give_the_in_process_output(tmp_path: Path, ner_model_dir: Path, code_file: Path) -> None:
    corpus = write_faulty_corpus(tmp_path / "corpus.jsonl")
    common = ["--code", code_file, "--shard-size", 2, "--batch-size", 3]
    annotate(ner_model_dir, corpus, tmp_path / "one", *common)
    annotate(ner_model_dir, corpus, tmp_path / "two", *common, "--n-process", 2)
    assert read_parts(tmp_path / "two") == read_parts(tmp_path / "one")
    assert read_jsonl(tmp_path / "two" / "_errors.jsonl") == read_jsonl(tmp_path / "one" / "_errors.jsonl")


def wait_for_parts(out: Path, n: int, proc: subprocess.Popen, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while len(list(out.glob("part-*.jsonl"))) < n:
        assert proc.poll() is None, "the job ended before it could be killed"
        assert time.monotonic() < deadline, f"no {n} shards after {timeout}s"
        time.sleep(0.02)


@pytest.mark.slow
def test_resume_after_sigkill_finishes_without_redoing_shards(tmp_path: Path, slow_model_dir: Path,
                                                              code_file: Path) -> None:
    n_records, shard_size = 200, 10  # 20 ms per record: 0.2 s per shard, 4 s in all
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"id": f"r{i}", "text": TEXTS[i % len(TEXTS)]}
                                                     for i in range(n_records)])
    out = tmp_path / "out"
    job = [slow_model_dir, corpus, out, "--code", code_file, "--shard-size", shard_size, "--batch-size", 5]
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "annotate.py"), *map(str, job), "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_parts(out, 2, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("part-*.jsonl")}
    assert 2 <= len(done) < n_records // shard_size and not (out / "_SUCCESS").exists()

    result = annotate(*job, "--resume")
    assert f"{len(done)} done before" in result.output
    assert {name: ((out / name).stat().st_ino, (out / name).stat().st_mtime_ns) for name in done} == done
    uninterrupted = tmp_path / "uninterrupted"
    annotate(slow_model_dir, corpus, uninterrupted, *job[3:])
    records = read_parts(out)
    assert [r["id"] for r in records] == [f"r{i}" for i in range(n_records)]  # none twice, none missing
    assert records == read_parts(uninterrupted)
    assert not list(out.glob(".*.tmp")) and (out / "_SUCCESS").exists()


# --------------------------------------------------------------------------- CLI


def test_cli_user_errors_are_one_line_with_exit_code_2(tmp_path: Path, ner_model_dir: Path, code_file: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"text": t} for t in TEXTS])
    out = tmp_path / "out"

    def refused(*args: Any) -> str:
        result = run_script("annotate", *args, "--no-progress")
        assert result.exit_code == 2, result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
        return result.output

    assert "file not found" in refused(ner_model_dir, tmp_path / "missing.jsonl", out)
    assert "no pipeline directory or installed pipeline package" in refused("no_such_pipeline", corpus, out)
    assert "--input-format" in refused(ner_model_dir, write_jsonl(tmp_path / "corpus.xyz", []), out)
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("body,id\nhello,1\n", encoding="utf-8")
    assert "no column 'text'" in refused(ner_model_dir, bad_csv, out, "--code", code_file)
    annotate(ner_model_dir, corpus, out, "--code", code_file, "--shard-size", 4)
    assert "--resume" in refused(ner_model_dir, corpus, out, "--code", code_file, "--shard-size", 4)
    assert "changed: shard_size" in refused(ner_model_dir, corpus, out, "--code", code_file, "--shard-size", 5,
                                            "--resume")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert "pip install" in refused(ner_model_dir, corpus, tmp_path / "ray", "--engine", "ray")


@pytest.mark.parametrize("script", ["annotate", "benchmark_annotate"])
def test_scripts_have_help(script: str) -> None:
    result = run_script(script, "--help")
    assert result.exit_code == 0 and "Usage" in result.output
