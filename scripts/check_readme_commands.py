"""Check every shell command of the README and docs/*.md against the project, and run them.

    python scripts/check_readme_commands.py                 # static checks + cheap runs
    python scripts/check_readme_commands.py --run all       # every offline command, in a fresh clone

Commands are the lines of ```bash blocks (backslash continuations joined, comments dropped)
and inline `python -m spacy project run ...` spans. Static checks: a ``spacy project run``
names a command or workflow of project.yml, passes the project folder (``.``) before any
option, and every ``--vars.NAME`` is a var; a ``python scripts/X.py`` exists; ``pip install
-e ".[extra]"`` names extras of pyproject.toml. Cheap runs (in a fresh clone: the files git
tracks or would track, copied to a temporary folder): ``spacy project run ... --dry`` (weasel
parses the command line and interpolates the vars, running nothing) and ``--help`` of every
script. ``--run all`` runs the commands for real in that clone: project commands first, in
the order they appear, then the rest; online (``assets --extra``, hub models), install and
test-suite lines are listed as skipped with the reason. Exit code 1 when anything failed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

import srsly
import typer

app = typer.Typer(add_completion=False, help=__doc__)
ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```(\w*)\s*$")
INLINE = re.compile(r"`((?:[A-Z_]+=\S+ )*python -m spacy project run [^`]+)`")
TRF_COMMANDS = ("all-gpu", "check-trf-model", "train-trf", "evaluate-trf")
# Project commands that run for hours; their figures come from the runs the results pages name.
LONG_BENCHMARKS = {
    "benchmark-distant": "trains 3 datasets x 5 variants on ../shared/data for hours "
    "(tests/test_benchmark_distant.py runs it short; docs/results.md gives the runs behind its rows)",
}
ONLINE_VALUES = re.compile(r"\b(roberta-base|distilbert/|Helsinki-NLP/|google-t5/|assets/(squad|tatoeba|dialogsum)/)")


@dataclass
class Command:
    file: str
    line: int
    text: str
    problems: List[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def extract_commands(path: Path, root: Path = ROOT) -> List[Command]:
    """The shell commands of ``path``'s bash/sh/console blocks and inline project-run spans."""
    rel = str(path.relative_to(root))
    lines = path.read_text(encoding="utf-8").splitlines()
    found: List[Command] = []
    in_block, lang = False, ""
    pending: Optional[Command] = None
    for number, line in enumerate(lines, 1):
        fence = FENCE.match(line.strip())
        if fence:
            in_block, lang = (not in_block, fence.group(1)) if not in_block else (False, "")
            continue
        if in_block:
            if lang not in ("bash", "sh", "console", "shell"):
                continue
            text = line.strip()
            if pending is not None:
                pending.text += " " + text.rstrip("\\").strip()
                if not text.endswith("\\"):
                    found.append(pending)
                    pending = None
                continue
            if not text or text.startswith("#"):
                continue
            command = Command(rel, number, text.rstrip("\\").strip())
            if text.endswith("\\"):
                pending = command
            else:
                found.append(command)
            continue
        for match in INLINE.finditer(line):
            found.append(Command(rel, number, match.group(1)))
    return found


def split_chain(text: str) -> List[str]:
    return [part.strip() for part in text.split("&&") if part.strip()]


def words(part: str) -> List[str]:
    args = shlex.split(part)
    while args and re.match(r"^[A-Z_]+=", args[0]):  # leading VAR=value assignments
        args = args[1:]
    return args


def project_run_args(part: str) -> Optional[List[str]]:
    """The arguments after ``project run`` (``spacy``, ``python -m spacy`` or ``weasel run``)."""
    args = words(part)
    for i in range(len(args) - 1):
        if args[i] == "project" and args[i + 1] == "run" and "spacy" in args[max(0, i - 1)]:
            return args[i + 2:]
        if args[i] == "weasel" and args[i + 1] == "run":
            return args[i + 2:]
    return None


def check_static(command: Command, project: Dict, extras: Sequence[str], root: Path = ROOT) -> None:
    names = {c["name"] for c in project["commands"]} | set(project.get("workflows", {}))
    known_vars = set(project.get("vars", {}))
    for part in split_chain(command.text):
        run = project_run_args(part)
        args = words(part)
        if run is not None:
            if not run or run[0].startswith("-"):
                command.problems.append("`spacy project run` without a command name")
                continue
            if run[0] not in names:
                command.problems.append(f"no command or workflow {run[0]!r} in project.yml")
            if len(run) < 2 or run[1].startswith("-"):
                command.problems.append("the project folder (`.`) must follow the command name")
            for arg in run[1:]:
                if arg.startswith("--vars."):
                    name = arg[len("--vars."):].split("=", 1)[0]
                    if name not in known_vars:
                        command.problems.append(f"--vars.{name} is not a var of project.yml")
        elif len(args) >= 2 and args[0] in ("python", "python3") and args[1].startswith("scripts/"):
            if not (root / args[1]).is_file():
                command.problems.append(f"{args[1]} does not exist")
        elif args[:2] == ["pip", "install"]:
            for arg in args[2:]:
                match = re.match(r"^(?:-e\s*)?\.\[([^\]]+)\]$", arg)
                if match:
                    missing = [e for e in match.group(1).split(",") if e not in extras]
                    if missing:
                        command.problems.append(f"no extra {', '.join(missing)} in pyproject.toml")


