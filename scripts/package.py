"""Package a trained pipeline as a wheel with a model card, build the library's own wheel
(spacy-task-pipes, which the pipeline requires) into the same folder, and install both
offline: pip install --no-index --find-links OUTPUT_DIR <lang>_<name>."""

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

import typer
from spacy.cli.package import package as spacy_package

from spacy_task_pipes.cli import existing_dir, existing_file, fail, user_errors
from spacy_task_pipes.io import normal_modes

app = typer.Typer(add_completion=False, help=__doc__)

# What a clean build of the library needs (copied to a temporary folder first, so that no
# stale build/ or egg-info of the working tree ends up in the wheel).
LIBRARY_FILES = ("pyproject.toml", "README.md")
LIBRARY_SOURCE = "components"


def format_score(key: str, value: Any) -> str:
    """Scores as spaCy prints them: fractions as percentages; lengths and speed as they are."""
    if key.endswith("_len") or key == "speed":
        return f"{value:.1f}"
    return f"{value * 100:.2f}"


def numeric_scores(scores: Dict[str, Any]) -> Dict[str, float]:
    """The numeric scores, without the training losses that spaCy keeps in the dev scores."""
    return {k: v for k, v in scores.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and not k.endswith("_loss")}


def scores_table(test: Dict[str, Any], dev: Dict[str, Any], test_data: str) -> str:
    """Markdown table of every numeric score on the test set (and on the dev set, where known)."""
    test_num, dev_num = numeric_scores(test), numeric_scores(dev)
    rows = [f"| score | test ({test_data}) | dev (model-best) |", "| --- | --- | --- |"]
    for key in sorted(set(test_num) | set(dev_num)):
        cells = [format_score(key, s[key]) if key in s else "-" for s in (test_num, dev_num)]
        rows.append(f"| `{key}` | {cells[0]} | {cells[1]} |")
    return "\n".join(rows)


def model_card_notes(package_name: str, trained_on: str, table: str) -> str:
    return "\n\n".join([
        "### Training data", trained_on,
        "### Scores", "Percentages (`speed` in words per second, `*_len` in words). The accuracy table above "
        "is the test set.", table,
        "### Install offline", "The wheel requires `spacy-task-pipes`, whose wheel lies beside it:",
        f"```bash\npip install --no-index --find-links packages/ {package_name}\n```",
    ])


def build_meta(model_meta: Dict[str, Any], *, name: str, version: str, description: str, author: str,
               license_name: str, trained_on: str, test_scores: Dict[str, Any], test_data: str) -> Dict[str, Any]:
    """The trained pipeline's meta.json with a model card: description, author, license,
    the test-set scores as ``performance`` (the dev scores of training move to
    ``performance_dev``), the training data as ``sources`` and the score table as ``notes``
    (spaCy's package README shows all of them)."""
    meta = dict(model_meta)
    dev_scores = dict(model_meta.get("performance") or {})
    meta.update({"name": name, "version": version, "description": description, "author": author,
                 "license": license_name, "sources": [{"name": trained_on}], "performance": dict(test_scores),
                 "performance_dev": dev_scores, "test_data": test_data})
    package_name = f"{meta['lang']}_{name}"
    meta["notes"] = model_card_notes(package_name, trained_on, scores_table(test_scores, dev_scores, test_data))
    return meta


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)


