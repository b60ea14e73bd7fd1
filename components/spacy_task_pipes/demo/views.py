"""What the demo page shows, computed from a pipeline and a ``Doc`` (no Streamlit here).

:func:`analyse` runs a pipeline on a text (and questions) and turns the processed
``Doc`` into an :class:`Analysis`: plain, picklable data (so the page can cache it),
read from the components' results: ``doc.ents``, ``doc._.answers``, the translator's
``doc._.<field>`` / ``span._.<field>`` per sentence and the summarizer's ``doc._.<field>``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

from spacy import displacy
from spacy.language import Language
from spacy.tokens import Doc, Span

from .pipelines import PipelineTasks

ANSWER_LABEL = "ANSWER"
ANSWER_COLOR = "#ffd166"
ANSWER_CONTEXT_CHARS = 150
"""Characters of context shown on either side of a highlighted answer."""
ELLIPSIS = "…"
EMPTY_TRANSLATION = "(empty)"


@dataclass(frozen=True)
class EntityView:
    text: str
    label: str
    start_char: int
    end_char: int
    confidence: Optional[float] = None  # set where the pipeline has the entity_confidence component
    pattern: str = ""  # the pattern id of an entity a rule component set (the rules' dictionary)


@dataclass(frozen=True)
class AnswerView:
    """One question's answer; ``text == context[start:end]``, empty for no answer."""

    question: str
    text: str
    start: int
    end: int
    score: float

    @property
    def is_empty(self) -> bool:
        return self.end <= self.start or not self.text


@dataclass(frozen=True)
class SentencePair:
    source: str
    translation: str


@dataclass(frozen=True)
class SummaryView:
    text: str
    n_words: int
    n_chars: int
    source_words: int

    @property
    def word_ratio(self) -> float:
        """Summary words per source word (0.0 for an empty source)."""
        return self.n_words / self.source_words if self.source_words else 0.0


@dataclass(frozen=True)
class Analysis:
    """Everything the page shows for one text; ``None`` where the pipeline has no
    component for that panel."""

    text: str
    entities: Optional[Tuple[EntityView, ...]] = None
    answers: Optional[Tuple[AnswerView, ...]] = None
    translation: Optional[Tuple[SentencePair, ...]] = None
    summary: Optional[SummaryView] = None


# ---------------------------------------------------------------------- input


def cap_text(text: str, max_chars: int) -> Tuple[str, bool]:
    """``(text, False)`` when it fits in ``max_chars``, else its first ``max_chars``
    characters cut back to the last whitespace (when there is one in the last fifth)
    and ``True``."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be >= 1, got {max_chars}.")
    if len(text) <= max_chars:
        return text, False
    head = text[:max_chars]
    cut = max(head.rfind(ch) for ch in " \t\n")
    if cut >= max_chars * 0.8:
        head = head[:cut]
    return head.rstrip(), True


def parse_questions(raw: str) -> Tuple[str, ...]:
    """One question per non-blank line, stripped, duplicates dropped, order kept."""
    return tuple(dict.fromkeys(line.strip() for line in raw.splitlines() if line.strip()))


# -------------------------------------------------------------------- analysis


def analyse(nlp: Language, tasks: PipelineTasks, text: str, questions: Sequence[str] = ()) -> Analysis:
    """Run ``nlp`` on ``text`` (with ``questions`` for its question answerer) and
    collect what each of its components produced."""
    doc = nlp.make_doc(text)
    if tasks.has_answers:
        doc._.questions = list(questions)
    doc = nlp(doc)
    return Analysis(
        text=doc.text,
        entities=entity_views(doc) if tasks.has_entities else None,
        answers=answer_views(doc) if tasks.has_answers else None,
        translation=translation_pairs(doc, tasks.translation_field) if tasks.translation_field else None,
        summary=summary_view(doc, tasks.summary_field) if tasks.summary_field else None,
    )


def entity_views(doc: Doc) -> Tuple[EntityView, ...]:
    scored = Span.has_extension("confidence")
    return tuple(
        EntityView(ent.text, ent.label_, ent.start_char, ent.end_char, ent._.confidence if scored else None, ent.ent_id_)
        for ent in doc.ents
    )


def answer_views(doc: Doc) -> Tuple[AnswerView, ...]:
    """``doc._.answers`` (set by the question answerer) as plain data."""
    return tuple(
        AnswerView(answer.question, answer.text, answer.start, answer.end, float(answer.score))
        for answer in doc._.answers
    )


def translation_pairs(doc: Doc, field: str) -> Tuple[SentencePair, ...]:
    """Source sentences next to their translations where the translator worked
    sentence by sentence (``span._.<field>`` set), else the whole text and
    ``doc._.<field>``."""
    if doc.has_annotation("SENT_START") and Span.has_extension(field):
        sentences = [sent for sent in doc.sents if sent.text.strip()]
        translated = [getattr(sent._, field) for sent in sentences]
        if any(t is not None for t in translated):
            return tuple(SentencePair(s.text, t or "") for s, t in zip(sentences, translated))
    return (SentencePair(doc.text, getattr(doc._, field) or ""),)


def summary_view(doc: Doc, field: str) -> SummaryView:
    summary = getattr(doc._, field) or ""
    return SummaryView(summary, len(summary.split()), len(summary), len(doc.text.split()))


# ------------------------------------------------------------------ rendering


def entities_displacy_data(analysis: Analysis) -> Dict[str, Any]:
    """The text and entities in displaCy's manual ``ent`` format (for ``visualize_ner``)."""
    ents = [{"start": e.start_char, "end": e.end_char, "label": e.label} for e in analysis.entities or ()]
    return {"text": analysis.text, "ents": ents, "title": None}


