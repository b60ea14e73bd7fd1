"""Seq2seq command-line scripts: convert_seq2seq (parallel text, TSV, JSONL, CSV -> DocBin that
`spacy train`'s readers load; slicing; bad input names the line), make_seq2seq_model and
benchmark_seq2seq (smoke, tiny model)."""

from __future__ import annotations

import json

import pytest
import spacy

from conftest import run_script
from seq2seq_fixtures import seq2seq_models  # noqa: F401
from spacy_task_pipes.bench.seq2seq import hf_pipeline_unavailable, run_hf_pipeline_same_batches
from spacy_task_pipes.seq2seq.data import (
    create_seq2seq_corpus,
    create_summarization_corpus,
    load_hub_pairs,
    parse_slice,
    read_pairs_file,
    select_pairs,
)

SPA = ["El perro come carne.", "Mi hermana vive en Madrid.", "", "¿Dónde está la estación?", "Hoy hace calor."]
POR = ["O cachorro come carne.", "Minha irmã mora em Lisboa.", "", "Onde fica a estação?", "Hoje está calor."]


def parallel_files(tmp_path):
    src, tgt = tmp_path / "x.spa", tmp_path / "x.por"
    src.write_text("\n".join(SPA) + "\n", encoding="utf-8")
    tgt.write_text("\n".join(POR) + "\n", encoding="utf-8")
    return src, tgt


def dialog_file(tmp_path, n=4, name="dialogs.jsonl"):
    path = tmp_path / name
    rows = [{"fname": f"d{i}", "dialogue": f"#Person1#: Hi {i}.\n#Person2#: Bye {i}.",
             "summary1": f"They greet {i}.", "topic1": "greeting"} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_back(path, field="translation"):
    return list(create_seq2seq_corpus(path, field=field)(spacy.blank("xx")))


def last_json(res):
    return json.loads(res.output.strip().splitlines()[-1])


# ------------------------------------------------------------------ convert


def test_convert_parallel_files_and_slices(tmp_path):
    src, tgt = parallel_files(tmp_path)
    train, dev = tmp_path / "train.spacy", tmp_path / "dev.spacy"
    res = run_script("convert_seq2seq", "translation", train, "--source", src, "--target", tgt, "--slice", "0:3")
    assert res.exit_code == 0, res.output
    stats = last_json(res)
    assert stats["records"] == 3 and stats["docs"] == 2 and stats["skipped_empty_source"] == 1
    res = run_script("convert_seq2seq", "translation", dev, "-s", src, "-t", tgt, "--slice", "3:", "--limit", "1")
    assert res.exit_code == 0, res.output
    train_egs, dev_egs = read_back(train), read_back(dev)
    assert [(e.reference.text, e.reference._.translation) for e in train_egs] == list(zip(SPA[:2], POR[:2]))
    assert [(e.reference.text, e.reference._.translation) for e in dev_egs] == [(SPA[3], POR[3])]
    assert dev_egs[0].predicted._.translation is None  # the target is not leaked to the predicted doc


def test_convert_tsv_jsonl_csv(tmp_path):
    tsv = tmp_path / "p.tsv"
    tsv.write_text("uno\tum\ndos\tdois\textra\n", encoding="utf-8")
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"source": "uno", "target": "um"}\n{"source": "dos", "target": "dois"}\n', encoding="utf-8")
    csv_file = tmp_path / "p.csv"
    csv_file.write_text('es,pt\nuno,um\n"dos, tres","dois, três"\n', encoding="utf-8")
    for path, extra in ((tsv, []), (jsonl, []), (csv_file, ["--source-field", "es", "--target-field", "pt"])):
        out = tmp_path / f"{path.suffix[1:]}.spacy"
        res = run_script("convert_seq2seq", "translation", out, "--input", path, *extra)
        assert res.exit_code == 0, res.output
        pairs = [(e.reference.text, e.reference._.translation) for e in read_back(out)]
        assert pairs[0] == ("uno", "um") and len(pairs) == 2
    assert pairs[1] == ("dos, tres", "dois, três")


