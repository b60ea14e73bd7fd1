"""Self-training for rule-bootstrapped NER: a trained model (the teacher) labels the raw
texts again, and its confident entities the rules missed join the silver data.

One round, for each text:

- the rules' matches are kept as they are (rules win every conflict);
- each entity the teacher predicts with a confidence of at least ``min_confidence``
  (:mod:`.confidence`), of a label the rules produce, that overlaps no rule match, is
  added;
- every other token is ``O`` where the teacher's ``O`` action had a probability of at
  least ``outside_confidence`` or the ``unmatched`` policy finds evidence for it, and
  unknown (missing) elsewhere.

The student is trained on the result like the first model was; the gold dev set picks
the best round (``scripts/self_train.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

from spacy.language import Language
from spacy.tokens import Doc, Span

from .bootstrap import RuleMatcher, check_unmatched, claim, evidence_outside, lower_case_words
from .confidence import entity_confidences


@dataclass
class RelabelStats:
    texts: int = 0
    rule_entities: int = 0
    added_entities: Counter = field(default_factory=Counter)
    dropped_low_confidence: int = 0
    dropped_conflicts: int = 0
    tokens_outside: int = 0
    tokens_missing: int = 0
    pattern_matches: Counter = field(default_factory=Counter)
    pattern_agreed: Counter = field(default_factory=Counter)
    dropped_patterns: List[str] = field(default_factory=list)

    def pattern_agreement(self) -> Dict[str, Dict[str, object]]:
        """Per pattern: its kept matches and the share the teacher predicts too."""
        return {
            pid: {"matches": n, "teacher_agrees": round(self.pattern_agreed[pid] / n, 4)}
            for pid, n in self.pattern_matches.most_common()
        }

    def to_dict(self) -> Dict[str, object]:
        return {
            "texts": self.texts,
            "rule_entities": self.rule_entities,
            "added_entities": sum(self.added_entities.values()),
            "added_entities_per_label": dict(self.added_entities.most_common()),
            "teacher_entities_below_min_confidence": self.dropped_low_confidence,
            "teacher_entities_overlapping_rules": self.dropped_conflicts,
            "tokens_outside": self.tokens_outside,
            "tokens_missing": self.tokens_missing,
            "dropped_patterns": self.dropped_patterns,
            "pattern_agreement": self.pattern_agreement(),
        }


def check_confidence(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")
    return value


def relabel(
    nlp: Language,
    texts: Iterable[str],
    matcher: RuleMatcher,
    teacher: Language,
    min_confidence: float = 0.9,
    outside_confidence: float = 0.99,
    unmatched: str = "evidence",
    min_pattern_agreement: float = 0.0,
    min_pattern_matches: int = 5,
    ner_name: str = "ner",
    batch_size: int = 128,
    stats: Optional[RelabelStats] = None,
    progress=None,
) -> List[Doc]:
    """Silver docs for the next round (see the module docstring). ``nlp`` is the blank
    pipeline of the bootstrap (its tokenization is the one written); the teacher's
    entities are aligned onto it by character offsets.

    Pattern noise: for each pattern, the share of its kept matches that the teacher
    predicts too (same tokens, same label) is its *agreement*. A pattern with at least
    ``min_pattern_matches`` matches and an agreement below ``min_pattern_agreement`` is
    dropped for this round: its matches become unknown tokens instead of entities, and
    the teacher's confident entities may take their place.
    """
    check_unmatched(unmatched)
    check_confidence("min_confidence", min_confidence)
    check_confidence("outside_confidence", outside_confidence)
    check_confidence("min_pattern_agreement", min_pattern_agreement)
    stats = stats if stats is not None else RelabelStats()
    texts = list(texts)
    ner = teacher.get_pipe(ner_name)
    found = []  # per text: (doc, rule matches with ids, teacher entities, teacher O tokens)
    for start in range(0, len(texts), batch_size):
        chunk = texts[start : start + batch_size]
        taught = list(teacher.pipe(chunk, batch_size=batch_size))
        for text, t_doc, walk in zip(chunk, taught, entity_confidences(ner, taught)):
            doc = nlp.make_doc(text)
            rules = matcher.match(doc)
            predicted = []
            for (s, e, label), p in sorted(walk.entities.items()):
                t_span = t_doc[s:e]
                span = doc.char_span(t_span.start_char, t_span.end_char, label=label, alignment_mode="contract")
                if span is not None and len(span):
                    predicted.append((span, p))
            sure_outside = []
            for i, p in walk.outside.items():
                if p >= outside_confidence:
                    token = t_doc[i]
                    span = doc.char_span(token.idx, token.idx + len(token), alignment_mode="contract")
                    if span is not None and len(span):
                        sure_outside.append(span)
            predicted_keys = {(span.start, span.end, span.label_) for span, _ in predicted}
            for span, pid in rules:
                stats.pattern_matches[pid] += 1
                stats.pattern_agreed[pid] += (span.start, span.end, span.label_) in predicted_keys
            found.append((doc, rules, predicted, sure_outside))
            if progress is not None:
                progress.update(1)
    dropped = {
        pid for pid, n in stats.pattern_matches.items()
        if n >= min_pattern_matches and stats.pattern_agreed[pid] / n < min_pattern_agreement
    }
    stats.dropped_patterns = sorted(dropped)
    lower_words = lower_case_words(doc for doc, _, _, _ in found)
    out: List[Doc] = []
    for doc, rules, predicted, sure_outside in found:
        spans = [span for span, pid in rules if pid not in dropped]
        unknown = {i for span, pid in rules if pid in dropped for i in range(span.start, span.end)}
        stats.rule_entities += len(spans)
        taken = {i for span in spans for i in range(span.start, span.end)}
        for span, p in predicted:
            if span.label_ not in matcher.labels:
                continue
            if p < min_confidence:
                stats.dropped_low_confidence += 1
                continue
            if not claim(span, taken):
                stats.dropped_conflicts += 1
                continue
            spans.append(span)
            stats.added_entities[span.label_] += 1
        doc.set_ents(sorted(spans, key=lambda s: s.start), default="missing")
        if unmatched == "outside":
            outside = [doc[i : i + 1] for i in range(len(doc))]
        else:
            outside = list(sure_outside)
            if unmatched == "evidence":
                outside.extend(evidence_outside(doc, matcher.pattern_words, lower_words))
        outside = [span for span in outside if not (taken | unknown).intersection(range(span.start, span.end))]
        if outside:
            doc.set_ents([], outside=_unique(outside), default="unmodified")
        stats.texts += 1
        stats.tokens_outside += sum(t.ent_iob_ == "O" for t in doc)
        stats.tokens_missing += sum(t.ent_iob == 0 for t in doc)
        out.append(doc)
    return out


def _unique(spans: Sequence[Span]) -> List[Span]:
    seen, out = set(), []
    for span in spans:
        for i in range(span.start, span.end):
            if i not in seen:
                seen.add(i)
                out.append(span.doc[i : i + 1])
    return out


class TrainingFailed(RuntimeError):
    """``spacy train`` exited with an error (the message holds the end of its output)."""


def spacy_train(
    config: Path,
    train_path: Path,
    dev_path: Path,
    output: Path,
    lang: str,
    gpu_id: int = -1,
    overrides: Sequence[str] = (),
    log_path: Optional[Path] = None,
) -> Path:
    """Run ``python -m spacy train`` in a child process (spaCy's own logger shows
    progress; with ``log_path`` its output goes there instead) and return the path of
    ``model-best``."""
    command = [
        sys.executable, "-m", "spacy", "train", str(config), "--output", str(output),
        "--paths.train", str(train_path), "--paths.dev", str(dev_path), "--nlp.lang", lang,
        "--gpu-id", str(gpu_id), *overrides,
    ]
    if log_path is None:
        result = subprocess.run(command)
        tail = ""
    else:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "w", encoding="utf-8") as log:
            result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT)
        tail = " ".join(Path(log_path).read_text(encoding="utf-8", errors="replace").splitlines()[-3:])
    if result.returncode:
        raise TrainingFailed(f"spacy train failed (exit code {result.returncode}) for {output}: {tail or 'see its output above'}")
    return Path(output) / "model-best"


def warm_start_config(config: Path, teacher: Path, output: Path) -> Path:
    """Write ``output``: ``config`` with every pipeline component sourced from ``teacher``,
    so that ``spacy train`` resumes the teacher's weights (spaCy's ``resume_training`` for
    sourced components) instead of initializing new ones. Everything else (optimizer,
    batcher, ``max_steps``) is ``config``'s, and command-line overrides still apply."""
    from spacy.util import load_config

    cfg = load_config(Path(config), interpolate=False)
    teacher = Path(teacher).resolve()
    for name in cfg["nlp"]["pipeline"]:
        cfg["components"][name] = {"source": str(teacher)}
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    cfg.to_disk(output)
    return Path(output)


def dev_score(model_dir: Path, key: str = "ents_f") -> float:
    """The gold dev score ``spacy train`` saved in ``model-best/meta.json``."""
    meta = json.loads((Path(model_dir) / "meta.json").read_text(encoding="utf-8"))
    return float((meta.get("performance") or {}).get(key) or 0.0)
