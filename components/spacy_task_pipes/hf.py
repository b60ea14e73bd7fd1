"""Shared Hugging Face plumbing for the transformer-backed components.

Generic over the task model class (question answering, seq2seq, ...):

- :func:`load_hf_objects` loads tokenizer + task model from a hub name or a local
  directory (a missing local path is a :class:`FileNotFoundError` naming it);
- :class:`SafetensorsHFShim` is spacy-transformers' ``HFShim`` with a
  serialization that stores weights as safetensors (never ``torch.save``/pickle);
- :func:`hf_to_files` / :func:`hf_from_files` turn loaded objects into a
  ``{file name: bytes}`` mapping (``model.safetensors``, ``config.json``,
  tokenizer files) and back, used for ``to_disk``/``to_bytes``;
- :func:`create_hf_task_layer` builds the thinc layer (``HFWrapper`` semantics)
  around such a shim;
- :func:`batches_by_length` / :func:`pad_features` batch variable-length features
  with little padding.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy
import srsly
import torch
from spacy.util import SimpleFrozenDict, SimpleFrozenList, ensure_path, registry
from spacy.util import logger as spacy_logger
from wasabi import Printer
from spacy_transformers.data_classes import HFObjects
from spacy_transformers.layers.hf_shim import HFShim
from thinc.api import ArgsKwargs, Model, get_torch_default_device, torch2xp, xp2torch
from thinc.layers.pytorchwrapper import forward as pytorch_forward
from transformers import AutoConfig, AutoModel, AutoTokenizer

from .io import recover_dir, replace_dir_atomic

# Files written by ``save_pretrained`` that must never be read back (pickle).
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def _looks_like_path(name: str) -> bool:
    """True where ``name`` can only be meant as a filesystem path, not a hub id."""
    if name.startswith(("/", "./", "../", "~", "\\")) or name.endswith(("/", "\\")):
        return True
    if len(name) > 1 and name[1] == ":":  # Windows drive
        return True
    return name.count("/") > 1 or "\\" in name


# Keys that make transformers import and run Python code from a model folder or the
# hub. They are refused wherever they appear: in tokenizer_config/transformer_config
# (config.cfg) at initialize and at load.
_CODE_KEYS = ("trust_remote_code", "code_revision", "auto_map")

# Tokenizer keyword arguments honoured when a pipeline is loaded from its own files
# (config.cfg may come with an untrusted pipeline); anything else is ignored with a warning.
TOKENIZER_LOAD_KEYS = frozenset(
    {
        "use_fast", "add_prefix_space", "do_lower_case", "strip_accents",
        "tokenize_chinese_chars", "model_max_length", "padding_side", "truncation_side",
        "clean_up_tokenization_spaces", "src_lang", "tgt_lang", "legacy",
    }
)
_JSON_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
               "generation_config.json", "added_tokens.json", "vocab.json")
_CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".so", ".pyd")


def refuse_code_settings(settings: Mapping[str, Any], setting: str) -> None:
    """Raise where ``settings`` would let transformers run code (``trust_remote_code``)."""
    bad = [key for key in _CODE_KEYS if key in settings]
    if bad:
        raise ValueError(
            f"{setting} sets {', '.join(bad)}: refused. spacy_task_pipes never runs code "
            "shipped with a model (trust_remote_code). Remove the key, or use a model "
            "whose architecture transformers knows."
        )


def tokenizer_load_kwargs(tokenizer_config: Optional[Mapping[str, Any]], source: str) -> Dict[str, Any]:
    """The allowed subset of a saved ``tokenizer_config`` (see :data:`TOKENIZER_LOAD_KEYS`)."""
    config = dict(tokenizer_config or {})
    refuse_code_settings(config, f"The tokenizer_config of {source}")
    ignored = sorted(set(config) - TOKENIZER_LOAD_KEYS)
    if ignored:
        warnings.warn(f"Ignoring tokenizer_config keys {ignored} when loading {source} (not on the allow-list).")
    return {key: value for key, value in config.items() if key in TOKENIZER_LOAD_KEYS}


def refuse_code_files(names: Iterable[str], where: str) -> None:
    """Model folders never carry code: a ``.py`` (or compiled) file is refused."""
    code = sorted(n for n in names if n.lower().endswith(_CODE_SUFFIXES))
    if code:
        raise ValueError(
            f"{where} contains code files {code}: refused. A model folder holds config, "
            "tokenizer and safetensors files only; remove the code files."
        )


def _check_weights(info: Mapping[str, Any], where: str, new_head: bool) -> None:
    """Refuse weights that load only partly (a randomly initialised remainder)."""
    missing = list(info.get("missing_keys") or [])
    unexpected = list(info.get("unexpected_keys") or [])
    mismatched = [k for k, *_ in info.get("mismatched_keys") or []]
    if new_head:
        if missing or mismatched or unexpected:
            warnings.warn(
                f"new_head = true: {where} starts {sorted(missing + mismatched)} from random "
                f"weights and leaves out {sorted(unexpected)}."
            )
        return
    if missing or unexpected or mismatched:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong-shape", mismatched)):
            if keys:
                shown = ", ".join(keys[:8]) + (f", ... ({len(keys)} in all)" if len(keys) > 8 else "")
                parts.append(f"{label} weights: {shown}")
        raise ValueError(
            f"{where} does not match the model: {'; '.join(parts)}. These weights were saved "
            "for another architecture or task. To start a new task head from a base model "
            "on purpose, set new_head = true in the [components.<name>.model] block "
            "(initialize only)."
        )


def hub_reachable(timeout: float = 3.0) -> bool:
    """One short TCP probe of the Hugging Face endpoint (``HF_ENDPOINT``); False when
    ``HF_HUB_OFFLINE`` is set."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def check_model_available(name: str, setting: str) -> None:
    """Fail in seconds, naming ``setting``, where ``name`` is a hub model that is neither
    in the local cache nor reachable (instead of transformers' minute of retries and
    a connection error that names no setting). A local directory always passes."""
    from huggingface_hub import try_to_load_from_cache

    if Path(name).expanduser().exists() or _looks_like_path(name):
        return
    try:
        cached = try_to_load_from_cache(repo_id=name, filename="config.json")
    except ValueError:  # not a valid repo id: transformers will say so itself
        return
    if isinstance(cached, str) or hub_reachable():
        return
    raise OSError(
        f"The model {name!r} is not in the Hugging Face cache and the hub cannot be reached "
        f"(offline). Set {setting} to a local directory written by `save_pretrained` (e.g. one "
        "built by the project's make-*-tiny commands), or run once with network access to "
        "fill the cache."
    )