def build_wheel(source_dir: Path, output_dir: Path) -> Path:
    """``pip wheel`` offline (no build isolation, no dependencies) into a temporary folder
    inside ``output_dir``, then renamed into place (atomically replacing an older build)."""
    with tempfile.TemporaryDirectory(dir=output_dir, prefix=".wheel-") as tmp:
        pip("wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp, str(source_dir))
        built = list(Path(tmp).glob("*.whl"))
        if len(built) != 1:
            fail(f"pip wheel {source_dir} wrote {len(built)} wheels, expected one.")
        target = output_dir / built[0].name
        normal_modes(built[0])
        os.replace(built[0], target)
    return target


def build_library_wheel(library_dir: Path, output_dir: Path) -> Path:
    """The spacy-task-pipes wheel, built from a clean copy of its sources."""
    existing_file(library_dir / "pyproject.toml", "--library-dir")
    with tempfile.TemporaryDirectory() as tmp:
        for name in LIBRARY_FILES:
            shutil.copy2(library_dir / name, Path(tmp) / name)
        shutil.copytree(library_dir / LIBRARY_SOURCE, Path(tmp) / LIBRARY_SOURCE,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
        return build_wheel(Path(tmp), output_dir)


def write_package_dir(model_dir: Path, output_dir: Path, name: str, version: str, meta: Dict[str, Any]) -> Path:
    """``spacy package`` source tree with ``meta`` (README generated from it)."""
    with tempfile.TemporaryDirectory() as tmp:
        meta_path = Path(tmp) / "meta.json"
        meta_path.write_text(json.dumps(meta, indent=2), encoding="utf-8")
        spacy_package(model_dir, output_dir, meta_path=meta_path, name=name, version=version, create_meta=False,
                      create_sdist=False, create_wheel=False, require_parent=True, force=True, silent=True)
    pkg_dir = output_dir / f"{meta['lang']}_{name}-{version}"
    if not (pkg_dir / "meta.json").exists():
        fail(f"spacy package wrote no {pkg_dir.name} package in {output_dir}.")
    return normal_modes(pkg_dir)  # a model folder copied with 0600 files stays readable to all


def is_installed(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def install_offline(package_name: str, version: str, output_dir: Path) -> None:
    """Replace an installed copy of the pipeline package; its requirements (spacy-task-pipes)
    come from ``output_dir`` or the environment, never from an index."""
    if is_installed(package_name):
        pip("uninstall", "-y", "-q", package_name)
    pip("install", "-q", "--no-index", "--find-links", str(output_dir), f"{package_name}=={version}")


@app.command()
@user_errors
def main(
    model_dir: Path = typer.Argument(..., help="Trained pipeline directory (e.g. training/en/ner/model-best)"),
    output_dir: Path = typer.Argument(..., help="Folder for the package source tree and both wheels (packages/)"),
    name: str = typer.Option(..., "--name", help="Package name without the language prefix"),
    version: str = typer.Option("0.1.0", "--version"),
    test_metrics: Path = typer.Option(..., "--test-metrics", help="Test-set scores: the JSON of scripts/evaluate.py (spacy evaluate)"),
    test_data: str = typer.Option(..., "--test-data", help="What the test set is, for the model card"),
    description: str = typer.Option(..., "--description", help="What the pipeline is (model card)"),
    trained_on: str = typer.Option(..., "--trained-on", help="What it was trained on (model card)"),
    author: str = typer.Option("spacy-task-pipes contributors", "--author"),
    license_name: str = typer.Option("MIT", "--license"),
    library: bool = typer.Option(True, "--library/--no-library", help="Also build the spacy-task-pipes wheel into OUTPUT_DIR"),
    library_dir: Path = typer.Option(Path("."), "--library-dir", help="Source of the spacy-task-pipes wheel (the folder with pyproject.toml)"),
    install: bool = typer.Option(True, "--install/--no-install", help="pip install both offline into this environment"),
) -> None:
    """`spacy package` to a source tree with the model card in meta.json and README.md,
    build the pipeline's wheel and the library's wheel into OUTPUT_DIR offline (no build
    isolation, no download) and optionally install them with --no-index. Prints JSON."""
    existing_dir(model_dir, "MODEL_DIR")
    existing_file(model_dir / "meta.json", "MODEL_DIR")
    scores = json.loads(existing_file(test_metrics, "--test-metrics").read_text(encoding="utf-8"))
    if not isinstance(scores, dict) or not numeric_scores(scores):
        fail(f"--test-metrics: {test_metrics} holds no scores; pass the JSON written by scripts/evaluate.py.")
    output_dir.mkdir(parents=True, exist_ok=True)
    model_meta = json.loads((model_dir / "meta.json").read_text(encoding="utf-8"))
    meta = build_meta(model_meta, name=name, version=version, description=description, author=author,
                      license_name=license_name, trained_on=trained_on, test_scores=scores, test_data=test_data)
    pkg_dir = write_package_dir(model_dir, output_dir, name, version, meta)
    wheels: List[Path] = [build_wheel(pkg_dir, output_dir)]
    if library:
        wheels.append(build_library_wheel(library_dir, output_dir))
    package_name = pkg_dir.name.rsplit("-", 1)[0]
    if install:
        install_offline(package_name, version, output_dir)
    typer.echo(json.dumps({"package": package_name, "wheels": [str(w) for w in wheels], "installed": install,
                           "install_offline": f"pip install --no-index --find-links {output_dir} {package_name}"}))


if __name__ == "__main__":
    app()
