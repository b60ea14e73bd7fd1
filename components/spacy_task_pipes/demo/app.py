"""The Streamlit page: ``streamlit run scripts/demo.py -- [PIPELINE ...] [--root DIR] [--max-chars N]``.

Streamlit runs the script again on every interaction; :func:`main` draws the whole
page each time. Loaded pipelines are cached (``st.cache_resource``) and so are the
results for a (pipeline, text, questions) triple (``st.cache_data``), so changing a
view option does not run the pipeline again.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, Optional, Sequence, Tuple

import spacy
import streamlit as st
from spacy.language import Language
from spacy_streamlit import visualize_ner

from .pipelines import PipelineTasks, find_pipelines, load_pipeline, pipeline_tasks
from .views import (
    Analysis,
    AnswerView,
    SentencePair,
    SummaryView,
    analyse,
    answer_html,
    cap_text,
    entities_displacy_data,
    escape_markdown,
    parse_questions,
    translation_html,
)

DEFAULT_MAX_CHARS = 5_000
DEFAULT_TEXT = (
    "Just got the Pixel 8 Pro, the camera beats my old iPhone 12 by a mile. "
    "The battery easily lasts two days."
)
DEFAULT_QUESTIONS = "Which phone did I get?"
PAGE_TITLE = "spaCy task pipes: demo"
TEXT_KEY = "text"
QUESTIONS_KEY = "questions"
PIPELINE_KEY = "pipeline"
OTHER_PIPELINE_KEY = "other_pipeline"


@dataclass(frozen=True)
class DemoOptions:
    """The command line after ``--``: pipelines to offer first, the project root to
    search for trained pipelines, and the longest text analysed."""

    pipelines: Tuple[str, ...] = ()
    root: Path = Path(".")
    max_chars: int = DEFAULT_MAX_CHARS


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        usage = " ".join(self.format_usage().split()[1:])  # one line, without argparse's "usage:"
        raise ValueError(f"{message}. Usage: {usage}")


def parse_args(argv: Sequence[str]) -> DemoOptions:
    """Parse the arguments given after ``streamlit run scripts/demo.py --``; a
    ValueError with the usage for bad ones."""
    parser = _ArgumentParser(prog="streamlit run scripts/demo.py --", add_help=False)
    parser.add_argument("pipelines", nargs="*", help="pipeline directories or installed package names")
    parser.add_argument("--root", type=Path, default=Path("."), help="project root searched for training/**/model-best")
    parser.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS, help="longest text analysed")
    args = parser.parse_args(list(argv))
    if args.max_chars < 1:
        raise ValueError(f"--max-chars must be >= 1, got {args.max_chars}.")
    return DemoOptions(tuple(args.pipelines), args.root, args.max_chars)


# ------------------------------------------------------------------- caching


@st.cache_resource(show_spinner=False, max_entries=4)
def cached_pipeline(spec: str) -> Language:
    return load_pipeline(spec)


@st.cache_data(show_spinner=False, max_entries=64)
def cached_analysis(spec: str, text: str, questions: Tuple[str, ...]) -> Analysis:
    nlp = cached_pipeline(spec)
    return analyse(nlp, pipeline_tasks(nlp), text, questions)


# ---------------------------------------------------------------------- page


def main(argv: Sequence[str], page_configured: bool = False) -> None:
    """Draw the page for the command line ``argv`` (the arguments after ``--``);
    ``page_configured``: the caller already set the page config (scripts/demo.py does, before
    the slow imports, to show a loading message)."""
    if not page_configured:
        st.set_page_config(page_title=PAGE_TITLE, layout="wide")
    st.title(PAGE_TITLE)
    try:
        options = parse_args(argv)
    except ValueError as err:
        st.error(f"Bad command line: {err}")
        return
    spec = choose_pipeline(options)
    if spec is None:
        return
    nlp = load_or_report(spec)
    if nlp is None:
        return
    tasks = pipeline_tasks(nlp)
    st.sidebar.caption("Components: " + (", ".join(nlp.pipe_names) or "none"))
    if tasks.is_empty:
        st.warning(
            f"The pipeline {spec} has no component this page shows (entities, question_answerer, "
            "translator, summarizer). Pick another one in the sidebar."
        )
        return
    text, questions = read_input(tasks)
    text = checked_text(text, questions, tasks, options.max_chars)
    if text is None:
        return
    analysis = analyse_or_report(spec, text, questions)
    if analysis is not None:
        show_analysis(analysis, tasks)


def choose_pipeline(options: DemoOptions) -> Optional[str]:
    """The sidebar: a choice of the pipelines found, or any other path or package name."""
    choices = find_pipelines(options.root, options.pipelines, spacy.util.get_installed_models())
    st.sidebar.header("Pipeline")
    labels = {choice.spec: choice.label for choice in choices}
    chosen: Optional[str] = st.sidebar.selectbox(
        "Pipeline", list(labels), format_func=labels.__getitem__, key=PIPELINE_KEY, label_visibility="collapsed"
    )
    other = st.sidebar.text_input("Or a pipeline directory or package name", key=OTHER_PIPELINE_KEY).strip()
    if other:
        return other
    if chosen is None:
        st.info(
            "No pipeline found: train one (`spacy project run all` writes training/en/ner/model-best), "
            "name one in the sidebar, or pass directories: `streamlit run scripts/demo.py -- PATH ...`."
        )
        return None
    return chosen


def load_or_report(spec: str) -> Optional[Language]:
    """The cached pipeline, or ``None`` after an error message on the page."""
    try:
        with st.spinner(f"Loading {spec} ..."):
            return cached_pipeline(spec)
    except Exception as err:  # any failure to load is shown on the page; the app keeps serving
        st.error(f"Cannot load the pipeline {spec!r}: {err}")
        return None


def read_input(tasks: PipelineTasks) -> Tuple[str, Tuple[str, ...]]:
    """The form: a text, and questions where the pipeline answers them."""
    with st.form("input"):
        text = st.text_area("Text", value=DEFAULT_TEXT, height=140, key=TEXT_KEY)
        raw_questions = ""
        if tasks.has_answers:
            raw_questions = st.text_area(
                "Questions about the text (one per line)", value=DEFAULT_QUESTIONS, height=80, key=QUESTIONS_KEY
            )
        st.form_submit_button("Analyse", type="primary")
    return text, parse_questions(raw_questions)


def checked_text(text: str, questions: Tuple[str, ...], tasks: PipelineTasks, max_chars: int) -> Optional[str]:
    """The text to analyse (cut to ``max_chars``, with a message), or ``None`` with a
    message when there is nothing to analyse."""
    if not text.strip():
        if tasks.has_answers and questions:
            st.warning("There is no context to answer the questions from: type a text above and press Analyse.")
        else:
            st.warning("Type a text above and press Analyse.")
        return None
    capped, was_cut = cap_text(text, max_chars)
    if was_cut:
        st.warning(
            f"The text has {len(text):,} characters; only the first {len(capped):,} are analysed "
            f"(the limit is {max_chars:,}, set with --max-chars)."
        )
    return capped


def analyse_or_report(spec: str, text: str, questions: Tuple[str, ...]) -> Optional[Analysis]:
    try:
        with st.spinner("Running the pipeline ..."):
            return cached_analysis(spec, text, questions)
    except Exception as err:  # a component failing on this input must not stop the page
        st.error(f"The pipeline failed on this text: {type(err).__name__}: {err}")
        return None


# ------------------------------------------------------------------- panels


def show_analysis(analysis: Analysis, tasks: PipelineTasks) -> None:
    if analysis.entities is not None:
        show_entities(analysis, tasks)
    if analysis.answers is not None:
        show_answers(analysis.text, analysis.answers)
    if analysis.translation is not None:
        show_translation(analysis.translation)
    if analysis.summary is not None:
        show_summary(analysis.summary)


def show_entities(analysis: Analysis, tasks: PipelineTasks) -> None:
    labels = list(dict.fromkeys([*tasks.entity_labels, *(e.label for e in analysis.entities or ())]))
    if not labels:
        st.header("Entities")
        st.info("The entity components of this pipeline have no labels.")
        return
    visualize_ner(
        [entities_displacy_data(analysis)], labels=labels, title="Entities", manual=True, show_table=False, key="entities"
    )
    n = len(analysis.entities or ())
    st.caption(f"{n} entit{'y' if n == 1 else 'ies'} found" if n else "No entities found in this text.")
    shown = [e for e in analysis.entities or () if e.confidence is not None or e.pattern]
    if any(e.confidence is not None for e in shown):
        st.caption("Confidence of each entity (entity_confidence: the probability of the NER's actions that built it; "
                   "the rules' dictionary names its pattern instead)")
        st.table([{"entity": e.text, "label": e.label,
                   "confidence": f"{e.confidence:.3f}" if e.confidence is not None else f"pattern {e.pattern}"}
                  for e in shown])


def show_answers(context: str, answers: Sequence[AnswerView]) -> None:
    st.header("Answers")
    if not answers:
        st.info("Type a question (one per line) to get answers from the text.")
    for answer in answers:
        st.markdown(f"**Q:** {escape_markdown(answer.question)}")
        if answer.is_empty:
            st.info(f"No answer (score {answer.score:.3f}).")
            continue
        st.markdown(answer_html(context, answer), unsafe_allow_html=True)
        st.caption(f"score {answer.score:.3f} · characters {answer.start}–{answer.end}")


def show_translation(pairs: Sequence[SentencePair]) -> None:
    st.header("Translation")
    st.markdown(translation_html(pairs), unsafe_allow_html=True)


def show_summary(summary: SummaryView) -> None:
    st.header("Summary")
    if summary.text:
        st.markdown(escape_markdown(summary.text))
    else:
        st.info("The summary is empty.")
    st.caption(
        f"{summary.n_words} words, {summary.n_chars} characters "
        f"({summary.word_ratio:.0%} of the {summary.source_words} words of the text)."
    )
