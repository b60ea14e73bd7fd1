"""Package a trained pipeline as a wheel, install it, and load it back with spacy.load(name)."""

import subprocess
import sys
from pathlib import Path

import typer
from spacy.cli.package import package as spacy_package

app = typer.Typer(add_completion=False)


@app.command()
def main(
    model_dir: Path = typer.Argument(..., help="Trained pipeline directory (e.g. training/en/ner/model-best)"),
    output_dir: Path = typer.Argument(..., help="Parent directory for the package"),
    name: str = typer.Option(..., "--name", help="Package name without the language prefix"),
    version: str = typer.Option("0.1.0", "--version"),
    install: bool = typer.Option(True, "--install/--no-install", help="pip install the wheel into this environment"),
):
    """`spacy package` to a source tree, build the wheel offline (no build isolation, so no
    download is needed) and optionally install it. Prints the wheel path."""
    output_dir.mkdir(parents=True, exist_ok=True)
    spacy_package(model_dir, output_dir, name=name, version=version, create_meta=False, create_sdist=False,
                  create_wheel=False, require_parent=True, force=True, silent=True)
    pkg_dirs = sorted(output_dir.glob(f"*_{name}-{version}"))
    if not pkg_dirs:
        typer.secho(f"spacy package wrote no *_{name}-{version} directory in {output_dir}", fg="red", err=True)
        raise typer.Exit(1)
    pkg_dir = pkg_dirs[-1]
    dist = pkg_dir / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(pkg_dir)],
        check=True,
    )
    wheels = sorted(dist.glob("*.whl"))
    typer.echo(f"built {wheels[-1]}")
    if install:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(wheels[-1])], check=True
        )
        typer.echo(f"installed {pkg_dir.name.rsplit('-', 1)[0]}")


if __name__ == "__main__":
    app()
