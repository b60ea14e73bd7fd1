"""spaCy task pipes: rule-bootstrapped NER tooling and transformer-backed components.

Everything a config can name is registered in submodules and exposed through the
entry points in ``pyproject.toml``, so ``spacy train``/``spacy.load`` find it
without ``--code``.

Importing the package also makes forked worker processes safe for the transformer
components (``nlp.pipe(docs, n_process=2)`` forks on Linux):

- PyTorch's CPU ops run on an OpenMP thread pool (GNU libgomp in the PyPI wheels).
  libgomp is not fork-safe: once the parent has run an op on more than one thread, a
  forked child that starts a parallel region waits forever on the pool's dead
  threads. The child therefore switches to one intra-op thread right after the fork
  (one thread per worker process is also the fastest split of the cores).
- The Rust tokenizers disable their own thread pool in a forked child but print a
  warning about possible deadlocks; where ``tokenizers`` is loaded,
  ``TOKENIZERS_PARALLELISM=false`` is set around the fork (restored in the parent,
  kept in the child) so the child is configured explicitly and quiet.

The parent keeps its thread count and (right after the fork) its environment. Spawned
or forkserver workers start fresh and are not affected.
"""

import os
import sys
from typing import List, Optional

__version__ = "0.1.0"

_TOKENIZERS_PARALLELISM = "TOKENIZERS_PARALLELISM"
_saved_parallelism: List[Optional[str]] = []


def _tokenizers_loaded() -> bool:
    return "tokenizers" in sys.modules  # not imported: no pool, nothing to configure


def _before_fork() -> None:
    """Mark tokenizers' parallelism as configured for the fork (restored in the parent)."""
    previous = os.environ.get(_TOKENIZERS_PARALLELISM)
    _saved_parallelism.append(previous)
    if previous is None and _tokenizers_loaded():
        os.environ[_TOKENIZERS_PARALLELISM] = "false"


def _after_fork_in_parent() -> None:
    previous = _saved_parallelism.pop() if _saved_parallelism else None
    if previous is None:
        os.environ.pop(_TOKENIZERS_PARALLELISM, None)


def _after_fork_in_child() -> None:
    """Leave the parent's thread pools alone: one torch thread, serial tokenizers."""
    _saved_parallelism.clear()
    if _tokenizers_loaded():
        os.environ[_TOKENIZERS_PARALLELISM] = "false"
    torch = sys.modules.get("torch")  # not imported: no pool can exist
    if torch is not None and torch.get_num_threads() > 1:
        torch.set_num_threads(1)


os.register_at_fork(
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)
