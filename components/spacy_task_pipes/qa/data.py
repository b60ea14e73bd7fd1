"""SQuAD-format data for the ``question_answerer``: corpus reader, DocBin conversion
and the SQuAD exact-match / F1 scorer.

A reference ``Doc`` is the context with ``doc._.questions`` and
``doc._.gold_answers`` = ``[{"id", "question", "answers": [{"text", "start"}],
"is_impossible"}]`` (plain data, so it survives ``DocBin(store_user_data=True)``).
The predicted side of each :class:`Example` carries the same questions.
"""

from __future__ import annotations

import collections
import json
import re
import string
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from spacy.util import ensure_path, registry

from ..io import InputError, iter_lines
from .decode import ANSWERS_KEY


# ------------------------------------------------------------------ reading


def parse_article_slice(text: str) -> slice:
    """``"0:40"``, ``"40:"``, ``":10"`` or ``"5"`` (one article) as a Python slice."""
    text = (text or "").strip()
    if not text or text == ":":
        return slice(None)
    m = re.fullmatch(r"(-?\d*)\s*(:?)\s*(-?\d*)", text)
    if not m or (not m.group(2) and not m.group(1)):
        raise ValueError(
            f"Invalid article slice {text!r}: use START:END like Python slicing, "
            "e.g. 0:40 (the first 40 articles), 40: (the rest) or 3 (article 3 only)."
        )
    start = int(m.group(1)) if m.group(1) else None
    if not m.group(2):
        return slice(start, start + 1 if start != -1 else None)
    end = int(m.group(3)) if m.group(3) else None
    return slice(start, end)


SQUAD_LAYOUT = '{"version": ..., "data": [{"title", "paragraphs": [{"context", "qas"}]}]}'


