"""Memory over a long nlp.pipe run: the process RSS every --sample-every docs over
--n-docs docs (the project's raw texts repeated), for an NER pipeline and a
MiniLM-shaped question_answerer, and the RSS growth from --baseline-doc to the end
(target: under 5%). Writes JSON and prints a short table."""

from __future__ import annotations

import gc
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import spacy
import typer
from spacy.language import Language
from spacy.training import Example
from tqdm import tqdm

from spacy_task_pipes.cli import at_least, existing_dir, existing_file, fail, output_file, user_errors
from spacy_task_pipes.ner.convert import read_records, records_to_docs
from spacy_task_pipes.io import read_texts, write_json_atomic
from spacy_task_pipes.qa.component import make_qa_doc
from spacy_task_pipes.safety import safe_load

app = typer.Typer(add_completion=False)

# all-MiniLM-L6-v2's shape (BERT, uncased WordPiece), weights random: memory, not accuracy.
MINILM_SHAPE = {"hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12, "intermediate_size": 1536}
QUESTIONS = [
    "Which product is mentioned?",
    "What does the author think about it?",
    "How much does it cost?",
    "Who makes the device?",
    "What is the problem?",
]
MB = 1024 * 1024

Series = List[Dict[str, float]]


# ------------------------------------------------------------------------ RSS


def rss_reader() -> Tuple[Callable[[], int], str]:
    """A function returning the current RSS in bytes, and how it measures."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        process = psutil.Process()
        return (lambda: int(process.memory_info().rss)), "psutil memory_info().rss"
    if Path("/proc/self/status").exists():
        return _proc_status_rss, "/proc/self/status VmRSS"
    return _peak_rss, "resource.getrusage ru_maxrss (peak RSS, not current)"


def _proc_status_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/self/status has no VmRSS line")


def _peak_rss() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def sample_rss_mb(rss: Callable[[], int]) -> float:
    """RSS after a full garbage collection (cyclic garbage would be freed anyway)."""
    gc.collect()
    return round(rss() / MB, 1)


def growth_pct(series: Series, baseline_doc: int, to_peak: bool = False) -> float:
    """RSS growth from the sample at ``baseline_doc`` to the last sample (or to the
    highest sample after the baseline: a leak shows in both, allocator noise less)."""
    start = next(point["rss_mb"] for point in series if point["docs"] == baseline_doc)
    later = [point["rss_mb"] for point in series if point["docs"] >= baseline_doc]
    end = max(later) if to_peak else later[-1]
    return round(100.0 * (end - start) / start, 2)


# ----------------------------------------------------------------------- docs


def repeat_to(items: Sequence[Any], n: int) -> Iterator[Any]:
    for i in range(n):
        yield items[i % len(items)]


def questions_for(index: int) -> List[str]:
    """One question for even docs, two for odd ones."""
    first = QUESTIONS[index % len(QUESTIONS)]
    return [first] if index % 2 == 0 else [first, QUESTIONS[(index + 2) % len(QUESTIONS)]]


def qa_docs(nlp: Language, texts: Sequence[str], n: int) -> Iterator[Any]:
    for i, text in enumerate(repeat_to(texts, n)):
        yield make_qa_doc(nlp, text, questions_for(i))


# ------------------------------------------------------------------ pipelines


def train_fallback_ner(config_path: Path, gold_path: Path, lang: str, steps: int, seed: int) -> Language:
    """The project's NER pipeline (tok2vec + ner from ``config_path``) trained for
    ``steps`` updates of 16 examples on the hand-labelled ``gold_path``."""
    spacy.util.fix_random_seed(seed)
    config = spacy.util.load_config(config_path, overrides={"nlp.lang": lang})
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    with nlp.select_pipes(disable=nlp.pipe_names):  # tokenize only: nothing is initialized yet
        gold, _ = records_to_docs(nlp, list(read_records(gold_path)), gold_path, alignment_mode="expand")
    examples = [Example(nlp.make_doc(doc.text), doc) for doc in gold]
    optimizer = nlp.initialize(lambda: examples)
    for step in range(steps):
        start = (step * 16) % len(examples)
        nlp.update(examples[start : start + 16], sgd=optimizer, drop=0.1)
    return nlp


def load_ner(path: Path, config_path: Path, gold_path: Path, lang: str, steps: int, seed: int) -> Tuple[Language, str]:
    if path.exists():
        return safe_load(path), str(path)
    typer.echo(f"No NER pipeline at {path}: training the fallback for {steps} steps.", err=True)
    nlp = train_fallback_ner(config_path, gold_path, lang, steps, seed)
    source = (
        f"fallback: {config_path} pipeline ({' + '.join(nlp.pipe_names)}) trained {steps} steps "
        f"on {gold_path} (no pipeline at {path})"
    )
    return nlp, source


def build_minilm_qa_dir(texts: Sequence[str], output_dir: Path, seed: int) -> Path:
    """A random-weight MiniLM-shaped BERT QA model with a WordPiece tokenizer trained on
    ``texts`` (nothing downloads), saved with ``save_pretrained`` (safetensors)."""
    import torch
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertForQuestionAnswering

    from spacy_task_pipes.hf import wordpiece_tokenizer

    trainer = BertWordPieceTokenizer(lowercase=True)
    trainer.train_from_iterator(list(texts) + QUESTIONS, vocab_size=30522, min_frequency=1)
    output_dir.mkdir(parents=True, exist_ok=True)
    trainer.save_model(str(output_dir))
    tokenizer = wordpiece_tokenizer(output_dir / "vocab.txt", lowercase=True)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=tokenizer.vocab_size, max_position_embeddings=512, **MINILM_SHAPE)
    model = BertForQuestionAnswering(config).eval()
    tokenizer.save_pretrained(str(output_dir))
    model.save_pretrained(str(output_dir), safe_serialization=True)
    return output_dir


def load_qa(
    model_dir: Optional[Path], texts: Sequence[str], lang: str, scratch: Path, seed: int
) -> Tuple[Language, str]:
    if model_dir is None:
        model_dir = build_minilm_qa_dir(texts, scratch / "minilm-shaped-qa", seed)
        vocab = len((model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines())
        source = (
            "random MiniLM-shaped BERT (hidden 384, 6 layers, 12 heads, intermediate 1536), "
            f"WordPiece vocabulary of {vocab} trained on the texts"
        )
    else:
        source = str(model_dir)
    nlp = spacy.blank(lang)
    model = {"@architectures": "spacy_task_pipes.QuestionAnswering.v1", "name": str(model_dir)}
    nlp.add_pipe("question_answerer", config={"model": model})
    nlp.initialize()
    return nlp, source


# ---------------------------------------------------------------- measurement


def measure(
    docs: Iterable[Any],
    nlp: Language,
    consume: Callable[[Any], int],
    n_docs: int,
    sample_every: int,
    batch_size: int,
    rss: Callable[[], int],
    name: str,
) -> Dict[str, Any]:
    """Stream ``docs`` through ``nlp.pipe``, sampling the RSS every ``sample_every`` docs;
    ``consume`` reads each doc's results (and returns a count) before it is dropped."""
    series: Series = [{"docs": 0, "rss_mb": sample_rss_mb(rss)}]
    produced = 0
    start = time.perf_counter()
    with tqdm(total=n_docs, desc=name, unit="doc", file=sys.stderr) as bar:
        for count, doc in enumerate(nlp.pipe(docs, batch_size=batch_size), 1):
            produced += consume(doc)
            bar.update(1)
            if count % sample_every == 0 or count == n_docs:
                series.append({"docs": count, "rss_mb": sample_rss_mb(rss)})
    seconds = time.perf_counter() - start
    return {
        "rss_series": series,
        "peak_rss_mb": max(point["rss_mb"] for point in series),
        "seconds": round(seconds, 1),
        "docs_per_s": round(n_docs / seconds, 1),
        "produced": produced,
    }


def count_answers(doc: Any) -> int:
    return sum(1 for answer in doc._.answers if not answer.is_empty)


def print_table(result: Dict[str, Any]) -> None:
    names = list(result["pipelines"])
    columns = {name: {int(p["docs"]): p["rss_mb"] for p in result["pipelines"][name]["rss_series"]} for name in names}
    typer.echo(f"{'docs':<18}" + "".join(f"{name + ' RSS MB':>26}" for name in names))
    for docs in sorted(next(iter(columns.values()))):
        typer.echo(f"{docs:<18}" + "".join(f"{columns[name][docs]:>26.1f}" for name in names))
    for end in ("end", "peak"):
        key = f"growth_{result['baseline_doc']}_to_{end}_pct"
        label = f"growth {result['baseline_doc']}->{end}"
        typer.echo(f"{label:<18}" + "".join(f"{result['pipelines'][name][key]:>25.2f}%" for name in names))


def check_settings(n_docs: int, sample_every: int, baseline_doc: int, batch_size: int) -> None:
    if n_docs < 1 or sample_every < 1 or batch_size < 1:
        fail("--n-docs, --sample-every and --batch-size must be >= 1.")
    if baseline_doc % sample_every or not 0 <= baseline_doc < n_docs:
        fail(
            f"--baseline-doc {baseline_doc} must be a multiple of --sample-every {sample_every} "
            f"and smaller than --n-docs {n_docs} (e.g. --baseline-doc {sample_every})."
        )


@app.command()
@user_errors
def main(
    output_path: Path = typer.Argument(..., help="Output JSON"),
    texts_path: Path = typer.Option(Path("assets/en/raw_texts.jsonl"), "--texts", help="Raw texts (JSONL with 'text', or .txt), repeated to --n-docs"),
    lang: str = typer.Option("en", "--lang", help="Language of the texts (fallback NER and the QA pipeline)"),
    n_docs: int = typer.Option(10_000, "--n-docs", help="Docs per pipeline"),
    sample_every: int = typer.Option(1000, "--sample-every", help="Sample the RSS every N docs"),
    baseline_doc: int = typer.Option(2000, "--baseline-doc", help="Growth is measured from this doc to the end"),
    batch_size: int = typer.Option(64, "--batch-size", help="nlp.pipe batch size"),
    ner_model: Path = typer.Option(Path("training/en/ner/model-best"), "--ner-model", help="Trained NER pipeline; if absent, a fallback is trained in-script"),
    ner_config: Path = typer.Option(Path("configs/ner.cfg"), "--ner-config", help="Config of the fallback NER pipeline"),
    ner_gold: Path = typer.Option(Path("assets/en/gold_dev.jsonl"), "--ner-gold", help="Hand-labelled JSONL the fallback trains on"),
    ner_train_steps: int = typer.Option(20, "--ner-train-steps", help="Updates (16 examples each) of the fallback"),
    qa_model: Optional[Path] = typer.Option(None, "--qa-model", help="HF QA model dir (save_pretrained); default: a random MiniLM-shaped model built here"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """RSS every --sample-every docs for an NER pipeline and a question_answerer
    (1-2 questions per doc) streaming --n-docs docs each through nlp.pipe, with the
    growth from --baseline-doc to the end, as JSON (also printed as a table)."""
    output_file(output_path, "OUTPUT_PATH")
    existing_file(texts_path, "--texts")
    at_least(1, batch_size=batch_size)
    if qa_model is not None:
        existing_dir(qa_model, "--qa-model")
    if not ner_model.exists():  # the fallback needs these
        existing_file(ner_config, "--ner-config")
        existing_file(ner_gold, "--ner-gold")
    check_settings(n_docs, sample_every, baseline_doc, batch_size)
    import torch

    texts = read_texts(texts_path)
    if not texts:
        fail(f"--texts: {texts_path} has no texts.")
    rss, rss_method = rss_reader()
    result: Dict[str, Any] = {
        "n_docs": n_docs, "sample_every": sample_every, "baseline_doc": baseline_doc, "batch_size": batch_size,
        "texts": str(texts_path), "unique_texts": len(texts), "rss_method": f"{rss_method}, after gc.collect()",
        "torch_threads": torch.get_num_threads(), "pipelines": {},
    }
    growth_key = f"growth_{baseline_doc}_to_end_pct"

    def run(name: str, nlp: Language, source: str, docs: Iterable[Any], consume: Callable[[Any], int]) -> None:
        entry = {"source": source, "pipe_names": nlp.pipe_names}
        entry.update(measure(docs, nlp, consume, n_docs, sample_every, batch_size, rss, name))
        entry[growth_key] = growth_pct(entry["rss_series"], baseline_doc)
        entry[f"growth_{baseline_doc}_to_peak_pct"] = growth_pct(entry["rss_series"], baseline_doc, to_peak=True)
        result["pipelines"][name] = entry

    nlp, source = load_ner(ner_model, ner_config, ner_gold, lang, ner_train_steps, seed)
    run("ner", nlp, source, repeat_to(texts, n_docs), lambda doc: len(doc.ents))
    result["pipelines"]["ner"]["entities"] = result["pipelines"]["ner"].pop("produced")
    del nlp
    with tempfile.TemporaryDirectory(prefix="benchmark-memory-") as scratch:
        nlp, source = load_qa(qa_model, texts, lang, Path(scratch), seed)
        run("question_answerer", nlp, source, qa_docs(nlp, texts, n_docs), count_answers)
    qa = result["pipelines"]["question_answerer"]
    qa["questions"] = sum(len(questions_for(i)) for i in range(n_docs))
    qa["answered"] = qa.pop("produced")
    write_json_atomic(result, output_path)
    print_table(result)
    typer.echo(json.dumps({name: entry[growth_key] for name, entry in result["pipelines"].items()}))


if __name__ == "__main__":
    app()
