"""Second audit (issue #19), loading: code on load through a crafted pipeline (spacy-transformers'
component, creation callbacks, sourced components), symbolic links and unknown files in a
pipeline folder, configs that do not match their weights, deeply nested files, and saving a
pipeline into the folder it was loaded from. Each case is what an attacker or an unlucky user
would hand us; each asserts the promise."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import spacy

from conftest import run_script
from qa_fixtures import make_qa_nlp, qa_models  # noqa: F401
from seq2seq_fixtures import make_seq2seq_nlp, seq2seq_models  # noqa: F401
from spacy_task_pipes import io as tp_io
from spacy_task_pipes.safety import UnsafePipelineError, inspect_pipeline, safe_load

# the saved QA pipeline and its answers, as the first audit's tests build them
from test_reliability_pipeline import CONTEXT, QUESTIONS, answers, qa_pipeline  # noqa: E402,F401


EVIL = (
    "from pathlib import Path\nPath({marker!r}).write_text('code ran at load')\n"
    "from transformers import BertConfig, BertTokenizerFast\n"
    "class EvilConfig(BertConfig):\n    model_type = 'evil'\n"
    "class EvilTokenizer(BertTokenizerFast):\n    pass\n"
)


def plant_remote_code(model_dir: Path, marker: Path) -> None:
    """What an attacker ships next to the weights: auto_map entries and a module that writes
    ``marker`` when imported."""
    (model_dir / "evil.py").write_text(EVIL.format(marker=str(marker)))
    for name, key, value in (("config.json", "AutoConfig", "evil.EvilConfig"),
                             ("tokenizer_config.json", "AutoTokenizer", [None, "evil.EvilTokenizer"])):
        data = json.loads((model_dir / name).read_text())
        data["auto_map"] = {key: value}
        (model_dir / name).write_text(json.dumps(data))


def add_config_block(pipeline: Path, block: str) -> None:
    (pipeline / "config.cfg").write_text((pipeline / "config.cfg").read_text() + "\n" + textwrap.dedent(block))


# ------------------------------------------------------------------ 1. code on load


def _spacy_transformers_pipeline(qa_models, path: Path, marker: Path) -> None:
    """spacy-transformers' ``transformer`` component saved, then its model turned into the v1.0
    folder layout (which it loads with from_pretrained and the config's tokenizer_config) holding
    an auto_map and a .py file; the config asks for trust_remote_code."""
    from transformers import AutoModel

    nlp = spacy.blank("en")
    nlp.add_pipe("transformer", config={"model": {"name": str(qa_models["bert"]),
                                                  "tokenizer_config": {"use_fast": True}}})
    nlp.initialize()
    nlp.to_disk(path)
    model = path / "transformer" / "model"
    model.unlink()
    AutoModel.from_pretrained(qa_models["bert"]).save_pretrained(model)
    for f in qa_models["bert"].iterdir():
        if f.name.startswith(("tokenizer", "special_tokens", "vocab")):
            shutil.copy(f, model / f.name)
    plant_remote_code(model, marker)
    cfg = (path / "config.cfg").read_text()
    cfg, n = re.subn(r"(\[components\.transformer\.model\.tokenizer_config\]\n)", r"\1trust_remote_code = true\n", cfg)
    assert n == 1
    (path / "config.cfg").write_text(cfg)


def test_spacy_transformers_component_runs_code_with_spacy_load_but_safe_load_refuses(qa_models, tmp_path,
                                                                                      monkeypatch):
    pytest.importorskip("spacy_transformers")
    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "hf-modules"))
    marker = tmp_path / "MARKER"
    path = tmp_path / "crafted"
    _spacy_transformers_pipeline(qa_models, path, marker)
    with pytest.raises(UnsafePipelineError) as err:
        safe_load(path)
    assert not marker.exists()
    message = str(err.value)
    assert "trust_remote_code" in message and "evil.py" in message
    # the same folder through spacy.load alone: the attack is real (this is why safe_load exists)
    out = subprocess.run([sys.executable, "-c", f"import spacy; spacy.load({str(path)!r})"], capture_output=True,
                         text=True, timeout=300, env={**os.environ, "HF_MODULES_CACHE": str(tmp_path / "hf-modules")})
    assert marker.exists(), out.stderr[-2000:]


def _crafted_variants(qa_pipeline: Path, tmp_path: Path, marker: Path):
    """Pipelines that would run code or reach outside themselves at load, one per route."""
    variants = {}

    def copy(name: str) -> Path:
        dest = tmp_path / name
        shutil.copytree(qa_pipeline, dest, symlinks=True)
        return dest

    p = copy("trf-config")  # spacy-transformers' component asking for remote code
    add_config_block(p, """
        [components.transformer]
        factory = "transformer"
        [components.transformer.model]
        @architectures = "spacy-transformers.TransformerModel.v3"
        name = "bert-base-cased"
        [components.transformer.model.tokenizer_config]
        use_fast = true
        trust_remote_code = true
        """)
    variants["trust_remote_code in config.cfg"] = (p, "trust_remote_code")
    p = copy("code-file")
    plant_remote_code(p / "question_answerer" / "model", marker)
    variants["code file and auto_map in the model folder"] = (p, "evil.py")
    p = copy("code-deep")
    (p / "vocab" / "sitecustomize.py").write_text("print('hi')")
    variants["code file anywhere"] = (p, "sitecustomize.py")
    for key in ("before_creation", "after_creation", "after_pipeline_creation"):
        p = copy(f"callback-{key}")
        cfg = (p / "config.cfg").read_text().replace(f"{key} = null", f'{key} = {{"@callbacks": "my.evil.v1"}}')
        (p / "config.cfg").write_text(cfg)
        variants[f"[nlp.{key}] callback"] = (p, "my.evil.v1")
    p = copy("copy-from-base")
    cfg = (p / "config.cfg").read_text().replace(
        "after_creation = null", 'after_creation = {"@callbacks": "spacy.copy_from_base_model.v1", '
                                 f'"tokenizer": "{tmp_path}/elsewhere", "vocab": null}}')
    (p / "config.cfg").write_text(cfg)
    variants["copy_from_base_model at creation"] = (p, "copy_from_base_model")
    p = copy("init-callback")
    cfg = (p / "config.cfg").read_text().replace("after_init = null", 'after_init = {"@callbacks": "my.evil.v1"}')
    (p / "config.cfg").write_text(cfg)
    variants["[initialize.after_init] callback"] = (p, "my.evil.v1")
    p = copy("sourced")
    add_config_block(p, """
        [components.ner]
        source = "/somewhere/else/pipeline"
        """)
    variants["sourced component"] = (p, "sources the component")
    p = copy("symlink-component")
    shutil.move(p / "question_answerer", tmp_path / "outside-component")
    (p / "question_answerer").symlink_to(tmp_path / "outside-component")
    variants["component folder is a symlink"] = (p, "symbolic link")
    p = copy("json-code-revision")
    data = json.loads((p / "question_answerer" / "model" / "config.json").read_text())
    data["code_revision"] = "main"
    (p / "question_answerer" / "model" / "config.json").write_text(json.dumps(data))
    variants["code_revision in a model's config.json"] = (p, "code_revision")
    return variants


def test_safe_load_refuses_every_crafted_variant_and_runs_nothing(qa_pipeline, tmp_path):
    path, expected = qa_pipeline
    marker = tmp_path / "MARKER"
    variants = _crafted_variants(path, tmp_path, marker)
    assert len(variants) == 11
    for what, (crafted, named) in variants.items():
        with pytest.raises(UnsafePipelineError, match=re.escape(named)) as err:
            safe_load(crafted)
        assert str(crafted) in str(err.value), what
        assert len(str(err.value).splitlines()) == 1, what
    assert not marker.exists()
    assert inspect_pipeline(path) == [] and answers(safe_load(path)) == expected


@pytest.mark.parametrize("script,args", [
    ("evaluate", ["{p}", "{data}", "{out}"]),
    ("evaluate_qa", ["{p}", "{data}", "{out}"]),
    ("annotate", ["{p}", "{data}", "{out}", "--no-progress"]),
    ("benchmark_ner", ["{p}", "{data}", "{out}"]),
])
def test_scripts_refuse_a_crafted_pipeline_in_one_line(qa_pipeline, tmp_path, script, args):
    path, _ = qa_pipeline
    crafted, _ = _crafted_variants(path, tmp_path, tmp_path / "MARKER")["trust_remote_code in config.cfg"]
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps({"text": CONTEXT, "questions": QUESTIONS}) + "\n")
    squad = tmp_path / "squad.json"
    squad.write_text(json.dumps({"version": "1.1", "data": []}))
    values = {"p": crafted, "data": squad if script == "evaluate_qa" else data, "out": tmp_path / f"{script}-out"}
    result = run_script(script, *[a.format(**values) for a in args])
    assert result.exit_code == 2, result.output
    assert "Refusing to load the pipeline" in result.output and "trust_remote_code" in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_safe_load_of_an_installed_package_inspects_its_data_folder(qa_pipeline, tmp_path, monkeypatch):
    """A package name resolves to the folder spacy.load reads (here a fake installed package)."""
    import spacy.util

    path, expected = qa_pipeline
    meta = json.loads((path / "meta.json").read_text())
    package = tmp_path / "site" / "en_fake_qa"
    data = package / f"{meta['lang']}_{meta['name']}-{meta['version']}"
    shutil.copytree(path, data)
    (package / "meta.json").write_text(json.dumps(meta))
    monkeypatch.setattr(spacy.util, "is_package", lambda name: name == "en_fake_qa")
    monkeypatch.setattr(spacy.util, "get_package_path", lambda name: package)
    from spacy_task_pipes.safety import pipeline_dir

    assert pipeline_dir("en_fake_qa") == data
    (data / "question_answerer" / "model" / "helper.py").write_text("x = 1")
    with pytest.raises(UnsafePipelineError, match="helper.py"):
        safe_load("en_fake_qa")


# --------------------------------------------------- 4. symlinks and unknown files


def test_model_folder_symlinked_outside_the_pipeline_is_refused(qa_pipeline, tmp_path):
    path, _ = qa_pipeline
    outside = tmp_path / "outside-model"
    shutil.move(path / "question_answerer" / "model", outside)
    (path / "question_answerer" / "model").symlink_to(outside)
    with pytest.raises(ValueError, match=r"model is a symbolic link: refused"):
        spacy.load(path)


def test_component_folder_symlinked_outside_the_pipeline_is_refused_by_spacy_load_too(qa_pipeline, tmp_path):
    path, _ = qa_pipeline
    outside = tmp_path / "outside-component"
    shutil.move(path / "question_answerer", outside)
    (path / "question_answerer").symlink_to(outside)
    with pytest.raises(ValueError, match=r"question_answerer is a symbolic link: refused"):
        spacy.load(path)


def _peak_rss_mb_of(script: str, timeout: float = 300) -> tuple:
    """Run ``script`` in a fresh interpreter; (its stdout, seconds, peak RSS in MB)."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - start
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    return lines, seconds, float(lines[-1])


MEASURE = textwrap.dedent("""
    import re, time, spacy, sys

    def peak_mb():  # VmHWM: this process's own peak (ru_maxrss keeps the forking parent's across exec)
        return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) / 1024

    # the code any load of these pipelines imports once per process (transformers' BERT and T5
    # modules: about 2 s cold), imported before the clock starts: the clock times the work
    import spacy_task_pipes.qa.component, spacy_task_pipes.seq2seq.translator
    import transformers.models.bert.modeling_bert, transformers.models.t5.modeling_t5
    before = peak_mb()
    start = time.perf_counter()
    try:
        spacy.load({path!r})
        print("loaded")
    except ValueError as err:
        print("refused:", str(err).splitlines()[0][:2000])
    print(f"{{time.perf_counter() - start:.3f}}")
    print(peak_mb() - before)
    print(peak_mb())
""")


def test_a_huge_unknown_file_in_the_model_folder_is_never_read(qa_pipeline):
    """A 2 GB file the loader does not need (sparse: no disk used) is not read, not copied."""
    path, _ = qa_pipeline
    with open(path / "question_answerer" / "model" / "junk.bin", "wb") as fh:
        fh.truncate(2 * 2**30)
    lines, _, rss = _peak_rss_mb_of(MEASURE.format(path=str(path)))
    assert lines[0] == "loaded"
    assert float(lines[1]) < 10 and float(lines[2]) < 100, lines  # the 2 GB are never read


def test_an_oversized_tokenizer_file_is_refused_before_reading(qa_pipeline):
    path, _ = qa_pipeline
    with open(path / "question_answerer" / "model" / "vocab.txt", "wb") as fh:
        fh.truncate(2 * 2**30)
    with pytest.raises(ValueError, match=r"vocab\.txt is 2048 MB, more than a model's vocab\.txt can be"):
        spacy.load(path)


# --------------------------------------- 5. a config that does not match its weights


@pytest.mark.parametrize("kind,key,value", [
    ("qa", "num_hidden_layers", 20000),
    ("t5", "num_layers", 5000),
    ("qa", "hidden_size", 4096 * 16),
    ("qa", "vocab_size", 50_000_000),
])
def test_mismatched_config_is_refused_fast_without_allocating(qa_models, seq2seq_models, tmp_path, kind, key, value):
    if kind == "qa":
        nlp, component = make_qa_nlp(qa_models["bert"]), "question_answerer"
    else:
        nlp, component = make_seq2seq_nlp("translator", seq2seq_models["t5"], num_beams=1), "translator"
    path = tmp_path / "pipeline"
    nlp.to_disk(path)
    config_file = path / component / "model" / "config.json"
    config = json.loads(config_file.read_text())
    config[key] = value
    config_file.write_text(json.dumps(config))
    lines, _, rss = _peak_rss_mb_of(MEASURE.format(path=str(path)))
    assert lines[0].startswith("refused:") and str(config_file.parent) in lines[0], lines
    assert ("does not match the model" in lines[0]) or ("refused before building it" in lines[0]), lines
    assert float(lines[1]) < 2.0, f"took {lines[1]} s"
    # nothing allocated: the peak is the process's (torch, transformers; about 400 MB with
    # transformers 5, more with 4.53 and spacy-transformers' entry points), not the config's
    assert float(lines[2]) < 50, f"the refusal raised the peak RSS by {lines[2]} MB (to {rss} MB)"
    assert rss < 500, f"peak RSS {rss} MB"


# ------------------------------------------------------------- 7. deep nesting


@pytest.mark.parametrize("name", ["config.json", "tokenizer.json", "tokenizer_config.json"])
def test_deeply_nested_json_is_a_named_error(qa_pipeline, name):
    path, _ = qa_pipeline
    target = path / "question_answerer" / "model" / name
    target.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match=rf"{re.escape(name)} is nested too deeply") as err:
        spacy.load(path)
    assert str(target.parent) in str(err.value)


# ------------------------------------- 11. saving into the folder it was loaded from


def test_saving_a_pipeline_inside_or_around_its_own_folder_is_refused(qa_pipeline, tmp_path):
    path, expected = qa_pipeline
    nlp = spacy.load(path)
    for target in (path / "question_answerer", path / "sub" / "deeper", path.parent):
        with pytest.raises(ValueError, match="which would then no longer load"):
            tp_io.save_pipeline(nlp, target)
    tp_io.save_pipeline(nlp, path)  # over itself: replaced as a whole
    assert answers(spacy.load(path)) == expected
    tp_io.save_pipeline(nlp, tmp_path / "copy")
    assert answers(spacy.load(tmp_path / "copy")) == expected
