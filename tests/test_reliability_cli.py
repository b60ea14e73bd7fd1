"""Second audit (issue #19), the scripts' input and output: byte-order marks and delimiters in
annotate's input, FIFOs, a full disk or read-only output folder, nonsense numbers, and the demo
script without its extra. Each is one line and exit code 2, and nothing is lost or half-written."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from annotate_fixtures import TEXTS, code_file, ner_model_dir, read_parts, write_jsonl  # noqa: F401
from conftest import ROOT, run_script


def annotate(*args):
    return run_script("annotate", *args, "--no-progress")


def one_line_refusal(result, *needles: str) -> str:
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    for needle in needles:
        assert needle in result.output, result.output
    return result.output


# ------------------------------------------------------------------ 8. BOMs, delimiters


def test_csv_with_a_byte_order_mark_keeps_its_first_column(tmp_path, ner_model_dir, code_file):
    corpus = tmp_path / "excel.csv"
    corpus.write_bytes("\ufeffid,text\nx1,Marie lives in Warsaw.\nx2,The Kindle is here.\n".encode("utf-8"))
    result = annotate(ner_model_dir, corpus, tmp_path / "out", "--code", code_file)
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in read_parts(tmp_path / "out")] == ["x1", "x2"]


def test_jsonl_with_a_byte_order_mark_reads_its_first_record(tmp_path, ner_model_dir, code_file):
    corpus = tmp_path / "notepad.jsonl"
    rows = [{"id": "first", "text": TEXTS[1]}, {"id": "second", "text": TEXTS[0]}]
    corpus.write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps(r) + "\n" for r in rows).encode())
    result = annotate(ner_model_dir, corpus, tmp_path / "out", "--code", code_file)
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in read_parts(tmp_path / "out")] == ["first", "second"]
    assert (tmp_path / "out" / "_errors.jsonl").read_text() == ""


def test_semicolon_csv_is_named_and_read_with_the_delimiter_option(tmp_path, ner_model_dir, code_file):
    corpus = tmp_path / "semi.csv"
    corpus.write_text("id;text\na;Marie lives in Warsaw, near Paris.\nb;Kindle\n", encoding="utf-8")
    one_line_refusal(annotate(ner_model_dir, corpus, tmp_path / "out", "--code", code_file),
                     "looks ';'-separated", "--csv-delimiter ';'")
    result = annotate(ner_model_dir, corpus, tmp_path / "out2", "--code", code_file, "--csv-delimiter", ";")
    assert result.exit_code == 0, result.output
    parts = read_parts(tmp_path / "out2")
    assert [r["id"] for r in parts] == ["a", "b"] and parts[0]["entities"][0]["text"] == "Warsaw"


def test_a_fifo_is_named_as_such(tmp_path, ner_model_dir, code_file):
    fifo = tmp_path / "input.jsonl"
    os.mkfifo(fifo)
    output = one_line_refusal(annotate(ner_model_dir, fifo, tmp_path / "out", "--code", code_file),
                              "not a regular file (a FIFO")
    assert "not found" not in output


# ----------------------------------------------- 9. full disk, read-only folder


@pytest.mark.parametrize("code,what", [(errno.ENOSPC, "No space left on device"),
                                       (errno.EROFS, "Read-only file system")])
def test_a_full_disk_or_read_only_folder_is_one_line(tmp_path, ner_model_dir, code_file, monkeypatch, code, what):
    from spacy_task_pipes import io as tp_io

    corpus = write_jsonl(tmp_path / "c.jsonl", [{"id": i, "text": t} for i, t in enumerate(TEXTS)])
    out = tmp_path / "out"
    real = tp_io._write_temp

    def failing(data, path):
        if path.name.startswith("part-"):
            raise OSError(code, what, str(path))
        return real(data, path)

    monkeypatch.setattr(tp_io, "_write_temp", failing)
    output = one_line_refusal(annotate(ner_model_dir, corpus, out, "--code", code_file), what, str(out))
    assert "nothing was half-written" in output
    assert not list(out.glob("part-*")) and not list(out.glob(".*.tmp")) and not (out / "_SUCCESS").exists()
    monkeypatch.setattr(tp_io, "_write_temp", real)
    result = annotate(ner_model_dir, corpus, out, "--code", code_file, "--resume")
    assert result.exit_code == 0 and len(read_parts(out)) == len(TEXTS)


# ---------------------------------------------------------------- 12. smaller


@pytest.mark.parametrize("option,value", [("--threads", "-3"), ("--batch-size", "0"), ("--n-process", "0"),
                                          ("--shard-size", "0")])
def test_nonsense_numbers_are_refused(tmp_path, ner_model_dir, code_file, option, value):
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"text": TEXTS[0]}])
    one_line_refusal(annotate(ner_model_dir, corpus, tmp_path / "out", "--code", code_file, option, value),
                     f"{option} must be >= 1, got {value}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("script,args", [
    ("evaluate_qa", ["{model}", "{data}", "{out}", "--batch-size", "0"]),
    ("benchmark_ner", ["{model}", "{data}", "{out}", "--batch-size", "0"]),
])
def test_other_scripts_refuse_a_batch_size_of_zero(tmp_path, ner_model_dir, script, args):
    data = write_jsonl(tmp_path / "c.jsonl", [{"text": TEXTS[0]}])
    values = {"model": ner_model_dir, "data": data, "out": tmp_path / "out.json"}
    one_line_refusal(run_script(script, *[a.format(**values) for a in args]), "--batch-size must be >= 1, got 0")


def test_demo_script_without_its_extra_says_which_extra(tmp_path):
    code = ("import sys, runpy; sys.modules['streamlit'] = None; "
            f"sys.argv = ['demo.py', '--help']; runpy.run_path({str(ROOT / 'scripts' / 'demo.py')!r}, run_name='__main__')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "needs the 'demo' extra" in out.stderr and "pip install -e '.[demo]'" in out.stderr
    assert "Traceback" not in out.stderr