def load_hf_objects(
    name: Union[str, Path],
    tokenizer_config: Mapping[str, Any],
    transformer_config: Mapping[str, Any],
    *,
    config_cls=AutoConfig,
    model_cls=AutoModel,
    tokenizer_cls=AutoTokenizer,
    setting: str = "[components.<name>.model] name",
    new_head: bool = False,
) -> HFObjects:
    """Load tokenizer and task model from a local directory or a hub name.

    Never runs code from the model (``trust_remote_code`` is refused, a local folder
    with ``.py`` files too); from a local directory only safetensors weights are
    accepted; missing or unexpected weights are an error unless ``new_head``.
    """
    source = str(name)
    path = Path(source).expanduser()
    is_local = path.exists()
    block = setting.rsplit(" ", 1)[0]
    refuse_code_settings(tokenizer_config, f"{block} tokenizer_config")
    refuse_code_settings(transformer_config, f"{block} transformer_config")
    if not is_local and (isinstance(name, Path) or _looks_like_path(source)):
        raise FileNotFoundError(
            f"Model directory not found: {path}. Set {setting} to an existing "
            "directory (written by `save_pretrained`) or to a Hugging Face hub name."
        )
    if is_local and not path.is_dir():
        raise FileNotFoundError(
            f"Model path {path} is not a directory. Set {setting} to the directory "
            "that holds config.json, the tokenizer files and model.safetensors."
        )
    if is_local:
        refuse_code_files((f.name for f in path.rglob("*") if f.is_file()), f"Model directory {path}")
    if not is_local:
        check_model_available(source, setting)
    load_from = str(path.absolute()) if is_local else source
    trf_config = dict(transformer_config)
    trf_config["return_dict"] = True
    try:
        tokenizer = tokenizer_cls.from_pretrained(load_from, **dict(tokenizer_config), trust_remote_code=False)
        config = config_cls.from_pretrained(load_from, **trf_config, trust_remote_code=False)
        transformer, info = model_cls.from_pretrained(
            load_from,
            config=config,
            use_safetensors=True if is_local else None,
            trust_remote_code=False,
            output_loading_info=True,
        )
    except OSError as err:
        where = f"local directory {path}" if is_local else f"hub model '{source}'"
        raise OSError(
            f"Could not load the {where} ({err}). Check {setting}: a local directory "
            "needs config.json, tokenizer files and model.safetensors; a hub name "
            "needs network access or a filled cache (HF_HUB_OFFLINE=1 only works "
            "with a cache or a pipeline saved with its weights)."
        ) from err
    _check_weights(info, f"The weights of {source} ({setting})", new_head)
    transformer.to(get_torch_default_device())
    return HFObjects(tokenizer, transformer, None)


