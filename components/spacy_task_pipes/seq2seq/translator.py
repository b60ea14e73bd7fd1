"""The ``translator`` factory: writes ``doc._.translation`` (field configurable).

Sentence mode (``sentence_mode = null``: on when the doc has sentence boundaries,
``true``: always, using a rule-based sentencizer on a copy where needed) translates
every sentence of every doc of a batch together, sets ``span._.translation`` on
each sentence and joins them with ``sentence_separator`` into ``doc._.translation``.
Without it the doc is translated whole, and a doc longer than
``max_input_length`` is cut on sentence (then token) boundaries into pieces that
fit, so nothing is silently truncated. Models: T5-style (``prefix``, e.g.
"translate Spanish to Portuguese: "), Marian (no prefix), and multilingual
checkpoints (``src_lang``/``tgt_lang``: mBART-50, M2M100, NLLB).
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Tuple

from spacy.tokens import Doc

from .base import Seq2SeqPipe, sentence_ranges
from .settings import TRANSLATOR_DEFAULTS, register_doc_field


# per doc: (doc translation, [(sentence start_char, end_char, translation)] in sentence mode)
TranslationT = Tuple[str, List[Tuple[int, int, str]]]



class Translator(Seq2SeqPipe):
    task_defaults: Dict[str, Any] = TRANSLATOR_DEFAULTS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        register_doc_field(self.field, span=True)

    def uses_sentences(self, doc: Doc) -> bool:
        mode = self.cfg["sentence_mode"]
        return doc.has_annotation("SENT_START") if mode is None else bool(mode)

    def plan(self, doc: Doc) -> List[Tuple[Optional[Tuple[int, int]], List[Tuple[int, int]]]]:
        """``[(sentence range or None, [piece ranges])]`` for one doc."""
        if self.uses_sentences(doc):
            return [(sent, self.split_to_fit(doc, [sent], pack=False)) for sent in sentence_ranges(doc)]
        whole = (0, len(doc.text))
        if self.input_length(doc.text) <= self.cfg["max_input_length"]:
            return [(None, [whole])]
        return [(None, self.split_to_fit(doc, sentence_ranges(doc), pack=True))]

    def predict(self, docs: Iterable[Doc]) -> List[TranslationT]:
        docs = list(docs)
        plans = self.plan_docs(docs, self.plan)
        texts: List[str] = []
        for doc, plan in zip(docs, plans):
            for _, pieces in plan or []:
                texts.extend(doc.text[s:e] for s, e in pieces)
        outputs = iter(self.generate_texts(texts))
        sep = self.cfg["sentence_separator"]
        results: List[TranslationT] = []
        for plan in plans:
            parts: List[str] = []
            sentences: List[Tuple[int, int, str]] = []
            for sent, pieces in plan or []:
                translated = sep.join(t for t in (next(outputs) for _ in pieces) if t)
                if sent is not None:
                    sentences.append((sent[0], sent[1], translated))
                if translated:
                    parts.append(translated)
            results.append((sep.join(parts), sentences))
        return results

    def set_annotations(self, docs: Iterable[Doc], results: List[TranslationT]) -> None:
        field = self.field
        for doc, (text, sentences) in zip(docs, results):
            setattr(doc._, field, text)
            for start, end, translated in sentences:
                span = doc.char_span(start, end)
                if span is not None:
                    setattr(span._, field, translated)
