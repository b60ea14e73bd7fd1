"""First and last steps of the project's workflows.

    python scripts/workflow.py check-vars          # first step: refuse a misspelt --vars.NAME
    python scripts/workflow.py summary --lang en ...  # last step: where the results are

weasel silently ignores a ``--vars.NAME`` that project.yml does not define and runs with the
defaults, so ``spacy project run all . --vars.trf_modle x`` would train the default model.
``check-vars`` reads the ``spacy project run`` command line that started it (its parent
process, /proc/PID/cmdline on Linux; best effort: elsewhere it checks nothing) and
``WEASEL_CONFIG_OVERRIDES``, and fails with one line naming the unknown var and the closest
real one. ``--given NAME`` checks names without a parent (tests, other platforms).

``summary`` prints, for the workflow that started it (or every workflow with outputs, run
alone), the files it wrote and the headline scores.
"""

from __future__ import annotations

import difflib
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import srsly
import typer

from spacy_task_pipes.cli import fail, user_errors

app = typer.Typer(add_completion=False, help=__doc__)
ROOT = Path(__file__).resolve().parents[1]
OVERRIDES_ENV = ("WEASEL_CONFIG_OVERRIDES", "SPACY_CONFIG_OVERRIDES")


# ------------------------------------------------------------------ the parent's command line