def hf_to_files(hf: HFObjects) -> Dict[str, bytes]:
    """Serialize tokenizer + model into ``{file name: bytes}`` (safetensors weights)."""
    files: Dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        hf.tokenizer.save_pretrained(str(tmp_path))
        # save_pretrained handles tied weights and non-contiguous tensors for us.
        hf.transformer.save_pretrained(
            str(tmp_path), safe_serialization=True, max_shard_size="1000GB"
        )
        for file in sorted(tmp_path.rglob("*")):
            if file.is_file() and not file.name.endswith(_PICKLE_SUFFIXES):
                files[file.relative_to(tmp_path).as_posix()] = file.read_bytes()
    if "model.safetensors" not in files:
        raise ValueError(
            "Serializing the transformer produced no model.safetensors file "
            f"(got {sorted(files)}); weights are only stored as safetensors."
        )
    return files


def _check_files(files: Mapping[str, bytes], source: str) -> None:
    for rel in files:
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise ValueError(f"Unsafe file name {rel!r} in {source}.")
    refuse_code_files(files, source)
    if "model.safetensors" not in files or "config.json" not in files:
        raise ValueError(
            f"No transformer weights in {source}: expected model.safetensors and "
            f"config.json, found {sorted(files)}. Re-save the pipeline with this version."
        )
    for name in _JSON_FILES:
        if name in files:
            try:
                json.loads(files[name].decode("utf-8-sig"))
            except (UnicodeDecodeError, ValueError) as err:
                raise ValueError(
                    f"{source}/{name} is damaged ({err}). Restore the pipeline from a "
                    "good copy or save it again."
                ) from None


def hf_from_files(
    files: Mapping[str, bytes],
    *,
    config_cls=AutoConfig,
    model_cls=AutoModel,
    tokenizer_cls=AutoTokenizer,
    tokenizer_config: Optional[Mapping[str, Any]] = None,
    source: str = "serialized data",
) -> HFObjects:
    """Inverse of :func:`hf_to_files`; loads nothing from the network and runs no code.

    Every error names ``source`` (the pipeline folder or bytes) and the damaged file;
    weights that do not match the architecture completely are refused."""
    _check_files(files, source)
    tok_kwargs = tokenizer_load_kwargs(tokenizer_config, source)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        for rel, data in files.items():
            target = tmp_path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

        def named(what: str, err: BaseException) -> ValueError:
            text = str(err).replace(str(tmp_path), source)
            return ValueError(
                f"Could not load the {what} from {source} ({type(err).__name__}: {text}). "
                f"Files present: {sorted(files)}. Restore the pipeline from a good copy "
                "or save it again."
            )

        try:
            tokenizer = tokenizer_cls.from_pretrained(
                str(tmp_path), **tok_kwargs, local_files_only=True, trust_remote_code=False
            )
        except Exception as err:  # noqa: BLE001 - tokenizers raise many types
            raise named("tokenizer", err) from None
        if tokenizer is None or isinstance(tokenizer, bool):
            raise ValueError(f"No tokenizer files in {source}: found {sorted(files)}.")
        try:
            config = config_cls.from_pretrained(str(tmp_path), local_files_only=True, trust_remote_code=False)
        except Exception as err:  # noqa: BLE001
            raise named("model config (config.json)", err) from None
        try:
            transformer, info = model_cls.from_pretrained(
                str(tmp_path),
                config=config,
                use_safetensors=True,
                local_files_only=True,
                trust_remote_code=False,
                output_loading_info=True,
            )
        except Exception as err:  # noqa: BLE001 - SafetensorError and friends
            raise named("weights (model.safetensors)", err) from None
    _check_weights(info, f"{source}/model.safetensors", new_head=False)
    transformer.to(get_torch_default_device())
    return HFObjects(tokenizer, transformer, None)


