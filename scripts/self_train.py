"""Self-training rounds for rule-bootstrapped NER: the teacher relabels the raw texts
(rules win conflicts, confident new entities join, confident O tokens become O), a
student is trained on the result, and the gold dev set decides which round is kept
(the latest, unless it scores more than --tolerance below an earlier one).

By default each student starts from its teacher's weights (``--warm-start``: the config's
components are sourced from the teacher, spaCy resumes training them) and trains
``--student-steps`` steps; ``--cold-start`` trains it from new weights as the teacher was."""

import shutil
from pathlib import Path

import spacy
import typer
from tqdm import tqdm

from spacy_task_pipes.cli import check_encoding, existing_file, fail, load_pipeline, user_errors
from spacy_task_pipes.io import replace_dir_atomic, write_docbin_atomic, write_json_atomic
from spacy_task_pipes.ner.bootstrap import (
    PHRASE_ATTRS,
    UNMATCHED_POLICIES,
    RuleMatcher,
    load_patterns,
    load_texts,
    split_docs,
)
from spacy_task_pipes.ner.self_training import (
    RelabelStats,
    TrainingFailed,
    dev_score,
    relabel,
    spacy_train,
    warm_start_config,
)

app = typer.Typer(add_completion=False)


def pick_round(history: list, tolerance: float) -> dict:
    """The latest round, unless its gold dev F is more than ``tolerance`` below the best
    one before it (then that one): on a small dev set a difference of one entity is noise,
    and a student that scores as well as its teacher has seen more of the texts."""
    best = history[0]
    for entry in history[1:]:
        if entry["dev_ents_f"] >= best["dev_ents_f"] - tolerance:
            best = entry
    return best


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@user_errors
def main(
    ctx: typer.Context,
    teacher: Path = typer.Argument(..., help="The first model (trained on the rules' silver data): round 0"),
    texts_path: Path = typer.Argument(..., help="Raw texts (the bootstrap's input: JSONL with 'text', or .txt)"),
    patterns_path: Path = typer.Argument(..., help="The bootstrap's pattern file"),
    config_path: Path = typer.Argument(..., help="spacy train config of the students"),
    dev_path: Path = typer.Argument(..., help="Gold dev .spacy: picks each round's model-best and the best round"),
    output_dir: Path = typer.Argument(..., help="Rounds go to OUTPUT_DIR/round_N; the best model to OUTPUT_DIR/model-best"),
    lang: str = typer.Option("en", "--lang", "-l", help="Language of the blank tokenizer (as in bootstrap)"),
    rounds: int = typer.Option(1, "--rounds", help="Self-training rounds (0: the teacher is the result)"),
    min_confidence: float = typer.Option(0.99, "--min-confidence", help="Teacher entities at or above this confidence are added"),
    outside_confidence: float = typer.Option(0.99, "--outside-confidence", help="Tokens whose O action had at least this probability become O"),
    min_pattern_agreement: float = typer.Option(
        0.0, "--min-pattern-agreement",
        help="Drop (for the round) patterns whose matches the teacher predicts less often than this (with 5+ matches)"),
    unmatched: str = typer.Option("evidence", "--unmatched", help=f"Other tokens, as in bootstrap: {', '.join(UNMATCHED_POLICIES)}"),
    phrase_attr: str = typer.Option("LOWER", "--phrase-attr", help=f"As in bootstrap: {', '.join(PHRASE_ATTRS)}"),
    tolerance: float = typer.Option(
        0.01, "--tolerance",
        help="A round is kept unless its gold dev F is more than this below the best before it (0.01: about one entity)"),
    warm_start: bool = typer.Option(
        True, "--warm-start/--cold-start",
        help="Start each student from its teacher's weights (sourced components) or from new ones"),
    student_steps: int = typer.Option(
        0, "--student-steps", help="training.max_steps of each student (0: the config's)"),
    dev_fraction: float = typer.Option(0.2, "--dev-fraction", help="As in bootstrap: the silver dev share left out of training"),
    seed: int = typer.Option(0, "--seed", help="As in bootstrap: seed of the train/dev split"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU id for training, or -1 for CPU"),
    encoding: str = typer.Option("utf-8", "--encoding", help="Encoding of the input files"),
) -> None:
    """Extra arguments (e.g. --system.seed 1) are passed to every `spacy train`."""
    existing_file(texts_path, "TEXTS_PATH")
    existing_file(patterns_path, "PATTERNS_PATH")
    existing_file(config_path, "CONFIG_PATH")
    existing_file(dev_path, "DEV_PATH")
    check_encoding(encoding)
    if rounds < 0:
        fail(f"--rounds: must be 0 or more, got {rounds}.")
    if student_steps < 0:
        fail(f"--student-steps: must be 0 (the config's max_steps) or more, got {student_steps}.")
    if not 0.0 <= tolerance <= 1.0:
        fail(f"--tolerance: must be between 0 and 1, got {tolerance}.")
    if unmatched not in UNMATCHED_POLICIES:
        fail(f"--unmatched: use one of {', '.join(UNMATCHED_POLICIES)}; got {unmatched!r}.")
    for name, value in (("--min-confidence", min_confidence), ("--outside-confidence", outside_confidence),
                        ("--min-pattern-agreement", min_pattern_agreement)):
        if not 0.0 <= value <= 1.0:
            fail(f"{name}: must be between 0 and 1, got {value}.")
    overrides = list(ctx.args) + (["--training.max_steps", str(student_steps)] if student_steps else [])
    output_dir.mkdir(parents=True, exist_ok=True)
    texts = load_texts(texts_path, encoding=encoding)
    patterns = load_patterns(patterns_path, encoding=encoding)
    nlp = spacy.blank(lang)
    matcher = RuleMatcher(nlp, patterns, phrase_attr=phrase_attr)
    current = teacher
    history = [{"round": 0, "model": str(teacher), "dev_ents_f": dev_score(teacher)}]
    typer.echo(f"round 0 (teacher {teacher}): gold dev F {history[0]['dev_ents_f']:.4f}")
    for round_no in range(1, rounds + 1):
        round_dir = output_dir / f"round_{round_no}"
        teacher_nlp = load_pipeline(str(current), "TEACHER")
        stats = RelabelStats()
        with tqdm(total=len(texts), desc=f"relabel round {round_no}", unit="text") as bar:
            docs = relabel(nlp, texts, matcher, teacher_nlp, min_confidence, outside_confidence, unmatched,
                           min_pattern_agreement=min_pattern_agreement, stats=stats, progress=bar)
        train, _ = split_docs(docs, dev_fraction, seed)
        write_docbin_atomic(train, round_dir / "train.spacy")
        student_config = warm_start_config(config_path, current, round_dir / "student.cfg") if warm_start else config_path
        try:
            spacy_train(student_config, round_dir / "train.spacy", dev_path, round_dir / "model", lang, gpu_id, overrides)
        except TrainingFailed as err:
            fail(str(err))
        score = dev_score(round_dir / "model" / "model-best")
        relabel_summary = {k: v for k, v in stats.to_dict().items() if k != "pattern_agreement"}
        history.append({"round": round_no, "model": str(round_dir / "model" / "model-best"), "dev_ents_f": score,
                        "relabel": relabel_summary})
        write_json_atomic(stats.to_dict(), round_dir / "relabel_stats.json")
        typer.echo(f"round {round_no}: added {sum(stats.added_entities.values())} entities, "
                   f"dropped patterns {stats.dropped_patterns or 'none'}, "
                   f"{stats.tokens_outside} O / {stats.tokens_missing} unknown tokens; gold dev F {score:.4f}")
        current = round_dir / "model" / "model-best"
    best = pick_round(history, tolerance)
    replace_dir_atomic(lambda tmp: shutil.copytree(best["model"], tmp, dirs_exist_ok=True), output_dir / "model-best")
    summary = {"rounds": history, "best_round": best["round"], "tolerance": tolerance, "min_confidence": min_confidence,
               "min_pattern_agreement": min_pattern_agreement, "warm_start": warm_start,
               "student_steps": student_steps or None,
               "outside_confidence": outside_confidence, "unmatched": unmatched}
    write_json_atomic(summary, output_dir / "self_training.json")
    typer.echo(f"kept round {best['round']} (gold dev F {best['dev_ents_f']:.4f}) -> {output_dir / 'model-best'}")


if __name__ == "__main__":
    app()
