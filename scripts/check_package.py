"""Load an installed pipeline package by name with spacy.load, offline, and check that it
tags a text (NER: --label) or answers questions about it (question answering: --question).

The package and the spacy-task-pipes library it requires install offline from the wheels
that `spacy project run package` (or package-qa) writes to packages/:
pip install --no-index --find-links packages/ <name>"""

import importlib.util
import json
import os
import subprocess
import sys
from typing import List, Optional

import typer

from spacy_task_pipes.cli import fail

app = typer.Typer(add_completion=False)

NER_CODE = (
    "import json, sys; from spacy_task_pipes.safety import safe_load; nlp = safe_load(sys.argv[1]); doc = nlp(sys.argv[2]);"
    "print(json.dumps({'pipeline': nlp.pipe_names, 'path': str(nlp.path),"
    " 'ents': [[e.text, e.label_] for e in doc.ents]}))"
)
QA_CODE = (
    "import json, sys; from spacy_task_pipes.qa.component import answer_questions;"
    "from spacy_task_pipes.safety import safe_load; nlp = safe_load(sys.argv[1]); doc = answer_questions(nlp, sys.argv[2], sys.argv[3:]);"
    "print(json.dumps({'pipeline': nlp.pipe_names, 'path': str(nlp.path), 'answers': [{'question': a.question,"
    " 'text': a.text, 'start': a.start, 'end': a.end, 'score': a.score} for a in doc._.answers]}))"
)


@app.command()
def main(
    name: str = typer.Argument(..., help="Installed package name, e.g. en_ner_gadget"),
    text: str = typer.Option(..., "--text", help="The text to run (NER) or the context (QA)"),
    label: Optional[str] = typer.Option(None, "--label", help="NER: an entity label --text must get"),
    question: List[str] = typer.Option([], "--question", help="QA: a question about --text (repeatable)"),
) -> None:
    """Run spacy.load(name) in a fresh interpreter with HF_HUB_OFFLINE=1 (so the installed
    wheel, not the working tree or the hub, is what loads) and print what it finds. Exits 1
    if loading fails, no --label entity is found, or an answer is not a span of --text."""
    if (label is None) == (not question):
        fail("Give either --label (NER) or --question (QA).")
    if importlib.util.find_spec(name) is None:
        fail(f"NAME: no installed package {name!r}; build and install it with `spacy project run package` "
             f"(package-qa for QA), or install the wheels in packages/ offline: "
             f"pip install --no-index --find-links packages/ {name}")
    code, extra = (QA_CODE, list(question)) if question else (NER_CODE, [])
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    out = subprocess.run([sys.executable, "-c", code, name, text, *extra], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        typer.secho(f"spacy.load({name!r}) failed:\n{out.stderr}", fg="red", err=True)
        raise typer.Exit(1)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    typer.echo(json.dumps(result, ensure_ascii=False))
    if label is not None and not any(lab == label for _, lab in result["ents"]):
        typer.secho(f"{name} found no {label} entity in {text!r}", fg="red", err=True)
        raise typer.Exit(1)
    if question:
        answers = result["answers"]
        if [a["question"] for a in answers] != list(question):
            typer.secho(f"{name} returned {len(answers)} answers for {len(question)} questions", fg="red", err=True)
            raise typer.Exit(1)
        for a in answers:
            if text[a["start"] : a["end"]] != a["text"]:
                typer.secho(f"{name}: answer {a['text']!r} is not text[{a['start']}:{a['end']}]",
                            fg="red", err=True)
                raise typer.Exit(1)


if __name__ == "__main__":
    app()