def read_files_dir(path: Path) -> Dict[str, bytes]:
    """Read every file under ``path`` (as written by :func:`write_files_dir`)."""
    if not path.is_dir():
        raise FileNotFoundError(
            f"Transformer directory not found: {path}. The pipeline was saved "
            "incompletely; save it again with `nlp.to_disk`."
        )
    files: Dict[str, bytes] = {}
    for f in sorted(path.rglob("*")):
        if f.is_symlink():
            raise ValueError(
                f"{f} is a symbolic link: refused (a pipeline folder holds plain files; "
                "a link could read files outside it). Replace it with the file itself."
            )
        if f.is_file():
            files[f.relative_to(path).as_posix()] = f.read_bytes()
    return files


def write_files_dir(files: Mapping[str, bytes], path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


_AUTOCAST_DTYPES = {"float16": torch.float16, "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


def autocast_dtype(name: str) -> "torch.dtype":
    if name not in _AUTOCAST_DTYPES:
        raise ValueError(
            f"Unknown mixed_precision_dtype {name!r}: use \"float16\" or \"bfloat16\" "
            "in the model block of the config."
        )
    return _AUTOCAST_DTYPES[name]


class SafetensorsHFShim(HFShim):
    """``HFShim`` whose bytes hold safetensors weights and tokenizer files, no pickle.

    With ``mixed_precision`` the forward passes run under CUDA autocast in
    ``autocast_dtype`` (fp16 as in thinc, or bf16); on CPU autocast is off.
    """

    autocast_dtype: "torch.dtype" = torch.float16

    def predict(self, inputs: ArgsKwargs) -> Any:
        # thinc's PyTorchShim.predict runs in eval mode but then calls model.train(), which
        # would leave dropout on for anyone using the HF model afterwards: restore its mode.
        was_training = self._model.training if self._model is not None else False
        try:
            with torch.autocast("cuda", dtype=self.autocast_dtype, enabled=self._mixed_precision):
                return super().predict(inputs)
        finally:
            if self._model is not None:
                self._model.train(was_training)

    def begin_update(self, inputs: ArgsKwargs):
        # thinc's inner autocast takes its dtype from this outer context
        with torch.autocast("cuda", dtype=self.autocast_dtype, enabled=self._mixed_precision):
            return super().begin_update(inputs)

    @property
    def hf_objects(self) -> HFObjects:
        return self._hfmodel

    @property
    def has_transformer(self) -> bool:
        return self._hfmodel.transformer is not None

    def set_hf_objects(self, hf: HFObjects) -> None:
        self._hfmodel = hf
        self._model = hf.transformer

    def to_files(self) -> Dict[str, bytes]:
        if not self.has_transformer:
            raise ValueError(
                "The transformer is not loaded yet, so there is nothing to save. "
                "Call nlp.initialize() (or load a saved pipeline) first."
            )
        return hf_to_files(self._hfmodel)

    def from_files(self, files: Mapping[str, bytes], source: str = "serialized data"):
        hf = hf_from_files(
            files,
            config_cls=self.config_cls,
            model_cls=self.model_cls,
            tokenizer_cls=self.tokenizer_cls,
            tokenizer_config=self._hfmodel._init_tokenizer_config,
            source=source,
        )
        hf._init_tokenizer_config = self._hfmodel._init_tokenizer_config
        hf._init_transformer_config = self._hfmodel._init_transformer_config
        self.set_hf_objects(hf)
        return self

    def to_bytes(self) -> bytes:
        files = self.to_files() if self.has_transformer else {}
        msg = {
            "files": files,
            "_init_tokenizer_config": dict(self._hfmodel._init_tokenizer_config),
            "_init_transformer_config": dict(self._hfmodel._init_transformer_config),
        }
        return srsly.msgpack_dumps(msg)

    def from_bytes(self, bytes_data: bytes):
        msg = srsly.msgpack_loads(bytes_data)
        if "files" not in msg:
            raise ValueError(
                "These model bytes were not written by SafetensorsHFShim (no 'files' "
                "entry; possibly a torch.save/pickle payload, which is refused). "
                "Re-save the pipeline with spacy_task_pipes."
            )
        self._hfmodel = HFObjects(
            self._hfmodel.tokenizer,
            self._hfmodel.transformer,
            None,
            msg.get("_init_tokenizer_config") or SimpleFrozenDict(),
            msg.get("_init_transformer_config") or SimpleFrozenDict(),
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
) -> Model:
    """A thinc layer around a (not yet loaded) HF task model.

    The forward pass takes a dict of model inputs and returns the tuple of the
    named outputs (e.g. ``("start_logits", "end_logits")``) as float32 xp arrays;
    its backprop takes a tuple of gradients of the same shapes.
    Weights are loaded by :func:`initialize_hf_task_layer` or by deserialization;
    ``new_head`` lets initialize start task-head weights that the model lacks.
    """
    block = "[components.<name>.model]"
    refuse_code_settings(tokenizer_config, f"{block} tokenizer_config")
    refuse_code_settings(transformer_config, f"{block} transformer_config")

    def convert_outputs(model: Model, inputs_outputs, is_train: bool):
        _, output = inputs_outputs
        tensors = tuple(output[key] for key in output_names)
        Y = tuple(torch2xp(t.detach().float()) for t in tensors)

        def backprop(dY):
            grads = tuple(xp2torch(d, device=t.device).to(t.dtype) for d, t in zip(dY, tensors))
            return ArgsKwargs(args=(tensors,), kwargs={"grad_tensors": grads})

        return Y, backprop

    hf = HFObjects(None, None, None, dict(tokenizer_config), dict(transformer_config))
    shim = SafetensorsHFShim(
        hf,
        mixed_precision=mixed_precision,
        grad_scaler_config=dict(grad_scaler_config or {}),
        config_cls=config_cls,
        model_cls=model_cls,
        tokenizer_cls=tokenizer_cls,
    )
    shim.autocast_dtype = autocast_dtype(mixed_precision_dtype)
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


def initialize_hf_task_layer(layer: Model, setting: str) -> None:
    """Load the weights named by ``layer.attrs['name']`` unless already loaded."""
    shim: SafetensorsHFShim = layer.shims[0]
    if shim.has_transformer:
        return
    hf = load_hf_objects(
        layer.attrs["name"],
        shim._hfmodel._init_tokenizer_config,
        shim._hfmodel._init_transformer_config,
        config_cls=shim.config_cls,
        model_cls=shim.model_cls,
        tokenizer_cls=shim.tokenizer_cls,
        setting=setting,
        new_head=layer.attrs.get("new_head", False),
    )
    hf._init_tokenizer_config = shim._hfmodel._init_tokenizer_config
    hf._init_transformer_config = shim._hfmodel._init_transformer_config
    shim.set_hf_objects(hf)


def get_hf_shim(model: Model) -> SafetensorsHFShim:
    for node in model.walk():
        for shim in node.shims:
            if isinstance(shim, SafetensorsHFShim):
                return shim
    raise ValueError(f"Model '{model.name}' has no SafetensorsHFShim layer.")


def batches_by_length(lengths: Sequence[int], batch_size: int) -> List[List[int]]:
    """Indices grouped into batches of ``batch_size``, sorted by length (less padding)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def pad_features(
    features: Sequence[Mapping[str, Sequence[int]]],
    keys: Iterable[str],
    pad_values: Mapping[str, int],
) -> Dict[str, numpy.ndarray]:
    """Right-pad the integer sequences under ``keys`` into (batch, max_len) int64 arrays."""
    max_len = max(len(f["input_ids"]) for f in features)
    out = {}
    for key in keys:
        arr = numpy.full((len(features), max_len), pad_values.get(key, 0), dtype="int64")
        for row, feature in enumerate(features):
            values = feature[key]
            arr[row, : len(values)] = values
        out[key] = arr
    return out


def release_device_memory() -> None:
    """Give cached GPU blocks back after a batch (no-op on CPU)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


class HFPipeSerializationMixin:
    """``to_bytes``/``from_bytes``/``to_disk``/``from_disk`` for a pipe whose model holds a
    :class:`SafetensorsHFShim`. No pickle; code is never run on load.

    The saved files hold the weights and tokenizer only (``model/``: ``model.safetensors``,
    ``config.json``, tokenizer files). The pipe's settings come from the config
    (``config.cfg`` and ``spacy.load(..., config=...)``), never from the saved files: a
    ``cfg`` file written by earlier versions is ignored.

    ``to_disk`` builds the component's folder beside the target and swaps it in
    atomically, so a kill at any point leaves the previous save or the complete new one,
    and no file of an earlier save survives. A failed load changes nothing."""

    def to_bytes(self, *, exclude: Iterable[str] = SimpleFrozenList()) -> bytes:
        return srsly.msgpack_dumps({"model": get_hf_shim(self.model).to_files()})

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = SimpleFrozenList()):
        source = f"the bytes of component '{self.name}'"
        try:
            msg = srsly.msgpack_loads(bytes_data)
        except Exception as err:  # noqa: BLE001 - msgpack raises several types
            raise ValueError(f"Could not read {source}: not msgpack data ({err}).") from None
        if not isinstance(msg, dict) or not isinstance(msg.get("model"), dict):
            raise ValueError(f"Could not read {source}: no 'model' files in it. Re-save the pipeline.")
        get_hf_shim(self.model).from_files(msg["model"], source=source)
        return self

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = SimpleFrozenList()) -> None:
        files = get_hf_shim(self.model).to_files()  # fails before anything on disk changes
        replace_dir_atomic(lambda tmp: write_files_dir(files, tmp / "model"), ensure_path(path))

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = SimpleFrozenList()):
        path = ensure_path(path)
        recover_dir(path)
        files = read_files_dir(path / "model")
        get_hf_shim(self.model).from_files(files, source=str(path / "model"))
        return self


