"""spaCy task pipes: rule-bootstrapped NER tooling and transformer-backed components.

Everything a config can name is registered in submodules and exposed through the
entry points in ``pyproject.toml``, so ``spacy train``/``spacy.load`` find it
without ``--code``.
"""

__version__ = "0.1.0"
