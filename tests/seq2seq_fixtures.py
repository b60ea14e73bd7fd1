"""Tiny random seq2seq models (T5, Marian, M2M100) built locally (nothing downloads).

Import the fixtures into a test module (``from seq2seq_fixtures import seq2seq_models``).
The models are built once per test process (module-level cache), so several
modules can share them. Tokenizers are SentencePiece unigram models trained here
on the local text below.
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path
from typing import Dict, List

import pytest

# English, Spanish and Portuguese sentences (plus a few accents) for the tokenizers.
SENTENCES = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Marie Curie was born in Warsaw and won two Nobel prizes.",
    "The meeting starts at nine and ends before lunch.",
    "Alice called Bob to say that the train was late again.",
    "We bought bread, cheese and apples at the market on Tuesday.",
    "El perro come carne y el gato bebe leche en la cocina.",
    "Mi hermana vive en Madrid y trabaja en un hospital grande.",
    "¿Dónde está la estación de tren? Está cerca del parque.",
    "La casa azul tiene un jardín con muchas flores bonitas.",
    "Hoy hace mucho calor, así que vamos a la playa.",
    "O cachorro come carne e o gato bebe leite na cozinha.",
    "Minha irmã mora em Lisboa e trabalha em um hospital grande.",
    "Onde fica a estação de trem? Fica perto do parque.",
    "A casa azul tem um jardim com muitas flores bonitas.",
    "Hoje está muito calor, então vamos à praia.",
    "Vamos à praia? A casa é azul e o café é bom.",
    "translate Spanish to Portuguese: summarize: Person1 Person2",
]

_CACHE: Dict[str, object] = {}


def corpus_lines(n_random: int = 400, seed: int = 0) -> List[str]:
    rng = random.Random(seed)
    words = " ".join(SENTENCES).split()
    lines = list(SENTENCES)
    for _ in range(n_random):
        lines.append(" ".join(rng.choice(words) for _ in range(rng.randint(3, 14))))
    return lines


def random_texts(n: int, seed: int = 1) -> List[str]:
    """Mixed-length inputs: 1 to 60 words, some with stray whitespace."""
    rng = random.Random(seed)
    words = " ".join(SENTENCES).split()
    out = []
    for i in range(n):
        n_words = rng.choice([1, 2, 4, 8, 15, 25, 40, 60])
        text = " ".join(rng.choice(words) for _ in range(n_words))
        if i % 9 == 0:
            text = "  " + text + " \n"
        out.append(text)
    return out


def _train_spm(root: Path, name: str, **kwargs) -> Path:
    import sentencepiece as spm

    text_file = root / "corpus.txt"
    if not text_file.exists():
        text_file.write_text("\n".join(corpus_lines()) + "\n", encoding="utf-8")
    prefix = root / name
    spm.SentencePieceTrainer.train(
        input=str(text_file),
        model_prefix=str(prefix),
        vocab_size=300,
        model_type="unigram",
        character_coverage=1.0,
        hard_vocab_limit=False,
        num_threads=1,
        minloglevel=2,
        **kwargs,
    )
    return prefix.with_suffix(".model")


# Marian and M2M100 share the BART-style layout: the same tiny shape, no dropout, a wide
# init (std 1.0) so that random weights give varied outputs.
_TINY_BART_SHAPE = dict(
    d_model=32,
    encoder_layers=2,
    decoder_layers=2,
    encoder_attention_heads=2,
    decoder_attention_heads=2,
    encoder_ffn_dim=64,
    decoder_ffn_dim=64,
    max_position_embeddings=512,
    dropout=0.0,
    attention_dropout=0.0,
    activation_dropout=0.0,
    init_std=1.0,
)


def _save_random_model(model_cls, config, tokenizer, out: Path) -> Path:
    """Seeded random weights (eval mode) and the tokenizer, saved with safetensors."""
    import torch

    torch.manual_seed(0)
    model = model_cls(config).eval()
    tokenizer.save_pretrained(str(out))
    model.save_pretrained(str(out), safe_serialization=True)
    return out


def _build_t5(root: Path, name: str = "tiny-t5", initializer_factor: float = 5.0) -> Path:
    from transformers import T5Config, T5ForConditionalGeneration

    from spacy_task_pipes.hf import t5_tokenizer

    spm_file = root / "t5spm.model"
    if not spm_file.exists():
        spm_file = _train_spm(root, "t5spm", pad_id=0, eos_id=1, unk_id=2, bos_id=-1)
    tokenizer = t5_tokenizer(spm_file)
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=32,
        d_kv=16,
        d_ff=64,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=2,
        decoder_start_token_id=tokenizer.pad_token_id,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        dropout_rate=0.0,
        # 5.0: peaky logits, varied outputs (reference tests); 1.0: easy to train
        initializer_factor=initializer_factor,
    )
    return _save_random_model(T5ForConditionalGeneration, config, tokenizer, root / name)


def _marian_vocab(spm_file: Path) -> Dict[str, int]:
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(spm_file))
    vocab = {"</s>": 0, "<unk>": 1}
    for i in range(sp.get_piece_size()):
        piece = sp.id_to_piece(i)
        if piece not in vocab and piece not in ("<s>", "<pad>"):
            vocab[piece] = len(vocab)
    vocab["<pad>"] = len(vocab)
    return vocab


def _build_marian(root: Path) -> Path:
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    spm_file = _train_spm(root, "marianspm", unk_id=0, bos_id=1, eos_id=2, pad_id=-1)
    vocab = _marian_vocab(spm_file)
    vocab_file = root / "marian-vocab.json"
    vocab_file.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tokenizer = MarianTokenizer(
        source_spm=str(spm_file), target_spm=str(spm_file), vocab=str(vocab_file)
    )
    pad = vocab["<pad>"]
    config = MarianConfig(
        vocab_size=len(vocab), pad_token_id=pad, decoder_start_token_id=pad, eos_token_id=0,
        forced_eos_token_id=0, **_TINY_BART_SHAPE,
    )
    return _save_random_model(MarianMTModel, config, tokenizer, root / "tiny-marian")


def _build_m2m100(root: Path) -> Path:
    from transformers import M2M100Config, M2M100ForConditionalGeneration, M2M100Tokenizer

    spm_file = _train_spm(root, "m2mspm", unk_id=3, bos_id=0, eos_id=2, pad_id=1)
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(spm_file))
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for i in range(sp.get_piece_size()):
        vocab.setdefault(sp.id_to_piece(i), len(vocab))
    vocab_file = root / "m2m-vocab.json"
    vocab_file.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    from transformers.models.m2m_100.tokenization_m2m_100 import FAIRSEQ_LANGUAGE_CODES

    # as in the real checkpoints, the language codes are special tokens (skipped in decoding)
    lang_tokens = [f"__{code}__" for code in FAIRSEQ_LANGUAGE_CODES["m2m100"]]
    tokenizer = M2M100Tokenizer(
        str(vocab_file), str(spm_file), src_lang="es", tgt_lang="pt", additional_special_tokens=lang_tokens
    )
    config = M2M100Config(
        vocab_size=max(tokenizer.lang_token_to_id.values()) + 9,  # language codes (+8 made-up words) come last
        pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2, **_TINY_BART_SHAPE,
    )
    return _save_random_model(M2M100ForConditionalGeneration, config, tokenizer, root / "tiny-m2m100")


def get_tiny_seq2seq_models() -> Dict[str, Path]:
    """``{"t5": dir, "t5-train": dir, "marian": dir, "m2m100": dir}``, built once per process."""
    import torch

    # Tiny matrices: one thread is ~50x faster than several on a shared, busy CPU.
    torch.set_num_threads(1)
    if "models" not in _CACHE:
        root = Path(tempfile.mkdtemp(prefix="tiny-seq2seq-models-"))
        _CACHE["models"] = {
            "t5": _build_t5(root),
            "t5-train": _build_t5(root, "tiny-t5-train", initializer_factor=1.0),
            "marian": _build_marian(root),
            "m2m100": _build_m2m100(root),
        }
    return _CACHE["models"]  # type: ignore[return-value]


@pytest.fixture(scope="session")
def seq2seq_models() -> Dict[str, Path]:
    return get_tiny_seq2seq_models()


def make_seq2seq_nlp(factory: str, model_dir: Path, *, sentencizer: bool = False, **cfg):
    """A blank multilingual pipeline with ``factory`` (translator/summarizer) on ``model_dir``."""
    import spacy

    import spacy_task_pipes.seq2seq.summarizer  # noqa: F401  (registers the factories)
    import spacy_task_pipes.seq2seq.translator  # noqa: F401

    nlp = spacy.blank("xx")
    if sentencizer:
        nlp.add_pipe("sentencizer")
    config = {"model": {"@architectures": "spacy_task_pipes.Seq2SeqLM.v1", "name": str(model_dir)}}
    config.update(cfg)
    nlp.add_pipe(factory, config=config)
    nlp.initialize()
    return nlp
