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
import functools
import re
from pathlib import Path
from typing import Any, Callable, NoReturn, TypeVar

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


def user_errors(func: F) -> F:
    """Turn the :data:`USER_ERRORS` raised by a command into :func:`fail`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except USER_ERRORS as err:
            fail(f"error: {err}")

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


def output_file(path: Path, argument: str) -> Path:
    """An output file path: may not exist yet, must not be a directory."""
    if path.is_dir():
        fail(f"{argument}: {path} is a directory; pass a file path.")
    return path


def load_pipeline(name: str, argument: str, **kwargs: Any) -> Any:
    """``spacy.load(name)`` where a missing or damaged pipeline is one line naming ``argument``."""
    import spacy

    try:
        return spacy.load(name, **kwargs)
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