def test_convert_summarization_fields(tmp_path):
    src = dialog_file(tmp_path)
    out = tmp_path / "sum.spacy"
    res = run_script("convert_seq2seq", "summarization", out, "--input", src, "--summary-field", "summary1",
                     "--limit", "3")
    assert res.exit_code == 0, res.output
    assert last_json(res)["docs"] == 3
    egs = list(create_summarization_corpus(out)(spacy.blank("en")))
    assert len(egs) == 3 and egs[1].reference._.summary == "They greet 1."
    assert egs[1].reference.text.startswith("#Person1#: Hi 1.")


@pytest.mark.parametrize(
    "content,args,message",
    [
        ('{"source": "a", "target": "b"}\n{"source": "a", \n', [], r"p\.jsonl:2: invalid JSON"),
        ('{"source": "a", "target": "b"}\n{"source": "a"}\n', [], r"p\.jsonl, line 2: no field\(s\) \['target'\]"),
        ('{"source": "a", "target": "b"}\n\n', [], r"p\.jsonl:2: empty line"),
        ('{"source": "a", "target": "b"}\n["a", "b"]\n', [], r"p\.jsonl, line 2: expected a JSON object"),
        ('{"source": "a", "target": "b"}\n', ["--source-field", "text"], r"line 1: no field\(s\) \['text'\]"),
    ],
)
def test_convert_bad_jsonl_names_the_line(tmp_path, content, args, message):
    import re

    path = tmp_path / "p.jsonl"
    path.write_text(content, encoding="utf-8")
    out = tmp_path / "out.spacy"
    res = run_script("convert_seq2seq", "translation", out, "--input", path, *args)
    assert res.exit_code == 2, res.output
    assert re.search(message, res.output.replace("\n", "")), res.output
    assert not out.exists() and not list(tmp_path.glob(".out.spacy*"))


def test_convert_bad_inputs(tmp_path):
    src, tgt = parallel_files(tmp_path)
    out = tmp_path / "out.spacy"
    tsv = tmp_path / "bad.tsv"
    tsv.write_text("a\tb\nno tab here\n", encoding="utf-8")
    res = run_script("convert_seq2seq", "translation", out, "--input", tsv)
    assert res.exit_code == 2 and "bad.tsv, line 2" in res.output
    tgt.write_text("um\ndois\n", encoding="utf-8")
    res = run_script("convert_seq2seq", "translation", out, "-s", src, "-t", tgt)
    assert res.exit_code == 2 and "not line-aligned" in res.output and "x.por has 2" in res.output.replace("\n", "")
    latin = tmp_path / "latin.spa"
    latin.write_bytes("uno\nmañana\n".encode("latin-1"))
    tgt.write_text("um\namanhã\n", encoding="utf-8")
    res = run_script("convert_seq2seq", "translation", out, "-s", latin, "-t", tgt)
    assert res.exit_code == 2 and "latin.spa:2" in res.output
    res = run_script("convert_seq2seq", "translation", out, "-s", src)
    assert res.exit_code == 2 and "go together" in res.output
    res = run_script("convert_seq2seq", "summarization", out)
    assert res.exit_code == 2 and "exactly one" in res.output
    res = run_script("convert_seq2seq", "summarization", out, "-i", dialog_file(tmp_path), "--slice", "x")
    assert res.exit_code == 2 and "0:2000" in res.output
    res = run_script("convert_seq2seq", "summarization", out, "-i", dialog_file(tmp_path), "--slice", "10:",
                     "--summary-field", "summary1")
    assert res.exit_code == 2 and "no records selected" in res.output
    res = run_script("convert_seq2seq", "translation", out, "-i", tmp_path / "missing.tsv")
    assert res.exit_code == 2 and "missing.tsv" in res.output
    assert not out.exists()


