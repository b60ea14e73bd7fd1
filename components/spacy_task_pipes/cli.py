"""What every typer script shares: a user's mistake is one red line and exit code 2.

A script's command is wrapped with :func:`user_errors` (decorator), and checks its
path arguments with :func:`existing_file` / :func:`existing_dir` first, so that a wrong
path names the argument and the path instead of ending in a traceback::

    @app.command()
    @user_errors
    def main(input_path: Path = typer.Argument(...)):
        existing_file(input_path, "INPUT_PATH")
"""

from __future__ import annotations

import codecs
import errno
import functools
import re
from pathlib import Path
from typing import Any, Callable, Dict, NoReturn, Optional, Sequence, TypeVar

import typer

from .io import InputError

EXIT_USER_ERROR = 2

# The exception types that mean "the user gave something wrong" (a bad file, path,
# value or encoding), as opposed to a bug, which keeps its traceback.
USER_ERRORS = (
    InputError,
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
    ValueError,
    LookupError,  # unknown encoding, unknown registry name
    UnicodeError,
)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> NoReturn:
    """Print ``message`` as one red line on stderr and exit with code 2."""
    # one line: newlines (and the indentation around them) become one space; spaces
    # inside the message, e.g. in a quoted value, are kept
    typer.secho(re.sub(r"\s*\n\s*", " ", str(message)).strip(), fg="red", err=True)
    raise typer.Exit(EXIT_USER_ERROR)


# OSErrors that are the machine's state, not a bug: a full disk, a read-only or forbidden folder.
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                                errno.EMFILE, errno.ENFILE, errno.ENAMETOOLONG})


def environment_error_line(err: OSError) -> str:
    """One line for an :data:`ENVIRONMENT_ERRNOS` error: what, where, and what to do."""
    where = f" {err.filename}" if err.filename else ""
    advice = {errno.ENOSPC: "free some space or write elsewhere", errno.EDQUOT: "free some space or write elsewhere",
              errno.EROFS: "write to a writable folder", errno.EACCES: "check the permissions or write elsewhere",
              errno.EPERM: "check the permissions or write elsewhere"}.get(err.errno, "see the system's limits")
    return f"error: cannot use{where}: {err.strerror or err}; {advice} (nothing was half-written)."


