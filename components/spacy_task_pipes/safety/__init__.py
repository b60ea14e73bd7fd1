"""Loading a pipeline someone handed you: inspect it, refuse what would run code or reach
outside it, then load it (:func:`safe_load`).

Imports: nothing of this package but the shared ``io``/``cli`` (and the light
:mod:`spacy_task_pipes.hf.model_files` constants are repeated here, not imported, so that
inspecting a pipeline imports neither torch nor transformers).
"""

from .pipelines import (
    ALLOWED_CALLBACKS,
    Finding,
    UnsafePipelineError,
    inspect_pipeline,
    pipeline_dir,
    safe_load,
)

__all__ = [
    "ALLOWED_CALLBACKS",
    "Finding",
    "UnsafePipelineError",
    "inspect_pipeline",
    "pipeline_dir",
    "safe_load",
]
