"""A task model's files inside a pipeline (``<component>/model/``), written and read without
``save_pretrained``/``from_pretrained``.

What is saved: ``model.safetensors`` (one tensor per tied group, persistent buffers too),
``config.json``, ``generation_config.json`` for models that generate, and the tokenizer's own
files. The same files load under transformers 4.45+ and 5.

What loading promises, for a folder or bytes from anywhere:

- only the files it needs are read, by name (:data:`TOKENIZER_FILES`, the config, the
  weights), each within a size limit; other files are never opened, and nothing is copied
  but the small tokenizer files (into a private temporary folder that the tokenizer reads);
- no code runs: code files are refused, ``auto_map`` and friends are never honoured, no
  pickle is read, no hub is asked;
- a ``config.json`` that does not match the weights is refused *before* the model is built:
  the number of tensors the config implies is estimated from two tiny builds and compared
  with the safetensors header (a 20,000-layer config next to 2 layers of weights is refused
  in well under a second, with nothing allocated); then the model is built with its
  parameters on the ``meta`` device, every tensor's shape is checked against the header, and
  only then are the weights read and assigned (no random initialisation of real memory);
- every error names the pipeline folder (or bytes) and the file.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import struct
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Sequence, Tuple

# the keys and file kinds that mean code, shared with the pipeline inspection
from ..safety.pipelines import CODE_KEYS, CODE_SUFFIXES, find_code_keys  # noqa: F401

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
GENERATION_CONFIG = "generation_config.json"
# Tokenizer files of the tokenizers transformers ships (fast and slow): the only other
# files loading reads. Anything else in a model folder is ignored (never opened).
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "sentencepiece.model",
    "tokenizer.model",
    "source.spm",
    "target.spm",
    "target_vocab.json",
)
# The files that hold a vocabulary: without one there is no tokenizer (transformers 5 would
# quietly make a 5-token one from config.json alone).
VOCABULARY_FILES = tuple(n for n in TOKENIZER_FILES if n not in (
    "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"))
JSON_FILES = (CONFIG, GENERATION_CONFIG, "tokenizer.json", "tokenizer_config.json",
              "special_tokens_map.json", "added_tokens.json", "vocab.json", "target_vocab.json")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")

# A file other than the weights may be this large, or a quarter of the weights if that is more.
MIN_FILE_LIMIT = 64 * 2**20
MAX_HEADER = 100 * 2**20
_DTYPE_SIZES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}
# Config keys that count repeated blocks (layers) in transformers' configs.
LAYER_KEYS = ("num_hidden_layers", "num_layers", "num_decoder_layers", "n_layers", "n_layer",
              "encoder_layers", "decoder_layers")


# ----------------------------------------------------------------------------- files


class ModelFiles:
    """Read access to a model's files by name, with limits; ``source`` names them in errors."""

    source: str

    def names(self) -> List[str]:
        raise NotImplementedError

    def size(self, name: str) -> int:
        raise NotImplementedError

    def _read(self, name: str) -> bytes:
        raise NotImplementedError

    def has(self, name: str) -> bool:
        return name in self.names()

    def limit(self) -> int:
        weights = self.size(WEIGHTS) if self.has(WEIGHTS) else 0
        return max(MIN_FILE_LIMIT, weights // 4)

    def read(self, name: str) -> bytes:
        size = self.size(name)
        if name != WEIGHTS and size > self.limit():
            raise ValueError(
                f"{self.source}/{name} is {size / 2**20:.0f} MB, more than a model's {name} can be "
                f"(limit {self.limit() / 2**20:.0f} MB): refused. Restore the pipeline from a good copy."
            )
        return self._read(name)

    def read_json(self, name: str) -> Any:
        data = self.read(name)
        try:
            return json.loads(data.decode("utf-8-sig"))
        except RecursionError:
            raise ValueError(
                f"{self.source}/{name} is nested too deeply to be a model file: refused. Restore the "
                "pipeline from a good copy or save it again."
            ) from None
        except (UnicodeDecodeError, ValueError) as err:
            raise ValueError(
                f"{self.source}/{name} is damaged ({err}). Restore the pipeline from a good copy or "
                "save it again."
            ) from None

    def weights_header(self) -> "SafetensorsHeader":
        raise NotImplementedError

    def load_tensors(self, names: Iterable[str]) -> Dict[str, Any]:
        raise NotImplementedError


class DirModelFiles(ModelFiles):
    """A ``model/`` folder. Symbolic links are refused (the folder itself and every entry);
    only regular files are read."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.source = str(self.path)
        if self.path.is_symlink():
            raise ValueError(
                f"{self.path} is a symbolic link: refused (a pipeline folder holds plain files; a link "
                "could read files outside it). Replace it with the folder itself."
            )
        if not self.path.is_dir():
            raise FileNotFoundError(
                f"Transformer directory not found: {self.path}. The pipeline was saved incompletely; "
                "save it again with `nlp.to_disk`."
            )
        self._entries: Dict[str, int] = {}
        for entry in sorted(self.path.rglob("*")):
            rel = entry.relative_to(self.path).as_posix()
            if entry.is_symlink():
                raise ValueError(
                    f"{entry} is a symbolic link: refused (a pipeline folder holds plain files; a "
                    "link could read files outside it). Replace it with the file itself."
                )
            if entry.is_file():
                self._entries[rel] = entry.stat().st_size
        refuse_code_files(self._entries, f"Model directory {self.path}")

    def names(self) -> List[str]:
        return list(self._entries)

    def size(self, name: str) -> int:
        return self._entries[name]

    def _read(self, name: str) -> bytes:
        return (self.path / name).read_bytes()

    def weights_header(self) -> "SafetensorsHeader":
        with (self.path / WEIGHTS).open("rb") as fh:
            head = fh.read(8)
            n = _header_length(head, self.size(WEIGHTS), self.source)
            return SafetensorsHeader.parse(fh.read(n), self.size(WEIGHTS), 8 + n, self.source)

    def load_tensors(self, names: Iterable[str]) -> Dict[str, Any]:
        from safetensors import safe_open

        out = {}
        with safe_open(str(self.path / WEIGHTS), framework="pt", device="cpu") as fh:
            for name in names:
                out[name] = fh.get_tensor(name)
        return out


class BytesModelFiles(ModelFiles):
    """``{file name: bytes}`` (a component's ``to_bytes`` payload)."""

    def __init__(self, files: Mapping[str, bytes], source: str) -> None:
        self.source = source
        for rel in files:
            if not isinstance(rel, str) or Path(rel).is_absolute() or ".." in Path(rel).parts:
                raise ValueError(f"Unsafe file name {rel!r} in {source}.")
            if not isinstance(files[rel], (bytes, bytearray)):
                raise ValueError(f"{source}: the entry {rel!r} is not bytes. Re-save the pipeline.")
        refuse_code_files(files, source)
        self.files = files

    def names(self) -> List[str]:
        return list(self.files)

    def size(self, name: str) -> int:
        return len(self.files[name])

    def _read(self, name: str) -> bytes:
        return bytes(self.files[name])

    def weights_header(self) -> "SafetensorsHeader":
        data = self.files[WEIGHTS]
        n = _header_length(data[:8], len(data), self.source)
        return SafetensorsHeader.parse(data[8 : 8 + n], len(data), 8 + n, self.source)

    def load_tensors(self, names: Iterable[str]) -> Dict[str, Any]:
        from safetensors.torch import load

        tensors = load(bytes(self.files[WEIGHTS]))
        return {name: tensors[name] for name in names}


def refuse_code_files(names: Iterable[str], where: str) -> None:
    """Model folders never carry code: a ``.py`` (or compiled) file is refused."""
    code = sorted(n for n in names if str(n).lower().endswith(CODE_SUFFIXES))
    if code:
        raise ValueError(
            f"{where} contains code files {code}: refused. A model folder holds config, tokenizer and "
            "safetensors files only; remove the code files."
        )


# ---------------------------------------------------------------- safetensors header


def _header_length(head: bytes, file_size: int, source: str) -> int:
    where = f"{source}/{WEIGHTS}"
    if len(head) < 8:
        raise ValueError(_damaged_weights(where, "the file is shorter than a safetensors header"))
    (n,) = struct.unpack("<Q", head)
    if n > MAX_HEADER or 8 + n > file_size:
        raise ValueError(_damaged_weights(where, f"its header claims {n} bytes"))
    return n


def _damaged_weights(where: str, why: str) -> str:
    source = where.rsplit("/", 1)[0]
    return (f"Could not load the weights (model.safetensors) from {source}: {where} is damaged ({why}). "
            "Restore the pipeline from a good copy or save it again.")


class SafetensorsHeader:
    """The tensor names, shapes and dtypes of a safetensors file, checked for consistency
    (offsets inside the file, sizes matching shapes, no overlaps)."""

    def __init__(self, tensors: Dict[str, Tuple[str, Tuple[int, ...]]], metadata: Dict[str, str]) -> None:
        self.tensors = tensors
        self.metadata = metadata

    @classmethod
    def parse(cls, raw: bytes, file_size: int, data_start: int, source: str) -> "SafetensorsHeader":
        where = f"{source}/{WEIGHTS}"
        try:
            header = json.loads(raw.decode("utf-8"))
        except RecursionError:
            raise ValueError(_damaged_weights(where, "its header is nested too deeply")) from None
        except (UnicodeDecodeError, ValueError) as err:
            raise ValueError(_damaged_weights(where, f"its header is not JSON: {err}")) from None
        if not isinstance(header, dict):
            raise ValueError(_damaged_weights(where, "its header is not a JSON object"))
        metadata = header.pop("__metadata__", None) or {}
        tensors: Dict[str, Tuple[str, Tuple[int, ...]]] = {}
        spans = []
        data_size = file_size - data_start
        for name, info in header.items():
            try:
                dtype, shape, (begin, end) = info["dtype"], tuple(info["shape"]), info["data_offsets"]
                ok = (dtype in _DTYPE_SIZES and all(isinstance(d, int) and d >= 0 for d in shape)
                      and isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end <= data_size
                      and end - begin == math.prod(shape) * _DTYPE_SIZES[dtype])
            except (KeyError, TypeError, ValueError):
                ok = False
            if not ok:
                raise ValueError(_damaged_weights(where, f"the entry of tensor {name!r} is invalid"))
            tensors[name] = (dtype, shape)
            spans.append((begin, end, name))
        spans.sort()
        for (b1, e1, n1), (b2, e2, n2) in zip(spans, spans[1:]):
            if b2 < e1:
                raise ValueError(_damaged_weights(where, f"tensors {n1!r} and {n2!r} overlap"))
        return cls(tensors, metadata if isinstance(metadata, dict) else {})

    def n_elements(self) -> int:
        return sum(math.prod(shape) for _, shape in self.tensors.values())


# ------------------------------------------------------------------ building the model


_BUILD_LOCK = threading.RLock()


@contextlib.contextmanager
def parameters_on_meta(buffers: bool = False):
    """Build modules with their parameters (and with ``buffers``, their buffers) on the
    ``meta`` device: shapes without memory or initialisation. Module construction in other
    threads waits for the lock only where it goes through this function."""
    import torch

    with _BUILD_LOCK:
        if buffers:
            with torch.device("meta"):
                yield
            return
        original = torch.nn.Module.register_parameter

        def register(module, name, param):
            original(module, name, param)
            if param is not None and param.device.type != "meta":
                module._parameters[name] = torch.nn.Parameter(
                    param.to("meta"), requires_grad=param.requires_grad)

        torch.nn.Module.register_parameter = register
        try:
            yield
        finally:
            torch.nn.Module.register_parameter = original


def config_from_dict(data: Mapping[str, Any], source: str) -> Any:
    """A transformers config from ``config.json``'s content (no code, no hub)."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    model_type = data.get("model_type") if isinstance(data, Mapping) else None
    if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING:
        raise ValueError(
            f"{source}/{CONFIG} names model_type {model_type!r}, which this transformers does not know. "
            "Save the pipeline again with a model transformers supports (code shipped with a model is "
            "never run)."
        )
    try:
        return CONFIG_MAPPING[model_type].from_dict(dict(data))
    except RecursionError:
        raise ValueError(f"{source}/{CONFIG} is nested too deeply: refused.") from None
    except Exception as err:  # noqa: BLE001 - configs validate their values with many types
        raise ValueError(f"Could not read the model config ({CONFIG}) from {source} ({type(err).__name__}: "
                         f"{err}). Restore the pipeline from a good copy or save it again.") from None



def _with_layers(config: Any, values: Mapping[str, int]) -> Any:
    import copy

    small = copy.deepcopy(config)
    for key, value in values.items():
        setattr(small, key, value)
    return small


def _count_tensors(model_cls: Any, config: Any) -> int:
    with parameters_on_meta(buffers=True):
        model = model_cls.from_config(config)
    return len(_unique_state(model))


def _layer_keys(config: Any) -> Dict[str, int]:
    return {key: int(getattr(config, key)) for key in LAYER_KEYS
            if isinstance(getattr(config, key, None), int) and not isinstance(getattr(config, key), bool)
            and getattr(config, key) > 0}


def estimate_tensor_count(model_cls: Any, config: Any) -> int:
    """How many tensors (tied ones once, persistent buffers included) ``config`` implies,
    from builds with one and two of each kind of layer on the meta device: the cost does not
    grow with the number of layers the config declares."""
    layers = _layer_keys(config)
    ones = {key: 1 for key in layers}
    base = _count_tensors(model_cls, _with_layers(config, ones))
    total = base
    for key, value in layers.items():
        if value > 1:
            per_layer = _count_tensors(model_cls, _with_layers(config, {**ones, key: 2})) - base
            total += (value - 1) * max(per_layer, 0)
    return total


def _unique_state(model: Any) -> Dict[str, Any]:
    """Parameters (one name per tied group) and persistent buffers, by name."""
    state: Dict[str, Any] = {}
    seen = set()
    for name, param in model.named_parameters(remove_duplicate=False):
        if id(param) not in seen:
            seen.add(id(param))
            state[name] = param
    for name, buffer in _persistent_buffers(model).items():
        state[name] = buffer
    return state


def _persistent_buffers(model: Any) -> Dict[str, Any]:
    out = {}
    for module_name, module in model.named_modules(remove_duplicate=False):
        for name, buffer in module._buffers.items():
            if buffer is not None and name not in module._non_persistent_buffers_set:
                out[f"{module_name}.{name}" if module_name else name] = buffer
    return out


def _tied_groups(model: Any) -> List[List[str]]:
    groups: Dict[int, List[str]] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        groups.setdefault(id(param), []).append(name)
    return list(groups.values())


def _ignorable_names(model: Any) -> Tuple[set, List[str]]:
    """Names a checkpoint may hold that the model does not load: its non-persistent buffers
    (older versions saved some, e.g. ``position_ids``) and its own ignore patterns."""
    non_persistent = {f"{m}.{b}" if m else b for m, module in model.named_modules()
                      for b in module._non_persistent_buffers_set}
    patterns = list(getattr(model, "_keys_to_ignore_on_load_unexpected", None) or [])
    return non_persistent, patterns


def mismatch_error(where: str, missing: Sequence[str], unexpected: Sequence[str],
                    wrong: Sequence[str], block: str = "the component's model block") -> ValueError:
    parts = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong-shape", wrong)):
        if keys:
            keys = sorted(keys)
            shown = ", ".join(keys[:8]) + (f", ... ({len(keys)} in all)" if len(keys) > 8 else "")
            parts.append(f"{label} weights: {shown}")
    return ValueError(
        f"{where} does not match the model: {'; '.join(parts)}. These weights were saved for another "
        "architecture or task, or config.json was changed. To start a new task head from a base model on "
        f"purpose, set new_head = true in {block} (initialize only)."
    )


def match_weights(model: Any, header: SafetensorsHeader, where: str) -> Dict[str, str]:
    """For each tensor of ``model`` (first name of a tied group, persistent buffers), the name
    it has in the file; missing, unexpected or wrong-shape weights are a ValueError."""
    shapes = {name: tuple(t.shape) for name, t in _unique_state(model).items()}
    groups = _tied_groups(model)
    in_groups = {name for group in groups for name in group}
    non_persistent, patterns = _ignorable_names(model)
    missing, wrong, used = [], [], set()
    source_of: Dict[str, str] = {}
    for group in groups:
        found = next((n for n in group if n in header.tensors), None)
        if found is None:
            missing.append(group[0])
            continue
        used.update(n for n in group if n in header.tensors)
        if header.tensors[found][1] != shapes[group[0]]:
            wrong.append(found)
        source_of[group[0]] = found
    for name, shape in shapes.items():  # persistent buffers: kept as built where not saved
        if name not in in_groups and name in header.tensors:
            used.add(name)
            if header.tensors[name][1] != shape:
                wrong.append(name)
            source_of[name] = name
    unexpected = [n for n in header.tensors if n not in used and n not in non_persistent
                  and not any(re.search(p, n) for p in patterns)]
    if missing or wrong or unexpected:
        raise mismatch_error(where, missing, unexpected, wrong)
    return source_of


def build_model(model_cls: Any, config: Any, files: ModelFiles) -> Any:
    """The model of ``config`` with the weights of ``files`` (see the module docstring)."""
    import torch

    where = f"{files.source}/{WEIGHTS}"
    header = files.weights_header()
    expected = estimate_tensor_count(model_cls, config)
    if expected > 2 * len(header.tensors) + 16:
        layers = ", ".join(f"{k} = {v}" for k, v in _layer_keys(config).items())
        raise ValueError(
            f"{files.source}/{CONFIG} describes a model of about {expected} tensors ({layers}) but {where} "
            f"holds {len(header.tensors)}: refused before building it. config.json does not belong to these "
            "weights; restore the pipeline from a good copy."
        )
    with parameters_on_meta(buffers=True):
        skeleton = model_cls.from_config(config)
    source_of = match_weights(skeleton, header, where)
    del skeleton
    with parameters_on_meta():
        model = model_cls.from_config(config)
    try:
        tensors = files.load_tensors(sorted(set(source_of.values())))
    except Exception as err:  # noqa: BLE001 - SafetensorError and friends
        raise ValueError(_damaged_weights(where, f"{type(err).__name__}: {err}")) from None
    for group in _tied_groups(model):
        tensor = tensors[source_of[group[0]]]
        floating = tensor.is_floating_point()
        # a copy: never parameters backed by the file's memory map
        data = tensor.to(torch.float32, copy=True) if floating else tensor.clone()
        param = torch.nn.Parameter(data, requires_grad=floating)
        for alias in group:
            module_name, _, attr = alias.rpartition(".")
            (model.get_submodule(module_name) if module_name else model)._parameters[attr] = param
    with torch.no_grad():
        for name, buffer in _persistent_buffers(model).items():
            if name in source_of:
                buffer.copy_(tensors[source_of[name]].to(buffer.dtype))
    model.eval()
    return model


# --------------------------------------------------------------------------- writing


def _clean_tokenizer_config(data: Dict[str, Any]) -> Dict[str, Any]:
    """transformers 5 writes ``extra_special_tokens`` as a list, which 4.x cannot read (it
    expects a mapping): keep such tokens as ``additional_special_tokens``, which both read."""
    extra = data.get("extra_special_tokens")
    if isinstance(extra, list):
        data = dict(data)
        del data["extra_special_tokens"]
        additional = list(data.get("additional_special_tokens") or [])
        for token in extra:
            if token not in additional:
                additional.append(token)
        if additional:
            data["additional_special_tokens"] = additional
    return data


def tokenizer_files(tokenizer: Any) -> Dict[str, bytes]:
    """The tokenizer's own files (``save_pretrained``), readable by transformers 4.45+ and 5."""
    files: Dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="spacy-task-pipes-tok-") as tmp:
        tokenizer.save_pretrained(tmp)
        for file in sorted(Path(tmp).rglob("*")):
            if file.is_file() and not file.name.endswith(PICKLE_SUFFIXES):
                files[file.relative_to(tmp).as_posix()] = file.read_bytes()
    if "tokenizer_config.json" in files:
        data = json.loads(files["tokenizer_config.json"].decode("utf-8"))
        files["tokenizer_config.json"] = (json.dumps(_clean_tokenizer_config(data), indent=2, sort_keys=True,
                                                     ensure_ascii=False) + "\n").encode("utf-8")
    return files


def model_files(model: Any) -> Dict[str, bytes]:
    """``model.safetensors``, ``config.json`` and (models that generate) ``generation_config.json``."""
    from safetensors.torch import save

    state = {name: tensor.detach().to("cpu").contiguous() for name, tensor in _unique_state(model).items()}
    files = {
        WEIGHTS: save(state, metadata={"format": "pt"}),
        CONFIG: (model.config.to_json_string(use_diff=True)).encode("utf-8"),
    }
    generation = getattr(model, "generation_config", None)
    can_generate = getattr(model, "can_generate", lambda: False)()
    if generation is not None and can_generate:
        files[GENERATION_CONFIG] = generation.to_json_string(use_diff=True).encode("utf-8")
    return files


# --------------------------------------------------------------------------- reading


def check_model_files(files: ModelFiles) -> None:
    """The files a pipeline needs are there and parse; configs carry no code settings."""
    if not files.has(WEIGHTS) or not files.has(CONFIG):
        raise ValueError(
            f"No transformer weights in {files.source}: expected model.safetensors and config.json, found "
            f"{sorted(files.names())}. Re-save the pipeline with this version."
        )
    if not any(files.has(name) for name in VOCABULARY_FILES):
        raise ValueError(
            f"No tokenizer files in {files.source}: expected one of {', '.join(VOCABULARY_FILES)}, found "
            f"{sorted(files.names())}. Restore the pipeline from a good copy or save it again."
        )
    for name in JSON_FILES:
        if files.has(name):
            data = files.read_json(name)
            if name in (CONFIG, "tokenizer_config.json"):
                keys = [k for k in find_code_keys(data) if not k.startswith("auto_map")]
                if keys:  # auto_map alone is dropped before loading (never honoured)
                    raise ValueError(f"{files.source}/{name} sets {', '.join(keys)}: refused (code shipped "
                                     "with a model is never run).")


def saved_with_hint(files: ModelFiles) -> str:
    """" (saved with transformers X; this is Y: ...)" where the files come from a newer major
    version than the one running, else ""."""
    import transformers

    try:
        saved = str(files.read_json(CONFIG).get("transformers_version") or "")
    except (ValueError, AttributeError, KeyError):
        return ""
    running = transformers.__version__
    try:
        newer = int(saved.split(".")[0]) > int(running.split(".")[0])
    except ValueError:
        return ""
    if not newer:
        return ""
    return (f" (saved with transformers {saved}; this is {running}: install transformers>={saved.split('.')[0]} to "
            f"load it, or save the pipeline again under {running})")


def load_tokenizer(files: ModelFiles, tokenizer_cls: Any, kwargs: Mapping[str, Any]) -> Any:
    """The tokenizer from its files only (copied into a private temporary folder)."""
    present = [n for n in TOKENIZER_FILES + (CONFIG,) if files.has(n)]
    with tempfile.TemporaryDirectory(prefix="spacy-task-pipes-tok-") as tmp:
        for name in present:
            data = files.read(name)
            if name in ("tokenizer_config.json", CONFIG):  # never honour auto_map: drop it
                parsed = files.read_json(name)
                if isinstance(parsed, dict) and "auto_map" in parsed:
                    parsed = {k: v for k, v in parsed.items() if k != "auto_map"}
                    data = json.dumps(parsed).encode("utf-8")
            (Path(tmp) / name).write_bytes(data)
        try:
            tokenizer = tokenizer_cls.from_pretrained(tmp, **dict(kwargs), local_files_only=True,
                                                      trust_remote_code=False)
        except RecursionError:
            raise ValueError(f"Could not load the tokenizer from {files.source}: a tokenizer file is nested "
                             "too deeply. Restore the pipeline from a good copy.") from None
        except Exception as err:  # noqa: BLE001 - tokenizers raise many types
            text = str(err).replace(tmp, files.source)
            raise ValueError(
                f"Could not load the tokenizer from {files.source} ({type(err).__name__}: {text}){saved_with_hint(files)}. "
                f"Files present: {sorted(files.names())}. Restore the pipeline from a good copy or save it again."
            ) from None
    if tokenizer is None or isinstance(tokenizer, bool):
        raise ValueError(f"No tokenizer files in {files.source}: found {sorted(files.names())}.")
    return tokenizer


def load_generation_config(model: Any, files: ModelFiles) -> None:
    if not files.has(GENERATION_CONFIG) or getattr(model, "generation_config", None) is None:
        return
    from transformers import GenerationConfig

    data = files.read_json(GENERATION_CONFIG)
    try:
        generation = GenerationConfig.from_dict(dict(data))
        if not hasattr(generation, "_original_object_hash"):  # 4.x's generate() reads it
            generation._original_object_hash = hash(generation)
        model.generation_config = generation
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"Could not read {files.source}/{GENERATION_CONFIG} ({type(err).__name__}: {err}). "
                         "Restore the pipeline from a good copy or save it again.") from None


def load_model(files: ModelFiles, model_cls: Any) -> Any:
    """Config, weights and generation settings (see the module docstring)."""
    try:
        config = config_from_dict(files.read_json(CONFIG), files.source)
    except ValueError as err:
        hint = saved_with_hint(files)
        raise ValueError(f"{err}{hint}" if hint else str(err)) from None
    config.return_dict = True
    model = build_model(model_cls, config, files)
    load_generation_config(model, files)
    return model


def call_quietly(func: Callable[[], Any]) -> Any:
    """Run ``func`` with transformers' and the hub's progress bars off (they share a lock
    across processes that a killed child can leave held)."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover
        return func()
    enabled = hf_logging.is_progress_bar_enabled()
    if enabled:
        hf_logging.disable_progress_bar()
    try:
        return func()
    finally:
        if enabled:
            hf_logging.enable_progress_bar()