def load_squad_data(path: Union[str, Path], encoding: str = "utf-8") -> Dict[str, Any]:
    """The parsed SQuAD JSON object of ``path`` (``{"data": [articles]}``). A UTF-8
    byte-order mark is accepted; decoding and JSON errors name the file and line."""
    path = ensure_path(path)
    if not path.exists():
        raise FileNotFoundError(f"SQuAD file not found: {path}. Check the corpus path in the config.")
    text = "\n".join(line for _, line in iter_lines(path, encoding))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(
            f"{path}:{err.lineno}: not valid JSON ({err.msg} at column {err.colno}). Expected the "
            f"official SQuAD layout {SQUAD_LAYOUT}."
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise InputError(
            f"{path} is not SQuAD JSON: expected an object with a 'data' list of articles "
            '({"title", "paragraphs": [{"context", "qas": [...]}]}).'
        )
    return data


def hf_records_to_squad(records: Iterable[Dict[str, Any]], source: str = "dataset") -> Dict[str, Any]:
    """Flat ``datasets`` SQuAD rows (``id, title, context, question, answers{text,
    answer_start}``) back into the nested SQuAD JSON layout (articles by title,
    paragraphs by context, in order of appearance)."""
    articles: List[Dict[str, Any]] = []
    by_title: Dict[str, Dict[str, Any]] = {}
    by_context: Dict[Tuple[str, str], Dict[str, Any]] = {}
    for i, row in enumerate(records):
        missing = [k for k in ("context", "question", "answers") if k not in row]
        if missing:
            raise ValueError(
                f"{source}: row {i} has no {missing} field(s); expected the SQuAD columns "
                "id, title, context, question, answers (as in the 'squad' and 'squad_v2' datasets)."
            )
        title = str(row.get("title", ""))
        if title not in by_title:
            by_title[title] = {"title": title, "paragraphs": []}
            articles.append(by_title[title])
        key = (title, row["context"])
        if key not in by_context:
            by_context[key] = {"context": row["context"], "qas": []}
            by_title[title]["paragraphs"].append(by_context[key])
        answers = row["answers"] or {"text": [], "answer_start": []}
        texts, starts = list(answers.get("text", [])), list(answers.get("answer_start", []))
        by_context[key]["qas"].append(
            {
                "id": str(row.get("id", i)),
                "question": row["question"],
                "answers": [{"text": t, "answer_start": int(s)} for t, s in zip(texts, starts)],
                "is_impossible": not texts,
            }
        )
    return {"version": source, "data": articles}


@dataclass(frozen=True)
class AnswerRepair:
    """A gold answer whose ``answer_start`` did not point at its text, moved to the
    occurrence of the text nearest to ``answer_start``."""

    source: str
    article: int
    paragraph: int
    question_id: str
    text: str
    given_start: int
    start: int

    def __str__(self) -> str:
        return (
            f"{self.source}: data[{self.article}].paragraphs[{self.paragraph}] question "
            f"{self.question_id!r}: answer {self.text!r} is not at answer_start {self.given_start}; "
            f"moved to its nearest occurrence at {self.start}"
        )


def _nearest_occurrence(context: str, text: str, start: int) -> int:
    """The offset of the occurrence of ``text`` in ``context`` nearest to ``start``
    (the earlier one on a tie), or -1."""
    best = -1
    found = context.find(text)
    while found >= 0:
        if best < 0 or abs(found - start) < abs(best - start):
            best = found
        found = context.find(text, found + 1)
    return best


def _answer_text_and_start(where: str, k: int, ans: Any, context: str) -> Tuple[str, int]:
    """``answers[k]`` as ``(text, answer_start)``: a non-empty string and an integer
    offset inside the context (JSON strings, floats and booleans are refused)."""
    if not isinstance(ans, dict) or not isinstance(ans.get("text"), str) or "answer_start" not in ans:
        raise InputError(
            f"{where}: answers[{k}] needs 'text' (a string) and an integer 'answer_start'; got {str(ans)[:80]!r}."
        )
    text, start = ans["text"], ans["answer_start"]
    if not text.strip():
        raise InputError(
            f"{where}: answers[{k}].text is empty but the question is not is_impossible. Give the "
            'answer text, or remove the answer and set "is_impossible": true.'
        )
    if not isinstance(start, int) or isinstance(start, bool):
        raise InputError(
            f"{where}: answers[{k}].answer_start must be an integer character offset, got "
            f"{start!r} ({type(start).__name__}). Fix the field."
        )
    if not 0 <= start < len(context):
        raise InputError(
            f"{where}: answers[{k}].answer_start {start} is outside the context "
            f"(0 to {len(context) - 1}). Fix the field."
        )
    return text, start


def _gold_answers(
    where: str, qa: Dict[str, Any], context: str, place: Tuple[str, int, int]
) -> Tuple[List[Dict[str, Any]], List[AnswerRepair]]:
    """The checked answers of an answerable question, and the repairs made to them."""
    raw = qa.get("answers", [])
    if not isinstance(raw, list):
        raise InputError(f"{where}: 'answers' must be a list of {{\"text\", \"answer_start\"}}; got {str(raw)[:60]!r}.")
    answers, repairs = [], []
    for k, ans in enumerate(raw):
        text, start = _answer_text_and_start(where, k, ans, context)
        if context[start : start + len(text)] != text:
            nearest = _nearest_occurrence(context, text, start)
            if nearest < 0:
                raise InputError(
                    f"{where}: answers[{k}].text {text!r} is not at answer_start {start} nor "
                    "anywhere in the context. Fix the answer text or answer_start."
                )
            repairs.append(AnswerRepair(*place, str(qa.get("id", "")), text, start, nearest))
            start = nearest
        answers.append({"text": text, "start": start})
    return answers, repairs


def _squad_question(
    where: str, qa: Any, context: str, place: Tuple[str, int, int]
) -> Tuple[Dict[str, Any], List[AnswerRepair]]:
    """One checked ``{"id", "question", "answers", "is_impossible"}`` record; the answers
    of an ``is_impossible`` question are dropped unchecked (SQuAD 2.0 keeps them apart)."""
    if not isinstance(qa, dict) or not isinstance(qa.get("question"), str):
        raise InputError(f"{where} has no string 'question'. Fix or remove the record.")
    flag = qa.get("is_impossible", False)
    if not isinstance(flag, bool):
        raise InputError(f"{where}: 'is_impossible' must be true or false, got {flag!r}. Fix the field.")
    answers, repairs = ([], []) if flag else _gold_answers(where, qa, context, place)
    record = {"id": str(qa.get("id", "")), "question": qa["question"], "answers": answers,
              "is_impossible": flag or not answers}
    return record, repairs


def _report_repairs(repairs: List[AnswerRepair], sink: Optional[List[AnswerRepair]]) -> None:
    if sink is not None:
        sink.extend(repairs)
    else:
        for repair in repairs:
            warnings.warn(str(repair), stacklevel=3)


def iter_squad_paragraphs(
    data: Dict[str, Any],
    source: str = "SQuAD data",
    articles: Union[slice, str, None] = None,
    max_questions: int = 0,
    repairs: Optional[List[AnswerRepair]] = None,
) -> Iterator[Dict[str, Any]]:
    """Yield ``{"context", "qas": [{"id", "question", "answers", "is_impossible"}]}``
    per paragraph of parsed SQuAD v1.1/v2.0 data, with answer offsets checked.

    articles: a slice (or ``"START:END"`` text) of the articles to keep.
    max_questions: stop after this many questions (0: all); the last paragraph is cut.
    repairs: collects every answer moved to the occurrence of its text nearest to an
        ``answer_start`` that missed it (:class:`AnswerRepair`); without a list each
        repair is a warning, never silent.
    """
    if isinstance(articles, str):
        articles = parse_article_slice(articles)
    all_articles = data.get("data") if isinstance(data, dict) else None
    if not isinstance(all_articles, list):
        raise InputError(f"{source} is not SQuAD data: expected an object with a 'data' list.")
    indices = range(len(all_articles))
    if articles is not None:
        indices = indices[articles]
    n_questions = 0
    for a_idx in indices:
        article = all_articles[a_idx]
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise InputError(
                f"{source}: data[{a_idx}] is not an article: expected an object with a "
                "'paragraphs' list."
            )
        for p_idx, para in enumerate(article["paragraphs"]):
            where = f"{source}: data[{a_idx}].paragraphs[{p_idx}]"
            if not isinstance(para, dict) or not isinstance(para.get("context"), str):
                raise InputError(f"{where} has no string 'context'. Each paragraph needs 'context' and 'qas'.")
            if not isinstance(para.get("qas", []), list):
                raise InputError(f"{where}: 'qas' must be a list of questions.")
            qas = []
            for q_idx, qa in enumerate(para.get("qas", [])):
                if max_questions and n_questions >= max_questions:
                    break
                qid = qa.get("id") if isinstance(qa, dict) else None
                record, fixed = _squad_question(
                    f"{where}.qas[{q_idx}] (id {qid!r})", qa, para["context"], (source, a_idx, p_idx)
                )
                _report_repairs(fixed, repairs)
                qas.append(record)
                n_questions += 1
            if qas or not (max_questions and n_questions >= max_questions):
                yield {"context": para["context"], "qas": qas}
            if max_questions and n_questions >= max_questions:
                return


def read_squad_json(
    path: Union[str, Path], articles: Union[slice, str, None] = None, max_questions: int = 0
) -> Iterator[Dict[str, Any]]:
    """Yield ``{"context", "qas": [{"id", "question", "answers", "is_impossible"}]}``
    per paragraph of a SQuAD v1.1/v2.0 file, with answer offsets checked."""
    path = ensure_path(path)
    yield from iter_squad_paragraphs(load_squad_data(path), str(path), articles, max_questions)


def squad_docs_from_paragraphs(
    nlp: Language, paragraphs: Iterable[Dict[str, Any]], split_questions: bool = False
) -> Iterator[Doc]:
    """Reference docs (``doc._.questions``, ``doc._.gold_answers``) from paragraphs.

    split_questions: one doc per question instead of one per paragraph, so that a
    batcher counting docs counts questions (as Hugging Face's Trainer does).
    """
    for para in paragraphs:
        groups = [[qa] for qa in para["qas"]] if split_questions else [para["qas"]]
        for qas in groups:
            doc = nlp.make_doc(para["context"])
            doc._.questions = [qa["question"] for qa in qas]
            doc._.gold_answers = qas
            yield doc


def squad_reference_docs(nlp: Language, path: Union[str, Path]) -> Iterator[Doc]:
    yield from squad_docs_from_paragraphs(nlp, read_squad_json(path))


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


def squad_predictions(examples: Iterable[Example]) -> Tuple[List[str], List[List[str]]]:
    """(predicted answer, reference answers) for every gold question of the examples; an
    unanswered question counts as the empty answer."""
    predictions: List[str] = []
    references: List[List[str]] = []
    for eg in examples:
        answered = {a["question"]: a["text"] for a in eg.predicted.user_data.get(ANSWERS_KEY) or []}
        for item in eg.reference._.gold_answers or []:
            predictions.append(answered.get(item["question"], ""))
            references.append([a["text"] for a in item.get("answers", [])])
    return predictions, references


def score_squad(examples: Iterable[Example], **kwargs: Any) -> Dict[str, Optional[float]]:
    return squad_scores(*squad_predictions(examples))


def squad_scores_by_answerability(
    predictions: Sequence[str], references: Sequence[List[str]]
) -> Dict[str, Dict[str, Any]]:
    """EM/F1 (0-100) over all questions and, as the official SQuAD 2.0 script reports them,
    over the answerable (``has_ans``) and the unanswerable (``no_ans``) ones, with counts.
    ``no_ans`` EM is the share of unanswerable questions the model left unanswered."""
    has = [i for i, refs in enumerate(references) if any(normalize_answer(r) for r in refs)]
    groups = {"all": list(range(len(references))), "has_ans": has,
              "no_ans": sorted(set(range(len(references))) - set(has))}
    out: Dict[str, Dict[str, Any]] = {}
    for name, idx in groups.items():
        scores = squad_scores([predictions[i] for i in idx], [references[i] for i in idx])
        out[name] = {"questions": len(idx),
                     "exact_match": None if not idx else round(100 * scores["qa_exact_match"], 2),
                     "f1": None if not idx else round(100 * scores["qa_f1"], 2)}
    return out


@registry.scorers("spacy_task_pipes.squad_scorer.v1")
def make_squad_scorer() -> Callable[..., Dict[str, Optional[float]]]:
    """SQuAD exact match and F1 (``qa_exact_match``, ``qa_f1``; 0-1)."""
    return score_squad
