"""question_answerer serialization: safetensors only, offline reload, identical answers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import spacy

from qa_fixtures import make_qa_nlp, qa_models  # noqa: F401
from spacy_task_pipes.qa.component import answer_questions_pipe

ITEMS = [
    ("Marie Curie was born in Warsaw in 1867.", ["Where was she born?", "When?"]),
    ("  Zoë met José at the café in São Paulo.  ", ["Who met José?"]),
    ("Москва является столицей России. " * 60, ["Где Москва?"]),  # several windows
]
PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05", b"PK\x03\x04")


def _answers(nlp):
    return [
        [(a.question, a.text, a.start, a.end, a.score) for a in doc._.answers]
        for doc in answer_questions_pipe(nlp, ITEMS)
    ]


def _assert_same(got, expected):
    assert len(got) == len(expected)
    for g_doc, e_doc in zip(got, expected):
        assert [tuple(a[:4]) for a in g_doc] == [tuple(a[:4]) for a in e_doc]
        assert [a[4] for a in g_doc] == pytest.approx([a[4] for a in e_doc], rel=1e-6)


@pytest.fixture(params=["bert", "distilbert"])
def trained_copy(request, qa_models, tmp_path):
    """A pipeline built from a copy of the model dir; the copy is deleted after saving."""
    src = tmp_path / "hf-model"
    shutil.copytree(qa_models[request.param], src)
    nlp = make_qa_nlp(src)
    return nlp, src


def test_to_disk_is_safetensors_and_reloads_offline(trained_copy, tmp_path):
    nlp, src = trained_copy
    expected = _answers(nlp)
    out = tmp_path / "pipeline"
    nlp.to_disk(out)
    shutil.rmtree(src)  # the saved pipeline must not need the original weights
    model_dir = out / "question_answerer" / "model"
    assert (model_dir / "model.safetensors").is_file()
    assert (model_dir / "config.json").is_file()
    assert (model_dir / "tokenizer.json").is_file() or (model_dir / "vocab.txt").is_file()
    for file in out.rglob("*"):
        if file.is_file():
            if "question_answerer" in file.parts:  # (spaCy's vocab/lookups.bin is msgpack)
                assert file.suffix not in {".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt"}, file
            assert not file.read_bytes()[:4].startswith(PICKLE_MAGIC), file
    script = (
        "import json, sys, spacy\n"
        "from spacy_task_pipes.qa.component import answer_questions_pipe\n"
        f"items = json.loads({json.dumps(json.dumps(ITEMS))})\n"
        "nlp = spacy.load(sys.argv[1])\n"
        "print(json.dumps([[(a.question, a.text, a.start, a.end, a.score) for a in d._.answers]"
        " for d in answer_questions_pipe(nlp, items)]))\n"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-c", script, str(out)], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    _assert_same(got, expected)


def test_to_bytes_from_bytes_round_trip(trained_copy, tmp_path):
    nlp, src = trained_copy
    expected = _answers(nlp)
    data = nlp.to_bytes()
    shutil.rmtree(src)
    nlp2 = spacy.blank("en")
    nlp2.add_pipe(
        "question_answerer",
        config={"model": {"@architectures": "spacy_task_pipes.QuestionAnswering.v1", "name": str(src)}},
    )
    nlp2.from_bytes(data)
    _assert_same(_answers(nlp2), expected)
    # and once more through the bytes of the reloaded pipeline
    nlp3 = spacy.blank("en")
    nlp3.add_pipe("question_answerer", config={"model": {"name": str(src)}})
    nlp3.from_bytes(nlp2.to_bytes())
    _assert_same(_answers(nlp3), expected)


def test_thinc_model_bytes_hold_no_pickle(qa_models):
    nlp = make_qa_nlp(qa_models["bert"])
    model = nlp.get_pipe("question_answerer").model
    data = model.to_bytes()
    import srsly

    shim_bytes = [b for node in srsly.msgpack_loads(data)["shims"] for b in node]
    assert len(shim_bytes) == 1
    msg = srsly.msgpack_loads(shim_bytes[0])
    assert "model.safetensors" in msg["files"]
    assert not any(name.endswith((".bin", ".pt")) for name in msg["files"])
    nlp2 = spacy.blank("en")
    nlp2.add_pipe("question_answerer", config={"model": {"name": "/no/such/dir"}})
    nlp2.get_pipe("question_answerer").model.from_bytes(data)
    _assert_same(_answers(nlp2), _answers(nlp))


def test_refuses_torch_save_payload():
    import srsly

    from spacy_task_pipes.hf import SafetensorsHFShim

    nlp = spacy.blank("en")
    qa = nlp.add_pipe("question_answerer", config={"model": {"name": "/no/such/dir"}})
    shim = qa.model.layers[0].shims[0]
    assert isinstance(shim, SafetensorsHFShim)
    with pytest.raises(ValueError, match="pickle"):
        shim.from_bytes(srsly.msgpack_dumps({"config": {}, "state": b"\x80\x04x", "tokenizer": {}}))


def test_saving_before_initialize_explains(tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("question_answerer", config={"model": {"name": "/no/such/dir"}})
    with pytest.raises(ValueError, match="initialize"):
        nlp.to_disk(tmp_path / "p")


def test_from_disk_missing_weights_names_the_path(qa_models, tmp_path):
    nlp = make_qa_nlp(qa_models["bert"])
    nlp.to_disk(tmp_path / "p")
    shutil.rmtree(tmp_path / "p" / "question_answerer" / "model")
    with pytest.raises(FileNotFoundError, match=str(Path("question_answerer") / "model")):
        spacy.load(tmp_path / "p")


@pytest.mark.slow
def test_spacy_package_loads_by_name_offline(trained_copy, tmp_path):
    nlp, src = trained_copy
    expected = _answers(nlp)
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(src)
    (tmp_path / "packages").mkdir()
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    name = "qa_tiny_e2e"
    for cmd in (
        [sys.executable, "-m", "spacy", "package", str(tmp_path / "pipeline"), str(tmp_path / "packages"),
         "--name", name, "--version", "0.0.1", "--build", "wheel"],
    ):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    wheel = next((tmp_path / "packages").rglob("*.whl"))
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    script = (
        "import json, spacy\n"
        "from spacy_task_pipes.qa.component import answer_questions_pipe\n"
        f"items = json.loads({json.dumps(json.dumps(ITEMS))})\n"
        f"nlp = spacy.load('en_{name}')\n"
        "print(json.dumps([[(a.question, a.text, a.start, a.end, a.score) for a in d._.answers]"
        " for d in answer_questions_pipe(nlp, items)]))\n"
    )
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _assert_same(json.loads(proc.stdout.strip().splitlines()[-1]), expected)
