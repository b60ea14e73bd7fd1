"""Post-processing of start/end logits into answers (pure NumPy, no model).

Per window (feature) the logits are softmax-normalised over the context tokens
plus CLS (as in ``transformers.QuestionAnsweringPipeline``); the null score is
``p_start[CLS] * p_end[CLS]``; candidates are the ``n_best`` most likely start and
end context tokens, kept where ``start <= end`` and the answer has at most
``max_answer_length`` tokens; a span's score is ``p_start * p_end``. Across the
windows of one question the highest span score wins (first window on ties), the
null score is the minimum over windows, and with ``handle_impossible_answer`` the
answer is empty when ``null > best + null_score_diff_threshold``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional, Sequence, Tuple

import numpy

ANSWERS_KEY = "spacy_task_pipes.answers"
"""``doc.user_data`` key of the raw answers (list of dicts) behind ``doc._.answers``."""


@dataclass
class WindowResult:
    """The best span of one window (token indices into that window) and its null score."""

    score: Optional[float]
    start_token: int
    end_token: int
    null_score: float


def _softmax_masked(logits: numpy.ndarray, keep: numpy.ndarray) -> numpy.ndarray:
    x = numpy.where(keep, logits.astype("float32"), numpy.float32(-10000.0))
    x = numpy.exp(x - x.max())
    return x / x.sum()


def decode_window(
    start_logits: numpy.ndarray,
    end_logits: numpy.ndarray,
    context_mask: numpy.ndarray,
    cls_index: int,
    n_best: int,
    max_answer_length: int,
) -> WindowResult:
    """Best span of one window. ``context_mask`` marks the context tokens."""
    keep = context_mask.copy()
    keep[cls_index] = True
    p_start = _softmax_masked(start_logits, keep)
    p_end = _softmax_masked(end_logits, keep)
    null_score = float(p_start[cls_index] * p_end[cls_index])
    context_idx = numpy.flatnonzero(context_mask)
    context_idx = context_idx[context_idx != cls_index]
    if context_idx.size == 0:
        return WindowResult(None, -1, -1, null_score)
    k = min(n_best, context_idx.size)
    starts = numpy.sort(context_idx[numpy.argsort(-p_start[context_idx], kind="stable")[:k]])
    ends = numpy.sort(context_idx[numpy.argsort(-p_end[context_idx], kind="stable")[:k]])
    scores = p_start[starts][:, None] * p_end[ends][None, :]
    length = ends[None, :] - starts[:, None]
    valid = (length >= 0) & (length < max_answer_length)
    if not valid.any():
        return WindowResult(None, -1, -1, null_score)
    scores = numpy.where(valid, scores, numpy.float32(-1.0))
    i, j = numpy.unravel_index(int(numpy.argmax(scores)), scores.shape)
    return WindowResult(float(scores[i, j]), int(starts[i]), int(ends[j]), null_score)


def choose_across_windows(
    windows: Sequence[WindowResult],
    handle_impossible_answer: bool,
    null_score_diff_threshold: float,
) -> Tuple[Optional[int], float, bool]:
    """``(window index or None, score, is_impossible)`` for one question."""
    best: Optional[int] = None
    for idx, win in enumerate(windows):
        if win.score is not None and (best is None or win.score > windows[best].score):  # type: ignore[operator]
            best = idx
    null = min((w.null_score for w in windows), default=0.0)
    if best is None:
        return None, (null if handle_impossible_answer else 0.0), True
    best_score = float(windows[best].score)  # type: ignore[arg-type]
    if handle_impossible_answer and null > best_score + null_score_diff_threshold:
        return None, null, True
    return best, best_score, False


class AnswerAccumulator:
    """:func:`choose_across_windows` one window at a time, in any order: keeps the best span
    (highest score, lowest window index on ties) with its characters, and the smallest null
    score, so that a question's windows need not all be held at once."""

    __slots__ = ("score", "window", "start", "end", "null", "seen")

    def __init__(self) -> None:
        self.score: Optional[float] = None
        self.window = -1
        self.start = self.end = 0
        self.null: Optional[float] = None
        self.seen = 0

    def add(self, window: int, result: WindowResult, chars) -> None:
        """``chars()`` gives the character span of ``result`` (called only for a new best)."""
        self.seen += 1
        self.null = result.null_score if self.null is None else min(self.null, result.null_score)
        if result.score is None:
            return
        if self.score is None or result.score > self.score or (result.score == self.score and window < self.window):
            self.score, self.window = result.score, window
            self.start, self.end = chars()

    def choose(self, handle_impossible_answer: bool, null_score_diff_threshold: float) -> Tuple[Optional[Tuple[int, int]], float]:
        """``((start, end) or None for an empty answer, score)``, as :func:`choose_across_windows`."""
        null = 0.0 if self.null is None else self.null
        if self.score is None:
            return None, (null if handle_impossible_answer else 0.0)
        if handle_impossible_answer and null > self.score + null_score_diff_threshold:
            return None, null
        return (self.start, self.end), float(self.score)


def token_span_to_chars(encoding, start_token: int, end_token: int, align_to_words: bool) -> Tuple[int, int]:
    """Character offsets in the context (sequence 1) of a token span, as the HF pipeline."""
    if align_to_words:
        try:
            start_word = encoding.token_to_word(start_token)
            end_word = encoding.token_to_word(end_token)
            start_char = encoding.word_to_chars(start_word, sequence_index=1)[0]
            end_char = encoding.word_to_chars(end_word, sequence_index=1)[1]
            return int(start_char), int(end_char)
        except Exception:  # tokenizers without word ids: keep the token offsets
            pass
    return int(encoding.offsets[start_token][0]), int(encoding.offsets[end_token][1])


def char_to_token_labels(
    offsets: Sequence[Tuple[int, int]],
    sequence_ids: Sequence[Optional[int]],
    answer_start: int,
    answer_end: int,
    cls_index: int,
) -> Tuple[int, int]:
    """Training labels of one window: the context tokens covering ``[answer_start,
    answer_end)``, or ``(cls_index, cls_index)`` when the answer is not fully inside."""
    ctx = [i for i, s in enumerate(sequence_ids) if s == 1]
    if not ctx or answer_end <= answer_start:
        return cls_index, cls_index
    first, last = ctx[0], ctx[-1]
    if offsets[first][0] > answer_start or offsets[last][1] < answer_end:
        return cls_index, cls_index
    start_tok = first
    while start_tok <= last and offsets[start_tok][1] <= answer_start:
        start_tok += 1
    end_tok = last
    while end_tok >= first and offsets[end_tok][0] >= answer_end:
        end_tok -= 1
    if start_tok > end_tok:
        return cls_index, cls_index
    return start_tok, end_tok


def iter_context_mask(sequence_ids: Iterable[Optional[int]]) -> numpy.ndarray:
    return numpy.asarray([s == 1 for s in sequence_ids], dtype=bool)
