"""A confidence per predicted entity for spaCy's transition-based ``ner``.

spaCy's greedy NER builds entities from actions (``B-X``, ``I-X``, ``L-X``, ``U-X``,
``O``), taking at each token the best-scoring *valid* action. This module replays that
walk with the same model and keeps the softmax probability of each chosen action over
the valid ones. The confidence of an entity is the product of the probabilities of the
actions that built it (``B``, every ``I`` and the ``L``, or one ``U``); the confidence
that a token is outside every entity is the probability of its ``O`` action. The
entities are exactly those the ``ner`` component predicts (the walk takes the same
argmax, from a doc without entities), so the scores annotate its output rather than a
second prediction. (An entity another component set before ``ner`` constrains the
``ner``; the walk does not see it, and such entities get no score.)

Why not beam search: ``ner.beam_parse`` + ``scored_ents`` on a greedily trained model
gives probabilities that are nearly all 1.0 (157 of 160 entities above 0.9 on the
English test set, 11% of them wrong), so no threshold separates right from wrong.
The greedy action probabilities do (see the README's NER results).

Use it as a pipeline component after ``ner``::

    nlp.add_pipe("entity_confidence")          # reads the "ner" component
    doc = nlp("Just got the Pixel 8 Pro.")
    [(ent.text, ent._.confidence) for ent in doc.ents]

or call :func:`entity_confidences` on docs that went through the pipeline.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
from spacy.language import Language
from spacy.tokens import Doc, Span, SpanGroup

SpanKey = Tuple[int, int, str]
SPANS_KEY = "ents_confidence"


class WalkResult:
    """Entity and ``O`` probabilities of one doc from the replayed greedy walk."""

    __slots__ = ("entities", "outside")

    def __init__(self, entities: Dict[SpanKey, float], outside: Dict[int, float]):
        self.entities = entities  # (start, end, label) -> confidence
        self.outside = outside  # token index -> probability of its O action


def _softmax_rows(scores: numpy.ndarray, valid: numpy.ndarray) -> numpy.ndarray:
    masked = numpy.where(valid, scores, -numpy.inf)
    masked -= masked.max(axis=1, keepdims=True)
    exp = numpy.exp(masked)
    return exp / exp.sum(axis=1, keepdims=True)


_ENT_ATTRS = ["ENT_IOB", "ENT_TYPE", "ENT_KB_ID", "ENT_ID"]


def entity_confidences(ner, docs: Sequence[Doc]) -> List[WalkResult]:
    """Replay ``ner``'s greedy walk over ``docs`` and return each doc's entity and
    ``O`` probabilities. ``docs`` must carry what the ``ner`` model reads: with a
    listener ``tok2vec`` (spaCy's default), the docs as they come out of the pipeline
    (``doc.tensor`` set); with an internal ``tok2vec``, any tokenized docs."""
    # The walk must start from no entities: spaCy's NER treats entities already on a doc
    # (the ner's own output included) as constraints, which would leave one valid
    # action per token and a probability of 1. They are cleared for the walk and put
    # back after it (the docs themselves are used, so whatever the model reads from
    # them, doc.tensor or a transformer's doc._.trf_data, is there).
    docs = list(docs)
    saved = {}
    for i, doc in enumerate(docs):
        if any(token.ent_iob for token in doc):
            saved[i] = doc.to_array(_ENT_ATTRS)
            doc.set_ents([], default="missing")
    try:
        return _walk(ner, docs)
    finally:
        for i, array in saved.items():
            docs[i].from_array(_ENT_ATTRS, array)


def _walk(ner, docs: List[Doc]) -> List[WalkResult]:
    moves = ner.moves
    names = [moves.get_class_name(i) for i in range(moves.n_moves)]
    kinds = [name.split("-", 1)[0] for name in names]
    labels = [name.split("-", 1)[1] if "-" in name else "" for name in names]
    states = moves.init_batch(docs)
    model = ner.model.predict(docs)
    steps: List[List[Tuple[int, int, float]]] = [[] for _ in docs]
    active = [i for i, state in enumerate(states) if not state.is_final()]
    try:
        while active:
            scores = ner.model.ops.to_numpy(model.predict([states[i] for i in active]))
            valid = numpy.array(
                [[moves.is_valid(states[i], name) for name in names] for i in active], dtype=bool
            )
            probs = _softmax_rows(scores.astype("float64"), valid)
            best = numpy.where(valid, scores, -numpy.inf).argmax(axis=1)
            for row, i in enumerate(active):
                action = int(best[row])
                steps[i].append((states[i].B(0), action, float(probs[row, action])))
                moves.apply_transition(states[i], names[action])
            active = [i for i in active if not states[i].is_final()]
    finally:
        model.clear_memory()
    results = []
    for doc_steps in steps:
        entities: Dict[SpanKey, float] = {}
        outside: Dict[int, float] = {}
        start, prob = -1, 1.0
        for token, action, p in doc_steps:
            kind = kinds[action]
            if kind == "O":
                outside[token] = p
            elif kind == "U":
                entities[(token, token + 1, labels[action])] = p
            elif kind == "B":
                start, prob = token, p
            elif kind == "I":
                prob *= p
            elif kind == "L":
                entities[(start, token + 1, labels[action])] = prob * p
        results.append(WalkResult(entities, outside))
    return results


def _span_confidence(span: Span) -> Optional[float]:
    group = span.doc.spans.get(SPANS_KEY)
    if group is None:
        return None
    for other, score in zip(group, group.attrs.get("scores", ())):
        if other.start == span.start and other.end == span.end and other.label == span.label:
            return float(score)
    return None


def register_extensions() -> None:
    if not Span.has_extension("confidence"):
        Span.set_extension("confidence", getter=_span_confidence)


class EntityConfidence:
    """Pipeline component: scores the entities the ``ner`` component predicted.

    Writes ``doc.spans["ents_confidence"]`` (the scored entities, with the scores in
    ``.attrs["scores"]``, saved with the doc in a ``DocBin``) and makes
    ``ent._.confidence`` available on ``doc.ents`` (``None`` for an entity another
    component added after ``ner``).
    """

    def __init__(self, nlp: Language, name: str, ner_name: str, spans_key: str, min_confidence: float = 0.0):
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"[components.{name}] min_confidence must be between 0 and 1, got {min_confidence}")
        self.nlp = nlp
        self.name = name
        self.ner_name = ner_name
        self.spans_key = spans_key
        self.min_confidence = min_confidence
        register_extensions()

    def _ner(self):
        try:
            return self.nlp.get_pipe(self.ner_name)
        except KeyError:
            raise ValueError(
                f"[components.{self.name}] ner_name = \"{self.ner_name}\" is not a component of the "
                f"pipeline ({', '.join(self.nlp.pipe_names)}); set it to the NER component to score."
            ) from None

    def __call__(self, doc: Doc) -> Doc:
        return next(iter(self.pipe([doc])))

    def pipe(self, docs: Iterable[Doc], batch_size: int = 128) -> Iterable[Doc]:
        ner = self._ner()
        batch: List[Doc] = []
        for doc in docs:
            batch.append(doc)
            if len(batch) >= batch_size:
                yield from self._score(ner, batch)
                batch = []
        if batch:
            yield from self._score(ner, batch)

    def _score(self, ner, docs: List[Doc]) -> List[Doc]:
        add_confidences(ner, docs, self.spans_key)
        if self.min_confidence > 0.0:
            for doc in docs:
                drop_below(doc, self.min_confidence, self.spans_key)
        return docs


def drop_below(doc: Doc, min_confidence: float, spans_key: str = SPANS_KEY) -> Doc:
    """Remove from ``doc.ents`` the scored entities below ``min_confidence`` (their
    tokens become O); the scored group keeps them, with their scores."""
    group = doc.spans.get(spans_key)
    if group is None:
        return doc
    low = {
        (span.start, span.end, span.label)
        for span, score in zip(group, group.attrs.get("scores", ()))
        if score < min_confidence
    }
    if low:
        kept = [ent for ent in doc.ents if (ent.start, ent.end, ent.label) not in low]
        dropped = [ent for ent in doc.ents if (ent.start, ent.end, ent.label) in low]
        doc.set_ents(kept, outside=dropped, default="unmodified")
    return doc


def add_confidences(ner, docs: List[Doc], spans_key: str = SPANS_KEY) -> List[Doc]:
    """Score ``docs`` (see :func:`entity_confidences`) and write the scored entities to
    ``doc.spans[spans_key]`` with their scores in ``.attrs["scores"]``."""
    register_extensions()
    for doc, result in zip(docs, entity_confidences(ner, docs)):
        spans = [Span(doc, s, e, label=label) for (s, e, label) in sorted(result.entities)]
        group = SpanGroup(doc, name=spans_key, spans=spans)
        group.attrs["scores"] = [round(result.entities[(s.start, s.end, s.label_)], 6) for s in spans]
        doc.spans[spans_key] = group
    return docs


def thresholded(docs: Sequence[Doc], gold: Sequence[Doc], thresholds: Sequence[float], spans_key: str = SPANS_KEY) -> Dict[str, Dict[str, float]]:
    """Precision, recall and F of the entities whose confidence is at least each
    threshold, against ``gold`` (exact character offsets and label).

    An entity of ``doc.ents`` without a score (a component after ``ner`` set it, such as the
    rules' dictionary, :mod:`.dictionary`) counts at every threshold, and a scored entity it
    overlaps (one it overwrote) at none."""
    out = {}
    n_gold = sum(len(g.ents) for g in gold)
    for threshold in thresholds:
        tp = n_pred = 0
        for doc, ref in zip(docs, gold):
            truth = {(e.start_char, e.end_char, e.label_) for e in ref.ents}
            group = doc.spans.get(spans_key)
            if group is None:
                continue
            for span in _kept(doc, group, threshold):
                n_pred += 1
                tp += (span.start_char, span.end_char, span.label_) in truth
        p = tp / n_pred if n_pred else 0.0
        r = tp / n_gold if n_gold else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        out[str(threshold)] = {"p": round(p, 4), "r": round(r, 4), "f": round(f, 4), "entities": n_pred}
    return out


def _kept(doc: Doc, group: SpanGroup, threshold: float) -> List[Span]:
    """The scored entities at or above ``threshold`` that no unscored entity of ``doc.ents``
    overlaps, and those unscored entities."""
    scored = {(span.start, span.end, span.label) for span in group}
    unscored = [ent for ent in doc.ents if (ent.start, ent.end, ent.label) not in scored]
    taken = {i for ent in unscored for i in range(ent.start, ent.end)}
    kept = [span for span, score in zip(group, group.attrs.get("scores", ()))
            if score >= threshold and not taken.intersection(range(span.start, span.end))]
    return kept + unscored


@Language.factory(
    "entity_confidence",
    assigns=["doc.spans", "span._.confidence"],
    requires=["doc.ents"],
    default_config={"ner_name": "ner", "spans_key": SPANS_KEY, "min_confidence": 0.0},
)
def make_entity_confidence(
    nlp: Language, name: str, ner_name: str, spans_key: str, min_confidence: float
) -> EntityConfidence:
    """A confidence per entity of the ``ner_name`` component (put it after that component).

    ner_name: the transition-based NER component whose entities are scored.
    spans_key: ``doc.spans`` key of the scored entities (scores in ``.attrs["scores"]``).
    min_confidence: entities scored below it are removed from ``doc.ents`` (0: keep all);
        ``scripts/calibrate_ner.py`` picks it on a gold dev set.
    ``ent._.confidence`` gives an entity's score; see :mod:`spacy_task_pipes.ner.confidence`.
    """
    return EntityConfidence(nlp, name, ner_name, spans_key, min_confidence)
