"""CPU inference settings of the task models: int8 weights and faster runtimes.

``[components.<name>.model]`` takes two settings (both inference only; training and the saved
weights always use the float model):

- ``quantize``: ``null`` (float32, the default) or ``"int8"`` (int8 weights, float activations);
- ``backend``: ``"torch"`` (the default), ``"onnxruntime"`` (encoder models: question answering)
  or ``"ctranslate2"`` (encoder-decoder models: translation, summarization).

With ``backend = "torch"`` and ``quantize = "int8"`` the ``nn.Linear`` layers of a copy of the
model are quantized with PyTorch dynamic quantization. The other backends build their own
model from the float weights in memory (ONNX export, or CTranslate2's converter), quantized
by that runtime. Nothing new is saved: the runner is built when it is first needed, after a
load or after the weights changed, and in each process (a runner made before a ``fork`` is
not reused by the child). On a GPU the float PyTorch model runs and the settings are ignored
(with one warning).
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import io
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

QUANTIZE_VALUES = (None, "int8")
BACKENDS = ("torch", "onnxruntime", "ctranslate2")
# The modules each backend needs, the requirements that install them (as in the cpu-fast
# extra of pyproject.toml) and that extra.
_BACKEND_PACKAGES = {"onnxruntime": ("onnxruntime", "onnx"), "ctranslate2": ("ctranslate2",)}
BACKEND_REQUIREMENTS = {"onnxruntime": ("onnxruntime>=1.17", "onnx>=1.15"), "ctranslate2": ("ctranslate2>=4.0",)}
EXTRA = "cpu-fast"


def check_inference_settings(quantize: Optional[str], backend: str, allowed: Sequence[str], block: str) -> None:
    """A clear error for a ``quantize``/``backend`` value this model cannot use."""
    if quantize not in QUANTIZE_VALUES:
        raise ValueError(f"{block} quantize = {quantize!r}: use null (float32) or \"int8\".")
    if backend not in allowed:
        choices = ", ".join(f'"{name}"' for name in allowed)
        raise ValueError(f"{block} backend = {backend!r}: this model runs on {choices}.")


def require_backend(backend: str, block: str) -> None:
    """Import check with the install line, at load time rather than at the first doc. The
    package is on no index: from a clone its extra installs the backend, elsewhere the
    backend's own requirements do."""
    for module in _BACKEND_PACKAGES.get(backend, ()):
        try:
            __import__(module)
        except ImportError as err:
            requirements = " ".join(f'"{req}"' for req in BACKEND_REQUIREMENTS[backend])
            raise ImportError(
                f"{block} backend = \"{backend}\" needs the {module} package (the {EXTRA} extra): "
                f"pip install -e \".[{EXTRA}]\" in a clone of the project, or pip install {requirements}; "
                "or set backend = \"torch\"."
            ) from err


def threads() -> int:
    return max(int(torch.get_num_threads()), 1)


# --------------------------------------------------------------------- torch int8


