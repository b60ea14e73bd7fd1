"""Inspect a pipeline before loading it, and load it only where nothing in it would run code
or read from outside it.

What ``spacy.load`` alone guarantees: it runs the Python code of the packages installed in
your environment (spaCy's, ours, spacy-transformers', any other registered functions), called
with the values of the pipeline's ``config.cfg``. It does not run Python files shipped inside
a pipeline folder. But a config is data that picks *which* installed code runs and with what
arguments, so a crafted folder can make installed code do harm:

- ``trust_remote_code`` set to true in spacy-transformers' ``transformer`` component (config or its
  saved ``transformer/model``) makes transformers import and run ``.py`` files shipped next to
  the weights;
- ``[nlp.before_creation]``, ``[nlp.after_creation]`` and ``[nlp.after_pipeline_creation]``
  callbacks run at load; ``spacy.copy_from_base_model.v1`` there loads a second pipeline from
  any path, with none of these checks;
- a component with ``source = "<path>"`` and no ``factory`` loads a second pipeline from that
  path;
- a symbolic link inside the folder reads files from anywhere.

Our own components (``question_answerer``, ``translator``, ``summarizer``) never honour
``trust_remote_code`` or ``auto_map``, never read pickle, refuse code files and symbolic links in
their ``model/`` folders and read only the files they need. :func:`safe_load` adds, for the
whole pipeline and before anything is loaded:

- ``trust_remote_code``, ``code_revision`` or ``auto_map`` anywhere in ``config.cfg``, in any
  JSON file of the folder, or in spacy-transformers' saved ``transformer/model``: refused;
- a code file (``.py``, ``.pyc``, ``.so``, ...) anywhere in the folder: refused;
- a symbolic link anywhere in the folder (or the folder itself): refused;
- creation and initialize callbacks other than :data:`ALLOWED_CALLBACKS` (spaCy's and ours):
  refused; ``spacy.copy_from_base_model.v1`` only where it cannot run at load
  (``[initialize.*]``);
- sourced components (``source`` without ``factory``): refused.

Each refusal is one line naming the file and the setting. The checks read config and JSON
files and spacy-transformers' model file (which ``spacy.load`` reads anyway); they never import
torch or transformers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Mapping, Optional, Union

CODE_KEYS = ("trust_remote_code", "code_revision", "auto_map")
CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".pyd", ".so", ".dll", ".dylib")
CREATION_CALLBACKS = ("before_creation", "after_creation", "after_pipeline_creation")
INITIALIZE_CALLBACKS = ("before_init", "after_init")
# spaCy's own callbacks and ours: the only ones a pipeline from elsewhere may name.
ALLOWED_CALLBACKS = frozenset({
    "spacy.models_with_nvtx_range.v1",
    "spacy.models_and_pipes_with_nvtx_range.v1",
    "spacy_task_pipes.fit_to_step_budget.v1",
})
# Allowed only where it cannot run at load: it loads another pipeline from any path.
INITIALIZE_ONLY_CALLBACKS = frozenset({"spacy.copy_from_base_model.v1"})
# JSON files larger than this are not configs; they are not parsed (tokenizer vocabularies).
MAX_JSON_SCAN = 64 * 2**20
# spacy-transformers' component factories, whose model file is msgpack with settings inside.
TRF_FACTORIES = ("transformer",)


@dataclass(frozen=True)
class Finding:
    """One reason to refuse a pipeline: where (a file, or a file and a setting) and what."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


class UnsafePipelineError(ValueError):
    """The pipeline would run code or read outside itself at load; nothing was loaded."""

    def __init__(self, path: Union[str, Path], findings: List[Finding]) -> None:
        self.path = str(path)
        self.findings = findings
        shown = "; ".join(str(f) for f in findings[:5])
        more = f" (and {len(findings) - 5} more)" if len(findings) > 5 else ""
        super().__init__(
            f"Refusing to load the pipeline {self.path}: {shown}{more}. Remove these from the pipeline "
            "if you trust its source, or load it with spacy.load (which runs what it names)."
        )


def pipeline_dir(name_or_path: Union[str, Path]) -> Optional[Path]:
    """The folder ``spacy.load`` reads for ``name_or_path``: the path itself, or the data folder
    of an installed pipeline package; ``None`` for anything else (``blank:en``, or a name
    ``spacy.load`` will not find either)."""
    path = Path(name_or_path).expanduser()
    if path.exists() or path.is_symlink():
        return path
    import spacy.util

    if spacy.util.is_package(str(name_or_path)):
        package = spacy.util.get_package_path(str(name_or_path))
        meta = json.loads((package / "meta.json").read_text(encoding="utf-8"))
        data = package / f"{meta['lang']}_{meta['name']}-{meta['version']}"
        return data if data.is_dir() else package
    return None


def find_code_keys(value: Any, path: str = "", depth: int = 0) -> List[str]:
    """Dotted paths where ``value`` sets one of :data:`CODE_KEYS`, at any depth."""
    found: List[str] = []
    if depth > 200:
        return [f"{path or '(top)'} (nested too deeply to check)"]
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if str(key).rsplit(".", 1)[-1] in CODE_KEYS:  # dotted override keys too
                found.append(where)
            found.extend(find_code_keys(item, where, depth + 1))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found.extend(find_code_keys(item, f"{path}[{i}]", depth + 1))
    return found


def _walk(root: Path, findings: List[Finding]) -> List[Path]:
    """Every file under ``root``; symbolic links (followed nowhere) are findings."""
    files: List[Path] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(folder.iterdir())
        except OSError as err:
            findings.append(Finding(str(folder), f"cannot be read ({err.strerror or err})"))
            continue
        for entry in entries:
            if entry.is_symlink():
                findings.append(Finding(str(entry), "is a symbolic link (a pipeline folder holds plain files)"))
            elif entry.is_dir():
                stack.append(entry)
            elif entry.is_file():
                files.append(entry)
            else:
                findings.append(Finding(str(entry), "is not a regular file"))
    return files


