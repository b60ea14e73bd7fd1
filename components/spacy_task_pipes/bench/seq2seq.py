"""Seq2seq benchmark helpers: build a randomly initialised T5 model (t5-small-sized
or tiny) with a SentencePiece tokenizer trained on local text, read the benchmark
inputs, and time our ``translator``/``summarizer`` against transformers'
``translation``/``summarization`` pipelines and a bare length-sorted batched
``model.generate`` on the very same model object.

Nothing downloads: the tokenizer is trained here, the weights are random (seeded).
With ``min_new_tokens == max_new_tokens`` every runner generates the same number of
tokens, so the throughput comparison is not skewed by early EOS.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from ..io import InputError, iter_jsonl, iter_lines

PathLike = Union[str, Path]

# T5Config keyword arguments per size ("t5-small" is google-t5/t5-small's shape).
MODEL_SIZES: Dict[str, Dict[str, Any]] = {
    "t5-small": {"d_model": 512, "d_kv": 64, "d_ff": 2048, "num_layers": 6, "num_decoder_layers": 6,
                 "num_heads": 8, "vocab": 32000},
    "mini": {"d_model": 256, "d_kv": 32, "d_ff": 1024, "num_layers": 4, "num_decoder_layers": 4,
             "num_heads": 8, "vocab": 8000},
    "tiny": {"d_model": 128, "d_kv": 32, "d_ff": 512, "num_layers": 2, "num_decoder_layers": 2,
             "num_heads": 4, "vocab": 4000},
}


# -------------------------------------------------------------------- model


def train_sentencepiece(texts: Iterable[str], prefix: PathLike, vocab_size: int, seed_sentences: int = 2_000_000) -> Path:
    """Train a T5-style SentencePiece unigram model (pad 0, eos 1, unk 2, no bos)."""
    import sentencepiece as spm

    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False) as f:
        n = 0
        for text in texts:
            for line in text.splitlines():
                if line.strip():
                    f.write(line.strip() + "\n")
                    n += 1
        corpus = f.name
    if n == 0:
        raise ValueError("No text to train the SentencePiece tokenizer on: give non-empty --text files.")
    try:
        spm.SentencePieceTrainer.train(
            input=corpus, model_prefix=str(prefix), vocab_size=vocab_size, model_type="unigram",
            character_coverage=0.9995, hard_vocab_limit=False, pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
            input_sentence_size=seed_sentences, shuffle_input_sentence=True, num_threads=2, minloglevel=2,
            user_defined_symbols=["#Person1#", "#Person2#", "#Person3#"],
        )
    finally:
        Path(corpus).unlink(missing_ok=True)
    return prefix.with_suffix(".model")


def build_t5_model_dir(
    texts: Iterable[str],
    output_dir: PathLike,
    *,
    size: str = "t5-small",
    vocab_size: Optional[int] = None,
    seed: int = 0,
    max_length: int = 512,
    initializer_factor: float = 1.0,
) -> Path:
    """Train a SentencePiece tokenizer on ``texts`` and save a randomly initialised
    ``T5ForConditionalGeneration`` of ``size`` with it (safetensors +
    tokenizer files) in ``output_dir``, loadable by spaCy and transformers."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration, T5TokenizerFast

    if size not in MODEL_SIZES:
        raise ValueError(f"Unknown model size {size!r}: use one of {sorted(MODEL_SIZES)}.")
    shape = dict(MODEL_SIZES[size])
    vocab = vocab_size or shape.pop("vocab")
    shape.pop("vocab", None)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        spm_file = train_sentencepiece(texts, Path(tmp) / "spiece", vocab)
        tokenizer = T5TokenizerFast(vocab_file=str(spm_file), extra_ids=0, legacy=False,
                                    model_max_length=max_length)
        tokenizer.save_pretrained(str(output_dir))
    config = T5Config(
        vocab_size=len(tokenizer), decoder_start_token_id=tokenizer.pad_token_id,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        dropout_rate=0.1, initializer_factor=initializer_factor, feed_forward_proj="relu", **shape,
    )
    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(config).eval()
    model.save_pretrained(str(output_dir), safe_serialization=True)
    return output_dir


# ------------------------------------------------------------------- inputs


def first_lines(path: PathLike, n: int) -> List[str]:
    """The first ``n`` non-empty lines of a text file (e.g. Tatoeba ``.spa``)."""
    out: List[str] = []
    for _, line in iter_lines(path):
        if line.strip():
            out.append(line)
            if len(out) >= n:
                break
    if not out:
        raise InputError(f"{path}: no non-empty lines; pass a line-per-sentence text file.")
    return out


def first_records(path: PathLike, n: int, field: str = "dialogue") -> List[str]:
    """The ``field`` of the first ``n`` JSONL records (e.g. DialogSum ``dialogue``)."""
    out: List[str] = []
    for lineno, rec in iter_jsonl(path):
        if not isinstance(rec, dict) or not isinstance(rec.get(field), str):
            raise InputError(f"{path}:{lineno}: no string field {field!r}; pass --text-field.")
        out.append(rec[field])
        if len(out) >= n:
            break
    return out


