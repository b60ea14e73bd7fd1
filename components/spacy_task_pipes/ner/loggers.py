"""``spacy_task_pipes.ConsoleLogger.v1``: spaCy's console logger, with a JSONL training
log that is written line by line.

spaCy's ``spacy.ConsoleLogger.v3`` writes its ``output_file`` through a buffered stream
and closes it at the end of training, so a run stopped by SIGTERM or a kill leaves a
0-byte log, and the learning curve of a long run cannot be watched while it trains.
This logger prints the same console table (it wraps spaCy's logger) and writes each
evaluation's record (the same keys: ``epoch``, ``step``, ``losses``, ``scores``,
``score``) as one line, flushed at once. An existing file is replaced, not appended to.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Any, Callable, Dict, Optional, Tuple, Union

import srsly
from spacy.training.loggers import console_logger_v3
from spacy.util import registry


def _record(info: Dict[str, Any], logged_pipes, score_cols) -> Dict[str, Any]:
    losses = {pipe: float(info["losses"][pipe]) for pipe in logged_pipes if pipe in info["losses"]}
    scores = {}
    for col in score_cols:
        value = info["other_scores"].get(col, 0.0)
        try:
            value = float(value)
        except (TypeError, ValueError):
            continue
        scores[str(col)] = value if col == "speed" else value * 100  # as spaCy's logger writes them
    return {"epoch": info["epoch"], "step": info["step"], "losses": losses, "scores": scores,
            "score": float(info["score"])}


@registry.loggers("spacy_task_pipes.ConsoleLogger.v1")
def console_logger(
    progress_bar: Optional[str] = None,
    console_output: bool = True,
    output_file: Optional[Union[str, Path]] = None,
) -> Callable:
    """spaCy's console logger, with ``output_file`` written one flushed JSONL line per
    evaluation (see the module docstring).

    progress_bar: as in spacy.ConsoleLogger.v3 ("train", "eval" or null).
    console_output: print the table.
    output_file: the JSONL log; replaced when the run starts.
    """
    console = console_logger_v3(progress_bar=progress_bar, console_output=console_output, output_file=None)
    path = Path(output_file) if output_file else None

    def setup_printer(nlp, stdout: IO = sys.stdout, stderr: IO = sys.stderr) -> Tuple[Callable, Callable]:
        log_step, finalize = console(nlp, stdout, stderr)
        stream = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            stream = open(path, "w", encoding="utf-8", buffering=1)
        logged_pipes = [name for name, proc in nlp.pipeline if getattr(proc, "is_trainable", False)]
        score_cols = [col for col, value in nlp.config["training"]["score_weights"].items() if value is not None]

        def step(info: Optional[Dict[str, Any]]) -> None:
            log_step(info)
            if info is not None and stream is not None:
                stream.write(srsly.json_dumps(_record(info, logged_pipes, score_cols)) + "\n")
                stream.flush()

        def close() -> None:
            finalize()
            if stream is not None:
                stream.close()

        return step, close

    return setup_printer