def _config_findings(config_path: Path, config: Mapping[str, Any]) -> List[Finding]:
    where = str(config_path)
    findings = [Finding(where, f"sets {key} (code shipped with a model would run)")
                for key in find_code_keys(config)]
    sections = (("nlp", CREATION_CALLBACKS), ("initialize", INITIALIZE_CALLBACKS))
    for section, keys in sections:
        block = config.get(section) or {}
        for key in keys:
            callback = block.get(key) if isinstance(block, Mapping) else None
            if callback is None:
                continue
            name = callback.get("@callbacks") if isinstance(callback, Mapping) else None
            allowed = name in ALLOWED_CALLBACKS or (section == "initialize" and name in INITIALIZE_ONLY_CALLBACKS)
            if not allowed:
                findings.append(Finding(
                    f"{where} [{section}.{key}]",
                    f"names the callback {name!r}, which is not on the allow-list "
                    f"({', '.join(sorted(ALLOWED_CALLBACKS))})"))
    for name, block in (config.get("components") or {}).items():
        if isinstance(block, Mapping) and "source" in block and "factory" not in block:
            findings.append(Finding(f"{where} [components.{name}]",
                                    f"sources the component from another pipeline ({block['source']!r})"))
    return findings


def _json_findings(file: Path) -> List[Finding]:
    if file.stat().st_size > MAX_JSON_SCAN:
        return []
    try:
        data = json.loads(file.read_bytes().decode("utf-8-sig"))
    except RecursionError:
        return [Finding(str(file), "is nested too deeply to be a pipeline file")]
    except (UnicodeDecodeError, ValueError):
        return []  # a damaged file: the component that reads it says so
    return [Finding(str(file), f"sets {key}") for key in find_code_keys(data)]


def _trf_model_findings(file: Path) -> List[Finding]:
    """spacy-transformers' saved model: msgpack with the tokenizer's settings and files."""
    import srsly

    try:
        msg = srsly.msgpack_loads(file.read_bytes())
    except Exception:  # noqa: BLE001 - not ours to judge; spacy-transformers will say
        return []
    findings = [Finding(str(file), f"sets {key}") for key in find_code_keys(
        {k: v for k, v in msg.items() if k != "state"} if isinstance(msg, dict) else msg)]
    tokenizer = msg.get("tokenizer") if isinstance(msg, dict) else None
    if isinstance(tokenizer, dict):
        for name, data in tokenizer.items():
            if isinstance(name, str) and name.lower().endswith(CODE_SUFFIXES):
                findings.append(Finding(f"{file} (tokenizer file {name})", "is a code file"))
            elif isinstance(name, str) and name.endswith(".json") and isinstance(data, bytes):
                try:
                    parsed = json.loads(data.decode("utf-8-sig"))
                except (UnicodeDecodeError, ValueError, RecursionError):
                    continue
                findings.extend(Finding(f"{file} (tokenizer file {name})", f"sets {key}")
                                for key in find_code_keys(parsed))
    return findings


def inspect_pipeline(name_or_path: Union[str, Path]) -> List[Finding]:
    """Everything in the pipeline that :func:`safe_load` refuses (empty: safe to load)."""
    root = pipeline_dir(name_or_path)
    if root is None:
        return []  # nothing on disk: spacy.load makes a blank pipeline or says it found none
    findings: List[Finding] = []
    if root.is_symlink():
        return [Finding(str(root), "is a symbolic link; pass the folder itself")]
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a pipeline directory.")
    config_path = root / "config.cfg"
    if not config_path.is_file():
        raise FileNotFoundError(
            f"{root} is not a spaCy pipeline directory (it has no config.cfg). Pass a directory written by "
            "`spacy train` or nlp.to_disk."
        )
    files = _walk(root, findings)
    from thinc.api import Config

    try:
        config = Config().from_disk(config_path, interpolate=False)
    except Exception as err:  # noqa: BLE001 - let spaCy report a broken config itself
        config = None
        findings.append(Finding(str(config_path), f"cannot be read ({type(err).__name__}: {err})"))
    trf_dirs = set()
    if config is not None:
        findings.extend(_config_findings(config_path, config))
        for name, block in (config.get("components") or {}).items():
            if isinstance(block, Mapping) and block.get("factory") in TRF_FACTORIES:
                trf_dirs.add(root / name)
    for file in files:
        if file.name.lower().endswith(CODE_SUFFIXES):
            findings.append(Finding(str(file), "is a code file"))
        elif file.suffix == ".json":
            findings.extend(_json_findings(file))
        elif file.name == "model" and file.parent in trf_dirs:
            findings.extend(_trf_model_findings(file))
    return findings


def safe_load(name_or_path: Union[str, Path], **kwargs: Any) -> Any:
    """``spacy.load(name_or_path, **kwargs)`` after :func:`inspect_pipeline` found nothing;
    otherwise :class:`UnsafePipelineError` (a ``ValueError``) naming what it found, and nothing
    is loaded. ``config=`` overrides are inspected too."""
    import spacy

    findings = inspect_pipeline(name_or_path)
    overrides = kwargs.get("config")
    if overrides:
        findings.extend(_config_findings(Path("config overrides"), dict(overrides)))
    if findings:
        raise UnsafePipelineError(pipeline_dir(name_or_path) or name_or_path, findings)
    return spacy.load(name_or_path, **kwargs)
