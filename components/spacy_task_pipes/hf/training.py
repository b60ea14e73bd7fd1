"""Training helpers shared by the transformer configs."""

from __future__ import annotations

from typing import Any, Dict

from spacy.util import registry
from spacy.util import logger as spacy_logger
from wasabi import Printer


def fit_training_to_steps(config: Dict[str, Any], evaluations: int, warmup_fraction: float) -> Dict[str, Any]:
    """Cap ``eval_frequency`` and the learning-rate warm-up of ``config["training"]`` so a
    run of ``max_steps`` is evaluated about ``evaluations`` times and warms up for at most
    ``warmup_fraction`` of its steps. Returns what changed (``{}`` when nothing did)."""
    training = config.get("training", {})
    max_steps = int(training.get("max_steps") or 0)
    changed: Dict[str, Any] = {}
    if max_steps <= 0:
        return changed
    frequency = max(1, max_steps // max(1, evaluations))
    if int(training.get("eval_frequency", frequency)) > frequency:
        changed["training.eval_frequency"] = (training["eval_frequency"], frequency)
        training["eval_frequency"] = frequency
    learn_rate = training.get("optimizer", {}).get("learn_rate")
    if isinstance(learn_rate, dict) and "warmup_steps" in learn_rate:
        warmup = max(1, int(max_steps * warmup_fraction))
        if int(learn_rate["warmup_steps"]) > warmup:
            changed["training.optimizer.learn_rate.warmup_steps"] = (learn_rate["warmup_steps"], warmup)
            learn_rate["warmup_steps"] = warmup
    return changed


def training_schedule(config: Dict[str, Any]) -> str:
    """One line for the schedule a ``spacy train`` run of ``config`` follows:
    ``eval_frequency 2, warmup_steps 2, max_steps 20`` (``warmup_steps none`` for a learning
    rate without warm-up, ``max_steps 0 (no limit)``)."""
    training = config.get("training", {})
    learn_rate = training.get("optimizer", {}).get("learn_rate")
    warmup = learn_rate.get("warmup_steps", "none") if isinstance(learn_rate, dict) else "none"
    max_steps = int(training.get("max_steps") or 0)
    steps = f"{max_steps}" if max_steps > 0 else "0 (no limit)"
    return f"eval_frequency {training.get('eval_frequency')}, warmup_steps {warmup}, max_steps {steps}"


@registry.callbacks("spacy_task_pipes.fit_to_step_budget.v1")
def create_fit_to_step_budget(evaluations: int = 10, warmup_fraction: float = 0.1):
    """``[initialize.after_init]`` callback: a short ``spacy train`` run (``--training.max_steps
    30``) is evaluated ``evaluations`` times and warms up for ``warmup_fraction`` of its steps,
    instead of scoring step 0 only and shipping untrained weights. ``spacy train`` reads
    ``[training]`` from ``nlp.config`` after initialization, so the capped values apply, are
    logged, and are saved in the trained pipeline's config. The schedule that runs is logged in
    one line either way (``fit_to_step_budget: eval_frequency 500, warmup_steps 500, max_steps
    20000 (unchanged)``)."""
    if evaluations < 1 or not 0.0 <= warmup_fraction <= 1.0:
        raise ValueError(
            f"spacy_task_pipes.fit_to_step_budget.v1: evaluations ({evaluations}) must be >= 1 "
            f"and warmup_fraction ({warmup_fraction}) between 0 and 1."
        )

    def fit(nlp):
        changed = fit_training_to_steps(nlp.config, evaluations, warmup_fraction)
        lines = [
            f"fit_to_step_budget: {key} {old} -> {new} (max_steps {nlp.config['training']['max_steps']})"
            for key, (old, new) in changed.items()
        ]
        lines.append(f"fit_to_step_budget: {training_schedule(nlp.config)}{'' if changed else ' (unchanged)'}")
        for line in lines:
            spacy_logger.info(line)
            Printer().info(line)  # shown next to spaCy's own notices in `spacy train`
        return nlp

    return fit
