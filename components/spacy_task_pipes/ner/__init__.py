"""Rule-bootstrapped NER: silver data from patterns, data conversion, augmentation, evaluation.

- :mod:`.bootstrap`: ``Matcher``/``PhraseMatcher`` patterns over raw text -> silver docs;
- :mod:`.convert`: JSONL offsets / tuples / CoNLL -> DocBin;
- :mod:`.augment`: the ``spacy_task_pipes.entity_swap.v1`` augmenter;
- :mod:`.evaluation`: P/R/F against gold, the rules baseline, confidence thresholds, a displaCy comparison page;
- :mod:`.confidence`: a confidence per predicted entity (the ``entity_confidence`` component);
- :mod:`.self_training`: relabel the raw texts with a trained model (teacher) for the next round;
- :mod:`.loggers`: ``spacy_task_pipes.ConsoleLogger.v1`` (a JSONL training log written line by line);
- :mod:`.silver`: the rules as a pipeline component (``silver_ruler``);
- :mod:`.bootstrap_job`: bootstrap a corpus of any size, the rule pipeline run by the annotate job;
- :mod:`.shards`: ``spacy_task_pipes.ShardCorpus.v1``, training from shard folders with bounded memory.

Imports: the shared ``io``; ``annotate``'s public API and the safe loader (``safety``) in
:mod:`.bootstrap_job` only (no transformers; nothing imports ``ner`` back).
"""

from . import augment  # noqa: F401  (registers the augmenter)
