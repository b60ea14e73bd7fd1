"""Shared Hugging Face plumbing for the transformer-backed components.

- :mod:`.objects`: :class:`HFObjects`, the tokenizer and model a shim holds;
- :mod:`.loading`: tokenizer + task model from a hub name or a local folder (initialize), and
  to/from ``{file name: bytes}``;
- :mod:`.model_files`: the saved files of a task model, read by name within limits, checked
  against the config before anything is built (safetensors, no code run, partial weights refused);
- :mod:`.tokenizers`: tokenizers built from local files for any transformers version, and the
  check that a tokenizer can encode the text it is given;
- :mod:`.shim`: :class:`SafetensorsHFShim` (the project's shim on thinc's ``PyTorchShim``) and
  :func:`create_hf_task_layer`;
- :mod:`.serialization`: :class:`HFPipeSerializationMixin` (atomic ``to_disk``);
- :mod:`.batching`: length-sorted batching and padding;
- :mod:`.inference`: CPU inference with int8 weights, ONNX Runtime or CTranslate2
  (``quantize``/``backend`` of the model block);
- :mod:`.optimizer`: ``spacy_task_pipes.AdamW.v1`` (:class:`TorchAdamW`), torch's ``AdamW`` as the
  Hugging Face ``Trainer`` runs it (global-norm clipping, no decay for biases and norms);
- :mod:`.dropout`: :class:`TrainingDropout`, the dropout a task model trains with (its config's, or
  ``training.dropout`` with ``use_training_dropout``);
- :mod:`.training`: the ``spacy_task_pipes.fit_to_step_budget.v1`` callback.

Imports: nothing of this package but the shared ``io`` and ``safety`` (the keys and files that
mean code). The other sub-packages import
the names re-exported here.
"""

from .objects import HFObjects
from .model_files import refuse_code_files, find_code_keys, DirModelFiles, BytesModelFiles
from .loading import TOKENIZER_LOAD_KEYS, refuse_code_settings, tokenizer_load_kwargs, hub_reachable, check_model_available, load_hf_objects, hf_to_files, hf_from_files, read_model_dir, write_files_dir
from .tokenizers import check_tokenizer, example_texts, wordpiece_tokenizer, t5_tokenizer
from .dropout import DROPOUT_CONFIG_KEYS, TrainingDropout, config_dropout, set_dropout
from .optimizer import NO_DECAY_PATTERNS, TorchAdamW, create_adamw, decay_parameter_names
from .shim import autocast_dtype, SafetensorsHFShim, bind_component, create_hf_task_layer, initialize_hf_task_layer, get_hf_shim
from .inference import QUANTIZE_VALUES, BACKENDS, OnnxRuntimeRunner, ctranslate2_generate, quantize_torch_int8
from .batching import batches_by_length, pad_features, release_device_memory
from .serialization import HFPipeSerializationMixin
from .training import fit_training_to_steps, create_fit_to_step_budget, training_schedule

__all__ = [
    "BACKENDS",
    "BytesModelFiles",
    "DirModelFiles",
    "HFObjects",
    "check_tokenizer",
    "example_texts",
    "find_code_keys",
    "t5_tokenizer",
    "wordpiece_tokenizer",
    "OnnxRuntimeRunner",
    "QUANTIZE_VALUES",
    "ctranslate2_generate",
    "quantize_torch_int8",
    "DROPOUT_CONFIG_KEYS",
    "TrainingDropout",
    "config_dropout",
    "set_dropout",
    "HFPipeSerializationMixin",
    "NO_DECAY_PATTERNS",
    "TorchAdamW",
    "create_adamw",
    "decay_parameter_names",
    "SafetensorsHFShim",
    "TOKENIZER_LOAD_KEYS",
    "autocast_dtype",
    "batches_by_length",
    "check_model_available",
    "create_fit_to_step_budget",
    "create_hf_task_layer",
    "fit_training_to_steps",
    "get_hf_shim",
    "bind_component",
    "hf_from_files",
    "hf_to_files",
    "hub_reachable",
    "initialize_hf_task_layer",
    "load_hf_objects",
    "pad_features",
    "read_model_dir",
    "refuse_code_files",
    "refuse_code_settings",
    "release_device_memory",
    "tokenizer_load_kwargs",
    "training_schedule",
    "write_files_dir",
]
