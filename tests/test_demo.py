"""The demo page (scripts/demo.py) driven headless by Streamlit's AppTest, and its
pure view functions.

The page's results are compared with the same pipeline run directly (``spacy.load``,
``doc._.questions``, ``doc._.answers``, ``span._.translation``, ``doc._.summary``).
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path
from typing import Callable, List, Sequence, Tuple

import pytest

pytest.importorskip("streamlit", reason="the demo page needs the `demo` extra: pip install -e '.[demo]'")
pytest.importorskip("spacy_streamlit", reason="the demo page needs the `demo` extra: pip install -e '.[demo]'")

import spacy  # noqa: E402
from demo_fixtures import DEMO_ENTITY, DEMO_QUESTION, DEMO_TEXT, GADGET, demo_full_pipeline, demo_ner_pipeline  # noqa: E402,F401
from spacy.tokens import Doc  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from spacy_task_pipes.demo import (  # noqa: E402
    AnswerView,
    analyse,
    answer_html,
    cap_text,
    find_pipelines,
    load_pipeline,
    parse_questions,
    pipeline_tasks,
    translation_html,
)
from spacy_task_pipes.demo.app import DEFAULT_MAX_CHARS, parse_args  # noqa: E402
from spacy_task_pipes.demo.views import SentencePair, escape_markdown, translation_pairs  # noqa: E402
from spacy_task_pipes.ner.bootstrap import Pattern  # noqa: E402
from spacy_task_pipes.ner.dictionary import add_dictionary  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "scripts" / "demo.py"
APP_TIMEOUT = 120  # seconds for one run of the page (the first one loads torch and the pipeline)
SECOND_QUESTION = "What lasts two days?"
CELL = re.compile(r"<td>(.*?)</td>", re.S)
MARK = re.compile(r'<mark class="entity"[^>]*>\s*(.*?)\s*<span[^>]*>(.*?)</span>', re.S)


# ------------------------------------------------------------------ helpers


@pytest.fixture
def start_page(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., AppTest]:
    """``start_page(*args)``: the page run once with ``args`` after ``--`` (and an empty
    ``--root``, so no pipeline of the working tree is offered)."""

    def start(*args: str) -> AppTest:
        monkeypatch.setattr(sys, "argv", [str(APP), *args, "--root", str(tmp_path)])
        app = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT)
        return app.run()

    return start


def submit(app: AppTest, text: str, questions: Sequence[str] = ()) -> AppTest:
    app.text_area(key="text").input(text)
    if questions:
        app.text_area(key="questions").input("\n".join(questions))
    app.button[0].click()
    return app.run()


def run_directly(path: Path, text: str, questions: Sequence[str]) -> Doc:
    nlp = spacy.load(path)
    doc = nlp.make_doc(text)
    doc._.questions = list(questions)
    return nlp(doc)


def marks(markup: str) -> List[Tuple[str, str]]:
    """``(text, label)`` of each displaCy mark in ``markup``."""
    return [(html.unescape(text), html.unescape(label)) for text, label in MARK.findall(markup)]


def markdown_with(app: AppTest, needle: str) -> List[str]:
    return [m.value for m in app.main.markdown if needle in m.value]


def main_headers(app: AppTest) -> List[str]:
    return [h.value for h in app.main.header]


def assert_no_exception(app: AppTest) -> None:
    assert not app.exception, [e.value for e in app.exception]


# ---------------------------------------------------------------- the page


def test_page_shows_entities_answers_translation_and_summary(start_page, demo_full_pipeline: Path) -> None:
    app = submit(start_page(str(demo_full_pipeline)), DEMO_TEXT, [DEMO_QUESTION, SECOND_QUESTION])
    assert_no_exception(app)
    assert not app.error and not app.warning
    assert main_headers(app) == ["Entities", "Answers", "Translation", "Summary"]
    doc = run_directly(demo_full_pipeline, DEMO_TEXT, [DEMO_QUESTION, SECOND_QUESTION])

    (entity_markup,) = markdown_with(app, "<style>mark.entity")
    assert marks(entity_markup) == [(e.text, e.label_) for e in doc.ents]
    assert (DEMO_ENTITY, GADGET) in marks(entity_markup)

    answers = doc._.answers
    assert [a.question for a in answers] == [DEMO_QUESTION, SECOND_QUESTION]
    assert all(a.text for a in answers)  # the tiny model answers every question
    highlighted = [marks(m) for m in markdown_with(app, ">ANSWER</span>")]
    assert highlighted == [[(a.text, "ANSWER")] for a in answers]
    captions = [c.value for c in app.main.caption]
    for answer in answers:
        assert f"score {answer.score:.3f} · characters {answer.start}–{answer.end}" in captions

    (table,) = markdown_with(app, '<table class="translation">')
    expected_cells = [x for s in doc.sents for x in (s.text, s._.translation or "(empty)")]
    assert [html.unescape(cell) for cell in CELL.findall(table)] == expected_cells
    assert len(expected_cells) == 4  # two sentences

    assert doc._.summary  # the tiny random model writes something
    assert markdown_with(app, escape_markdown(doc._.summary))
    assert f"{len(doc._.summary.split())} words, {len(doc._.summary)} characters" in " ".join(captions)


def test_pipeline_without_a_component_hides_its_panel(start_page, demo_ner_pipeline: Path) -> None:
    app = submit(start_page(str(demo_ner_pipeline)), DEMO_TEXT)
    assert_no_exception(app)
    assert main_headers(app) == ["Entities"]
    assert [t.key for t in app.text_area] == ["text"]  # no questions box
    assert not markdown_with(app, "<table")
    (entity_markup,) = markdown_with(app, "<style>mark.entity")
    assert (DEMO_ENTITY, GADGET) in marks(entity_markup)


def test_pipeline_with_nothing_to_show_says_so(start_page, tmp_path: Path) -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.to_disk(tmp_path / "sentences-only")
    app = start_page(str(tmp_path / "sentences-only"))
    assert_no_exception(app)
    assert "has no component this page shows" in app.warning[0].value
    assert not app.text_area and main_headers(app) == []


def test_bad_input_gives_a_message_and_the_page_keeps_serving(start_page, demo_full_pipeline: Path) -> None:
    app = start_page(str(demo_full_pipeline))

    app = submit(app, "  \n ", [" "])
    assert [w.value for w in app.warning] == ["Type a text above and press Analyse."]
    assert main_headers(app) == []

    app = submit(app, "", [DEMO_QUESTION])
    assert "no context to answer the questions" in app.warning[0].value
    assert main_headers(app) == []

    long_text = ("Just got the Pixel 8 Pro, the camera is great. " * 2200)[:100_000]
    app = submit(app, long_text, [DEMO_QUESTION])
    (warning,) = [w.value for w in app.warning]
    assert "The text has 100,000 characters" in warning and f"limit is {DEFAULT_MAX_CHARS:,}" in warning
    assert main_headers(app) == ["Entities", "Answers", "Translation", "Summary"]
    (entity_markup,) = markdown_with(app, "<style>mark.entity")
    assert len(marks(entity_markup)) > 50  # one Pixel 8 Pro per sentence of the first 5,000 characters

    app = submit(app, DEMO_TEXT, [DEMO_QUESTION])
    assert not app.warning and not app.error
    (entity_markup,) = markdown_with(app, "<style>mark.entity")
    assert marks(entity_markup) == [(DEMO_ENTITY, GADGET)]
    assert_no_exception(app)


def test_bad_pipeline_path_shows_an_error(start_page, demo_ner_pipeline: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "model-best"
    app = start_page(str(missing))
    assert_no_exception(app)
    (error,) = [e.value for e in app.error]
    assert "does not exist" in error and str(missing) in error
    assert main_headers(app) == []

    not_a_pipeline = tmp_path / "empty"
    not_a_pipeline.mkdir()
    app.sidebar.text_input(key="other_pipeline").input(str(not_a_pipeline)).run()
    assert "is not a spaCy pipeline directory" in app.error[0].value

    app.sidebar.text_input(key="other_pipeline").input("no_such_pipeline_package").run()
    assert "Can't find model 'no_such_pipeline_package'" in app.error[0].value

    app.sidebar.text_input(key="other_pipeline").input(str(demo_ner_pipeline)).run()
    assert not app.error and main_headers(app) == ["Entities"]
    assert_no_exception(app)


def test_bad_command_line_shows_the_usage(start_page) -> None:
    app = start_page("--max-chars", "zero")
    assert_no_exception(app)
    (error,) = [e.value for e in app.error]
    assert "--max-chars" in error and "Usage: streamlit run scripts/demo.py --" in error


def test_no_pipeline_found_says_how_to_get_one(start_page, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spacy.util, "get_installed_models", lambda: [])
    app = start_page()
    assert_no_exception(app)
    assert "No pipeline found" in app.info[0].value


# -------------------------------------------------------- view functions


def test_cap_text_cuts_at_whitespace_and_says_so() -> None:
    assert cap_text("short text", 100) == ("short text", False)
    assert cap_text("aaaa bbbb cccc dddd eeee", 22) == ("aaaa bbbb cccc dddd", True)
    assert cap_text("aaaa bbbbbbbbbbbbbbbbbbbb", 12) == ("aaaa bbbbbbb", True)  # no whitespace near the end
    assert cap_text("x" * 20, 10) == ("x" * 10, True)
    with pytest.raises(ValueError, match="max_chars"):
        cap_text("text", 0)


def test_parse_questions_drops_blank_and_repeated_lines() -> None:
    assert parse_questions(" Who?\n\n  \nWhere? \nWho?\n") == ("Who?", "Where?")
    assert parse_questions("") == ()


def test_parse_args() -> None:
    options = parse_args(["a/model-best", "pkg_name", "--max-chars", "100", "--root", "proj"])
    assert options.pipelines == ("a/model-best", "pkg_name")
    assert (options.max_chars, options.root) == (100, Path("proj"))
    with pytest.raises(ValueError, match="--max-chars must be >= 1"):
        parse_args(["--max-chars", "0"])
    with pytest.raises(ValueError, match="unrecognized arguments: --help"):
        parse_args(["--help"])


def test_find_pipelines_lists_given_trained_and_installed(tmp_path: Path) -> None:
    for sub in ("training/en/ner/model-best", "training/qa/model/model-last", "training/half/model-best"):
        (tmp_path / sub).mkdir(parents=True)
    for sub in ("training/en/ner/model-best", "training/qa/model/model-last"):
        (tmp_path / sub / "config.cfg").write_text("")
    given = str(tmp_path / "training/en/ner/model-best")
    choices = find_pipelines(tmp_path, [given, "missing/dir"], ["en_pkg"])
    assert [(c.spec, c.origin) for c in choices] == [
        (given, "command line"),
        ("missing/dir", "command line"),
        (str(tmp_path / "training/qa/model/model-last"), "trained"),  # the one without config.cfg is left out
        ("en_pkg", "installed package"),
    ]


def test_load_pipeline_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_pipeline(str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="no config.cfg"):
        load_pipeline(str(tmp_path))
    with pytest.raises(ValueError, match="No pipeline given"):
        load_pipeline("  ")


def test_answer_html_highlights_the_answer_with_context() -> None:
    context = "word " * 100 + "Warsaw <b>&</b> " + "word " * 100
    start = context.index("Warsaw")
    answer = AnswerView("Where?", "Warsaw <b>&</b>", start, start + len("Warsaw <b>&</b>"), 0.5)
    markup = answer_html(context, answer, window=20)
    assert marks(markup) == [("Warsaw <b>&</b>", "ANSWER")]
    assert "<b>" not in markup  # the context is escaped
    assert markup.count("…") == 2 and markup.count("word") == 8  # 20 characters of context either side
    assert answer_html(context, AnswerView("Where?", "", 0, 0, 0.1)) == ""


def test_translation_html_escapes_and_marks_empty_translations() -> None:
    table = translation_html([SentencePair("<b>A & B</b>", "a e b"), SentencePair("Hola.", "")])
    assert CELL.findall(table) == ["&lt;b&gt;A &amp; B&lt;/b&gt;", "a e b", "Hola.", "(empty)"]
    assert "\n" not in table  # one Markdown line: Streamlit renders it as one HTML block


def test_analyse_matches_the_components(demo_full_pipeline: Path) -> None:
    nlp = spacy.load(demo_full_pipeline)
    tasks = pipeline_tasks(nlp)
    assert (tasks.entity_labels, tasks.question_answerer) == ((GADGET,), "question_answerer")
    assert (tasks.translation_field, tasks.summary_field) == ("translation", "summary")
    analysis = analyse(nlp, tasks, DEMO_TEXT, [DEMO_QUESTION])
    doc = run_directly(demo_full_pipeline, DEMO_TEXT, [DEMO_QUESTION])
    assert [(e.text, e.label) for e in analysis.entities] == [(e.text, e.label_) for e in doc.ents]
    assert [(a.text, a.start, a.end, a.score) for a in analysis.answers] == [
        (a.text, a.start, a.end, a.score) for a in doc._.answers
    ]
    assert [(p.source, p.translation) for p in analysis.translation] == [
        (s.text, s._.translation) for s in doc.sents
    ]
    assert analysis.summary.text == doc._.summary


def test_translation_without_sentences_is_one_pair(demo_full_pipeline: Path) -> None:
    nlp = spacy.load(demo_full_pipeline, exclude=["sentencizer"])
    doc = nlp(DEMO_TEXT)
    assert not doc.has_annotation("SENT_START")
    assert [(p.source, p.translation) for p in translation_pairs(doc, "translation")] == [
        (DEMO_TEXT, doc._.translation)
    ]


def test_entity_confidences_are_shown_where_the_pipeline_scores_them(start_page, demo_ner_pipeline: Path, tmp_path: Path) -> None:
    nlp = spacy.load(demo_ner_pipeline)
    nlp.add_pipe("entity_confidence")
    scored = tmp_path / "scored"
    nlp.to_disk(scored)
    app = submit(start_page(str(scored)), DEMO_TEXT)
    assert_no_exception(app)
    doc = spacy.load(scored)(DEMO_TEXT)
    assert doc.ents
    (table,) = app.table
    shown = table.value
    assert list(shown["entity"]) == [e.text for e in doc.ents]
    assert list(shown["confidence"]) == [f"{e._.confidence:.3f}" for e in doc.ents]
    # a pipeline without the component shows no table
    plain = submit(start_page(str(demo_ner_pipeline)), DEMO_TEXT)
    assert not plain.table
    # the rules' dictionary after ner: its entities name their pattern instead of a confidence
    word = next(t.text for t in doc if t.is_alpha and not t.ent_type_ and len(t.text) > 3)
    add_dictionary(nlp, [Pattern(GADGET, word, "my-pattern", 1)])
    nlp.to_disk(tmp_path / "with_dictionary")
    (table,) = submit(start_page(str(tmp_path / "with_dictionary")), DEMO_TEXT).table
    rows = dict(zip(table.value["entity"], table.value["confidence"]))
    assert rows[word] == "pattern my-pattern" and len(rows) == len(doc.ents) + 1
