"""Tiny question-answering models and QA data built locally (nothing downloads).

Import the fixtures into a test module (``from qa_fixtures import qa_models``).
The models are built once per test process (module-level cache), so several
modules can share them.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import srsly

# Local text for the WordPiece vocabulary: English, accented Latin, Greek,
# Cyrillic, CJK, Arabic, digits and punctuation.
CORPUS_LINES = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Marie Curie was born in Warsaw in 1867 and won two Nobel prizes.",
    "The Eiffel Tower is located in Paris and was completed in 1889.",
    "Who wrote the book? What is the capital? Where was she born? When did it open?",
    "Zoë and José met at the café in São Paulo; the naïve façade was rebuilt.",
    "François Müller lives in Zürich, Österreich is Austria, Ærø is an island.",
    "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας και έχει πολλά μουσεία.",
    "Москва является столицей России, а Санкт-Петербург находится на севере.",
    "東京は日本の首都です。富士山は日本で一番高い山です。",
    "北京是中国的首都。长城很长。",
    "القاهرة هي عاصمة مصر وتقع على نهر النيل.",
    "The company reported revenue of $4.5 million (up 12%) in Q3 2021, e.g. U.S. sales.",
    "Alice's cat, named Whiskers, sleeps on the red sofa every afternoon.",
    "The river Nile flows north through eleven countries into the Mediterranean Sea.",
    "Bob bought 3 apples, 2 pears and a melon at the market on Tuesday.",
]
QUESTION_WORDS = ["Who", "What", "Where", "When", "Which", "How", "Why"]

_CACHE: Dict[str, object] = {}


def corpus_text() -> List[str]:
    rng = random.Random(0)
    lines = list(CORPUS_LINES)
    words = " ".join(CORPUS_LINES).split()
    for _ in range(300):
        lines.append(" ".join(rng.choice(words) for _ in range(12)))
    return lines


def _build_models(root: Path) -> Dict[str, Path]:
    import torch
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertForQuestionAnswering, DistilBertConfig, DistilBertForQuestionAnswering

    from spacy_task_pipes.hf import wordpiece_tokenizer

    out: Dict[str, Path] = {}
    for kind, lowercase in (("bert", False), ("distilbert", True)):
        tok = BertWordPieceTokenizer(lowercase=lowercase, strip_accents=lowercase)
        tok.train_from_iterator(corpus_text(), vocab_size=1200, min_frequency=1)
        vocab_dir = root / f"{kind}-vocab"
        vocab_dir.mkdir(parents=True, exist_ok=True)
        # The trainer's merges depend on hash seeds (ties). Keep its alphabet (single
        # and ``##`` characters, deterministic) and add every corpus word seen twice,
        # sorted, so that the models are identical in every process.
        trained = tok.get_vocab()
        specials = sorted((t for t in trained if t.startswith("[") and t.endswith("]")), key=trained.get)
        alphabet = {t for t in trained if len(t) == 1 or (t.startswith("##") and len(t) == 3)}
        counts: Dict[str, int] = {}
        for line in corpus_text():
            normalized = tok._tokenizer.normalizer.normalize_str(line)
            for word, _ in tok._tokenizer.pre_tokenizer.pre_tokenize_str(normalized):
                counts[word] = counts.get(word, 0) + 1
        words = {w for w, n in counts.items() if n >= 2}
        vocab = specials + sorted((alphabet | words) - set(specials))
        (vocab_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
        model_dir = root / f"tiny-{kind}-qa"
        torch.manual_seed(0)
        if kind == "bert":
            tokenizer = wordpiece_tokenizer(vocab_dir / "vocab.txt", lowercase=False)
            config = BertConfig(
                vocab_size=tokenizer.vocab_size,
                hidden_size=32,
                num_hidden_layers=2,
                num_attention_heads=2,
                intermediate_size=64,
                max_position_embeddings=512,
                initializer_range=0.2,
            )
            model = BertForQuestionAnswering(config)
        else:
            tokenizer = wordpiece_tokenizer(vocab_dir / "vocab.txt", lowercase=True,
                                            tokenizer_class="DistilBertTokenizerFast")
            config = DistilBertConfig(
                vocab_size=tokenizer.vocab_size,
                dim=32,
                n_layers=2,
                n_heads=2,
                hidden_dim=64,
                max_position_embeddings=512,
                initializer_range=0.2,
            )
            model = DistilBertForQuestionAnswering(config)
        model.eval()
        tokenizer.save_pretrained(str(model_dir))
        model.save_pretrained(str(model_dir), safe_serialization=True)
        out[kind] = model_dir
    return out


def get_tiny_qa_models() -> Dict[str, Path]:
    """``{"bert": dir, "distilbert": dir}``, built once per process."""
    if "models" not in _CACHE:
        root = Path(tempfile.mkdtemp(prefix="tiny-qa-models-"))
        _CACHE["models"] = _build_models(root)
    return _CACHE["models"]  # type: ignore[return-value]


@pytest.fixture(scope="session")
def qa_models() -> Dict[str, Path]:
    return get_tiny_qa_models()


def make_qa_nlp(model_dir: Path, **cfg):
    """A blank English pipeline with a ``question_answerer`` on ``model_dir``."""
    import spacy

    nlp = spacy.blank("en")
    config = {"model": {"@architectures": "spacy_task_pipes.QuestionAnswering.v1", "name": str(model_dir)}}
    config.update(cfg)
    nlp.add_pipe("question_answerer", config=config)
    nlp.initialize()
    return nlp


def reference_pairs(n_random: int = 230, seed: int = 1) -> List[Tuple[str, str]]:
    """(question, context) pairs: accents, non-Latin text, stray spaces, varied lengths."""
    rng = random.Random(seed)
    words = " ".join(corpus_text()).split()
    pairs: List[Tuple[str, str]] = []
    for line in CORPUS_LINES:
        pairs.append((f"{rng.choice(QUESTION_WORDS)} {rng.choice(words)}?", line))
    pairs.append(("  Who was born in Warsaw?  ", "  Marie Curie was born in Warsaw.   "))
    pairs.append(("Wo wohnt François?", "\tFrançois Müller lives in Zürich.\n"))
    pairs.append(("Где Москва?", "Москва является столицей России."))
    pairs.append(("首都は?", "東京は日本の首都です。"))
    for i in range(n_random):
        q = f"{rng.choice(QUESTION_WORDS)} " + " ".join(rng.choice(words) for _ in range(rng.randint(1, 8))) + "?"
        n_words = rng.choice([3, 10, 30, 60, 120, 160, 200, 240, 280])
        ctx = " ".join(rng.choice(words) for _ in range(n_words))
        if i % 7 == 0:
            ctx = "  " + ctx + " "
        pairs.append((q, ctx))
    return pairs


SQUAD_PEOPLE = ["Marie", "José", "Zoë", "Alice", "Bob"]
SQUAD_CITIES = ["Warsaw", "Paris", "Zürich", "Athens", "Cairo"]


def squad_file(tmp_path: Path, n_articles: int = 3, n_paragraphs: int = 2, impossible: bool = False,
               name: str = "squad.json") -> Path:
    """A small SQuAD-format file: article a, paragraph p asks 2 (or 3) questions."""
    articles = []
    for a in range(n_articles):
        paragraphs = []
        for p in range(n_paragraphs):
            person, city = SQUAD_PEOPLE[(a + p) % 5], SQUAD_CITIES[(a * 2 + p) % 5]
            context = f"In article {a}, {person} lives in {city} since {1990 + p}."
            qas = [
                {"id": f"{a}-{p}-where", "question": f"Where does {person} live?",
                 "answers": [{"text": city, "answer_start": context.index(city)}] * 2},
                {"id": f"{a}-{p}-who", "question": f"Who lives in {city}?",
                 "answers": [{"text": person, "answer_start": context.index(person)}]},
            ]
            if impossible:
                qas.append({"id": f"{a}-{p}-none", "question": "What is the price?", "answers": [],
                            "is_impossible": True})
            paragraphs.append({"context": context, "qas": qas})
        articles.append({"title": f"Article {a}", "paragraphs": paragraphs})
    path = tmp_path / name
    srsly.write_json(path, {"version": "v2.0" if impossible else "1.1", "data": articles})
    return path


# ----------------------------------------------------------- the reference decoder

# transformers 5 removed QuestionAnsweringPipeline; 4.x still has it (the trf leg of CI).
def hf_has_qa_pipeline() -> bool:
    import transformers

    return int(transformers.__version__.split(".")[0]) < 5


class ReferenceQA:
    """transformers' ``QuestionAnsweringPipeline`` post-processing (4.x ``postprocess``,
    ``select_starting_ends`` and ``decode_spans``), written here from its documented algorithm
    and run on the logits of the Hugging Face model for one window at a time:

    - tokenize (question, context) with ``truncation="only_second"``, ``max_length`` and
      ``stride``, keeping every overflowing window;
    - per window: mask every token that is not context, except the CLS token (index 0);
      softmax start and end logits over the rest; the null score is ``p_start[0] * p_end[0]``
      (the smallest over windows); then zero the CLS probabilities;
    - the best span (start <= end < start + max_answer_len, both context tokens) maximises
      ``p_start * p_end``;
    - characters from the words of the start and end tokens (``align_to_words``);
    - the answer is the best span over all windows, or the empty answer with the null score
      when ``handle_impossible_answer`` and the null score is higher.
    """

    def __init__(self, model, tokenizer):
        self.model = model.eval()
        self.tokenizer = tokenizer

    def __call__(self, *, question: str, context: str, max_answer_len: int = 15, max_seq_len: int = 384,
                 doc_stride: int = 128, handle_impossible_answer: bool = False) -> Dict:
        import numpy
        import torch

        enc = self.tokenizer(question, context, truncation="only_second", max_length=max_seq_len,
                             stride=doc_stride, return_overflowing_tokens=True, return_offsets_mapping=True)
        min_null = 1_000_000.0
        answers = []
        for w in range(len(enc["input_ids"])):
            inputs = {k: torch.tensor([enc[k][w]]) for k in self.tokenizer.model_input_names if k in enc}
            with torch.no_grad():
                out = self.model(**inputs)
            seq_ids = enc.sequence_ids(w)
            p_mask = numpy.asarray([s != 1 for s in seq_ids], dtype="int64")
            p_mask[0] = 0  # the CLS token stands for "no answer"
            desired = numpy.abs(p_mask - 1)
            undesired = desired == 0

            def softmax(logits):
                x = numpy.where(undesired, -10000.0, logits[0].numpy().astype("float64"))
                x = numpy.exp(x - x.max())
                return x / x.sum()

            start, end = softmax(out.start_logits), softmax(out.end_logits)
            if handle_impossible_answer:
                min_null = min(min_null, float(start[0] * end[0]))
            start[0] = end[0] = 0.0
            outer = numpy.tril(numpy.triu(numpy.outer(start, end)), max_answer_len - 1)
            s, e = numpy.unravel_index(int(numpy.argmax(outer)), outer.shape)
            if not (desired[s] and desired[e]):
                continue
            encoding = enc.encodings[w]
            first = encoding.word_to_chars(encoding.token_to_word(s), sequence_index=1)[0]
            last = encoding.word_to_chars(encoding.token_to_word(e), sequence_index=1)[1]
            answers.append({"score": float(outer[s, e]), "start": first, "end": last,
                            "answer": context[first:last]})
        if handle_impossible_answer:
            answers.append({"score": min_null, "start": 0, "end": 0, "answer": ""})
        return sorted(answers, key=lambda a: a["score"], reverse=True)[0]


def qa_reference(kind: str, path: Path):
    """``kind`` "decoder": :class:`ReferenceQA` on the model at ``path``; "hf-pipeline":
    transformers' own ``QuestionAnsweringPipeline`` (4.x only)."""
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    if kind == "hf-pipeline":
        from transformers import pipeline

        return pipeline("question-answering", model=str(path), tokenizer=str(path), device="cpu")
    return ReferenceQA(AutoModelForQuestionAnswering.from_pretrained(str(path)), AutoTokenizer.from_pretrained(str(path)))


QA_REFERENCES = ["decoder"] + (["hf-pipeline"] if hf_has_qa_pipeline() else [])