def kind(part: str) -> str:
    """How a command is run: project, script, python, or skip:<reason>."""
    args = words(part)
    if not args:
        return "skip:empty"
    if args[:2] == ["pip", "install"] or args[0] in ("python3",) and "venv" in args or args[0] in (".", "source"):
        return "skip:installs packages or sets up an environment"
    if "pytest" in args:
        return "skip:the test suite (run it with pytest)"
    if args[:4] == ["python", "-m", "spacy", "project"] and args[4:6] == ["assets", "."] and "--extra" in args:
        return "skip:downloads the extra assets (online)"
    if ONLINE_VALUES.search(part):
        return "skip:needs a hub model or an extra asset (online)"
    if args[:4] == ["python", "-m", "spacy", "assemble"]:
        return "skip:assembles the config block above it (tests/test_readme_commands.py writes it and runs this)"
    if "--address" in args:
        return "skip:joins a running Ray cluster (tests/test_annotate_ray.py starts one and joins it with --address)"
    if (project_run_args(part) or [""])[0] in LONG_BENCHMARKS:
        return f"skip:{LONG_BENCHMARKS[project_run_args(part)[0]]}"
    if "scripts/demo.py" in args or (project_run_args(part) or [""])[0] == "demo":
        return "server"  # serves until stopped: --dry / --help only (tests/test_demo_launch.py starts it)
    run = project_run_args(part)
    if run is not None:
        if run and run[0] in TRF_COMMANDS and importlib.util.find_spec("spacy_transformers") is None:
            return "skip:needs the trf extra (spacy-transformers), not installed here"
        return "project"
    if len(args) >= 2 and args[0] == "python" and args[1].startswith("scripts/"):
        return "script"
    return "python" if args[0] in ("python", "streamlit") else "skip:not a project command"


def fresh_clone(dest: Path, root: Path = ROOT) -> Path:
    """What a clone holds (tracked files and new files git does not ignore) copied to ``dest``."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                         capture_output=True, check=True).stdout.decode("utf-8")
    for name in out.split("\0"):
        if name and (root / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, dest / name)
    return dest


def run_shell(part: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    path = os.environ.get("PATH", "")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{path}"  # `python` is this interpreter
    return subprocess.run(["bash", "-c", part], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def cheap_variant(part: str, how: str) -> Optional[str]:
    if how == "server":
        how = "project" if project_run_args(part) is not None else "script"
    if how == "project":
        return part + " --dry"
    if how == "script":
        args = words(part)
        return f"python {args[1]} --help"
    return None


@app.command()
def main(
    files: Optional[List[Path]] = typer.Argument(None, help="Markdown files (default: README.md and docs/*.md)"),
    run: str = typer.Option("cheap", "--run", help="none: static checks only; cheap: --dry / --help runs; all: run every offline command"),
    workdir: Optional[Path] = typer.Option(None, "--workdir", help="Folder for the fresh clone (default: a temporary one, removed)"),
    timeout: float = typer.Option(3600.0, "--timeout", help="Seconds per command"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Also write the results as JSON"),
) -> None:
    """Check (and run) the commands of the README and docs/."""
    if run not in ("none", "cheap", "all"):
        typer.secho(f"--run: {run!r} is not one of none, cheap, all.", fg="red", err=True)
        raise typer.Exit(2)
    paths = list(files) if files else [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    project = srsly.read_yaml(ROOT / "project.yml")
    extras = list(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    commands = [c for path in paths for c in extract_commands(path.resolve())]
    for command in commands:
        check_static(command, project, extras)
    results: List[Dict] = []
    failed = sum(bool(c.problems) for c in commands)
    for command in commands:
        for problem in command.problems:
            typer.echo(f"FAIL {command.where}: {problem}: {command.text}")
    if run != "none":
        tmp = None
        if workdir is None:
            tmp = Path(tempfile.mkdtemp(prefix="readme-commands-"))
            workdir = tmp / "project"
        workdir.mkdir(parents=True, exist_ok=True)
        fresh_clone(workdir)
        try:
            parts = [(c, p) for c in commands if not c.problems for p in split_chain(c.text)]
            order = sorted(parts, key=lambda cp: 0 if kind(cp[1]) == "project" else 1) if run == "all" else parts
            seen = set()
            for command, part in order:
                how = kind(part)
                todo = part if run == "all" and how != "server" else cheap_variant(part, how)
                if how.startswith("skip:") or todo is None or todo in seen:
                    if todo not in seen:
                        results.append({"where": command.where, "command": part, "status": "skipped",
                                        "why": how[5:] if how.startswith("skip:") else "no cheap variant"})
                    continue
                seen.add(todo)
                start = time.perf_counter()
                try:
                    proc = run_shell(todo, workdir, timeout)
                    ok = proc.returncode == 0 and "Invalid value" not in proc.stderr
                    tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
                except subprocess.TimeoutExpired:
                    ok, tail = False, [f"timed out after {timeout:.0f} s"]
                seconds = time.perf_counter() - start
                results.append({"where": command.where, "command": todo, "status": "ok" if ok else "failed",
                                "seconds": round(seconds, 1), "tail": tail})
                typer.echo(f"{'ok  ' if ok else 'FAIL'} {seconds:7.1f} s  {command.where}: {todo}")
                if not ok:
                    failed += 1
                    for line in tail:
                        typer.echo(f"       {line}")
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
        for result in results:
            if result["status"] == "skipped":
                typer.echo(f"skip            {result['where']}: {result['command']} ({result['why']})")
    if json_path:
        json_path.write_text(json.dumps({"commands": len(commands), "failed": failed, "runs": results}, indent=2))
    typer.echo(f"{len(commands)} commands in {len(paths)} files; {failed} failed")
    raise typer.Exit(1 if failed else 0)


if __name__ == "__main__":
    app()
