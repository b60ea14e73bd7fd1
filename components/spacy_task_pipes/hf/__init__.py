"""Shared Hugging Face plumbing for the transformer-backed components.

- :mod:`.loading`: tokenizer + task model from a hub name or a local folder, and to/from
  ``{file name: bytes}`` (safetensors, no code run, partial weights refused);
- :mod:`.shim`: :class:`SafetensorsHFShim` and :func:`create_hf_task_layer`;
- :mod:`.serialization`: :class:`HFPipeSerializationMixin` (atomic ``to_disk``);
- :mod:`.batching`: length-sorted batching and padding;
- :mod:`.inference`: CPU inference with int8 weights, ONNX Runtime or CTranslate2
  (``quantize``/``backend`` of the model block);
- :mod:`.training`: the ``spacy_task_pipes.fit_to_step_budget.v1`` callback.

Imports: nothing of this package but the shared ``io``. The other sub-packages import
the names re-exported here.
"""

from .loading import TOKENIZER_LOAD_KEYS, refuse_code_settings, tokenizer_load_kwargs, refuse_code_files, hub_reachable, check_model_available, load_hf_objects, hf_to_files, hf_from_files, read_files_dir, write_files_dir
from .shim import autocast_dtype, SafetensorsHFShim, create_hf_task_layer, initialize_hf_task_layer, get_hf_shim
from .inference import QUANTIZE_VALUES, BACKENDS, OnnxRuntimeRunner, ctranslate2_generate, quantize_torch_int8
from .batching import batches_by_length, pad_features, release_device_memory
from .serialization import HFPipeSerializationMixin
from .training import fit_training_to_steps, create_fit_to_step_budget

__all__ = [
    "BACKENDS",
    "OnnxRuntimeRunner",
    "QUANTIZE_VALUES",
    "ctranslate2_generate",
    "quantize_torch_int8",
    "HFPipeSerializationMixin",
    "SafetensorsHFShim",
    "TOKENIZER_LOAD_KEYS",
    "autocast_dtype",
    "batches_by_length",
    "check_model_available",
    "create_fit_to_step_budget",
    "create_hf_task_layer",
    "fit_training_to_steps",
    "get_hf_shim",
    "hf_from_files",
    "hf_to_files",
    "hub_reachable",
    "initialize_hf_task_layer",
    "load_hf_objects",
    "pad_features",
    "read_files_dir",
    "refuse_code_files",
    "refuse_code_settings",
    "release_device_memory",
    "tokenizer_load_kwargs",
    "write_files_dir",
]
