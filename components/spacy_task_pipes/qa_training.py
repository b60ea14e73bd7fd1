"""SQuAD-format data for the ``question_answerer``: corpus reader, DocBin conversion
and the SQuAD exact-match / F1 scorer.

A reference ``Doc`` is the context with ``doc._.questions`` and
``doc._.gold_answers`` = ``[{"id", "question", "answers": [{"text", "start"}],
"is_impossible"}]`` (plain data, so it survives ``DocBin(store_user_data=True)``).
The predicted side of each :class:`Example` carries the same questions.
"""

from __future__ import annotations

import collections
import re
import string
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Union

import srsly
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from spacy.util import ensure_path, registry

from .question_answering import ANSWERS_KEY


# ------------------------------------------------------------------ reading


def read_squad_json(path: Union[str, Path]) -> Iterator[Dict[str, Any]]:
    """Yield ``{"context", "qas": [{"id", "question", "answers", "is_impossible"}]}``
    per paragraph of a SQuAD v1.1/v2.0 file, with answer offsets checked."""
    path = ensure_path(path)
    if not path.exists():
        raise FileNotFoundError(f"SQuAD file not found: {path}. Check the corpus path in the config.")
    data = srsly.read_json(path)
    if not isinstance(data, dict) or "data" not in data:
        raise ValueError(f"{path} is not SQuAD JSON: expected an object with a 'data' list.")
    for a_idx, article in enumerate(data["data"]):
        for p_idx, para in enumerate(article.get("paragraphs", [])):
            context = para["context"]
            qas = []
            for qa in para.get("qas", []):
                answers = []
                for ans in qa.get("answers", []):
                    text, start = ans["text"], int(ans["answer_start"])
                    if context[start : start + len(text)] != text:
                        found = context.find(text, max(0, start - 20))
                        if found < 0:
                            raise ValueError(
                                f"{path}: data[{a_idx}].paragraphs[{p_idx}] question "
                                f"{qa.get('id')!r}: answer {text!r} is not at answer_start "
                                f"{start} nor found in the context. Fix answer_start."
                            )
                        start = found
                    answers.append({"text": text, "start": start})
                impossible = bool(qa.get("is_impossible", False)) or not answers
                qas.append(
                    {
                        "id": str(qa.get("id", "")),
                        "question": qa["question"],
                        "answers": [] if qa.get("is_impossible", False) else answers,
                        "is_impossible": impossible,
                    }
                )
            yield {"context": context, "qas": qas}


def squad_reference_docs(nlp: Language, path: Union[str, Path]) -> Iterator[Doc]:
    for para in read_squad_json(path):
        doc = nlp.make_doc(para["context"])
        doc._.questions = [qa["question"] for qa in para["qas"]]
        doc._.gold_answers = para["qas"]
        yield doc


def squad_to_docbin(nlp: Language, path: Union[str, Path]) -> DocBin:
    """Convert a SQuAD JSON file into a DocBin (questions and gold in user data)."""
    db = DocBin(store_user_data=True)
    for doc in squad_reference_docs(nlp, path):
        db.add(doc)
    return db


def _as_lists(value: Any) -> Any:
    """msgpack (DocBin user data) gives tuples back; restore the JSON-like lists."""
    if isinstance(value, (list, tuple)):
        return [_as_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_lists(v) for k, v in value.items()}
    return value


def example_from_reference(nlp: Language, reference: Doc) -> Example:
    if reference._.gold_answers is not None:
        reference._.gold_answers = _as_lists(reference._.gold_answers)
    if reference._.questions is not None:
        reference._.questions = _as_lists(reference._.questions)
    predicted = nlp.make_doc(reference.text)
    predicted._.questions = list(reference._.questions or [])
    return Example(predicted, reference)


@registry.readers("spacy_task_pipes.SquadCorpus.v1")
def create_squad_corpus(path: Optional[Path], limit: int = 0) -> Callable[[Language], Iterable[Example]]:
    """Examples from a SQuAD JSON file (``.json``) or a converted DocBin (``.spacy``).

    path (Path): The file; ``None`` yields nothing.
    limit (int): Stop after this many contexts (0: no limit).
    """

    def read(nlp: Language) -> Iterator[Example]:
        if path is None:
            return
        p = ensure_path(path)
        if not p.exists():
            raise FileNotFoundError(f"QA corpus not found: {p}. Check [corpora] path in the config.")
        if p.suffix == ".spacy":
            refs: Iterable[Doc] = DocBin().from_disk(p).get_docs(nlp.vocab)
        else:
            refs = squad_reference_docs(nlp, p)
        for i, ref in enumerate(refs):
            if limit and i >= limit:
                break
            if ref._.gold_answers is None:
                raise ValueError(f"{p}: doc {i} has no gold answers (doc._.gold_answers); convert with squad_to_docbin.")
            yield example_from_reference(nlp, ref)

    return read


# ------------------------------------------------------------------ scoring


def normalize_answer(text: str) -> str:
    """Official SQuAD normalisation: lower case, no punctuation/articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _f1(prediction: str, truth: str) -> float:
    pred_toks = normalize_answer(prediction).split()
    gold_toks = normalize_answer(truth).split()
    if not pred_toks or not gold_toks:
        return float(pred_toks == gold_toks)
    common = collections.Counter(pred_toks) & collections.Counter(gold_toks)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_toks), same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def squad_scores(predictions: Iterable[str], references: Iterable[List[str]]) -> Dict[str, Optional[float]]:
    """Mean EM and F1 (fractions), max over references; no references = unanswerable."""
    em = f1 = 0.0
    n = 0
    for pred, refs in zip(predictions, references):
        refs = [r for r in refs if normalize_answer(r)] or [""]
        em += max(float(normalize_answer(pred) == normalize_answer(r)) for r in refs)
        f1 += max(_f1(pred, r) for r in refs)
        n += 1
    if n == 0:
        return {"qa_exact_match": None, "qa_f1": None}
    return {"qa_exact_match": em / n, "qa_f1": f1 / n}


def score_squad(examples: Iterable[Example], **kwargs: Any) -> Dict[str, Optional[float]]:
    predictions: List[str] = []
    references: List[List[str]] = []
    for eg in examples:
        answered = {a["question"]: a["text"] for a in eg.predicted.user_data.get(ANSWERS_KEY) or []}
        for item in eg.reference._.gold_answers or []:
            predictions.append(answered.get(item["question"], ""))
            references.append([a["text"] for a in item.get("answers", [])])
    return squad_scores(predictions, references)


@registry.scorers("spacy_task_pipes.squad_scorer.v1")
def make_squad_scorer() -> Callable[..., Dict[str, Optional[float]]]:
    """SQuAD exact match and F1 (``qa_exact_match``, ``qa_f1``; 0-1)."""
    return score_squad
