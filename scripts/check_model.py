"""Check, in seconds and before any training starts, that a Hugging Face model can be loaded:
a local directory must exist and hold a config.json; a hub name must be in the local cache
or the hub must be reachable. Otherwise one red line naming the setting, exit code 2
(instead of transformers' minute of retries ending in a connection error)."""

import importlib.util
from pathlib import Path

import typer

from spacy_task_pipes.cli import fail, user_errors
from spacy_task_pipes.hf import check_model_available

app = typer.Typer(add_completion=False, help=__doc__)


def is_meant_as_path(name: str) -> bool:
    """True where ``name`` can only be a filesystem path, never a hub id (``org/name``)."""
    return name.startswith(("/", "./", "../", "~")) or name.endswith("/") or name.count("/") > 1


@app.command()
@user_errors
def main(
    name: str = typer.Argument(..., help="Hub name (e.g. roberta-base) or local save_pretrained directory"),
    setting: str = typer.Option("the model name", "--setting", help="How the user sets NAME, named in the error (e.g. --vars.trf_model)"),
    trf: bool = typer.Option(False, "--trf", help="Also check that spacy-transformers (the trf extra) is installed"),
) -> None:
    """Exit 0 (printing where the model comes from) if NAME can be loaded, else exit 2."""
    if trf and importlib.util.find_spec("spacy_transformers") is None:
        fail("The transformer NER workflow (all-gpu, configs/ner_trf.cfg) needs spacy-transformers, the trf extra: "
             "from a clone of the project run `pip install -e '.[trf]'` (spacy-transformers 1.4 installs "
             "transformers 4.53.2; see the README's install section).")
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            fail(f"{setting}: {path} has no config.json; pass a directory written by `save_pretrained`.")
        typer.echo(f"{setting}: local model directory {path}")
        return
    if is_meant_as_path(name):
        fail(f"{setting}: model directory not found: {path}. Build it first (e.g. `spacy project run "
             "make-trf-tiny` for training/trf/tiny-bert) or pass a Hugging Face hub name.")
    try:
        check_model_available(name, setting)
    except OSError as err:
        fail(str(err))
    typer.echo(f"{setting}: Hugging Face model {name!r} (cached or reachable)")


if __name__ == "__main__":
    app()