def test_slices_nested_fields_and_hub_errors(tmp_path):
    assert parse_slice("0:2000") == slice(0, 2000) and parse_slice("") == slice(None)
    assert parse_slice("-3:") == slice(-3, None)
    pairs = [(str(i), str(i)) for i in range(10)]
    assert [p[0] for p in select_pairs(iter(pairs), slice(-3, None))] == ["7", "8", "9"]
    assert [p[0] for p in select_pairs(iter(pairs), slice(2, 8), limit=2)] == ["2", "3"]
    path = tmp_path / "hub.jsonl"
    path.write_text('{"id": 1, "translation": {"es": "uno", "pt": "um"}}\n', encoding="utf-8")
    assert list(read_pairs_file(path, "translation.es", "translation.pt")) == [("uno", "um")]
    with pytest.raises((ImportError, ValueError), match="datasets|Could not load"):
        list(load_hub_pairs("no-such/dataset-xyz", split="train"))


# ---------------------------------------------------------------- benchmark


S2S_RUNNERS = {"ours", "hf_pipeline", "bare_generate", "ours_int8", "generate_int8", "ours_ctranslate2_fp32",
               "ctranslate2_fp32", "ours_ctranslate2_int8", "ctranslate2_int8"}
CT2_RUNNERS = {"ours_ctranslate2_fp32", "ctranslate2_fp32", "ours_ctranslate2_int8", "ctranslate2_int8"}


def _has_ctranslate2():
    try:
        import ctranslate2  # noqa: F401
    except ImportError:
        return False
    return True


def test_make_model_and_benchmark_smoke(tmp_path, seq2seq_models):
    src, _ = parallel_files(tmp_path)
    dialogs = dialog_file(tmp_path, n=3)
    model_dir = tmp_path / "model"
    res = run_script("make_seq2seq_model", model_dir, "--text", src, "--text", dialogs, "--field", "dialogue",
                     "--size", "tiny", "--vocab-size", "120")
    assert res.exit_code == 0, res.output
    assert (model_dir / "model.safetensors").exists() and (model_dir / "tokenizer.json").exists()
    out = tmp_path / "bench.json"
    res = run_script("benchmark_seq2seq", out, "--model", seq2seq_models["t5"], "--translation-data", src,
                     "--summarization-data", dialogs, "--n-sentences", "4", "--n-dialogues", "3",
                     "--batch-size", "2", "--translation-max-new-tokens", "4",
                     "--summarization-max-new-tokens", "3", "--repeats", "1", "--threads", "1")
    assert res.exit_code == 0, res.output
    result = json.loads(out.read_text())
    ran = S2S_RUNNERS if _has_ctranslate2() else S2S_RUNNERS - CT2_RUNNERS
    has_hf_pipeline = hf_pipeline_unavailable() is None  # transformers 5 removed it
    if not has_hf_pipeline:
        ran = ran - {"hf_pipeline"}
        assert "removed in 5.0" in result["skipped"]["hf_pipeline"]
    assert set(result["runners"]) == ran and set(result["skipped"]) == S2S_RUNNERS - ran
    for task, n, max_new in (("translation", 4, 4), ("summarization", 3, 3)):
        r = result["tasks"][task]
        assert r["items"] == n and set(r["items_per_second"]) == ran
        assert all(v > 0 for v in r["items_per_second"].values())
        assert r["agreement_ours_vs_bare_generate"] == 1.0
        if has_hf_pipeline:
            assert r["agreement_ours_vs_hf_pipeline"] == 1.0
            assert r["agreement_ours_vs_hf_pipeline_same_batches"] == 1.0
            assert r["agreement_hf_pipeline_vs_bare_generate"] == 1.0
        assert set(r["agreement_with_ours"]) == ran - {"ours"}
        assert all(0.0 <= v <= 1.0 for v in r["agreement_with_ours"].values())
        assert set(r["ratio_vs_ours"]) == ran - {"ours"}
        assert r["fastest_peer"] in ran and not r["fastest_peer"].startswith("ours")
        assert set(r["ratio_vs_fastest_peer"]) == {k for k in ran if k.startswith("ours")}
        # each setting of our component gives its peer's outputs (same weights, batches, lengths)
        pairs = {"ours_vs_bare_generate", "ours_int8_vs_generate_int8"} | ({"ours_vs_hf_pipeline"} if has_hf_pipeline else set())
        if _has_ctranslate2():
            pairs |= {"ours_ctranslate2_fp32_vs_ctranslate2_fp32", "ours_ctranslate2_int8_vs_ctranslate2_int8"}
        assert set(r["agreement_ours_vs_peer"]) == set(r["ratio_ours_vs_peer"]) == pairs
        assert all(v == 1.0 for v in r["agreement_ours_vs_peer"].values()), r["agreement_ours_vs_peer"]
        # min_new_tokens == max_new_tokens: every bare runner generates exactly max_new tokens
        assert r["generated_tokens"] == {k: [max_new, max_new] for k in ran
                                         if k in ("bare_generate", "generate_int8", "ctranslate2_fp32", "ctranslate2_int8")}
    res = run_script("benchmark_seq2seq", out, "--model", tmp_path / "nope", "--translation-data", src)
    assert res.exit_code == 2 and "make_seq2seq_model" in res.output


