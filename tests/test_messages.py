"""Error messages name the real component and give an install line that works from where the
user is (issue #23 item 4): no literal ``<name>`` or ``{self.name}``, and no
``pip install "spacy-task-pipes[...]"`` (the package is on no index)."""

from __future__ import annotations

import ast
import re
import sys
import tokenize
import tomllib
from pathlib import Path

import pytest
import spacy

from conftest import ROOT
from qa_fixtures import qa_models  # noqa: F401  (fixture)
from seq2seq_fixtures import seq2seq_models  # noqa: F401  (fixture)

PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_.]*(\[[^\]]*\])?(![rs])?(:[^}]*)?\}")
SOURCES = sorted([*(ROOT / "components/spacy_task_pipes").rglob("*.py"), *(ROOT / "scripts").glob("*.py")])


def message_literals(path: Path):
    """(line, text) of every string literal that is not a docstring, f-string parts included
    (an implicitly joined f-string holds its plain parts as constants)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and not isinstance(parents.get(node), ast.Expr):
            yield node.lineno, node.value


def lost_f_strings(path: Path):
    """(line, token) of plain (not f, not triple-quoted) string tokens with a ``{a.b}``
    placeholder: the second line of a message whose first line alone got the f."""
    with path.open("rb") as fh:
        for tok in tokenize.tokenize(fh.readline):
            if tok.type != tokenize.STRING:  # 3.12+: f-strings are FSTRING_* tokens, never STRING
                continue
            prefix = tok.string[: len(tok.string) - len(tok.string.lstrip("rRbBuUfF"))]
            body = tok.string[len(prefix):]
            if "f" in prefix.lower() or body.startswith(('"""', "'''")):
                continue
            if any("." in m.group(0) for m in PLACEHOLDER.finditer(body)):
                yield tok.start[0], tok.string


def test_no_message_has_a_literal_placeholder_or_an_install_line_for_an_index() -> None:
    found = []
    for path in SOURCES:
        rel = path.relative_to(ROOT)
        found += [f"{rel}:{line}: {text[:80]!r}" for line, text in message_literals(path)
                  if "<name>" in text or "spacy-task-pipes[" in text]
        found += [f"{rel}:{line}: {text[:80]}" for line, text in lost_f_strings(path)]
    assert found == []


def test_the_checks_find_a_lost_f_and_a_placeholder(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text('x = 1\nraise ValueError(f"a {x}" "(loads [components.{self.name}.model] name)")\n'
                    'y = "Set [components.<name>.model] name"\n')
    assert [t for _, t in lost_f_strings(path)] == ['"(loads [components.{self.name}.model] name)"']
    assert [t for _, t in message_literals(path) if "<name>" in t] == ["Set [components.<name>.model] name"]


def cpu_fast_requirements() -> list:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["cpu-fast"]


def test_a_missing_backend_names_the_component_and_install_lines_that_work(seq2seq_models, qa_models,
                                                                          monkeypatch) -> None:
    from spacy_task_pipes.hf.inference import BACKEND_REQUIREMENTS

    assert sorted(r for reqs in BACKEND_REQUIREMENTS.values() for r in reqs) == sorted(cpu_fast_requirements())
    monkeypatch.setitem(sys.modules, "ctranslate2", None)  # as if not installed
    nlp = spacy.blank("es")
    with pytest.raises(ImportError) as err:
        nlp.add_pipe("translator", name="es_pt", config={"model": {"name": str(seq2seq_models["t5"]),
                                                                   "backend": "ctranslate2"}})
    message = str(err.value)
    assert message.startswith('[components.es_pt.model] backend = "ctranslate2" needs the ctranslate2 package')
    assert 'pip install -e ".[cpu-fast]" in a clone of the project' in message
    assert 'pip install "ctranslate2>=4.0"' in message and "spacy-task-pipes[" not in message
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r'^\[components\.qa\.model\] backend = "onnxruntime" .*'
                                          r'pip install "onnxruntime>=1\.17" "onnx>=1\.15"'):
        spacy.blank("en").add_pipe("question_answerer", name="qa", config={"model": {
            "name": str(qa_models["bert"]), "backend": "onnxruntime"}})


def test_bad_settings_name_the_component(qa_models) -> None:
    with pytest.raises(ValueError, match=r"^\[components\.reader\.model\] quantize = 'int4'"):
        spacy.blank("en").add_pipe("question_answerer", name="reader",
                                   config={"model": {"name": str(qa_models["bert"]), "quantize": "int4"}})
    with pytest.raises(ValueError, match=r"^\[components\.reader\.model\] tokenizer_config"):
        spacy.blank("en").add_pipe("question_answerer", name="reader", config={"model": {
            "name": str(qa_models["bert"]), "tokenizer_config": {"trust_remote_code": True}}})


def test_question_answerer_without_weights_names_its_block() -> None:
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("question_answerer", name="reader", config={"model": {"name": "no/such/dir"}})
    with pytest.raises(ValueError) as err:
        pipe.tokenizer
    assert "The 'reader' component has no weights yet" in str(err.value)
    assert "(which loads [components.reader.model] name)" in str(err.value)
    with pytest.raises(FileNotFoundError, match=r"Set \[components\.reader\.model\] name to an existing"):
        nlp.initialize()


def test_a_model_without_the_task_head_names_the_block_to_change(tmp_path: Path, qa_models) -> None:
    from transformers import AutoTokenizer, BertConfig, BertModel

    base = tmp_path / "bert-base"
    AutoTokenizer.from_pretrained(str(qa_models["bert"])).save_pretrained(base)
    BertModel(BertConfig.from_pretrained(str(qa_models["bert"]))).save_pretrained(base)
    nlp = spacy.blank("en")
    nlp.add_pipe("question_answerer", name="reader", config={"model": {"name": str(base)}})
    with pytest.raises(ValueError, match=r"missing weights: qa_outputs.*set new_head = true in "
                                         r"\[components\.reader\.model\] \(initialize only\)"):
        nlp.initialize()
