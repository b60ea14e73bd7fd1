"""Loading a tokenizer + task model at initialize (hub name or local folder, through
``from_pretrained``), and turning one into ``{file name: bytes}`` and back (through
:mod:`.model_files`, without ``from_pretrained``), safely: no code is run, no pickle is read,
partial weights are refused, every error names the file."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

from thinc.api import get_torch_default_device
from transformers import AutoConfig, AutoModel, AutoTokenizer

from .model_files import (
    CODE_KEYS,
    VOCABULARY_FILES,
    BytesModelFiles,
    DirModelFiles,
    ModelFiles,
    call_quietly,
    mismatch_error,
    check_model_files,
    load_model,
    load_tokenizer,
    model_files,
    refuse_code_files,
    tokenizer_files,
)
from .objects import HFObjects


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
_CODE_KEYS = CODE_KEYS  # ("trust_remote_code", "code_revision", "auto_map")


# Tokenizer keyword arguments honoured when a pipeline is loaded from its own files
# (config.cfg may come with an untrusted pipeline); anything else is ignored with a warning.
TOKENIZER_LOAD_KEYS = frozenset(
    {
        "use_fast", "add_prefix_space", "do_lower_case", "strip_accents",
        "tokenize_chinese_chars", "model_max_length", "padding_side", "truncation_side",
        "clean_up_tokenization_spaces", "src_lang", "tgt_lang", "legacy",
    }
)


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


def _check_weights(info: Mapping[str, Any], where: str, new_head: bool, block: str) -> None:
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
        raise mismatch_error(where, missing, unexpected, mismatched, block)


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
    setting: str = "the model block's name",
    new_head: bool = False,
) -> HFObjects:
    """Load tokenizer and task model from a local directory or a hub name (initialize).

    Never runs code from the model (``trust_remote_code`` is refused, a local folder
    with ``.py`` files too); from a local directory only safetensors weights are
    accepted; missing or unexpected weights are an error unless ``new_head``; a local
    folder without tokenizer files is an error (transformers 5 would make a 5-token
    tokenizer from config.json alone). Weights are float32 whatever they were saved in.
    """
    import torch

    source = str(name)
    path = Path(source).expanduser()
    is_local = path.exists()
    block = setting[: -len(" name")] if setting.endswith("] name") else "the model block"
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
        if not any((path / n).is_file() for n in VOCABULARY_FILES):
            raise FileNotFoundError(
                f"No tokenizer files in {path}: expected one of {', '.join(VOCABULARY_FILES)}. Set {setting} "
                "to a directory written by both `tokenizer.save_pretrained` and `model.save_pretrained`."
            )
    if not is_local:
        check_model_available(source, setting)
    load_from = str(path.absolute()) if is_local else source
    trf_config = dict(transformer_config)
    trf_config["return_dict"] = True

    def load():
        tokenizer = tokenizer_cls.from_pretrained(load_from, **dict(tokenizer_config), trust_remote_code=False)
        config = config_cls.from_pretrained(load_from, **trf_config, trust_remote_code=False)
        transformer, info = model_cls.from_pretrained(
            load_from,
            config=config,
            use_safetensors=True if is_local else None,
            trust_remote_code=False,
            output_loading_info=True,
        )
        return tokenizer, transformer, info

    try:
        tokenizer, transformer, info = call_quietly(load)
    except OSError as err:
        where = f"local directory {path}" if is_local else f"hub model '{source}'"
        raise OSError(
            f"Could not load the {where} ({err}). Check {setting}: a local directory "
            "needs config.json, tokenizer files and model.safetensors; a hub name "
            "needs network access or a filled cache (HF_HUB_OFFLINE=1 only works "
            "with a cache or a pipeline saved with its weights)."
        ) from err
    _check_weights(info, f"The weights of {source} ({setting})", new_head, block)
    transformer.to(dtype=torch.float32, device=get_torch_default_device())
    transformer.eval()
    return HFObjects(tokenizer, transformer, dict(tokenizer_config), dict(transformer_config))


def hf_to_files(hf: HFObjects) -> Dict[str, bytes]:
    """Serialize tokenizer + model into ``{file name: bytes}`` (see :mod:`.model_files`)."""
    files = tokenizer_files(hf.tokenizer)
    files.update(model_files(hf.transformer))
    return files


def hf_from_files(
    files: Union[Mapping[str, bytes], ModelFiles],
    *,
    model_cls=AutoModel,
    tokenizer_cls=AutoTokenizer,
    tokenizer_config: Optional[Mapping[str, Any]] = None,
    source: str = "serialized data",
) -> HFObjects:
    """Inverse of :func:`hf_to_files`, from bytes or a :class:`DirModelFiles`; loads nothing
    from the network and runs no code (see :mod:`.model_files`).

    Every error names ``source`` (the pipeline folder or bytes) and the damaged file;
    weights that do not match the architecture completely are refused."""
    if not isinstance(files, ModelFiles):
        files = BytesModelFiles(files, source)
    check_model_files(files)
    tok_kwargs = tokenizer_load_kwargs(tokenizer_config, files.source)
    tokenizer = load_tokenizer(files, tokenizer_cls, tok_kwargs)
    transformer = load_model(files, model_cls)
    transformer.to(get_torch_default_device())
    return HFObjects(tokenizer, transformer)


def read_model_dir(path: Path) -> DirModelFiles:
    """The ``model/`` folder of a saved component (symbolic links refused, nothing read yet)."""
    return DirModelFiles(path)


def write_files_dir(files: Mapping[str, bytes], path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
