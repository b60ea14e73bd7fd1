"""How tests/data/pipeline_transformers4 and tests/data/pipeline_transformers5 were made: a tiny
pipeline with a question_answerer (BERT, WordPiece), a translator (T5, SentencePiece) and a
second translator (M2M100, language codes) saved by this package under transformers 4.53 and
5, so that tests can check that a pipeline saved under either version loads under the other
with the same answers and translations. Run it once in each environment:

    .venv-trf/bin/python tests/data/make_version_pipeline.py tests/data/pipeline_transformers4
    .venv/bin/python tests/data/make_version_pipeline.py tests/data/pipeline_transformers5

It also writes ``expected.json``: the answers and translations it gave, and the versions.
"""

import json
import random
import sys
import tempfile
from pathlib import Path

import sentencepiece as spm
import spacy
import torch
import transformers

from spacy_task_pipes.hf import t5_tokenizer, wordpiece_tokenizer

TEXTS = [
    "Marie Curie was born in Warsaw in 1867 and won two Nobel prizes.",
    "The Eiffel Tower is in Paris and was completed in 1889.",
    "Bob bought three apples and a melon at the market on Tuesday.",
    "Hoy hace calor. El perro come carne en la casa.",
]
QUESTIONS = ["Where was Marie Curie born?", "When was it completed?", "What did Bob buy?"]
SIZE = dict(d_model=8, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
            encoder_ffn_dim=16, decoder_ffn_dim=16, max_position_embeddings=64, init_std=0.5)


def corpus(n: int = 300):
    rng = random.Random(0)
    words = " ".join(TEXTS + QUESTIONS).split()
    return TEXTS + QUESTIONS + [" ".join(rng.choice(words) for _ in range(10)) for _ in range(n)]


def train_spm(root: Path, name: str, **ids) -> Path:
    text = root / f"{name}.txt"
    text.write_text("\n".join(corpus()), encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(root / name), vocab_size=120,
                                   model_type="unigram", hard_vocab_limit=False, minloglevel=2, num_threads=1,
                                   **ids)
    return root / f"{name}.model"


def qa_model(root: Path) -> Path:
    from transformers import BertConfig, BertForQuestionAnswering

    out = root / "qa"
    words = sorted({w.strip(".,?").lower() for w in " ".join(TEXTS + QUESTIONS).split()})
    chars = sorted({c for w in words for c in w})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "?"] + chars + [f"##{c}" for c in chars] + words
    tokenizer = wordpiece_tokenizer(vocab, lowercase=True, model_max_length=128)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=16, max_position_embeddings=128, initializer_range=0.5)
    BertForQuestionAnswering(config).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def t5_model(root: Path) -> Path:
    from transformers import T5Config, T5ForConditionalGeneration

    out = root / "t5"
    tokenizer = t5_tokenizer(train_spm(root, "t5spm", pad_id=0, eos_id=1, unk_id=2, bos_id=-1), model_max_length=64)
    torch.manual_seed(0)
    config = T5Config(vocab_size=len(tokenizer), d_model=8, d_kv=4, d_ff=16, num_layers=1, num_decoder_layers=1,
                      num_heads=2, decoder_start_token_id=tokenizer.pad_token_id, pad_token_id=tokenizer.pad_token_id,
                      eos_token_id=tokenizer.eos_token_id, dropout_rate=0.0, initializer_factor=5.0)
    T5ForConditionalGeneration(config).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def m2m100_model(root: Path) -> Path:
    from transformers import M2M100Config, M2M100ForConditionalGeneration, M2M100Tokenizer
    from transformers.models.m2m_100.tokenization_m2m_100 import FAIRSEQ_LANGUAGE_CODES

    out = root / "m2m100"
    spm_file = train_spm(root, "m2mspm", unk_id=3, bos_id=0, eos_id=2, pad_id=1)
    sp = spm.SentencePieceProcessor(model_file=str(spm_file))
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for i in range(sp.get_piece_size()):
        vocab.setdefault(sp.id_to_piece(i), len(vocab))
    (root / "m2m-vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    langs = [f"__{code}__" for code in FAIRSEQ_LANGUAGE_CODES["m2m100"]]
    tokenizer = M2M100Tokenizer(str(root / "m2m-vocab.json"), str(spm_file), src_lang="es", tgt_lang="pt",
                                additional_special_tokens=langs)
    torch.manual_seed(0)
    config = M2M100Config(vocab_size=max(tokenizer.lang_token_to_id.values()) + 9, pad_token_id=1, bos_token_id=0,
                          eos_token_id=2, decoder_start_token_id=2, **SIZE)
    M2M100ForConditionalGeneration(config).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def run(nlp):
    docs = []
    for text in TEXTS:
        doc = nlp.make_doc(text)
        doc._.questions = QUESTIONS
        docs.append(nlp(doc))
    return {"answers": [[[a.text, round(a.score, 5)] for a in d._.answers] for d in docs],
            "translations": [d._.translation for d in docs],
            "translations_m2m100": [d._.translation_m2m100 for d in docs]}


def main(out_dir: str) -> None:
    out = Path(out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        nlp = spacy.blank("xx")
        nlp.add_pipe("sentencizer")
        nlp.add_pipe("question_answerer", config={"model": {"name": str(qa_model(root))}, "max_seq_length": 64,
                                                  "doc_stride": 16})
        nlp.add_pipe("translator", config={"model": {"name": str(t5_model(root))}, "num_beams": 1,
                                           "max_new_tokens": 5, "min_new_tokens": 5})
        nlp.add_pipe("translator", name="translator_m2m100",
                     config={"model": {"name": str(m2m100_model(root))}, "field": "translation_m2m100",
                             "src_lang": "es", "tgt_lang": "pt", "num_beams": 1, "max_new_tokens": 5,
                             "min_new_tokens": 5})
        nlp.initialize()
        nlp.to_disk(out)
    expected = {"saved_with": {"transformers": transformers.__version__, "spacy": spacy.__version__},
                "texts": TEXTS, "questions": QUESTIONS, **run(nlp)}
    (out / "expected.json").write_text(json.dumps(expected, ensure_ascii=False, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