def quantize_torch_int8(model: "torch.nn.Module") -> "torch.nn.Module":
    """A copy of ``model`` with int8 ``nn.Linear`` weights, one scale per output channel
    (dynamic quantization: activations are quantized per batch at run time); ``model`` itself
    is unchanged."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    clone = copy.deepcopy(model).eval()
    with warnings.catch_warnings():
        # torch 2.9+ announces the move of this API to torchao; it still works as documented
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        # one scale per output row, as ONNX Runtime's per_channel: closer to the float model
        return quantize_dynamic(clone, {torch.nn.Linear: per_channel_dynamic_qconfig}, inplace=True)


# -------------------------------------------------------------------- ONNX Runtime


class _Positional(torch.nn.Module):
    """Positional forward over named inputs, returning the named outputs (for the exporter)."""

    def __init__(self, model: "torch.nn.Module", input_names: Sequence[str], output_names: Sequence[str]):
        super().__init__()
        self.model = model
        self.input_names = list(input_names)
        self.output_names = list(output_names)

    def forward(self, *tensors: "torch.Tensor"):
        out = self.model(**dict(zip(self.input_names, tensors)), return_dict=True)
        return tuple(out[name] for name in self.output_names)


def export_onnx(model: "torch.nn.Module", input_names: Sequence[str], output_names: Sequence[str]) -> bytes:
    """The model as ONNX bytes with dynamic batch and sequence axes (TorchScript exporter)."""
    wrapper = _Positional(copy.deepcopy(model).float().eval(), input_names, output_names)
    example = tuple(torch.ones(2, 8, dtype=torch.long) for _ in input_names)
    axes = {name: {0: "batch", 1: "sequence"} for name in [*input_names, *output_names]}
    kwargs: Dict[str, Any] = {}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, example, buffer, input_names=list(input_names),
                          output_names=list(output_names), dynamic_axes=axes, opset_version=17, **kwargs)
    return buffer.getvalue()


@dataclass
class OnnxRuntimeRunner:
    """An ONNX Runtime session of a task model: call it with the model's keyword inputs
    (torch tensors), get ``{output name: torch tensor}`` like the PyTorch model's output."""

    session: Any
    input_names: Tuple[str, ...]
    output_names: Tuple[str, ...]

    def __call__(self, **inputs: "torch.Tensor") -> Dict[str, "torch.Tensor"]:
        missing = [name for name in self.input_names if name not in inputs]
        if missing:
            raise ValueError(f"ONNX Runtime model inputs missing: {missing}")
        feeds = {name: inputs[name].detach().cpu().numpy() for name in self.input_names}
        outputs = self.session.run(list(self.output_names), feeds)
        return {name: torch.from_numpy(value) for name, value in zip(self.output_names, outputs)}


def onnxruntime_session(onnx_bytes: bytes, n_threads: Optional[int] = None) -> Any:
    """A CPU ``InferenceSession`` of an ONNX model: ``n_threads`` (default: torch's) intra-op
    threads, all graph optimisations."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = n_threads or threads()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    return onnxruntime.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])


def build_onnxruntime_runner(model: "torch.nn.Module", input_names: Sequence[str],
                             output_names: Sequence[str], quantize: Optional[str]) -> OnnxRuntimeRunner:
    onnx_bytes = export_onnx(model, input_names, output_names)
    if quantize == "int8":
        onnx_bytes = quantize_onnx_int8(onnx_bytes)
    return OnnxRuntimeRunner(onnxruntime_session(onnx_bytes), tuple(input_names), tuple(output_names))


def cpu_has_vnni() -> bool:
    """Whether this x86 CPU has VNNI (AVX-512 VNNI or AVX-VNNI) int8 dot products. Without it,
    ONNX Runtime's u8 x s8 kernels (AVX2 ``vpmaddubsw``) can saturate on full-range int8 weights;
    other architectures (ARM) do not have that problem."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64", "i686", "x86"):
        return True
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:  # pragma: no cover - not Linux: assume the safe setting
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


def quantize_onnx_int8(onnx_bytes: bytes, per_channel: bool = True, reduce_range: Optional[bool] = None) -> bytes:
    """ONNX Runtime dynamic quantization: int8 weights of MatMul/Gemm, one scale per output
    channel (``per_channel=False``: per tensor, ONNX Runtime's own default). ``reduce_range``
    (7-bit weights; default: on x86 CPUs without VNNI, as ONNX Runtime advises) avoids the
    saturation of the AVX2 kernels: on such a CPU a tiny BERT's int8 logits were 13% off the
    float ones (RMS) with full-range weights and 3.7% with ``reduce_range``."""
    if reduce_range is None:
        reduce_range = not cpu_has_vnni()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="spacy-task-pipes-onnx-") as tmp:
        src, dst = Path(tmp, "model.onnx"), Path(tmp, "model.int8.onnx")
        src.write_bytes(onnx_bytes)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            logging.disable(logging.WARNING)  # its advice to pre-process goes to the root logger
            try:
                quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=per_channel,
                                 reduce_range=reduce_range)
            finally:
                logging.disable(logging.NOTSET)
        return dst.read_bytes()


# --------------------------------------------------------------------- CTranslate2


