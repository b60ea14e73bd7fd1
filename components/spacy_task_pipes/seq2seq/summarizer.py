"""The ``summarizer`` factory: writes ``doc._.summary`` (field configurable).

The model input is ``prefix + text`` (e.g. "summarize: " for T5). A doc longer
than ``max_input_length`` tokens is cut on sentence boundaries (the doc's own, or
a rule-based sentencizer's on a copy) into chunks that fit; all chunks of all docs
of a batch are summarized together and each doc's partial summaries are joined.
Where the joined text is still longer than ``max_input_length`` it is chunked and
summarized again, at most ``max_summary_rounds`` rounds in all.
"""

from __future__ import annotations

import warnings
from typing import Any, Dict, Iterable, List

from spacy.tokens import Doc

from .base import CharRange, Seq2SeqPipe, sentence_ranges
from .settings import SUMMARIZER_DEFAULTS



class Summarizer(Seq2SeqPipe):
    task_defaults: Dict[str, Any] = SUMMARIZER_DEFAULTS

    def chunk_ranges(self, doc: Doc) -> List[CharRange]:
        """Character ranges of the chunks summarized in the first round."""
        if self.input_length(doc.text) <= self.cfg["max_input_length"]:
            return [(0, len(doc.text))]
        return self.split_to_fit(doc, sentence_ranges(doc), pack=True)

    def predict(self, docs: Iterable[Doc]) -> List[str]:
        docs = list(docs)
        chunks = self.plan_docs(docs, lambda doc: [doc.text[s:e] for s, e in self.chunk_ranges(doc)])
        summaries = ["" for _ in docs]
        active = [i for i, c in enumerate(chunks) if c]
        rounds = max(int(self.cfg["max_summary_rounds"]), 1)
        for round_no in range(1, rounds + 1):
            texts = [t for i in active for t in chunks[i]]
            outputs = iter(self.generate_texts(texts))
            still_long = []
            for i in active:
                partials = [p for p in (next(outputs) for _ in chunks[i]) if p]
                summaries[i] = " ".join(partials)
                if len(partials) > 1 and self.input_length(summaries[i]) > self.cfg["max_input_length"]:
                    still_long.append(i)
            if not still_long:
                break
            if round_no == rounds:
                warnings.warn(
                    f"[{self.name}] {len(still_long)} doc(s) still have a combined summary longer "
                    f"than max_input_length after max_summary_rounds={rounds}; raise "
                    "max_summary_rounds or lower max_new_tokens."
                )
                break
            for i in still_long:
                chunks[i] = self._rechunk(summaries[i])
            active = still_long
        return summaries

    def _rechunk(self, text: str) -> List[str]:
        words = text.split()
        doc = Doc(self.vocab, words=words)
        ranges = sentence_ranges(doc)
        return [doc.text[s:e] for s, e in self.split_to_fit(doc, ranges, pack=True)]

    def set_annotations(self, docs: Iterable[Doc], summaries: List[str]) -> None:
        for doc, summary in zip(docs, summaries):
            setattr(doc._, self.field, summary)
