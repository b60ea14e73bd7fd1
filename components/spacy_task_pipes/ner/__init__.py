"""Rule-bootstrapped NER: silver data from patterns, data conversion, augmentation, evaluation.

- :mod:`.bootstrap`: ``Matcher``/``PhraseMatcher`` patterns over raw text -> silver docs;
- :mod:`.convert`: JSONL offsets / tuples / CoNLL -> DocBin;
- :mod:`.augment`: the ``spacy_task_pipes.entity_swap.v1`` augmenter;
- :mod:`.evaluation`: P/R/F against gold, the rules baseline, a displaCy comparison page.

Imports: the shared ``io`` only (no transformers, no other sub-package).
"""

from . import augment  # noqa: F401  (registers the augmenter)