def process_cmdline(pid: int) -> List[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [arg.decode("utf-8", "replace") for arg in raw.split(b"\0") if arg]


def parent_pid(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
        return int(stat[stat.rindex(")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def project_run_argv(start: Optional[int] = None, levels: int = 4) -> List[str]:
    """The arguments after ``run`` of the nearest ancestor that is ``spacy project run`` or
    ``weasel run`` (``[]`` when there is none or /proc cannot be read)."""
    pid = start if start is not None else os.getppid()
    for _ in range(levels):
        if pid <= 1:
            break
        argv = process_cmdline(pid)
        for i in range(len(argv) - 1):
            if argv[i + 1] == "run" and (argv[i] == "project" or Path(argv[i]).name == "weasel"):
                return argv[i + 2:]
        pid = parent_pid(pid)
    return []


def given_vars(argv: Sequence[str], environ: Optional[Dict[str, str]] = None) -> List[str]:
    """The NAMEs of ``--vars.NAME value`` / ``--vars.NAME=value`` on a command line and in the
    overrides environment variables weasel and spaCy read."""
    environ = os.environ if environ is None else environ
    args = list(argv)
    for name in OVERRIDES_ENV:
        args += shlex.split(environ.get(name, ""))
    return [arg[len("--vars."):].split("=", 1)[0] for arg in args if arg.startswith("--vars.")]


def project_vars(project_dir: Path) -> List[str]:
    return list((srsly.read_yaml(project_dir / "project.yml").get("vars") or {}))


def unknown_var_message(name: str, known: Sequence[str]) -> Optional[str]:
    if name in known:
        return None
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"did you mean --vars.{close[0]}?" if close else "see the vars at the top of project.yml"
    return (f"--vars.{name}: project.yml has no var {name!r} ({hint}); weasel ignores unknown vars and "
            "would run with the default.")


@app.command("check-vars")
@user_errors
def check_vars(
    given: Optional[List[str]] = typer.Option(None, "--given", help="Check these var names instead of the parent's command line"),
    project_dir: Path = typer.Option(ROOT, "--project-dir", help="Folder of project.yml"),
) -> None:
    """Fail with one line where a --vars.NAME of the `spacy project run` command line is not a
    var of project.yml (weasel would ignore it silently)."""
    names = list(given) if given else given_vars(project_run_argv())
    known = project_vars(project_dir)
    for name in names:
        message = unknown_var_message(name, known)
        if message:
            fail(message)
    typer.echo(f"vars: {len(names)} given, all defined in project.yml" if names else "vars: project.yml defaults")


# -------------------------------------------------------------------------- summary


def _pct(value: object) -> str:
    return f"{100 * float(value):.2f}" if isinstance(value, (int, float)) else "?"


def _read(path: Path) -> Dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def workflow_outputs(workflow: str, lang: str, name: str, qa_name: str, version: str) -> List[Tuple[str, str]]:
    """(path, what it is) for each output of ``workflow`` worth opening, scores included."""
    if workflow in ("all", "all-gpu"):
        sub = "ner" if workflow == "all" else "ner_trf"
        model = _read(Path(f"training/{lang}/{sub}_test_metrics.json")).get("model", {})
        rows = [(f"training/{lang}/{sub}/model-best", "the trained pipeline: spacy.load(path)"),
                (f"training/{lang}/{sub}_test_metrics.json",
                 f"test set P/R/F {model.get('p', '?')} / {model.get('r', '?')} / {model.get('f', '?')}, "
                 "the rules baseline and the recall beyond the rules"),
                (f"training/{lang}/{sub}_test_predictions.html", "displaCy page: correct, FP and MISSED entities"),
                (f"training/{lang}/{sub}_learning_curve.png", "dev-set P/R/F and the losses over the steps")]
        if workflow == "all":
            calibration = _read(Path(f"training/{lang}/ner_calibration.json"))
            rows.append((f"training/{lang}/ner_calibration.json",
                         f"entity confidences: min_confidence {calibration.get('min_confidence', '?')} picked on the "
                         "gold dev set (ent._.confidence on every entity)"))
            dictionary = _read(Path(f"training/{lang}/ner_dictionary.json"))
            gain = dictionary.get("dev_gain")
            rows.append((f"training/{lang}/ner_dictionary.json",
                         f"the patterns as a dictionary after ner: {'kept' if dictionary.get('kept') else 'left out'} "
                         f"(gold dev F {f'{gain:+.3f}' if isinstance(gain, (int, float)) else '?'} with it)"))
            rows += [(f"packages/{lang}_{name}-{version}", f"the package, installed: spacy.load(\"{lang}_{name}\")"),
                     ("packages", "its wheel and the library's: pip install --no-index --find-links packages/ ...")]
        return rows
    if workflow == "qa":
        metrics = _read(Path("training/qa/metrics_test.json"))
        return [("training/qa/model/model-best", "the trained question_answerer pipeline"),
                ("training/qa/metrics_test.json",
                 f"test set EM {_pct(metrics.get('qa_exact_match'))}, F1 {_pct(metrics.get('qa_f1'))}"),
                ("training/qa/squad_test.json", "SQuAD EM/F1 with the answerable/unanswerable breakdown"),
                ("training/qa/squad_v2.json", "with and without handle_impossible_answer"),
                ("training/qa/answers_test.html", "displaCy page of the answers"),
                (f"packages/en_{qa_name}-{version}", f"the package, installed: spacy.load(\"en_{qa_name}\")")]
    if workflow == "translation":
        metrics = _read(Path("training/translate/metrics.json"))
        return [("training/translate/model-best", "the trained translator pipeline (doc._.translation)"),
                ("training/translate/metrics.json",
                 f"test BLEU {_pct(metrics.get('translation_bleu'))}, chrF {_pct(metrics.get('translation_chrf'))}")]
    if workflow == "summarization":
        metrics = _read(Path("training/summarize/metrics.json"))
        rouge = ", ".join(f"{key} {_pct(metrics.get(f'summary_{key}'))}" for key in ("rouge1", "rouge2", "rougeL"))
        return [("training/summarize/model-best", "the trained summarizer pipeline (doc._.summary)"),
                ("training/summarize/metrics.json", f"test {rouge}")]
    if workflow == "benchmarks":
        return [(f"training/{lang}/ner_speed.json", "NER words/s, ours vs. the spacy init config pipeline"),
                ("training/qa/qa_speed.json", "questions/s of the question_answerer and its peers")]
    return []


WORKFLOWS = ("all", "all-gpu", "qa", "translation", "summarization", "benchmarks")


@app.command("summary")
@user_errors
def summary(
    lang: str = typer.Option("en", "--lang"),
    name: str = typer.Option("ner_gadget", "--name"),
    qa_name: str = typer.Option("qa_gadgets", "--qa-name"),
    version: str = typer.Option("0.1.0", "--version"),
    workflow: str = typer.Option("", "--workflow", help="Default: the workflow of the parent `spacy project run`, else every one with outputs"),
) -> None:
    """Print where the workflow's results are (paths relative to the project folder)."""
    argv = project_run_argv()
    workflow = workflow or (argv[0] if argv and argv[0] in WORKFLOWS else "")
    if workflow and workflow not in WORKFLOWS:
        fail(f"--workflow: {workflow!r} is not one of {', '.join(WORKFLOWS)}.")
    shown = 0
    for flow in [workflow] if workflow else WORKFLOWS:
        rows = workflow_outputs(flow, lang, name, qa_name, version)
        if not Path(rows[0][0]).exists():  # its first output (the model, a benchmark) is missing: not run
            continue
        rows = [(path, what) for path, what in rows if Path(path).exists()]
        typer.echo(f"Results of `{flow}`:")
        width = max(len(path) for path, _ in rows)
        for path, what in rows:
            typer.echo(f"  {path.ljust(width)}  {what}")
        shown += 1
    if not shown:
        typer.echo("No results yet: run a workflow first, e.g. python -m spacy project run all .")


def main(argv: Iterable[str] = ()) -> None:  # pragma: no cover - thin wrapper
    app(list(argv) or None)


if __name__ == "__main__":
    app()
