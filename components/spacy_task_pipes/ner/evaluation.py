"""NER evaluation on hand-labelled data: P/R/F, rules baseline, and recall beyond the rules."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Set, Tuple

from spacy import displacy
from spacy.language import Language
from spacy.scorer import Scorer
from spacy.tokens import Doc
from spacy.training import Example

from .bootstrap import RuleMatcher
from .confidence import SPANS_KEY, add_confidences, thresholded

SpanKey = Tuple[int, int, str]


def _char_ents(doc: Doc) -> Set[SpanKey]:
    return {(e.start_char, e.end_char, e.label_) for e in doc.ents}


def _char_scores(doc: Doc) -> Dict[SpanKey, float]:
    group = doc.spans.get(SPANS_KEY)
    if group is None:
        return {}
    return {(s.start_char, s.end_char, s.label_): float(v) for s, v in zip(group, group.attrs.get("scores", ()))}


def _prf(pred_docs: Sequence[Doc], gold_docs: Sequence[Doc]) -> Dict[str, object]:
    examples = [Example(p, g) for p, g in zip(pred_docs, gold_docs)]
    scores = Scorer.score_spans(examples, "ents")
    per_label = {
        label: {k: round(v, 4) for k, v in prf.items()}
        for label, prf in sorted((scores.get("ents_per_type") or {}).items())
    }
    return {
        "p": round(scores["ents_p"] or 0.0, 4),
        "r": round(scores["ents_r"] or 0.0, 4),
        "f": round(scores["ents_f"] or 0.0, 4),
        "per_label": per_label,
    }


def rule_docs(nlp: Language, texts: Sequence[str], matcher: RuleMatcher) -> List[Doc]:
    """Docs annotated by the rules alone (the baseline the model should beat)."""
    docs = []
    for text in texts:
        doc = nlp.make_doc(text)
        doc.set_ents(matcher(doc), default="outside")
        docs.append(doc)
    return docs


CONFIDENCE_THRESHOLDS = (0.5, 0.7, 0.9, 0.99)


def evaluate_ner(
    nlp: Language,
    gold_docs: Sequence[Doc],
    matcher: Optional[RuleMatcher] = None,
    batch_size: int = 64,
    thresholds: Sequence[float] = CONFIDENCE_THRESHOLDS,
    ner_name: str = "ner",
) -> Tuple[Dict[str, object], List[Doc]]:
    """Score ``nlp`` on ``gold_docs``; returns ``(metrics, predicted_docs)``.

    With ``matcher``, also scores the rules alone and splits the gold mentions into
    those the rules produce exactly and those they miss, reporting the model's
    recall on each part: the second figure says whether training generalised
    beyond the patterns.

    Where the pipeline has a transition-based ``ner_name`` component, each predicted
    entity gets its confidence (:mod:`.confidence`) and ``by_confidence`` gives P/R/F
    of the entities at or above each of ``thresholds``.
    """
    texts = [d.text for d in gold_docs]
    pred_docs = list(nlp.pipe(texts, batch_size=batch_size))
    metrics: Dict[str, object] = {
        "docs": len(gold_docs),
        "gold_entities": sum(len(d.ents) for d in gold_docs),
        "model": _prf(pred_docs, gold_docs),
    }
    ner = nlp.get_pipe(ner_name) if ner_name in nlp.pipe_names else None
    if ner is not None and hasattr(ner, "moves") and thresholds:
        if not any(SPANS_KEY in d.spans for d in pred_docs):
            add_confidences(ner, pred_docs)
        metrics["by_confidence"] = thresholded(pred_docs, gold_docs, list(thresholds))
    if matcher is not None:
        r_docs = rule_docs(nlp, texts, matcher)
        metrics["rules"] = _prf(r_docs, gold_docs)
        matched = unmatched = matched_hit = unmatched_hit = 0
        for gold, pred, rules in zip(gold_docs, pred_docs, r_docs):
            predicted, by_rules = _char_ents(pred), _char_ents(rules)
            for ent in _char_ents(gold):
                if ent in by_rules:
                    matched += 1
                    matched_hit += ent in predicted
                else:
                    unmatched += 1
                    unmatched_hit += ent in predicted
        metrics["beyond_rules"] = {
            "gold_mentions_matched_by_rules": matched,
            "gold_mentions_unmatched_by_rules": unmatched,
            "model_recall_on_matched": round(matched_hit / matched, 4) if matched else None,
            "model_recall_on_unmatched": round(unmatched_hit / unmatched, 4) if unmatched else None,
        }
    return metrics, pred_docs


def render_comparison(pred_docs: Sequence[Doc], gold_docs: Sequence[Doc], title: str = "NER predictions") -> str:
    """A displaCy page of predictions, coloured by correctness against the gold spans.

    Correct predictions keep their label, wrong ones are ``FP <label>`` and gold spans
    the model missed entirely are ``MISSED <label>``.
    """
    pages = []
    for i, (pred, gold) in enumerate(zip(pred_docs, gold_docs)):
        gold_ents = _char_ents(gold)
        shown = []
        scores = _char_scores(pred)
        for s, e, label in sorted(_char_ents(pred)):
            tag = label if (s, e, label) in gold_ents else f"FP {label}"
            shown.append({"start": s, "end": e, "label": tag, "score": scores.get((s, e, label))})
        for s, e, label in sorted(gold_ents):
            if not any(x["start"] < e and s < x["end"] for x in shown):
                shown.append({"start": s, "end": e, "label": f"MISSED {label}"})
        shown.sort(key=lambda x: x["start"])
        for x in shown:  # the confidence, where known, after the label: "GADGET 0.97"
            score = x.pop("score", None)
            if score is not None:
                x["label"] = f"{x['label']} {score:.2f}"
        pages.append({"text": pred.text, "ents": shown, "title": f"#{i}"})
    colors = {}
    for label in {x["label"] for page in pages for x in page["ents"]}:
        colors[label] = "#f4a3a3" if label.startswith("FP ") else "#ffd479" if label.startswith("MISSED ") else "#9ee09e"
    html = displacy.render(pages, style="ent", manual=True, page=True, options={"colors": colors})
    return html.replace("<title>displaCy</title>", f"<title>{title}</title>", 1)
