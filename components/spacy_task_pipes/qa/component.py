"""Extractive question answering: the ``question_answerer`` factory and its pipe.

The ``Doc`` is the context. Questions come from ``doc._.questions`` (a list of
strings) followed by the component's ``default_questions``. Results:

- ``doc.spans[spans_key]``: one span per non-empty answer, with the group's
  ``attrs["scores"]`` and ``attrs["questions"]`` aligned to the spans;
- ``doc._.answers``: one :class:`Answer` per question (empty text for an
  unanswerable or unanswered question). The raw answers are stored as plain data
  in ``doc.user_data`` so the docs stay serializable (``DocBin``, ``n_process``).

Bad input never costs the rest of a batch: an empty, too long or not encodable
question (e.g. a lone surrogate) gets an empty answer and a warning naming the doc's
and the question's index, and so do all questions of a doc whose context is not valid
text or would need more than ``max_windows_per_doc`` windows (questions x windows). An
error of the tokenizer or the model on valid input is raised, never passed off as bad
input. Work is streamed: windows are made, run and decoded a round at a time, so memory
stays bounded by ``feature_batch_size`` however many questions a long doc gets. ``doc._.questions`` that is neither ``None``, a string nor a list
of strings (``42``, ``[None]``) is a programming error: a ``ValueError`` naming the doc,
raised before any model work.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy
import torch
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, SpanGroup
from spacy.training import Example
from thinc.api import Model, Optimizer

from ..hf import (
    HFPipeSerializationMixin,
    TrainingDropout,
    batches_by_length,
    bind_component,
    check_tokenizer,
    example_texts,
    get_hf_shim,
    pad_features,
    release_device_memory,
)
from .decode import (
    ANSWERS_KEY,
    AnswerAccumulator,
    char_to_token_labels,
    decode_window,
    iter_context_mask,
    token_span_to_chars,
)
from .answers import Answer, register_extensions  # noqa: F401  (Answer: public here too)
from .model import get_tokenizer

register_extensions()



# predict() makes, runs and decodes windows in rounds of this many feature batches: enough to
# length-sort a whole nlp.pipe batch of short contexts (little padding), bounded for long ones.
ROUND_BATCHES = 32


@dataclass
class _Feature:
    """One (question, window) model input."""

    doc: int
    question: int
    inputs: Dict[str, List[int]]
    encoding: Any  # tokenizers.Encoding
    context_mask: numpy.ndarray
    cls_index: int
    window: int = 0  # index of the window among its question's windows
    label: Tuple[int, int] = (0, 0)


def _empty_answer(question: str, score: float = 0.0) -> Dict[str, Any]:
    return {"question": question, "text": "", "start": 0, "end": 0, "score": float(score)}


def _question_problem(question: str) -> Optional[str]:
    """Why ``question`` cannot be answered before tokenizing it, or ``None``."""
    if not question.strip():
        return "is empty"
    try:
        question.encode("utf-8")
    except UnicodeEncodeError as err:
        return (
            f"is not valid Unicode ({err.reason}: {question[err.start:err.end]!r} at "
            f"position {err.start}, e.g. a lone surrogate from a bad decode)"
        )
    return None


class QuestionAnswerer(HFPipeSerializationMixin, TrainablePipe):
    """Answers each doc's questions with spans of the doc (see module docstring).

    Training: ``use_training_dropout`` false (default): the model trains with its own config's
    dropout, as the Hugging Face ``Trainer`` does, and a different ``training.dropout`` is
    reported once; true: ``training.dropout`` is every dropout probability of the model."""

    def __init__(
        self,
        vocab,
        model: Model,
        name: str = "question_answerer",
        *,
        default_questions: Sequence[str] = (),
        spans_key: str = "answers",
        max_seq_length: int = 384,
        doc_stride: int = 128,
        n_best: int = 20,
        max_answer_length: int = 30,
        handle_impossible_answer: bool = False,
        null_score_diff_threshold: float = 0.0,
        align_to_words: bool = True,
        feature_batch_size: int = 32,
        update_batch_size: int = 4,
        max_windows_per_doc: int = 100_000,
        use_training_dropout: bool = False,
        loss_over_padding: bool = False,
        scorer: Optional[Callable] = None,
    ) -> None:
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg = {
            "default_questions": list(default_questions),
            "spans_key": spans_key,
            "max_seq_length": max_seq_length,
            "doc_stride": doc_stride,
            "n_best": n_best,
            "max_answer_length": max_answer_length,
            "handle_impossible_answer": handle_impossible_answer,
            "null_score_diff_threshold": null_score_diff_threshold,
            "align_to_words": align_to_words,
            "feature_batch_size": feature_batch_size,
            "update_batch_size": update_batch_size,
            "max_windows_per_doc": max_windows_per_doc,
            "use_training_dropout": use_training_dropout,
            "loss_over_padding": loss_over_padding,
        }
        self._validate_cfg()
        self._dropout = TrainingDropout(name, use_training_dropout)
        bind_component(model, name)

    def _validate_cfg(self) -> None:
        c = self.cfg
        where = f"[components.{self.name}]"
        if not 0 <= c["doc_stride"] < c["max_seq_length"]:
            raise ValueError(
                f"{where} doc_stride ({c['doc_stride']}) must be >= 0 and smaller than "
                f"max_seq_length ({c['max_seq_length']}); e.g. doc_stride = 128 with "
                "max_seq_length = 384."
            )
        for key in ("n_best", "max_answer_length", "feature_batch_size", "update_batch_size", "max_windows_per_doc"):
            if c[key] < 1:
                raise ValueError(f"{where} {key} must be >= 1, got {c[key]}.")
        for key in ("use_training_dropout", "loss_over_padding"):
            if not isinstance(c[key], bool):
                raise ValueError(f"{where} {key} must be true or false, got {c[key]!r}.")
        bad = [q for q in c["default_questions"] if not isinstance(q, str) or not q.strip()]
        if bad:
            raise ValueError(f"{where} default_questions contains empty or non-string entries: {bad!r}.")

    # ------------------------------------------------------------------ inputs

    def questions_for(self, doc: Doc, index: int = 0) -> List[str]:
        """The doc's questions: ``doc._.questions`` then the default questions.

        ``doc._.questions`` must be ``None``, a string or a list/tuple of strings;
        anything else is a programming error, a :class:`ValueError` naming the doc
        (``index`` in its batch) and the bad value."""
        own = doc._.questions
        if own is None:
            own = []
        elif isinstance(own, str):
            own = [own]
        elif not isinstance(own, (list, tuple)):
            raise ValueError(
                f"[{self.name}] doc {index} of the batch ({doc.text[:50]!r}): doc._.questions is "
                f"{own!r} ({type(own).__name__}); set it to a string or a list of strings."
            )
        for j, question in enumerate(own):
            if not isinstance(question, str):
                raise ValueError(
                    f"[{self.name}] doc {index} of the batch ({doc.text[:50]!r}): doc._.questions[{j}] "
                    f"is {question!r} ({type(question).__name__}), not a string; pass questions as "
                    "strings (e.g. str(value)) and leave out missing ones."
                )
        return list(own) + list(self.cfg["default_questions"])

    @property
    def tokenizer(self):
        tok = get_tokenizer(self.model)
        if tok is None:
            raise ValueError(
                f"The '{self.name}' component has no weights yet: call nlp.initialize() "
                f"(which loads [components.{self.name}.model] name) or load a saved pipeline."
            )
        return tok

    def _max_question_tokens(self, tokenizer) -> int:
        n_special = tokenizer.num_special_tokens_to_add(pair=True)
        # the context part of a window must be longer than the stride
        return self.cfg["max_seq_length"] - n_special - self.cfg["doc_stride"] - 1

    def _featurize(
        self,
        doc_index: int,
        context: str,
        questions: Sequence[str],
        gold: Optional[Sequence[Optional[Tuple[int, int]]]] = None,
        only: Optional[Sequence[int]] = None,
    ) -> List[_Feature]:
        """All windows of the valid questions on one context (``only``: of these question
        indices, already checked); invalid questions are skipped with a warning (they get an
        empty answer)."""
        tokenizer = self.tokenizer
        if not context.strip() or not questions:
            return []
        valid = list(only) if only is not None else self._valid_questions(doc_index, questions)
        if not valid:
            return []
        enc = tokenizer(
            [questions[j] for j in valid],
            [context] * len(valid),
            truncation="only_second",
            max_length=self.cfg["max_seq_length"],
            stride=self.cfg["doc_stride"],
            return_overflowing_tokens=True,
            padding=False,
        )
        input_names = [k for k in tokenizer.model_input_names if k in enc]
        cls_id = tokenizer.cls_token_id
        features = []
        windows: Dict[int, int] = {}
        for k, encoding in enumerate(enc.encodings):
            j = valid[enc["overflow_to_sample_mapping"][k]]
            windows[j] = windows.get(j, -1) + 1
            ids = enc["input_ids"][k]
            cls_index = ids.index(cls_id) if cls_id is not None and cls_id in ids else 0
            feature = _Feature(
                doc=doc_index,
                question=j,
                inputs={name: enc[name][k] for name in input_names},
                encoding=encoding,
                context_mask=iter_context_mask(encoding.sequence_ids),
                cls_index=cls_index,
                window=windows[j],
            )
            if gold is not None:
                span = gold[j]
                if span is None:
                    feature.label = (cls_index, cls_index)
                else:
                    feature.label = char_to_token_labels(
                        encoding.offsets, encoding.sequence_ids, span[0], span[1], cls_index
                    )
            features.append(feature)
        return features

    def _valid_questions(self, doc_index: int, questions: Sequence[str]) -> List[int]:
        """Indices of the questions that can be answered; each other one is named in a
        warning (it gets an empty answer): empty, not valid Unicode, or too long."""
        candidates: List[int] = []
        for j, question in enumerate(questions):
            problem = _question_problem(question)
            if problem is None:
                candidates.append(j)
            else:
                warnings.warn(f"[{self.name}] doc {doc_index} of the batch: question {j} {problem}; it gets an empty answer.")
        if not candidates:
            return []
        tokenizer = self.tokenizer
        limit = self._max_question_tokens(tokenizer)
        lengths = tokenizer([questions[j] for j in candidates], add_special_tokens=False)["input_ids"]
        valid: List[int] = []
        for j, ids in zip(candidates, lengths):
            if len(ids) <= limit:
                valid.append(j)
                continue
            warnings.warn(
                f"[{self.name}] doc {doc_index} of the batch: question {j} has {len(ids)} tokens, more than "
                f"the {limit} that max_seq_length={self.cfg['max_seq_length']} and "
                f"doc_stride={self.cfg['doc_stride']} allow; it gets an empty answer. Shorten "
                "the question or raise max_seq_length / lower doc_stride."
            )
        return valid

    def _batches(
        self, features: Sequence[_Feature], batch_size: Optional[int] = None, pad_to_longest: bool = False
    ) -> Iterator[Tuple[List[int], Dict[str, numpy.ndarray]]]:
        """Length-sorted, padded model inputs of ``batch_size`` features (default:
        ``feature_batch_size``), with the indices of the features in each; each batch padded
        to its longest feature, or with ``pad_to_longest`` to the longest of all ``features``."""
        tokenizer = self.tokenizer
        pad_values = {"input_ids": tokenizer.pad_token_id or 0}
        lengths = [len(f.inputs["input_ids"]) for f in features]
        length = max(lengths, default=0) if pad_to_longest else 0
        for idx in batches_by_length(lengths, batch_size or self.cfg["feature_batch_size"]):
            batch = [features[i].inputs for i in idx]
            yield idx, pad_features(batch, list(batch[0].keys()), pad_values, length)

    # ------------------------------------------------------------- inference

    def predict(self, docs: Iterable[Doc]) -> List[List[Dict[str, Any]]]:
        """Answers per doc and question. Windows are made, run and decoded in rounds of about
        ``ROUND_BATCHES * feature_batch_size`` (length-sorted batches, across docs), and each question keeps
        only its best span so far: memory is bounded by the round, not by questions x windows,
        and time grows linearly with them. A doc whose questions x windows exceed
        ``max_windows_per_doc`` is skipped with a warning (its answers are empty)."""
        docs = list(docs)
        all_questions = [self.questions_for(doc, i) for i, doc in enumerate(docs)]
        results: List[List[Dict[str, Any]]] = [[_empty_answer(q) for q in qs] for qs in all_questions]
        if not any(all_questions):
            return results
        self.tokenizer  # noqa: B018 - raises without weights: a setup error, not a bad doc
        accumulators: Dict[Tuple[int, int], AnswerAccumulator] = {}
        round_size = ROUND_BATCHES * self.cfg["feature_batch_size"]
        buffer: List[_Feature] = []
        with torch.inference_mode():
            for feature in self._iter_features(docs, all_questions):
                buffer.append(feature)
                if len(buffer) >= round_size:
                    self._decode_round(buffer, docs, accumulators)
                    buffer = []
            if buffer:
                self._decode_round(buffer, docs, accumulators)
        release_device_memory()
        for (i, j), acc in accumulators.items():
            span, score = acc.choose(self.cfg["handle_impossible_answer"], self.cfg["null_score_diff_threshold"])
            question = all_questions[i][j]
            if span is None:
                results[i][j] = _empty_answer(question, score)
            else:
                start, end = span
                results[i][j] = {"question": question, "text": docs[i].text[start:end], "start": start,
                                 "end": end, "score": score}
        return results

    def _decode_round(self, features: List[_Feature], docs: Sequence[Doc],
                      accumulators: Dict[Tuple[int, int], AnswerAccumulator]) -> None:
        ops = self.model.ops
        for idx, X in self._batches(features):
            start_logits, end_logits = self.model.predict(X)
            start_logits = ops.to_numpy(start_logits)
            end_logits = ops.to_numpy(end_logits)
            for row, f_idx in enumerate(idx):
                f = features[f_idx]
                n = len(f.inputs["input_ids"])
                window = decode_window(start_logits[row, :n], end_logits[row, :n], f.context_mask, f.cls_index,
                                       self.cfg["n_best"], self.cfg["max_answer_length"])
                acc = accumulators.setdefault((f.doc, f.question), AnswerAccumulator())
                acc.add(f.window, window, lambda f=f, w=window: token_span_to_chars(
                    f.encoding, w.start_token, w.end_token, self.cfg["align_to_words"]))
            del start_logits, end_logits, X

    def _iter_features(self, docs: Sequence[Doc], all_questions: Sequence[Sequence[str]]) -> Iterator[_Feature]:
        """The windows of every doc's valid questions, a few questions at a time. A doc whose
        context is not valid text, or that would need more than ``max_windows_per_doc`` windows,
        gets a warning naming it and empty answers; it never breaks the batch. Errors of the
        tokenizer or model on valid text are raised: they are not the input's fault."""
        limit = self.cfg["max_windows_per_doc"]
        for i, (doc, questions) in enumerate(zip(docs, all_questions)):
            context = doc.text
            if not questions or not context.strip():
                continue
            problem = _question_problem(context)
            if problem is not None:
                warnings.warn(f"[{self.name}] doc {i} of the batch ({context[:50]!r}): the context {problem}; its "
                              f"{len(questions)} question(s) get empty answers.")
                continue
            valid = self._valid_questions(i, questions)
            if not valid:
                continue
            first = self._featurize(i, context, questions, only=valid[:1])
            projected = len(first) * len(valid)
            if projected > limit:
                warnings.warn(
                    f"[{self.name}] doc {i} of the batch ({context[:50]!r}): {len(valid)} questions x {len(first)} "
                    f"windows = {projected} windows, more than max_windows_per_doc = {limit}; its questions get "
                    "empty answers. Split the doc, ask fewer questions per doc, or raise max_windows_per_doc."
                )
                continue
            yield from first
            chunk = max(1, self.cfg["feature_batch_size"] // max(len(first), 1))
            for k in range(1, len(valid), chunk):
                yield from self._featurize(i, context, questions, only=valid[k : k + chunk])

    def set_annotations(self, docs: Iterable[Doc], answers: List[List[Dict[str, Any]]]) -> None:
        key = self.cfg["spans_key"]
        for doc, doc_answers in zip(docs, answers):
            doc.user_data[ANSWERS_KEY] = doc_answers
            spans, scores, questions = [], [], []
            for raw in doc_answers:
                if raw["end"] <= raw["start"]:
                    continue
                span = doc.char_span(raw["start"], raw["end"], alignment_mode="expand")
                if span is None:  # pragma: no cover - expand always finds tokens
                    continue
                spans.append(span)
                scores.append(raw["score"])
                questions.append(raw["question"])
            doc.spans[key] = SpanGroup(
                doc, name=key, spans=spans, attrs={"scores": scores, "questions": questions}
            )

    # --------------------------------------------------------------- training

    def initialize(self, get_examples: Optional[Callable[[], Iterable[Example]]] = None, *, nlp=None) -> None:
        self.model.initialize()
        tokenizer = self.tokenizer
        if not tokenizer.is_fast:
            raise ValueError(
                f"[components.{self.name}.model] loads a slow tokenizer; the component needs a "
                "fast one (offsets, sequence_ids). Set tokenizer_config = {\"use_fast\": true} "
                "or use a model that ships tokenizer.json."
            )
        check_tokenizer(tokenizer, example_texts(get_examples), f"[components.{self.name}.model] name")

    def _training_features(self, examples: Iterable[Example]) -> List[_Feature]:
        features: List[_Feature] = []
        for i, eg in enumerate(examples):
            questions, spans = gold_questions_and_spans(eg.reference)
            features.extend(self._featurize(i, eg.reference.text, questions, gold=spans))
        return features

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Start/end cross-entropy over the windows of the examples' gold questions, one
        optimizer step. ``drop`` (``training.dropout`` in ``spacy train``): with
        ``use_training_dropout = true`` every dropout probability of the model is set to it;
        with ``false`` (the default, as the Hugging Face ``Trainer``) the model trains with its
        own config's dropout, and a ``drop`` that differs from it is reported once.
        ``loss_over_padding``: see :func:`qa_loss`."""
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        features = self._training_features(examples)
        if not features:
            return losses
        self._dropout.apply(get_hf_shim(self.model).hf_objects.transformer, drop)
        total = 0.0
        # One optimizer step over all features of the examples, computed in length-sorted
        # chunks of update_batch_size whose gradients add up (the loss is normalised by the
        # total feature count), so short windows are not padded to the longest one. Where
        # the loss covers padding, every chunk is padded as the whole update would be, so
        # the step does not depend on update_batch_size.
        over_padding = self.cfg["loss_over_padding"]
        for idx, X in self._batches(features, self.cfg["update_batch_size"], pad_to_longest=over_padding):
            (start_logits, end_logits), backprop = self.model.begin_update(X)
            labels = [features[i].label for i in idx]
            loss, d_start, d_end = qa_loss(
                self.model.ops.to_numpy(start_logits),
                self.model.ops.to_numpy(end_logits),
                None if over_padding else X.get("attention_mask"),
                labels,
                n_total=len(features),
            )
            backprop((self.model.ops.asarray(d_start), self.model.ops.asarray(d_end)))
            total += loss
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += total
        return losses

    def score(self, examples: Iterable[Example], **kwargs: Any) -> Dict[str, Any]:
        """Score with the configured scorer. Examples whose predicted doc carries no
        questions (e.g. spaCy's own ``Corpus`` in ``spacy evaluate``, which rebuilds
        it from the text) are answered here with the reference doc's questions."""
        examples = list(examples)
        todo = [
            i for i, eg in enumerate(examples)
            if eg.predicted._.questions is None and eg.reference._.questions
        ]
        if todo:
            docs = []
            for i in todo:
                doc = examples[i].predicted.copy()
                doc._.questions = list(examples[i].reference._.questions)
                docs.append(doc)
            for i, doc in zip(todo, self.pipe(docs)):
                examples[i] = Example(doc, examples[i].reference)
        if self.scorer is None:
            return {}
        return self.scorer(examples, **kwargs)

    def get_loss(self, examples, scores):  # pragma: no cover - update computes the loss
        raise NotImplementedError("QuestionAnswerer computes its loss inside update().")

    # ---------------------------------------------------------- serialization


# ------------------------------------------------------------------- helpers


def gold_questions_and_spans(doc: Doc) -> Tuple[List[str], List[Optional[Tuple[int, int]]]]:
    """Questions and first gold answer ``(start_char, end_char)`` (``None``: unanswerable)
    from a reference doc's ``doc._.gold_answers`` (see :mod:`spacy_task_pipes.qa.data`)."""
    questions: List[str] = []
    spans: List[Optional[Tuple[int, int]]] = []
    for item in doc._.gold_answers or []:
        questions.append(item["question"])
        answers = [a for a in item.get("answers", []) if a.get("text")]
        if not answers:
            spans.append(None)
        else:
            start = int(answers[0]["start"])
            spans.append((start, start + len(answers[0]["text"])))
    return questions, spans


def qa_loss(
    start_logits: numpy.ndarray,
    end_logits: numpy.ndarray,
    attention_mask: Optional[numpy.ndarray],
    labels: Sequence[Tuple[int, int]],
    n_total: int,
) -> Tuple[float, numpy.ndarray, numpy.ndarray]:
    """Mean over features of (CE(start) + CE(end)) / 2, and its gradients.

    Positions where ``attention_mask`` is 0 (padding) are excluded from the softmax. With
    ``attention_mask=None`` the softmax covers every position of the padded row, as the
    Hugging Face QA heads (``BertForQuestionAnswering`` and the like) compute their loss:
    the loss then depends on how far a window is padded. ``n_total`` is the number of
    features in the whole update (for batches split into chunks)."""
    loss = 0.0
    grads = []
    for logits, col in ((start_logits, 0), (end_logits, 1)):
        x = logits.astype("float32")
        if attention_mask is not None:
            x = numpy.where(attention_mask > 0, x, numpy.float32(-1e4))
        x = x - x.max(axis=1, keepdims=True)
        probs = numpy.exp(x)
        probs /= probs.sum(axis=1, keepdims=True)
        gold = numpy.asarray([lab[col] for lab in labels])
        rows = numpy.arange(len(labels))
        loss += float(-numpy.log(probs[rows, gold] + 1e-12).sum()) / (2 * n_total)
        d = probs.copy()
        d[rows, gold] -= 1.0
        grads.append(d / (2 * n_total))
    return loss, grads[0], grads[1]


def make_qa_doc(nlp: Language, context: str, questions: Union[str, Sequence[str]]) -> Doc:
    """A tokenized (not yet processed) context ``Doc`` carrying ``questions``."""
    doc = nlp.make_doc(context)
    doc._.questions = [questions] if isinstance(questions, str) else list(questions)
    return doc


def answer_questions(nlp: Language, context: str, questions: Union[str, Sequence[str]]) -> Doc:
    """Run ``nlp`` on ``context`` with ``questions``; answers in ``doc._.answers``."""
    return nlp(make_qa_doc(nlp, context, questions))


def answer_questions_pipe(
    nlp: Language,
    items: Iterable[Tuple[str, Union[str, Sequence[str]]]],
    batch_size: Optional[int] = None,
    **pipe_kwargs: Any,
) -> Iterator[Doc]:
    """``nlp.pipe`` over ``(context, questions)`` pairs, in order."""
    docs = (make_qa_doc(nlp, context, questions) for context, questions in items)
    return nlp.pipe(docs, batch_size=batch_size, **pipe_kwargs)
