"""The project's shim on thinc's ``PyTorchShim`` for the task models (question answering,
translation, summarization), and the thinc layer around it.

:class:`SafetensorsHFShim` holds an :class:`~.objects.HFObjects` (tokenizer + task model) and
gives thinc what spacy-transformers' ``HFShim`` gave, without depending on it:

- serialization as safetensors weights plus config and tokenizer files (:mod:`.model_files`),
  bytes and folders, never pickle, never ``from_pretrained`` on a pipeline's files;
- fp16/bf16 CUDA autocast for training and inference, thinc's ``PyTorchGradScaler`` with
  ``grad_scaler_config`` (on by default with mixed precision);
- the CPU inference runners (:mod:`.inference`);
- thread safety: inference never flips the model between train and eval mode (thinc's
  ``predict`` does, which turns dropout on under a concurrent caller), and each thread gets
  its own copy of a fast tokenizer (they are not safe to share: "Already borrowed").
"""

from __future__ import annotations

import copy
import threading
import warnings
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import numpy
import srsly
import torch
from thinc.api import ArgsKwargs, Model, PyTorchGradScaler, PyTorchShim, torch2xp, xp2torch
from thinc.layers.pytorchwrapper import forward as pytorch_forward
from transformers import AutoConfig, AutoModel, AutoTokenizer

from .inference import (
    InferenceRunnerCache,
    build_ctranslate2_translator,
    build_onnxruntime_runner,
    check_inference_settings,
    quantize_torch_int8,
    require_backend,
)
from .loading import hf_from_files, hf_to_files, load_hf_objects, refuse_code_settings
from .model_files import ModelFiles
from .objects import HFObjects
from .optimizer import TorchAdamW