def build_ctranslate2_translator(model: "torch.nn.Module", tokenizer: Any, quantize: Optional[str]) -> Any:
    """A ``ctranslate2.Translator`` converted from the model in memory (no hub access, no
    ``from_pretrained``): int8 weights with ``quantize = "int8"``, float32 otherwise."""
    import ctranslate2
    from ctranslate2.converters import TransformersConverter

    class InMemoryConverter(TransformersConverter):
        def load_model(self, model_class, model_name_or_path, **kwargs):
            return model

        def load_tokenizer(self, tokenizer_class, model_name_or_path, **kwargs):
            return tokenizer

    with tempfile.TemporaryDirectory(prefix="spacy-task-pipes-ct2-") as tmp:
        source = Path(tmp, "hf")
        model.config.save_pretrained(source)  # the converter reads the config from here
        output = Path(tmp, "ct2")
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            InMemoryConverter(str(source)).convert(str(output), force=True)
        files = {path.name: path.read_bytes() for path in output.iterdir() if path.is_file()}
    return ctranslate2.Translator(
        "hf-in-memory", device="cpu", compute_type="int8" if quantize == "int8" else "float32",
        intra_threads=threads(), inter_threads=1, files=files,
    )


# ------------------------------------------------------------------------ the cache


# Runners a forked child inherited from its parent. They are never freed in the child:
# their destructors would join worker threads that exist only in the parent, and wait forever.
_INHERITED: List[Any] = []


class InferenceRunnerCache:
    """The runner built for the current weights in this process (rebuilt when either changes)."""

    def __init__(self) -> None:
        self._key: Optional[Tuple[Any, int]] = None
        self._runner: Any = None

    def get(self, version: Any, build: Callable[[], Any]) -> Any:
        key = (version, os.getpid())
        if self._key != key:
            if self._key is not None and self._key[1] != key[1]:
                _INHERITED.append(self._runner)
            self._runner = None  # free the old one (of this process) before building
            self._runner = build()
            self._key = key
        return self._runner

    def clear(self) -> None:
        self._key, self._runner = None, None

    def __getstate__(self) -> Dict[str, Any]:  # a copy (pickle, deepcopy) builds its own
        return {}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.clear()


def generation_options(kwargs: Dict[str, Any], forced_eos: bool = False) -> Dict[str, Any]:
    """``model.generate`` keyword arguments as ``Translator.translate_batch`` options. Its
    ``max_decoding_length``/``min_decoding_length`` count generated tokens without the
    decoder start token and the end token (``return_end_token=False``), as
    ``max_new_tokens``/``min_new_tokens`` do. ``forced_eos``: the model's generation config
    forces EOS as the last of ``max_new_tokens`` (Marian, BART), so generate's text is the
    first ``max_new_tokens - 1`` tokens."""
    options: Dict[str, Any] = {
        "beam_size": int(kwargs.get("num_beams", 1)),
        "max_decoding_length": int(kwargs.get("max_new_tokens", 256)),
        "min_decoding_length": int(kwargs.get("min_new_tokens", 0)),
        "no_repeat_ngram_size": int(kwargs.get("no_repeat_ngram_size", 0)),
        "length_penalty": float(kwargs.get("length_penalty", 1.0)),
        "return_end_token": False,
        "max_batch_size": 0,  # the batches given are the batches run
    }
    if forced_eos and options["max_decoding_length"] > 1:
        options["max_decoding_length"] -= 1
        options["min_decoding_length"] = min(options["min_decoding_length"], options["max_decoding_length"])
    if kwargs.get("do_sample"):
        options.update(sampling_topk=0, beam_size=1)
    return options


def ctranslate2_generate(translator: Any, tokenizer: Any, rows: Sequence[Sequence[int]],
                         kwargs: Dict[str, Any], forced_eos: bool = False) -> List[List[int]]:
    """Generated ids per row of input ids, as :meth:`model.generate` would return them
    without the decoder start token (decoding skips special tokens either way);
    ``forced_eos`` as in :func:`generation_options`."""
    options = generation_options(kwargs, forced_eos)
    forced = kwargs.get("forced_bos_token_id")
    if forced is not None:
        options["target_prefix"] = [[tokenizer.convert_ids_to_tokens(int(forced))] for _ in rows]
    tokens = [tokenizer.convert_ids_to_tokens(list(row)) for row in rows]
    results = translator.translate_batch(tokens, **options)
    return [list(tokenizer.convert_tokens_to_ids(result.hypotheses[0])) for result in results]