def user_errors(func: F) -> F:
    """Turn the :data:`USER_ERRORS` raised by a command, and the OSErrors of a full disk or a
    read-only folder, into :func:`fail` (one line, exit code 2)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except USER_ERRORS as err:
            fail(f"error: {err}")
        except OSError as err:
            if err.errno in ENVIRONMENT_ERRNOS:
                fail(environment_error_line(err))
            raise

    return wrapper  # type: ignore[return-value]


def existing_file(path: Path, argument: str) -> Path:
    if not path.exists():
        fail(f"{argument}: file not found: {path}")
    if path.is_dir():
        fail(f"{argument}: {path} is a directory; pass a file.")
    return path


def existing_dir(path: Path, argument: str) -> Path:
    if not path.exists():
        fail(f"{argument}: directory not found: {path}")
    if not path.is_dir():
        fail(f"{argument}: {path} is not a directory.")
    return path


def at_least(least: int, **options: Optional[int]) -> None:
    """One line and exit 2 for a numeric option below ``least`` (``None``: not given). Keyword
    names are the options' names with ``_`` for ``-``: ``at_least(1, batch_size=0)``
    fails with "--batch-size must be >= 1, got 0." (spaCy's ``nlp.pipe(batch_size=0)`` silently
    returns no docs, a negative thread count is taken as is by some runtimes)."""
    for name, value in options.items():
        if value is not None and value < least:
            fail(f"--{name.replace('_', '-')} must be >= {least}, got {value}.")


def blank_pipeline(lang: str, argument: str = "--lang") -> Any:
    """``spacy.blank(lang)``, or one line and exit 2 when spaCy has no such language."""
    import spacy

    try:
        return spacy.blank(lang)
    except ImportError:
        fail(f"{argument}: spaCy has no language {lang!r}; use a code such as en, es, de or xx (multi-language).")


def phrase_attr_option(value: str, argument: str = "--phrase-attr") -> str:
    """``value`` upper-cased, or one line and exit 2 when phrase patterns cannot match on it
    (bootstrap, evaluate_ner and filter_patterns take the same setting)."""
    from .ner.bootstrap import PHRASE_ATTRS, check_phrase_attr

    try:
        return check_phrase_attr(value)  # the rule RuleMatcher applies
    except ValueError:
        fail(f"{argument}: {value!r} is not a token attribute the tokenizer sets; "
             f"use one of {', '.join(PHRASE_ATTRS)}.")


def job_options(engine: str, engines: Sequence[str], resume: bool, overwrite: bool) -> None:
    """One line and exit 2 for an ``--engine`` not in ``engines`` (``annotate.ENGINES``) or
    ``--resume`` with ``--overwrite`` (annotate and ``bootstrap --sharded`` run the same batch job)."""
    if engine not in engines:
        fail(f"--engine: unknown engine {engine!r}; use one of {', '.join(engines)}.")
    if resume and overwrite:
        fail("--resume and --overwrite exclude each other.")


def output_file(path: Path, argument: str) -> Path:
    """An output file path: may not exist yet, must not be a directory."""
    if path.is_dir():
        fail(f"{argument}: {path} is a directory; pass a file path.")
    return path


# The CPU runtimes each task architecture takes (see spacy_task_pipes.hf.inference).
TASK_BACKENDS = {
    "spacy_task_pipes.QuestionAnswering.v1": ("torch", "onnxruntime"),
    "spacy_task_pipes.Seq2SeqLM.v1": ("torch", "ctranslate2"),
}


def inference_overrides(config: Any, quantize: Optional[str] = "keep", backend: Optional[str] = None) -> Dict[str, Any]:
    """``spacy.load(..., config=...)`` overrides setting the CPU inference of every transformer
    task component of a pipeline ``config``: ``quantize`` ("int8" or None; "keep" leaves it) and
    ``backend``, a runtime or a comma list (e.g. "onnxruntime,ctranslate2"), each component
    taking the one its model runs on (None leaves it). ``{}`` when no component is concerned;
    a runtime no component runs on is a ValueError."""
    wanted = [b.strip() for b in backend.split(",") if b.strip()] if backend else []
    used = set()
    found = False
    overrides: Dict[str, Any] = {}
    for name, block in config.get("components", {}).items():
        model = block.get("model") if isinstance(block, dict) else None
        allowed = TASK_BACKENDS.get(model.get("@architectures")) if isinstance(model, dict) else None
        if allowed is None:
            continue
        found = True
        settings: Dict[str, Any] = {}
        if quantize != "keep":
            settings["quantize"] = quantize
        choice = next((b for b in wanted if b in allowed), None)
        if choice is not None:
            settings["backend"] = choice
            used.add(choice)
        if settings:
            overrides.setdefault("components", {})[name] = {"model": settings}
    unused = [b for b in wanted if b not in used]
    if unused and found:
        raise ValueError(f"backend {', '.join(unused)}: no component of this pipeline runs on it "
                         "(question_answerer: torch, onnxruntime; translator, summarizer: torch, ctranslate2).")
    return overrides


RUNTIMES = ("torch", "onnxruntime", "ctranslate2")


def check_inference_options(quantize: str, backend: str) -> None:
    """``--quantize`` / ``--backend`` values of a script, as one line and exit 2 before
    anything loads; which component takes which runtime is checked at load."""
    if quantize not in ("", "int8", "none"):
        fail(f"--quantize: {quantize!r} is not one of int8, none.")
    unknown = [b for b in backend.split(",") if b.strip() and b.strip() not in RUNTIMES]
    if unknown:
        fail(f"--backend: {', '.join(unknown)} is not one of {', '.join(RUNTIMES)}.")


def option_overrides(config: Any, name: str, quantize: str = "", backend: str = "") -> Dict[str, Any]:
    """:func:`inference_overrides` for the option strings of the scripts (``quantize`` "int8",
    "none" for float32, "" to keep; ``backend`` a runtime or comma list, "" to keep); a
    ValueError, starting with the option it is about, when pipeline ``name`` cannot take them."""
    try:
        overrides = inference_overrides(
            config, quantize=("keep" if not quantize else None if quantize == "none" else quantize),
            backend=backend or None)
    except ValueError as err:
        raise ValueError(f"--backend: {err}") from None
    if not overrides:
        raise ValueError(f"--quantize/--backend: the pipeline {name!r} has no question_answerer, translator "
                         "or summarizer model to set them on.")
    return overrides


def load_pipeline(name: str, argument: str, *, quantize: str = "", backend: str = "", **kwargs: Any) -> Any:
    """:func:`spacy_task_pipes.safety.safe_load` of ``name`` (a pipeline folder or an installed
    package): a pipeline that would run code at load, or a missing or damaged one, is one line
    naming ``argument``.

    ``quantize`` ("int8", or "none" for float32) and ``backend`` ("torch", "onnxruntime",
    "ctranslate2", or a comma list of them) set the CPU inference settings of every transformer
    task component (see :func:`option_overrides`; empty: as the pipeline's config says); a
    pipeline without such a component is an error."""
    from .safety import safe_load

    try:
        nlp = safe_load(name, **kwargs)
        if not (quantize or backend):
            return nlp
        check_inference_options(quantize, backend)
        try:
            overrides = option_overrides(nlp.config, name, quantize, backend)
        except ValueError as err:
            fail(str(err))
        config = {**kwargs.pop("config", {})}
        for component, settings in overrides["components"].items():
            config.setdefault("components", {}).setdefault(component, {}).update(settings)
        return safe_load(name, config=config, **kwargs)
    except ImportError as err:  # a backend's package is missing: the message says what to install
        fail(f"--backend: {err}")
    except OSError as err:  # spaCy's E050 "Can't find model" and file errors
        fail(f"{argument}: cannot load the pipeline {name!r}: {err}")
    except ValueError as err:  # our components' load errors name the damaged file
        fail(f"{argument}: cannot load the pipeline {name!r}: {err}")


def check_encoding(name: str, argument: str = "--encoding") -> str:
    try:
        codecs.lookup(name)
    except LookupError:
        fail(f"{argument}: unknown encoding {name!r}; use e.g. utf-8 or latin-1.")
    return name
