"""Draw the learning curve of a `spacy train` run from its JSONL log (ConsoleLogger.v3 output_file)."""

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import typer  # noqa: E402

from spacy_task_pipes.io import InputError, iter_jsonl, write_bytes_atomic  # noqa: E402
from spacy_task_pipes.cli import existing_file, output_file, user_errors

app = typer.Typer(add_completion=False)


@app.command()
@user_errors
def main(
    log_path: Path = typer.Argument(..., help="JSONL training log written by spacy.ConsoleLogger.v3"),
    output_path: Path = typer.Argument(..., help="Output PNG"),
    title: str = typer.Option("NER training", "--title"),
):
    """Dev-set scores (left axis) and training losses (right axis) over the training steps;
    the step that became model-best is marked."""
    existing_file(log_path, "LOG_PATH")
    output_file(output_path, "OUTPUT_PATH")
    rows = [record for _, record in iter_jsonl(log_path)]
    if not rows:
        raise InputError(f"{log_path}: the training log is empty; did `spacy train` run with logger.output_file set?")
    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    score_names = [k for k in rows[0]["scores"] if isinstance(rows[0]["scores"][k], (int, float))]
    for name in score_names:
        values = [r["scores"].get(name) for r in rows]
        scale = 100.0 if max(v or 0 for v in values) <= 1.0 else 1.0
        ax.plot(steps, [(v or 0.0) * scale for v in values], marker="o", markersize=3, label=f"dev {name}")
    best = max(rows, key=lambda r: r["score"])
    ax.axvline(best["step"], color="grey", linestyle=":", label=f"model-best (step {best['step']})")
    ax.set_xlabel("step")
    ax.set_ylabel("dev score (%)")
    ax.set_ylim(0, 100)
    ax2 = ax.twinx()
    for name in rows[0]["losses"]:
        ax2.plot(steps[1:], [r["losses"][name] for r in rows[1:]], linestyle="--", alpha=0.5, label=f"loss {name}")
    ax2.set_ylabel("training loss since last eval")
    ax2.set_yscale("log")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="lower right", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_bytes_atomic(buf.getvalue(), output_path)
    typer.echo(f"wrote {output_path} ({len(rows)} evaluations, best score {best['score']:.3f} at step {best['step']})")


if __name__ == "__main__":
    app()
