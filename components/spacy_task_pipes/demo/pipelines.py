"""Finding, loading and describing the pipelines the demo page can show."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple

from spacy.language import Language

from ..safety import safe_load

TRAINED_PIPELINE_GLOBS: Tuple[str, ...] = ("training/**/model-best", "training/**/model-last")
"""Where ``spacy train`` output is looked for, relative to the project root."""

ENTITY_ASSIGNMENT = "doc.ents"
QA_FACTORY = "question_answerer"
TRANSLATOR_FACTORY = "translator"
SUMMARIZER_FACTORY = "summarizer"


@dataclass(frozen=True)
class PipelineChoice:
    """One pipeline the page offers: ``spec`` is what ``spacy.load`` gets (a directory
    or an installed package name), ``origin`` says where it was found."""

    spec: str
    origin: str

    @property
    def label(self) -> str:
        return f"{self.spec} ({self.origin})"


@dataclass(frozen=True)
class PipelineTasks:
    """Which panels a pipeline feeds, and where each result is read from.

    ``entity_labels`` are the labels of the components that set ``doc.ents``;
    the fields are the ``Doc`` extension names the translator and summarizer write
    (their ``field`` setting); ``None`` where the pipeline has no such component."""

    entity_pipes: Tuple[str, ...] = ()
    entity_labels: Tuple[str, ...] = ()
    question_answerer: Optional[str] = None
    translation_field: Optional[str] = None
    summary_field: Optional[str] = None

    @property
    def has_entities(self) -> bool:
        return bool(self.entity_pipes)

    @property
    def has_answers(self) -> bool:
        return self.question_answerer is not None

    @property
    def is_empty(self) -> bool:
        return not (self.has_entities or self.has_answers or self.translation_field or self.summary_field)


def find_pipelines(root: Path, given: Sequence[str] = (), packages: Iterable[str] = ()) -> List[PipelineChoice]:
    """The pipelines to offer, in this order: the ones ``given`` on the command line
    (kept as typed, even when they do not exist, so that the page can say what is
    wrong), the trained directories under ``root/training`` (sorted), then the installed
    pipeline ``packages`` (e.g. ``spacy.util.get_installed_models()``). A directory
    reached twice (given and found) is listed once."""
    choices: List[PipelineChoice] = []
    seen: set = set()

    def add(spec: str, origin: str, key: str) -> None:
        if key not in seen:
            seen.add(key)
            choices.append(PipelineChoice(spec, origin))

    for spec in given:
        add(spec, "command line", _identity(spec))
    for pattern in TRAINED_PIPELINE_GLOBS:
        for path in sorted(root.glob(pattern)):
            if (path / "config.cfg").is_file():
                add(str(path), "trained", _identity(str(path)))
    for name in sorted(packages):
        add(name, "installed package", _identity(name))
    return choices


def _identity(spec: str) -> str:
    path = Path(spec)
    return str(path.resolve()) if path.exists() else spec


def load_pipeline(spec: str) -> Language:
    """:func:`spacy_task_pipes.safety.safe_load` of ``spec`` with errors that say what to pass
    instead.

    Raises FileNotFoundError for a path that does not exist or is not a pipeline directory,
    OSError for a name that is no installed package, and UnsafePipelineError (a ValueError)
    for a pipeline that would run code or read outside itself at load."""
    spec = spec.strip()
    if not spec:
        raise ValueError("No pipeline given: pass a pipeline directory or an installed package name.")
    path = Path(spec).expanduser()
    if path.exists():
        if not (path / "config.cfg").is_file():
            raise FileNotFoundError(
                f"{path} is not a spaCy pipeline directory (it has no config.cfg). Pass a directory "
                "written by `spacy train` or nlp.to_disk, e.g. training/en/ner/model-best."
            )
        return safe_load(path)
    if _looks_like_path(spec):
        raise FileNotFoundError(
            f"No pipeline at {path}: the path does not exist. Pass a directory written by "
            "`spacy train` or nlp.to_disk (e.g. training/en/ner/model-best) or an installed package name."
        )
    return safe_load(spec)


def _looks_like_path(spec: str) -> bool:
    return "/" in spec or "\\" in spec or spec.startswith((".", "~"))


def pipeline_tasks(nlp: Language) -> PipelineTasks:
    """Which results ``nlp`` writes, from its components' factories and settings."""
    entity_pipes: List[str] = []
    labels: List[str] = []
    question_answerer = translation_field = summary_field = None
    for name in nlp.pipe_names:
        meta = nlp.get_pipe_meta(name)
        if ENTITY_ASSIGNMENT in meta.assigns:
            entity_pipes.append(name)
            labels.extend(nlp.pipe_labels.get(name, []))
        if meta.factory == QA_FACTORY:
            question_answerer = name
        elif meta.factory == TRANSLATOR_FACTORY:
            translation_field = _field(nlp, name, "translation")
        elif meta.factory == SUMMARIZER_FACTORY:
            summary_field = _field(nlp, name, "summary")
    return PipelineTasks(
        entity_pipes=tuple(entity_pipes),
        entity_labels=tuple(dict.fromkeys(labels)),
        question_answerer=question_answerer,
        translation_field=translation_field,
        summary_field=summary_field,
    )


def _field(nlp: Language, name: str, default: str) -> str:
    return str(nlp.get_pipe_config(name).get("field", default))
