"""How tests/data/legacy_pipeline was made: a tiny question_answerer + translator pipeline
saved by spacy_task_pipes 0.1.0 as it was before the sub-package layout and before the
saved ``cfg`` was dropped (commit b0f87f3), so tests can check that pipelines saved then
still load. Run it with that version on the path:

    git worktree add /tmp/oldmain b0f87f3
    PYTHONPATH=/tmp/oldmain/components python tests/data/make_legacy_pipeline.py tests/data/legacy_pipeline

It also writes ``expected.json``: the answers and translations that version gave.
"""

import json
import sys
import tempfile
from pathlib import Path

import spacy
import torch
from tokenizers import BertWordPieceTokenizer, ByteLevelBPETokenizer
from transformers import (BartConfig, BartForConditionalGeneration, BartTokenizerFast, BertConfig,
                          BertForQuestionAnswering, BertTokenizerFast)

TEXTS = [
    "Marie Curie was born in Warsaw in 1867 and won two Nobel prizes.",
    "The Eiffel Tower is in Paris and was completed in 1889.",
    "Bob bought three apples and a melon at the market on Tuesday.",
    "Hoy hace calor. El perro come carne en la casa.",
]
QUESTIONS = ["Where was Marie Curie born?", "When was it completed?", "What did Bob buy?"]


def qa_model(root: Path) -> Path:
    out = root / "qa"
    (root / "wp").mkdir()
    tok = BertWordPieceTokenizer(lowercase=True)
    tok.train_from_iterator(TEXTS + QUESTIONS, vocab_size=120, min_frequency=1)
    tok.save_model(str(root / "wp"))
    tokenizer = BertTokenizerFast(vocab_file=str(root / "wp" / "vocab.txt"), do_lower_case=True)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=16, max_position_embeddings=128, initializer_range=0.5)
    BertForQuestionAnswering(config).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def bart_model(root: Path) -> Path:
    out = root / "bart"
    tok = ByteLevelBPETokenizer()
    tok.train_from_iterator(TEXTS, vocab_size=300, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    (root / "bpe").mkdir()
    tok.save_model(str(root / "bpe"))
    tokenizer = BartTokenizerFast(vocab_file=str(root / "bpe" / "vocab.json"), merges_file=str(root / "bpe" / "merges.txt"))
    torch.manual_seed(0)
    config = BartConfig(vocab_size=len(tokenizer), d_model=8, encoder_layers=1, decoder_layers=1,
                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=16,
                        decoder_ffn_dim=16, max_position_embeddings=64, init_std=0.5,
                        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                        eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.eos_token_id,
                        forced_eos_token_id=None)
    BartForConditionalGeneration(config).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def main(out_dir: str) -> None:
    out = Path(out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        nlp = spacy.blank("xx")
        nlp.add_pipe("sentencizer")
        nlp.add_pipe("question_answerer", config={"model": {"name": str(qa_model(root))}, "max_seq_length": 64,
                                                  "doc_stride": 16})
        nlp.add_pipe("translator", config={"model": {"name": str(bart_model(root))}, "num_beams": 1,
                                           "max_new_tokens": 5, "min_new_tokens": 5})
        nlp.initialize()
        nlp.to_disk(out)
    docs = []
    for text in TEXTS:
        doc = nlp.make_doc(text)
        doc._.questions = QUESTIONS
        docs.append(nlp(doc))
    expected = {"texts": TEXTS, "questions": QUESTIONS,
                "answers": [[a.text for a in d._.answers] for d in docs],
                "translations": [d._.translation for d in docs]}
    (out / "expected.json").write_text(json.dumps(expected, ensure_ascii=False, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
