"""Load an installed pipeline package by name with spacy.load and check it tags a text."""

import json
import subprocess
import sys

import typer

app = typer.Typer(add_completion=False)


@app.command()
def main(
    name: str = typer.Argument(..., help="Installed package name, e.g. en_ner_gadget"),
    text: str = typer.Option(..., "--text", help="A text that must get at least one entity of --label"),
    label: str = typer.Option(..., "--label", help="The entity label to expect"),
):
    """Run spacy.load(name) in a fresh interpreter (so the installed wheel, not the
    working tree, is what loads) and print the entities it finds."""
    code = (
        "import json, sys, spacy; nlp = spacy.load(sys.argv[1]); doc = nlp(sys.argv[2]);"
        "print(json.dumps({'pipeline': nlp.pipe_names, 'path': str(nlp.path),"
        " 'ents': [[e.text, e.label_] for e in doc.ents]}))"
    )
    out = subprocess.run([sys.executable, "-c", code, name, text], capture_output=True, text=True)
    if out.returncode != 0:
        typer.secho(f"spacy.load({name!r}) failed:\n{out.stderr}", fg="red", err=True)
        raise typer.Exit(1)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    typer.echo(json.dumps(result))
    if not any(lab == label for _, lab in result["ents"]):
        typer.secho(f"{name} found no {label} entity in {text!r}", fg="red", err=True)
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
