"""The README and docs/ show commands that run as written (issue #23 items 1 and 6).

The static part (command and var names against project.yml, scripts and extras that exist)
runs here on every command; ``scripts/check_readme_commands.py --run cheap`` (slow test)
runs them with ``--dry``/``--help`` in a fresh clone, and ``--run all`` (the closing-note
script) runs every offline one for real."""

from __future__ import annotations

import importlib.util
import os
import pydoc
import re
import subprocess
import sys
from pathlib import Path

import pytest
import srsly
import tomllib

from conftest import ROOT
from qa_fixtures import qa_models  # noqa: F401  (fixture)


def checker():
    spec = importlib.util.spec_from_file_location("check_readme_commands", ROOT / "scripts" / "check_readme_commands.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    return module


PROJECT = srsly.read_yaml(ROOT / "project.yml")
EXTRAS = list(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_every_readme_and_docs_command_matches_the_project() -> None:
    check = checker()
    commands = [c for path in DOCS for c in check.extract_commands(path)]
    for command in commands:
        check.check_static(command, PROJECT, EXTRAS)
    assert [f"{c.where}: {c.problems}: {c.text}" for c in commands if c.problems] == []
    runs = [c for c in commands if any(check.project_run_args(p) is not None for p in check.split_chain(c.text))]
    assert len(runs) >= 15 and any("--vars." in c.text for c in runs)


@pytest.mark.parametrize("text,problem", [
    ("python -m spacy project run qa --vars.qa_max_steps 30", "the project folder (`.`) must follow"),
    ("python -m spacy project run qa . --vars.qa_max_step 30", "--vars.qa_max_step is not a var"),
    ("python -m spacy project run qa-all .", "no command or workflow 'qa-all'"),
    ("python scripts/no_such_script.py x", "scripts/no_such_script.py does not exist"),
    ('pip install -e ".[cpufast]"', "no extra cpufast"),
])
def test_the_checker_finds_what_a_new_user_hit(text: str, problem: str) -> None:
    check = checker()
    command = check.Command("README.md", 1, text)
    check.check_static(command, PROJECT, EXTRAS)
    assert len(command.problems) == 1 and problem in command.problems[0]


def test_blocks_and_inline_commands_are_extracted(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("Run `python -m spacy project run all . --vars.lang es` first.\n\n```bash\n# a comment\n"
                    "python -m spacy project run qa . \\\n  --vars.qa_max_steps 30\n```\n\n```python\nimport spacy\n```\n")
    texts = [c.text for c in checker().extract_commands(page, tmp_path)]
    assert texts == ["python -m spacy project run all . --vars.lang es",
                     "python -m spacy project run qa . --vars.qa_max_steps 30"]


@pytest.mark.slow
def test_the_commands_run_with_dry_and_help_in_a_fresh_clone(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_readme_commands.py"), "--run", "cheap",
                           "--workdir", str(tmp_path / "clone")], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert re.search(r"ok .* python -m spacy project run qa \. --vars\.qa_max_steps 30 --dry", proc.stdout)


# ------------------------------------------- "Use the components in your own pipeline"


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"## {title}")
    return text[start:text.index("\n## ", start + 1)]


def blocks(section: str, lang: str) -> list:
    return re.findall(rf"```{lang}\n(.*?)```", section, flags=re.S)


def test_the_readme_config_assembles_and_its_example_runs(tmp_path: Path, qa_models) -> None:
    """The section's config, `spacy assemble` command and Python example, as written, on a tiny
    local model in place of the hub name."""
    section = readme_section("Use the components in your own pipeline")
    (config,) = blocks(section, "ini")
    (assemble,) = blocks(section, "bash")
    (example,) = blocks(section, "python")
    (tmp_path / "qa.cfg").write_text(config, encoding="utf-8")
    command = assemble.strip().replace("training/qa/tiny-bert", str(qa_models["bert"]))
    # `python` as the README means it: the interpreter running the tests (its venv need not be active)
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": path}
    proc = subprocess.run(command.split(), cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "my_qa/question_answerer/model/model.safetensors").is_file()
    proc = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert [line.split(" -> ")[0] for line in lines] == ["Who makes the Orbit S5?", "How much does it weigh?"]
    check = ("import spacy; nlp = spacy.load('my_qa_copy'); doc = nlp.make_doc('Ann lives in Oslo.');"
             "doc._.questions = 'Where does Ann live?'; print(nlp(doc)._.answers[0].text in doc.text)")
    proc = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip() == "True", proc.stderr


def test_the_extensions_table_names_what_the_components_register() -> None:
    from spacy.tokens import Doc, Span

    import spacy_task_pipes.qa.factory  # noqa: F401  (registers the extensions)
    import spacy_task_pipes.seq2seq.factories  # noqa: F401

    table = readme_section("Use the components in your own pipeline")
    for name in ("questions", "answers", "translation", "summary"):
        assert Doc.has_extension(name) and f"doc._.{name}" in table, name
    assert Span.has_extension("translation") and "span._.translation" in table


@pytest.mark.parametrize("module,factory,words", [
    ("spacy_task_pipes.qa.factory", "make_question_answerer", ["doc._.questions", "doc._.answers", "default_questions"]),
    ("spacy_task_pipes.seq2seq.factories", "make_translator", ["translation", "sentence"]),
    ("spacy_task_pipes.seq2seq.factories", "make_summarizer", ["summary"]),
])
def test_help_shows_the_factory_docstrings(module: str, factory: str, words: list) -> None:
    function = getattr(importlib.import_module(module), factory)
    text = pydoc.render_doc(function, renderer=pydoc.plaintext)
    assert function.__doc__ and all(word in text for word in words), text[:500]