def test_benchmark_seq2seq_runners_option(tmp_path, seq2seq_models):
    src, _ = parallel_files(tmp_path)
    out = tmp_path / "bench.json"
    common = ["--model", seq2seq_models["t5"], "--translation-data", src, "--n-sentences", "4", "--batch-size", "2",
              "--translation-max-new-tokens", "3", "--repeats", "1", "--threads", "1"]
    res = run_script("benchmark_seq2seq", out, *common, "--runners", "generate_int8,ours_int8")
    assert res.exit_code == 0, res.output
    result = json.loads(out.read_text())
    assert result["runners"] == ["ours_int8", "generate_int8"] and result["skipped"] == {}
    r = result["tasks"]["translation"]
    assert set(r["items_per_second"]) == {"ours_int8", "generate_int8"}
    # ours ran untimed, as the reference of the agreement
    assert set(r["agreement_with_ours"]) == {"ours_int8", "generate_int8"}
    assert r["agreement_ours_vs_peer"] == {"ours_int8_vs_generate_int8": 1.0}
    assert "ratio_vs_ours" not in r and "agreement_ours_vs_hf_pipeline" not in r
    assert r["generated_tokens"] == {"generate_int8": [3, 3]}
    res = run_script("benchmark_seq2seq", out, *common, "--runners", "ours,ctranslate3")
    assert res.exit_code == 2 and "ctranslate3" in res.output and "ctranslate2_int8" in res.output


def test_select_runners_skips_or_refuses_missing_packages():
    from spacy_task_pipes.bench.seq2seq import select_runners

    available = ("a", "b", "c")
    needs = {"b": ("no_such_package_xyz",)}
    assert select_runners("", available, needs) == (["a", "c"], {"b": "no_such_package_xyz not installed"})
    assert select_runners("all", available, needs) == (["a", "c"], {"b": "no_such_package_xyz not installed"})
    assert select_runners("c, a", available, needs) == (["a", "c"], {})
    with pytest.raises(ValueError, match="b needs no_such_package_xyz"):
        select_runners("a,b", available, needs)
    with pytest.raises(ValueError, match="unknown runner"):
        select_runners("a,d", available, needs)
    with pytest.raises(ValueError, match="no runner left"):
        select_runners("", ("b",), needs)


def test_hf_pipeline_same_batches_feeds_our_batches_and_restores_order():
    calls = []

    def fake_pipe(inputs, batch_size, **kwargs):
        calls.append((list(inputs), batch_size, kwargs))
        return [{"out": text.upper()} for text in inputs]

    def fake_tokenizer(texts):
        return {"input_ids": [text.split() for text in texts]}

    texts = ["a b c d", "a", "a b c", "a b"]
    out = run_hf_pipeline_same_batches(fake_pipe, fake_tokenizer, texts, "p: ", 2, "out", num_beams=1)
    assert out == ["P: A B C D", "P: A", "P: A B C", "P: A B"]
    # fed shortest first, so the HF pipeline's batches of 2 are {a, a b} and {a b c, a b c d}
    assert calls == [(["p: a", "p: a b", "p: a b c", "p: a b c d"], 2, {"num_beams": 1})]