def answer_html(context: str, answer: AnswerView, window: int = ANSWER_CONTEXT_CHARS) -> str:
    """The answer highlighted as a displaCy span of the context, with ``window``
    characters of context on either side (cut at whitespace, ``…`` where cut).
    An empty answer gives ``""``."""
    if answer.is_empty:
        return ""
    first, last = _snippet_bounds(context, answer.start, answer.end, window)
    before = (ELLIPSIS + " " if first > 0 else "") + context[first : answer.start]
    after = context[answer.end : last] + (" " + ELLIPSIS if last < len(context) else "")
    text = before + context[answer.start : answer.end] + after
    start = len(before)
    data = {"text": text, "ents": [{"start": start, "end": start + answer.end - answer.start, "label": ANSWER_LABEL}], "title": None}
    rendered = displacy.render(data, style="ent", manual=True, options={"colors": {ANSWER_LABEL: ANSWER_COLOR}})
    return rendered.replace("\n", " ")  # Streamlit's Markdown breaks HTML on newlines


def _snippet_bounds(context: str, start: int, end: int, window: int) -> Tuple[int, int]:
    first = max(0, start - window)
    last = min(len(context), end + window)
    if first > 0 and not context[first - 1].isspace():  # in a word: start after its end
        space = context.find(" ", first, start)
        first = space + 1 if space != -1 else first
    if last < len(context) and not context[last].isspace():  # in a word: stop before it
        space = context.rfind(" ", end, last)
        last = space if space != -1 else last
    return first, last


def translation_html(pairs: Sequence[SentencePair]) -> str:
    """A two-column HTML table, source sentences next to their translations (escaped;
    an empty translation shows as "(empty)"). HTML rather than ``st.table``, whose
    cells are Markdown in recent Streamlit versions and plain text in older ones."""
    rows = "".join(
        f"<tr><td>{html.escape(p.source)}</td><td>{html.escape(p.translation) or EMPTY_TRANSLATION}</td></tr>"
        for p in pairs
    )
    return f'<table class="translation"><thead><tr><th>Source</th><th>Translation</th></tr></thead><tbody>{rows}</tbody></table>'


def escape_markdown(text: str) -> str:
    """``text`` shown literally by Streamlit's Markdown (HTML and Markdown characters escaped)."""
    escaped = html.escape(text, quote=False)
    return "".join("\\" + ch if ch in "\\`*_{}[]()#+-.!|~>$" else ch for ch in escaped)
