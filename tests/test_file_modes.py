"""Every file the project writes has the normal mode under the process umask (issue #23
item 10): transformers' ``save_pretrained`` writes ``model.safetensors`` through ``mkstemp``
(0600), which left the offline models, and the pipelines and packages made from them,
unreadable to other users after ``umask 022``."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Iterator, List

import pytest

from conftest import ROOT
from qa_fixtures import make_qa_nlp, qa_models  # noqa: F401  (fixture)
from seq2seq_fixtures import make_seq2seq_nlp, random_texts, seq2seq_models  # noqa: F401  (fixture)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def unreadable(root: Path) -> List[str]:
    """Files without o+r and folders without o+rx under ``root`` (and ``root`` itself)."""
    bad = []
    for entry in [root, *root.rglob("*")]:
        mode = entry.stat().st_mode
        need = stat.S_IROTH | (stat.S_IXOTH if entry.is_dir() else 0)
        if mode & need != need:
            bad.append(f"{entry.relative_to(root.parent)} {stat.filemode(mode)}")
    return bad


def test_normal_modes_adds_the_umask_mode_and_keeps_other_bits(tmp_path: Path, umask_022: None) -> None:
    from spacy_task_pipes.io import normal_modes

    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    os.chmod(folder / "sub", 0o700)
    data, tool = folder / "sub" / "model.safetensors", folder / "run.sh"
    data.write_bytes(b"x")
    tool.write_bytes(b"#!/bin/sh\n")
    os.chmod(data, 0o600)
    os.chmod(tool, 0o700)
    normal_modes(folder)
    assert stat.S_IMODE(data.stat().st_mode) == 0o644
    assert stat.S_IMODE(tool.stat().st_mode) == 0o755  # the owner's execute bit is kept, others get r-x
    assert stat.S_IMODE((folder / "sub").stat().st_mode) == 0o755


def test_transformers_save_pretrained_alone_leaves_0600(tmp_path: Path, umask_022: None) -> None:
    """What the fix works around (if transformers changes this, the helper is a no-op)."""
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=40, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8)
    BertModel(config).save_pretrained(tmp_path / "bert")
    mode = stat.S_IMODE((tmp_path / "bert" / "model.safetensors").stat().st_mode)
    if mode & stat.S_IROTH:
        pytest.skip(f"this transformers writes model.safetensors {oct(mode)}")
    assert mode == 0o600


def test_models_pipelines_and_saves_are_world_readable(tmp_path: Path, umask_022: None, qa_models,
                                                       seq2seq_models) -> None:
    from spacy_task_pipes.bench.qa import build_bert_model_dir, build_qa_model_dir
    from spacy_task_pipes.bench.seq2seq import build_t5_model_dir
    from spacy_task_pipes.io import save_pipeline

    texts = [line for line in (ROOT / "assets/en/raw_texts.jsonl").read_text("utf-8").splitlines()][:50]
    outputs = [
        build_bert_model_dir(texts, tmp_path / "tiny-bert", size="tiny", head="qa", vocab_size=200),  # make-qa-tiny
        build_qa_model_dir(qa_models["bert"], tmp_path / "minilm-qa"),  # benchmark-qa's model
        build_t5_model_dir(random_texts(60), tmp_path / "tiny-t5", size="tiny", vocab_size=120),  # make-seq2seq-tiny
    ]
    qa = make_qa_nlp(outputs[0])
    qa.to_disk(tmp_path / "qa-pipeline")  # what spacy train writes (model-best)
    save_pipeline(qa, tmp_path / "qa-saved")
    make_seq2seq_nlp("translator", outputs[2]).to_disk(tmp_path / "translator-pipeline")
    outputs += [tmp_path / "qa-pipeline", tmp_path / "qa-saved", tmp_path / "translator-pipeline"]
    assert (tmp_path / "qa-pipeline/question_answerer/model/model.safetensors").is_file()
    for output in outputs:
        assert unreadable(output) == [], output
