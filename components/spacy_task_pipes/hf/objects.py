"""The Hugging Face objects a task layer holds: tokenizer, model and the settings they were
loaded with (the project's own small data class; spacy-transformers is not needed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict


@dataclass
class HFObjects:
    """A tokenizer and a task model (``None`` until the pipeline is initialized or loaded),
    with the ``tokenizer_config`` / ``transformer_config`` of the model block that
    :func:`~spacy_task_pipes.hf.loading.load_hf_objects` used at initialize."""

    tokenizer: Any = None
    transformer: Any = None
    tokenizer_config: Dict[str, Any] = field(default_factory=dict)
    transformer_config: Dict[str, Any] = field(default_factory=dict)

    @property
    def loaded(self) -> bool:
        return self.transformer is not None
