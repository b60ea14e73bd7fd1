"""Sequence-to-sequence components: one shared base for the ``translator`` and ``summarizer``.

- :mod:`.base`: the ``spacy_task_pipes.Seq2SeqLM.v1`` architecture and :class:`Seq2SeqPipe`
  (splitting, batched generation, training);
- :mod:`.translator`, :mod:`.summarizer`: the two factories and how they write to the ``Doc``;
- :mod:`.data`: pair readers (parallel text, TSV/JSONL/CSV, DocBin) and BLEU/chrF/ROUGE scorers.

Imports: ``hf`` and the shared ``io``; no other sub-package.
"""

from . import base, data, summarizer, translator  # noqa: F401  (registers factories, readers, scorers)
