"""Sequence-to-sequence components: one shared base for the ``translator`` and ``summarizer``.

- :mod:`.factories`: the ``translator`` and ``summarizer`` factories (light: torch and
  transformers are imported when a pipe is built), :mod:`.settings`: their defaults;
- :mod:`.base`: the ``spacy_task_pipes.Seq2SeqLM.v1`` architecture and :class:`Seq2SeqPipe`
  (splitting, batched generation, training);
- :mod:`.translator`, :mod:`.summarizer`: the two pipes and how they write to the ``Doc``;
- :mod:`.data`: pair readers (parallel text, TSV/JSONL/CSV, DocBin) and BLEU/chrF/ROUGE scorers.

Imports: ``hf`` and the shared ``io``; no other sub-package.
"""

from . import data, factories  # noqa: F401  (registers factories, readers, scorers; no torch)
