"""Tokenizers built from local files the same way on transformers 4.45+ and 5, and the check
that a tokenizer can encode the text a component is given.

transformers 5 ignores ``vocab_file=`` in ``BertTokenizerFast``, ``DistilBertTokenizerFast``
and ``T5TokenizerFast`` (it builds a 4-5 token vocabulary where every word is unknown, without
a word of warning). These builders avoid that constructor argument: a WordPiece tokenizer is
made as a ``tokenizers.Tokenizer`` and handed over as ``tokenizer_object``; a SentencePiece
model is loaded from a folder, which both versions convert.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, List, Optional, Sequence, Union

BERT_SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# Fewer entries than this is no tokenizer a model was trained with.
MIN_VOCABULARY = 10
CHECK_TEXTS = 200
# Where no training text is given: words, digits and punctuation in several scripts, so
# that any tokenizer a model was trained with knows some of it.
CHECK_TEXT = ("The year 2024: 42 people, 3.5 km. El perro come pan. Der Hund. Le chien. "
              "Собака. 東京は日本の首都です。北京。القاهرة. ? ! , ( ) - 0 1 2 3 4 5 6 7 8 9")


def example_texts(get_examples: Any, limit: int = CHECK_TEXTS) -> List[str]:
    """The reference texts of the first ``limit`` training examples (none without them)."""
    if get_examples is None:
        return []
    texts: List[str] = []
    for eg in get_examples():
        texts.append(eg.reference.text)
        if len(texts) >= limit:
            break
    return texts


def wordpiece_tokenizer(
    vocab: Union[Sequence[str], str, Path],
    *,
    lowercase: bool = False,
    strip_accents: Optional[bool] = None,
    model_max_length: int = 512,
    tokenizer_class: str = "BertTokenizerFast",
) -> Any:
    """A BERT-style fast tokenizer (``BertTokenizerFast``, or ``DistilBertTokenizerFast`` with
    ``tokenizer_class``) over ``vocab``: a list of tokens (ids are positions) or a
    ``vocab.txt`` file. The special tokens ``[PAD] [UNK] [CLS] [SEP] [MASK]`` must be in it."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    if isinstance(vocab, (str, Path)):
        tokens = Path(vocab).read_text(encoding="utf-8").splitlines()
    else:
        tokens = list(vocab)
    ids = {}
    for token in tokens:
        ids.setdefault(token, len(ids))
    missing = [t for t in BERT_SPECIAL_TOKENS if t not in ids]
    if missing:
        raise ValueError(f"The WordPiece vocabulary lacks the special tokens {missing}: add them (first).")
    tok = Tokenizer(models.WordPiece(ids, unk_token="[UNK]", max_input_chars_per_word=100))
    accents = lowercase if strip_accents is None else strip_accents
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=accents, lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    cls = getattr(transformers, tokenizer_class)
    return cls(tokenizer_object=tok, do_lower_case=lowercase, strip_accents=strip_accents,
               model_max_length=model_max_length, unk_token="[UNK]", sep_token="[SEP]",
               pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]")


def t5_tokenizer(spm_file: Union[str, Path], *, model_max_length: int = 512, extra_ids: int = 0) -> Any:
    """A T5 fast tokenizer over a SentencePiece unigram model (``spiece.model``: ids pad 0,
    eos 1, unk 2), converted by transformers from a folder as it does for a hub model."""
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory(prefix="spacy-task-pipes-spm-") as tmp:
        shutil.copy(spm_file, Path(tmp) / "spiece.model")
        settings = {"tokenizer_class": "T5Tokenizer", "extra_ids": extra_ids, "legacy": False,
                    "model_max_length": model_max_length, "eos_token": "</s>", "unk_token": "<unk>",
                    "pad_token": "<pad>", "additional_special_tokens": []}
        (Path(tmp) / "tokenizer_config.json").write_text(json.dumps(settings), encoding="utf-8")
        tokenizer = AutoTokenizer.from_pretrained(tmp, use_fast=True, local_files_only=True)
        tokenizer.init_kwargs.pop("vocab_file", None)  # the temporary file is gone after this
    return tokenizer


def check_tokenizer(tokenizer: Any, texts: Iterable[str], setting: str) -> None:
    """A ValueError naming ``setting`` where ``tokenizer`` cannot be the one a model was trained
    with: fewer than :data:`MIN_VOCABULARY` entries, or every token of ``texts`` (the first
    :data:`CHECK_TEXTS` non-empty ones) unknown."""
    size = len(tokenizer)
    if size < MIN_VOCABULARY:
        raise ValueError(
            f"{setting}: the tokenizer has only {size} entries, so every word would be unknown (a tokenizer "
            "built with an argument this transformers ignores, e.g. vocab_file= in transformers 5?). Save "
            "the model folder with the tokenizer it was trained with."
        )
    unk = getattr(tokenizer, "unk_token_id", None)
    sample: List[str] = []
    for text in texts:
        if isinstance(text, str) and text.strip():
            sample.append(text)
            if len(sample) >= CHECK_TEXTS:
                break
    if not sample:
        sample = [CHECK_TEXT]
    if unk is None:
        return
    encoded = tokenizer(sample, add_special_tokens=False, truncation=True, max_length=512)["input_ids"]
    ids = [i for row in encoded for i in row]
    if ids and all(i == unk for i in ids):
        raise ValueError(
            f"{setting}: the tokenizer turns all of the {len(sample)} texts checked into unknown tokens "
            f"({len(ids)} x {getattr(tokenizer, 'unk_token', unk)!r}); the model would learn nothing. Use the "
            "tokenizer the model was trained with (its folder's tokenizer.json or vocabulary files)."
        )