_AUTOCAST_DTYPES = {"float16": torch.float16, "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


def autocast_dtype(name: str) -> "torch.dtype":
    if name not in _AUTOCAST_DTYPES:
        raise ValueError(
            f"Unknown mixed_precision_dtype {name!r}: use \"float16\" or \"bfloat16\" "
            "in the model block of the config."
        )
    return _AUTOCAST_DTYPES[name]


class SafetensorsHFShim(PyTorchShim):
    """A task model (tokenizer + transformers model) as a thinc shim (see the module docstring).

    With ``mixed_precision`` the forward passes run under CUDA autocast in
    ``autocast_dtype`` (fp16 as in thinc, or bf16); on CPU autocast is off.
    """

    autocast_dtype: "torch.dtype" = torch.float16
    # CPU inference settings (see .inference): int8 weights and/or another runtime
    quantize: Optional[str] = None
    backend: str = "torch"
    backends: Tuple[str, ...] = ("torch",)
    output_names: Tuple[str, ...] = ()
    # How messages name the config block of this model: "[components.NAME.model]" once a
    # component owns it (bind_component), else the architecture's block
    block: str = "the model block"
    _weights_version: int = 0
    _runner_cache: Optional[InferenceRunnerCache] = None
    _warned_gpu: bool = False

    def __init__(
        self,
        hf: HFObjects,
        *,
        mixed_precision: bool = False,
        grad_scaler_config: Optional[Mapping[str, Any]] = None,
        config_cls=AutoConfig,
        model_cls=AutoModel,
        tokenizer_cls=AutoTokenizer,
    ) -> None:
        self._hfmodel = hf
        self.config_cls = config_cls
        self.model_cls = model_cls
        self.tokenizer_cls = tokenizer_cls
        scaler = dict(grad_scaler_config or {})
        scaler.setdefault("enabled", mixed_precision)
        super().__init__(hf.transformer, None, None, mixed_precision, grad_scaler=PyTorchGradScaler(**scaler))
        self._local = threading.local()
        self._lock = threading.RLock()

    # ------------------------------------------------------------ objects

    @property
    def hf_objects(self) -> HFObjects:
        return self._hfmodel

    @property
    def has_transformer(self) -> bool:
        return self._hfmodel.transformer is not None

    @property
    def tokenizer(self) -> Any:
        """The tokenizer for the calling thread: the shim's own in the thread that loaded it,
        a private copy in any other (a fast tokenizer is not safe to share between threads)."""
        base = self._hfmodel.tokenizer
        if base is None:
            return None
        local = self._local
        if getattr(local, "base", None) is not base:
            if threading.get_ident() == getattr(self, "_owner", None) or not getattr(base, "is_fast", False):
                local.copy = base  # slow (Python/SentencePiece) tokenizers hold no Rust borrow
            else:
                with self._lock:
                    local.copy = copy.deepcopy(base)
            local.base = base
        return local.copy

    def check_settings(self) -> None:
        """Refuse code-running tokenizer/transformer settings and inference settings this
        model cannot use (with the install line of a missing backend), naming ``block``."""
        refuse_code_settings(self._hfmodel.tokenizer_config, f"{self.block} tokenizer_config")
        refuse_code_settings(self._hfmodel.transformer_config, f"{self.block} transformer_config")
        check_inference_settings(self.quantize, self.backend, self.backends, self.block)
        require_backend(self.backend, self.block)

    def set_hf_objects(self, hf: HFObjects) -> None:
        with self._lock:
            self._hfmodel = hf
            self._model = hf.transformer
            self._owner = threading.get_ident()
            self._weights_version += 1
            if hf.transformer is not None:
                self._grad_scaler.to_(self.device)

    def __getstate__(self) -> Dict[str, Any]:  # copy.deepcopy / pickle: no thread state
        state = dict(self.__dict__)
        state.pop("_local", None)
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()
        self._lock = threading.RLock()

    # ------------------------------------------------------------ inference runners

    @property
    def uses_cpu_runner(self) -> bool:
        """Whether inference runs on the int8 / ONNX Runtime / CTranslate2 runner: the
        settings ask for one and the float model is loaded on the CPU."""
        if (self.quantize is None and self.backend == "torch") or self._model is None:
            return False
        if self.device.type != "cpu":
            if not self._warned_gpu:
                warnings.warn(
                    f"quantize = {self.quantize!r} / backend = {self.backend!r} are CPU "
                    "inference settings: on the GPU the float PyTorch model runs."
                )
                self._warned_gpu = True
            return False
        return True

    def inference_runner(self, input_names: Tuple[str, ...] = ()) -> Any:
        """The runner for the current weights (built on first use, after a load or an
        update, and once per process): a quantized copy of the torch model, an
        :class:`OnnxRuntimeRunner` or a ``ctranslate2.Translator``."""
        with self._lock:
            if self._runner_cache is None:
                self._runner_cache = InferenceRunnerCache()
            model, tokenizer = self._model, self._hfmodel.tokenizer

            def build() -> Any:
                if self.backend == "onnxruntime":
                    return build_onnxruntime_runner(model, input_names, self.output_names, self.quantize)
                if self.backend == "ctranslate2":
                    return build_ctranslate2_translator(model, tokenizer, self.quantize)
                return quantize_torch_int8(model)

            return self._runner_cache.get((self._weights_version, input_names), build)

    # ------------------------------------------------------------ forward passes

    def predict(self, inputs: ArgsKwargs) -> Any:
        if self.uses_cpu_runner:
            runner = self.inference_runner(tuple(inputs.kwargs))
            with torch.inference_mode():
                return runner(*inputs.args, **inputs.kwargs)
        model = self._model
        if model.training:  # once; never flipped back here (a concurrent caller would get dropout)
            with self._lock:
                model.eval()
        with torch.inference_mode(), torch.autocast(
            "cuda", dtype=self.autocast_dtype, enabled=self._mixed_precision
        ):
            return model(*inputs.args, **inputs.kwargs)

    def begin_update(self, inputs: ArgsKwargs):
        # thinc's inner autocast takes its dtype from this outer context
        with torch.autocast("cuda", dtype=self.autocast_dtype, enabled=self._mixed_precision):
            output, backprop = super().begin_update(inputs)
        if not self._grad_scaler._enabled:
            return output, backprop

        def backprop_unscaling_new_gradients(grads):
            # thinc's backprop unscales every parameter's .grad after its backward pass, so the
            # gradients of an earlier backprop of the same step (the components run a step in
            # chunks) would be divided by the scale again: hold them aside, add them back after
            held = [(p, p.grad) for p in self._model.parameters() if p.grad is not None]
            for p, _ in held:
                p.grad = None
            try:
                return backprop(grads)
            finally:
                for p, grad in held:
                    if p.grad is None:
                        p.grad = grad
                    else:
                        p.grad.add_(grad)

        return output, backprop_unscaling_new_gradients

    def finish_update(self, optimizer) -> None:
        """Apply the gradients: with :class:`~.optimizer.TorchAdamW`
        (``spacy_task_pipes.AdamW.v1``) as ``torch.optim.AdamW`` with global-norm clipping over
        this model's parameters, as the Hugging Face ``Trainer`` does; with any other thinc
        optimizer tensor by tensor, as thinc's ``PyTorchShim`` does. Either way an fp16 step
        whose gradients overflowed is skipped and the gradients are zeroed."""
        if isinstance(optimizer, TorchAdamW) and self._model is not None:
            optimizer.step_module(self.id, self._model, self._grad_scaler)
            self._grad_scaler.update()
        else:
            super().finish_update(optimizer)
        self._weights_version += 1

    # ------------------------------------------------------------ serialization

    def to_files(self) -> Dict[str, bytes]:
        if not self.has_transformer:
            raise ValueError(
                "The transformer is not loaded yet, so there is nothing to save. "
                "Call nlp.initialize() (or load a saved pipeline) first."
            )
        return hf_to_files(self._hfmodel)

    def from_files(self, files: "Mapping[str, bytes] | ModelFiles", source: str = "serialized data"):
        self.check_settings()
        hf = hf_from_files(
            files,
            model_cls=self.model_cls,
            tokenizer_cls=self.tokenizer_cls,
            tokenizer_config=self._hfmodel.tokenizer_config,
            source=source,
        )
        hf.tokenizer_config = self._hfmodel.tokenizer_config
        hf.transformer_config = self._hfmodel.transformer_config
        self.set_hf_objects(hf)
        return self

    def to_bytes(self) -> bytes:
        msg = {
            "files": self.to_files() if self.has_transformer else {},
            "_init_tokenizer_config": dict(self._hfmodel.tokenizer_config),
            "_init_transformer_config": dict(self._hfmodel.transformer_config),
        }
        return srsly.msgpack_dumps(msg)

    def from_bytes(self, bytes_data: bytes):
        msg = srsly.msgpack_loads(bytes_data)
        if not isinstance(msg, dict) or "files" not in msg:
            raise ValueError(
                "These model bytes were not written by SafetensorsHFShim (no 'files' "
                "entry; possibly a torch.save/pickle payload, which is refused). "
                "Re-save the pipeline with spacy_task_pipes."
            )
        self._hfmodel = HFObjects(
            self._hfmodel.tokenizer,
            self._hfmodel.transformer,
            dict(msg.get("_init_tokenizer_config") or {}),
            dict(msg.get("_init_transformer_config") or {}),
        )
        if msg["files"]:
            self.from_files(msg["files"])
        return self


def _convert_inputs(model: Model, X: Mapping[str, Any], is_train: bool):
    """Features dict (numpy/cupy int arrays or torch tensors) -> kwargs on the model's device."""
    device = model.shims[0].device
    kwargs = {}
    for key, value in X.items():
        if isinstance(value, torch.Tensor):
            kwargs[key] = value.to(device)
        elif isinstance(value, numpy.ndarray):
            kwargs[key] = torch.from_numpy(value).to(device)
        else:
            kwargs[key] = xp2torch(value, device=device)
    return ArgsKwargs(args=(), kwargs=kwargs), lambda dX: []


def create_hf_task_layer(
    name: str,
    *,
    tokenizer_config: Mapping[str, Any],
    transformer_config: Mapping[str, Any],
    output_names: Sequence[str],
    mixed_precision: bool = False,
    mixed_precision_dtype: str = "float16",
    grad_scaler_config: Optional[dict] = None,
    config_cls=AutoConfig,
    model_cls=AutoModel,
    tokenizer_cls=AutoTokenizer,
    new_head: bool = False,
    quantize: Optional[str] = None,
    backend: str = "torch",
    backends: Sequence[str] = ("torch",),
    architecture: str = "",
) -> Model:
    """A thinc layer around a (not yet loaded) HF task model.

    The forward pass takes a dict of model inputs and returns the tuple of the
    named outputs (e.g. ``("start_logits", "end_logits")``) as float32 xp arrays;
    its backprop takes a tuple of gradients of the same shapes.
    Weights are loaded by :func:`initialize_hf_task_layer` or by deserialization;
    ``new_head`` lets initialize start task-head weights that the model lacks;
    ``quantize`` and ``backend`` (one of ``backends``) choose how inference runs on the CPU
    (:mod:`.inference`). The settings are checked when a component takes the layer
    (:func:`bind_component`, whose messages name ``[components.NAME.model]``), and again at
    initialize and load; without a component, messages name the block by ``architecture``.
    """
    block = f'the model block (@architectures = "{architecture}")' if architecture else "the model block"

    def convert_outputs(model: Model, inputs_outputs, is_train: bool):
        _, output = inputs_outputs
        tensors = tuple(output[key] for key in output_names)
        Y = tuple(torch2xp(t.detach().float()) for t in tensors)

        def backprop(dY):
            grads = tuple(xp2torch(d, device=t.device).to(t.dtype) for d, t in zip(dY, tensors))
            return ArgsKwargs(args=(tensors,), kwargs={"grad_tensors": grads})

        return Y, backprop

    hf = HFObjects(None, None, dict(tokenizer_config), dict(transformer_config))
    shim = SafetensorsHFShim(
        hf,
        mixed_precision=mixed_precision,
        grad_scaler_config=grad_scaler_config,
        config_cls=config_cls,
        model_cls=model_cls,
        tokenizer_cls=tokenizer_cls,
    )
    shim.autocast_dtype = autocast_dtype(mixed_precision_dtype)
    shim.quantize, shim.backend, shim.output_names = quantize, backend, tuple(output_names)
    shim.backends, shim.block = tuple(backends), block
    return Model(
        "hf-task-pytorch",
        pytorch_forward,
        attrs={
            "name": name,
            "convert_inputs": _convert_inputs,
            "convert_outputs": convert_outputs,
            "new_head": bool(new_head),
        },
        shims=[shim],
    )


def bind_component(model: Model, component: str) -> None:
    """Name the config block of ``model``'s task layer after the component that owns it
    (``[components.NAME.model]``) in every message, and check its settings: a backend
    whose package is missing fails here, when the pipeline is built or loaded."""
    shim = get_hf_shim(model)
    shim.block = f"[components.{component}.model]"
    shim.check_settings()


def initialize_hf_task_layer(layer: Model, setting: Optional[str] = None) -> None:
    """Load the weights named by ``layer.attrs['name']`` unless already loaded; messages
    name ``setting`` (default: the ``name`` of the block :func:`bind_component` set)."""
    shim: SafetensorsHFShim = layer.shims[0]
    if shim.has_transformer:
        return
    shim.check_settings()
    setting = setting or f"{shim.block} name"
    hf = load_hf_objects(
        layer.attrs["name"],
        shim._hfmodel.tokenizer_config,
        shim._hfmodel.transformer_config,
        config_cls=shim.config_cls,
        model_cls=shim.model_cls,
        tokenizer_cls=shim.tokenizer_cls,
        setting=setting,
        new_head=layer.attrs.get("new_head", False),
    )
    shim.set_hf_objects(hf)


def get_hf_shim(model: Model) -> SafetensorsHFShim:
    for node in model.walk():
        for shim in node.shims:
            if isinstance(shim, SafetensorsHFShim):
                return shim
    raise ValueError(f"Model '{model.name}' has no SafetensorsHFShim layer.")
