"""Length-sorted batches and padding of variable-length features; freeing GPU memory."""

from __future__ import annotations

from typing import Dict, Iterable, List, Mapping, Sequence

import numpy
import torch



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
    length: int = 0,
) -> Dict[str, numpy.ndarray]:
    """Right-pad the integer sequences under ``keys`` into (batch, max_len) int64 arrays;
    ``max_len`` is the longest ``input_ids``, or ``length`` where that is longer."""
    max_len = max([length] + [len(f["input_ids"]) for f in features])
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
