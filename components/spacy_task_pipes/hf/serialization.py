"""``to_disk``/``from_disk``/``to_bytes``/``from_bytes`` for pipes built on the shim."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Union

import srsly
from spacy.util import SimpleFrozenList, ensure_path

from ..io import recover_dir, replace_dir_atomic
from .loading import read_model_dir, write_files_dir
from .shim import get_hf_shim


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
        if path.is_symlink():
            raise ValueError(
                f"{path} is a symbolic link: refused (a pipeline folder holds plain files and folders; "
                "a link could load a model from outside it). Replace it with the folder itself."
            )
        recover_dir(path)
        get_hf_shim(self.model).from_files(read_model_dir(path / "model"))
        return self