# ------------------------------------------------------------- training budget


def fit_training_to_steps(config: Dict[str, Any], evaluations: int, warmup_fraction: float) -> Dict[str, Any]:
    """Cap ``eval_frequency`` and the learning-rate warm-up of ``config["training"]`` so a
    run of ``max_steps`` is evaluated about ``evaluations`` times and warms up for at most
    ``warmup_fraction`` of its steps. Returns what changed (``{}`` when nothing did)."""
    training = config.get("training", {})
    max_steps = int(training.get("max_steps") or 0)
    changed: Dict[str, Any] = {}
    if max_steps <= 0:
        return changed
    frequency = max(1, max_steps // max(1, evaluations))
    if int(training.get("eval_frequency", frequency)) > frequency:
        changed["training.eval_frequency"] = (training["eval_frequency"], frequency)
        training["eval_frequency"] = frequency
    learn_rate = training.get("optimizer", {}).get("learn_rate")
    if isinstance(learn_rate, dict) and "warmup_steps" in learn_rate:
        warmup = max(1, int(max_steps * warmup_fraction))
        if int(learn_rate["warmup_steps"]) > warmup:
            changed["training.optimizer.learn_rate.warmup_steps"] = (learn_rate["warmup_steps"], warmup)
            learn_rate["warmup_steps"] = warmup
    return changed


@registry.callbacks("spacy_task_pipes.fit_to_step_budget.v1")
def create_fit_to_step_budget(evaluations: int = 10, warmup_fraction: float = 0.1):
    """``[initialize.after_init]`` callback: a short ``spacy train`` run (``--training.max_steps
    30``) is evaluated ``evaluations`` times and warms up for ``warmup_fraction`` of its steps,
    instead of scoring step 0 only and shipping untrained weights. ``spacy train`` reads
    ``[training]`` from ``nlp.config`` after initialization, so the capped values apply, are
    logged, and are saved in the trained pipeline's config."""
    if evaluations < 1 or not 0.0 <= warmup_fraction <= 1.0:
        raise ValueError(
            f"spacy_task_pipes.fit_to_step_budget.v1: evaluations ({evaluations}) must be >= 1 "
            f"and warmup_fraction ({warmup_fraction}) between 0 and 1."
        )

    def fit(nlp):
        for key, (old, new) in fit_training_to_steps(nlp.config, evaluations, warmup_fraction).items():
            line = f"fit_to_step_budget: {key} {old} -> {new} (max_steps {nlp.config['training']['max_steps']})"
            spacy_logger.info(line)
            Printer().info(line)  # shown next to spaCy's own notices in `spacy train`
        return nlp

    return fit