# ------------------------------------------------------------------ runners


def timed(fn: Callable[[], Any]) -> Tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def normalize(text: str) -> str:
    return " ".join(text.split())


def run_ours(nlp, texts: Sequence[str], field: str, batch_size: int) -> List[str]:
    return [getattr(doc._, field) or "" for doc in nlp.pipe(texts, batch_size=batch_size)]


def run_hf_pipeline(hf_pipe, texts: Sequence[str], prefix: str, batch_size: int, key: str,
                    **generate_kwargs: Any) -> List[str]:
    outputs = hf_pipe([prefix + t for t in texts], batch_size=batch_size, **generate_kwargs)
    return [normalize(o[key]) for o in outputs]


def run_bare_generate(model, tokenizer, texts: Sequence[str], prefix: str, batch_size: int,
                      max_length: int, **generate_kwargs: Any) -> List[str]:
    """Length-sorted batches of ``batch_size`` through ``model.generate`` (the floor)."""
    import torch

    from ..hf import batches_by_length

    encoded = tokenizer([prefix + t for t in texts], truncation=True, max_length=max_length)["input_ids"]
    out: List[str] = [""] * len(texts)
    model.eval()
    with torch.inference_mode():
        for idx in batches_by_length([len(ids) for ids in encoded], batch_size):
            batch = tokenizer.pad({"input_ids": [encoded[i] for i in idx]}, return_tensors="pt")
            gen = model.generate(**batch, **generate_kwargs)
            for i, text in zip(idx, tokenizer.batch_decode(gen, skip_special_tokens=True, clean_up_tokenization_spaces=True)):
                out[i] = normalize(text)
    return out


def run_hf_pipeline_same_batches(hf_pipe, tokenizer, texts: Sequence[str], prefix: str, batch_size: int,
                                 key: str, **generate_kwargs: Any) -> List[str]:
    """The HF pipeline fed the inputs in the length-sorted order our component and the
    bare floor use, so its batches of ``batch_size`` hold the very same inputs (same
    padding); results put back in input order. Isolates the algorithm from batch
    composition: a randomly initialised model amplifies the float rounding that a
    different amount of padding causes (see the README), so outputs can only be
    compared exactly on identical batches."""
    from ..hf import batches_by_length

    lengths = [len(ids) for ids in tokenizer([prefix + t for t in texts])["input_ids"]]
    order = [i for batch in batches_by_length(lengths, batch_size) for i in batch]
    sorted_out = run_hf_pipeline(hf_pipe, [texts[i] for i in order], prefix, batch_size, key, **generate_kwargs)
    out: List[str] = [""] * len(texts)
    for i, text in zip(order, sorted_out):
        out[i] = text
    return out


def agreement(a: Sequence[str], b: Sequence[str]) -> float:
    """Exact string match rate (after whitespace normalisation)."""
    if not a:
        return 1.0
    return sum(normalize(x) == normalize(y) for x, y in zip(a, b)) / len(a)


def interleaved(
    runners: Dict[str, Callable[[], Any]], repeats: int, desc: str = "benchmark"
) -> Tuple[Dict[str, List[float]], Dict[str, Any]]:
    """Run every runner once per repeat, in turn, under a progress bar (stderr); returns
    the times and the last output of each runner."""
    from tqdm import tqdm

    times: Dict[str, List[float]] = {name: [] for name in runners}
    outputs: Dict[str, Any] = {}
    with tqdm(total=repeats * len(runners), desc=desc, unit="run", leave=False) as bar:
        for _ in range(repeats):
            for name, fn in runners.items():
                bar.set_postfix_str(name)
                seconds, out = timed(fn)
                times[name].append(seconds)
                outputs[name] = out
                bar.update(1)
    return times, outputs


def summarize_times(n_items: int, times: Dict[str, List[float]], outputs: Dict[str, List[str]]) -> Dict[str, Any]:
    ips = {name: n_items / statistics.median(ts) for name, ts in times.items()}
    extra = {}
    if "hf_pipeline_same_batches" in outputs:
        extra["agreement_ours_vs_hf_pipeline_same_batches"] = round(
            agreement(outputs["ours"], outputs["hf_pipeline_same_batches"]), 4)
    return {
        "items": n_items,
        "items_per_second": {k: round(v, 2) for k, v in ips.items()},
        "ratio_ours_vs_hf_pipeline": round(ips["ours"] / ips["hf_pipeline"], 3),
        "ratio_ours_vs_bare_generate": round(ips["ours"] / ips["bare_generate"], 3),
        "agreement_ours_vs_hf_pipeline": round(agreement(outputs["ours"], outputs["hf_pipeline"]), 4),
        "agreement_ours_vs_bare_generate": round(agreement(outputs["ours"], outputs["bare_generate"]), 4),
        # both sides are transformers' own code: what batch composition alone does to the outputs
        "agreement_hf_pipeline_vs_bare_generate": round(agreement(outputs["hf_pipeline"], outputs["bare_generate"]), 4),
        **extra,
        "seconds": {k: [round(t, 2) for t in ts] for k, ts in times.items()},
    }
