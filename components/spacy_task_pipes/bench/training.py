"""Training parity: ``spacy train`` with our component against the Hugging Face ``Trainer``
(``Seq2SeqTrainer`` for translation/summarization, ``Trainer`` for question answering) from
the same saved model directory, on the same data, with the same optimisation settings.

Each side trains in a process of its own (``python -m spacy_task_pipes.bench.training SPEC OUT``),
records its loss and a timestamp at the start of every optimizer step, then scores the trained
model on the held-out test split through the same spaCy pipeline code (our ``model-last``; the
Trainer's ``save_pretrained`` folder wrapped in the same component), so only training differs.

What is the same on both sides: the initial weights (one folder, its fingerprint recorded), the
examples (the Trainer reads the DocBins ``spacy train`` reads), steps, batch size (examples per
step; for QA one question per doc, the Trainer counts windows unless ``same_order`` is on),
learning rate with linear warm-up and decay, AdamW's betas/eps/weight decay (none for biases and
norm weights), global-norm clipping, the model config's dropout, the tokenizer calls (prefix,
truncation lengths), no label smoothing.
What differs: the data order (spaCy's shuffle vs. the Trainer's sampler, each seeded) unless
``same_order`` is on (the Trainer then takes the batches ``spacy train`` took, step by step, from
the order our side records: for QA the windows of the questions our side took; a paired comparison
where only dropout masks and arithmetic differ), for QA the loss over padding positions (the HF heads
include them; our default leaves them out, ``loss_over_padding`` in the component's config), and
``spacy train`` scores the dev set after the first and the last step (part of its wall time) and
runs one extra update at learning rate 0 (``max_steps`` counts from 0); the extra update is not
in the loss curve.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from spacy.util import registry

TASKS = ("translation", "summarization", "qa")
PIPES = {"translation": "translator", "summarization": "summarizer", "qa": "question_answerer"}
FIELDS = {"translation": "translation", "summarization": "summary"}
# the headline quality figure of each task (in the scores of ``nlp.evaluate``, 0-1)
QUALITY = {"translation": "translation_bleu", "summarization": "summary_rougeL", "qa": "qa_f1"}
ORDER_FILE = "order.json"  # --same-order: the training-doc indices of each of our steps


@dataclass
class RunSpec:
    """Everything one side of one run needs (JSON in, so a worker process can read it)."""

    task: str
    side: str  # "ours" or "ref"
    config: str  # the project's config (configs/translate.cfg, ...)
    model: str  # the save_pretrained folder both sides start from
    train: str  # DocBins
    dev: str
    test: str
    output: str  # folder of this run
    steps: int
    batch_size: int
    learning_rate: float
    warmup_steps: int
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    seed: int = 0
    threads: int = 0  # torch threads (0: torch's default)
    eval_num_beams: int = 1
    eval_max_new_tokens: int = 64
    max_seq_length: int = 384  # QA
    doc_stride: int = 128  # QA
    same_order: bool = False  # the Trainer takes the batches our side took
    order: str = ""  # ref with same_order: our side's order.json (train-doc indices per step)
    overrides: Dict[str, Any] = field(default_factory=dict)  # more spacy train overrides


@dataclass
class SideResult:
    """What a worker writes: losses and timestamps per optimizer step, wall time of the
    training call, the test scores (0-1), the number of test items, the loss of the
    initial weights on the first training examples (:func:`probe_loss`) and, for seq2seq,
    the trained model's teacher-forced loss on the test split (:func:`heldout_loss`)."""

    side: str
    seed: int
    losses: List[float]
    step_times: List[float]
    wall_seconds: float
    scores: Dict[str, Optional[float]]
    n_test: int
    eval_seconds: float
    probe_loss: Optional[float]
    test_loss: Optional[float] = None


# ------------------------------------------------------------------ helpers


def fingerprint(model_dir: str) -> str:
    """sha256 of the weights file(s) of a save_pretrained folder (the initial weights)."""
    digest = hashlib.sha256()
    files = sorted(Path(model_dir).glob("*.safetensors")) or sorted(Path(model_dir).glob("*.bin"))
    if not files:
        raise FileNotFoundError(f"{model_dir}: no *.safetensors weights; pass a save_pretrained folder.")
    for path in files:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def seconds_per_step(step_times: Sequence[float]) -> Optional[float]:
    """Mean time from the start of the first optimizer step to the start of the last (what
    throughput is made of: evaluations in between and slow batches included)."""
    return (step_times[-1] - step_times[0]) / (len(step_times) - 1) if len(step_times) > 1 else None


def median_step_seconds(step_times: Sequence[float]) -> Optional[float]:
    """Median time between the starts of consecutive steps (a typical step: an evaluation in
    between is one outlier)."""
    gaps = [b - a for a, b in zip(step_times, step_times[1:])]
    return statistics.median(gaps) if gaps else None


def loss_windows(losses: Sequence[float], window: int) -> List[float]:
    """Mean loss of each ``window``-step window (the last one may be shorter)."""
    if window < 1:
        raise ValueError(f"--window: must be >= 1, got {window}.")
    return [sum(losses[i:i + window]) / len(losses[i:i + window]) for i in range(0, len(losses), window)]


def _set_threads(threads: int) -> None:
    if threads > 0:
        import torch

        torch.set_num_threads(threads)


# -------------------------------------------------------- ours: spacy train


class StepRecorder:
    """``[training.before_update]`` callback state: on the first call (the initial weights,
    loaded and initialized by spaCy) it computes :func:`probe_loss` and wraps the pipe's
    ``update`` so each step's loss is recorded; it timestamps the start of every step."""

    def __init__(self) -> None:
        self.losses: List[float] = []
        self.step_times: List[float] = []
        self.probe: Optional[Callable[[Any, Any], float]] = None  # (hf model, tokenizer) -> loss
        self.probe_loss: Optional[float] = None
        # same_order: the key of each training doc (doc_key) -> its index in the DocBin, and
        # the indices of each step's batch
        self.index: Optional[Dict[Tuple[str, str], int]] = None
        self.task = ""
        self.order: List[List[int]] = []
        self._wrapped = False

    def __call__(self, nlp: Any, args: Dict[str, Any]) -> None:
        if not self._wrapped:
            self._wrap(nlp)
        self.step_times.append(time.perf_counter())

    def _wrap(self, nlp: Any) -> None:
        recorder = self
        for name, pipe in nlp.pipeline:
            if not hasattr(pipe, "update"):
                continue
            if self.probe is not None:
                self.probe_loss = self.probe(*_hf_model_and_tokenizer(pipe))
            update = pipe.update

            def recorded(examples: Any, *args: Any, _update: Callable = update, _name: str = name,
                         **kwargs: Any) -> Dict[str, float]:
                losses = kwargs.get("losses")
                before = 0.0 if losses is None else losses.get(_name, 0.0)
                if recorder.index is not None:
                    recorder.order.append(recorder.batch_indices(examples))
                out = _update(examples, *args, **kwargs)
                recorder.losses.append(out.get(_name, 0.0) - before)
                report_step(len(recorder.losses), recorder.losses[-1])
                return out

            pipe.update = recorded
        self._wrapped = True

    def batch_indices(self, examples: Any) -> List[int]:
        """The training-doc index of each example (identical docs are interchangeable)."""
        assert self.index is not None
        examples = list(examples)
        try:
            return [self.index[doc_key(self.task, eg.reference)] for eg in examples]
        except KeyError as err:
            raise RuntimeError(f"same_order: a training example is not in the training DocBin: {err}") from None


def report_step(step: int, loss: float, every: int = 100) -> None:
    """A progress line in the worker's log every ``every`` steps."""
    if step % every == 0:
        print(f"step {step}: loss {loss:.4f} ({time.strftime('%H:%M:%S')})", file=sys.stderr, flush=True)


def _hf_model_and_tokenizer(pipe: Any) -> Tuple[Any, Any]:
    from ..hf import get_hf_shim

    objects = get_hf_shim(pipe.model).hf_objects
    return objects.transformer, pipe.tokenizer


RECORDER = StepRecorder()


@registry.callbacks("spacy_task_pipes.bench.record_steps.v1")
def create_step_recorder() -> StepRecorder:
    """The process's :data:`RECORDER` (one ``spacy train`` per worker process)."""
    return RECORDER


def ours_overrides(spec: RunSpec) -> Dict[str, Any]:
    """``spacy train`` overrides that give the project's config this run's settings."""
    pipe = PIPES[spec.task]
    model_path = "paths.qa_model" if spec.task == "qa" else "paths.seq2seq_model"
    overrides: Dict[str, Any] = {
        "paths.train": spec.train, "paths.dev": spec.dev, model_path: spec.model,
        "system.seed": spec.seed, "training.seed": spec.seed,
        "training.max_steps": spec.steps, "training.eval_frequency": spec.steps, "training.patience": 0,
        "training.batcher.size": spec.batch_size,
        "training.optimizer.learn_rate.initial_rate": spec.learning_rate,
        "training.optimizer.learn_rate.warmup_steps": spec.warmup_steps,
        "training.optimizer.learn_rate.total_steps": spec.steps,
        "training.optimizer.weight_decay": spec.weight_decay,
        "training.optimizer.max_grad_norm": spec.max_grad_norm,
        "training.logger.progress_bar": False,
        # the schedule above runs as it is (fit_to_step_budget would only lower it)
        "initialize.after_init.evaluations": 1, "initialize.after_init.warmup_fraction": 1.0,
        f"components.{pipe}.use_training_dropout": False,
    }
    if spec.task == "qa":
        overrides[f"components.{pipe}.max_seq_length"] = spec.max_seq_length
        overrides[f"components.{pipe}.doc_stride"] = spec.doc_stride
    else:
        overrides[f"components.{pipe}.eval_num_beams"] = spec.eval_num_beams
        overrides[f"components.{pipe}.eval_max_new_tokens"] = spec.eval_max_new_tokens
    overrides.update(spec.overrides)
    return overrides


def train_ours(spec: RunSpec) -> Tuple[str, float, List[float], List[float], Optional[float]]:
    """``spacy train`` (in this process) with the step recorder; returns model-last's path,
    the wall time of the call, the per-step losses, step start times and the probe loss."""
    from spacy.cli.train import train as spacy_train
    from thinc.api import Config

    config = Config().from_disk(spec.config, overrides=ours_overrides(spec), interpolate=False)
    config["training"]["before_update"] = {"@callbacks": "spacy_task_pipes.bench.record_steps.v1"}
    out = Path(spec.output)
    out.mkdir(parents=True, exist_ok=True)
    config.to_disk(out / "config.cfg")
    recorder = registry.callbacks.get("spacy_task_pipes.bench.record_steps.v1")()
    recorder.probe = lambda model, tokenizer: probe_loss(spec, model, tokenizer)
    if spec.same_order:
        recorder.index, recorder.task = training_doc_index(spec), spec.task
    start = time.perf_counter()
    spacy_train(out / "config.cfg", out / "spacy", use_gpu=-1)
    wall = time.perf_counter() - start
    n = spec.steps  # spacy train runs steps 0..max_steps; the last one has learning rate 0
    if spec.same_order:
        from ..io import write_json_atomic

        write_json_atomic(recorder.order[:n], out / ORDER_FILE)
    return (str(out / "spacy" / "model-last"), wall, recorder.losses[:n], recorder.step_times[:n],
            recorder.probe_loss)


def doc_key(task: str, doc: Any) -> Tuple[str, str]:
    """What identifies a training doc: its text and its target (seq2seq) or gold questions and answers (QA)."""
    if task == "qa":
        return doc.text, json.dumps(doc._.gold_answers, sort_keys=True)
    return doc.text, getattr(doc._, FIELDS[task])


def training_doc_index(spec: RunSpec) -> Dict[Tuple[str, str], int]:
    """:func:`doc_key` of each training doc -> its index (the first one of equal docs)."""
    index: Dict[Tuple[str, str], int] = {}
    for i, doc in enumerate(_reference_docs(spec.train)):
        index.setdefault(doc_key(spec.task, doc), i)
    return index


def ordered_batches(doc_features: Sequence[Sequence[int]], order: Sequence[Sequence[int]], steps: int,
                    where: str) -> List[List[int]]:
    """The Trainer's batches (feature indices) of the first ``steps`` recorded steps: the
    features of the docs our side took in each (``doc_features[i]``: those of training doc
    ``i``, one for seq2seq, a question's windows for QA)."""
    if len(order) < steps:
        raise ValueError(f"{where}: {len(order)} recorded steps, {steps} needed.")
    return [[f for doc in batch for f in doc_features[doc]] for batch in order[:steps]]


# ------------------------------------------------- reference: the HF Trainer


def _trainer_arguments(spec: RunSpec, seq2seq: bool) -> Any:
    import torch
    from transformers import Seq2SeqTrainingArguments, TrainingArguments

    cls = Seq2SeqTrainingArguments if seq2seq else TrainingArguments
    return cls(
        output_dir=str(Path(spec.output) / "trainer"), learning_rate=spec.learning_rate,
        per_device_train_batch_size=spec.batch_size, max_steps=spec.steps, warmup_steps=spec.warmup_steps,
        weight_decay=spec.weight_decay, max_grad_norm=spec.max_grad_norm, lr_scheduler_type="linear",
        seed=spec.seed, save_strategy="no", eval_strategy="no", report_to=[], logging_steps=1,
        use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0, disable_tqdm=True,
    )


def step_callback(losses: List[float], step_times: List[float]) -> Any:
    """A ``TrainerCallback`` that timestamps each step's start and keeps each logged loss."""
    from transformers import TrainerCallback

    class Record(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            step_times.append(time.perf_counter())

        def on_log(self, args: Any, state: Any, control: Any, logs: Optional[Dict[str, float]] = None,
                   **kwargs: Any) -> None:
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))
                report_step(len(losses), losses[-1])

    return Record()


def seq2seq_features(tokenizer: Any, sources: Sequence[str], targets: Sequence[str], prefix: str,
                     max_input_length: int, max_target_length: int) -> List[Dict[str, List[int]]]:
    """Features as transformers' run_translation/run_summarization examples make them."""
    enc = tokenizer([prefix + s for s in sources], max_length=max_input_length, truncation=True)
    labels = tokenizer(text_target=list(targets), max_length=max_target_length, truncation=True)
    names = [k for k in ("input_ids", "attention_mask") if k in enc]
    return [dict({k: enc[k][i] for k in names}, labels=labels["input_ids"][i]) for i in range(len(sources))]


def qa_train_features(tokenizer: Any, paragraphs: Iterable[Dict[str, Any]], max_seq_length: int,
                      doc_stride: int) -> Tuple[List[Dict[str, Any]], int, List[int]]:
    """One feature per (question, window), labelled as the spaCy component labels them
    (first gold answer; CLS where the answer is not fully inside the window); returns the
    features, the number of questions and the paragraph of each feature."""
    from ..qa.decode import char_to_token_labels

    questions, contexts, spans, owners = [], [], [], []
    for p, para in enumerate(paragraphs):
        for qa in para["qas"]:
            owners.append(p)
            questions.append(qa["question"])
            contexts.append(para["context"])
            ans = qa["answers"][0] if qa["answers"] else None
            spans.append(None if ans is None else (ans["start"], ans["start"] + len(ans["text"])))
    enc = tokenizer(questions, contexts, truncation="only_second", max_length=max_seq_length,
                    stride=doc_stride, return_overflowing_tokens=True, padding=False)
    names = [k for k in tokenizer.model_input_names if k in enc]
    features = []
    for k, encoding in enumerate(enc.encodings):
        ids = enc["input_ids"][k]
        cls_index = ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in ids else 0
        span = spans[enc["overflow_to_sample_mapping"][k]]
        if span is None:
            start, end = cls_index, cls_index
        else:
            start, end = char_to_token_labels(encoding.offsets, encoding.sequence_ids, span[0], span[1], cls_index)
        feature = {name: enc[name][k] for name in names}
        feature.update(start_positions=start, end_positions=end)
        features.append(feature)
    return features, len(questions), [owners[q] for q in enc["overflow_to_sample_mapping"]]


def train_features(spec: RunSpec, tokenizer: Any, limit: int = 0) -> List[Dict[str, Any]]:
    """The Trainer's features of the training DocBin (the first ``limit`` docs; 0: all)."""
    return doc_train_features(spec, tokenizer, limit)[0]


def doc_train_features(spec: RunSpec, tokenizer: Any,
                       limit: int = 0) -> Tuple[List[Dict[str, Any]], List[List[int]]]:
    """:func:`train_features`, and the indices of each training doc's features."""
    docs = _reference_docs(spec.train)
    docs = docs[:limit] if limit else docs
    if spec.task != "qa":
        return seq2seq_doc_features(spec, tokenizer, docs), [[i] for i in range(len(docs))]
    paragraphs = [{"context": doc.text, "qas": doc._.gold_answers} for doc in docs]
    features, _, owners = qa_train_features(tokenizer, paragraphs, spec.max_seq_length, spec.doc_stride)
    per_doc: List[List[int]] = [[] for _ in docs]
    for i, doc in enumerate(owners):
        per_doc[doc].append(i)
    return features, per_doc


def seq2seq_doc_features(spec: RunSpec, tokenizer: Any, docs: Sequence[Any]) -> List[Dict[str, List[int]]]:
    """The Trainer's features of seq2seq ``docs`` (prefix and truncation of the run's config)."""
    settings = _pipe_settings(spec)
    return seq2seq_features(tokenizer, [d.text for d in docs], [getattr(d._, FIELDS[spec.task]) for d in docs],
                            settings.get("prefix", ""), settings["max_input_length"], settings["max_target_length"])


@contextlib.contextmanager
def _evaluating(model: Any) -> Iterable[Any]:
    """``model`` in eval mode without gradients (its mode restored after); yields its device."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield next(model.parameters()).device
    finally:
        model.train(was_training)


def data_collator(task: str, tokenizer: Any, model: Any) -> Any:
    """The Trainer's collator: labels padded with -100 (seq2seq), windows padded per batch (QA)."""
    from transformers import DataCollatorForSeq2Seq, DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer) if task == "qa" else DataCollatorForSeq2Seq(tokenizer, model=model)


def probe_loss(spec: RunSpec, model: Any, tokenizer: Any, n: int = 8) -> float:
    """The model's loss (eval mode, no dropout) on the first ``n`` training examples, batched
    as the Trainer batches them: equal on both sides when they start from the same weights."""
    batch = data_collator(spec.task, tokenizer, model)(train_features(spec, tokenizer, n))
    with _evaluating(model) as device:
        loss = model(**{k: v.to(device) for k, v in batch.items()}).loss
    return float(loss)


def load_hf(spec: RunSpec) -> Tuple[Any, Any]:
    """The model and fast tokenizer of ``spec.model`` (QA head or seq2seq LM)."""
    from transformers import AutoModelForQuestionAnswering, AutoModelForSeq2SeqLM, AutoTokenizer

    cls = AutoModelForQuestionAnswering if spec.task == "qa" else AutoModelForSeq2SeqLM
    return cls.from_pretrained(spec.model), AutoTokenizer.from_pretrained(spec.model, use_fast=True)


def _in_batches(cls: Any, batches: Sequence[Sequence[int]]) -> Any:
    """``cls`` taking ``batches`` (lists of training-set indices), one per step, instead of
    sampling batches of ``per_device_train_batch_size``."""
    from torch.utils.data import DataLoader, Sampler

    class Batches(Sampler):  # type: ignore[type-arg]
        def __iter__(self) -> Any:
            return (list(batch) for batch in batches)

        def __len__(self) -> int:
            return len(batches)

    class InBatches(cls):  # type: ignore[misc, valid-type]
        def get_train_dataloader(self) -> Any:
            collate = self._get_collator_with_removed_columns(self.data_collator, description="Training")
            return self.accelerator.prepare(
                DataLoader(self.train_dataset, batch_sampler=Batches(), collate_fn=collate))

    return InBatches


def hf_trainer(task: str, model: Any, tokenizer: Any, features: List[Dict[str, Any]], args: Any,
               callbacks: Sequence[Any] = (), batches: Optional[Sequence[Sequence[int]]] = None) -> Any:
    """transformers' ``Trainer`` (QA) or ``Seq2SeqTrainer`` on ``features``, not yet trained
    (``batches``: the indices of ``features`` each step takes, instead of sampled batches)."""
    from transformers import PrinterCallback, Seq2SeqTrainer, Trainer

    cls = Trainer if task == "qa" else Seq2SeqTrainer
    if batches is not None:
        cls = _in_batches(cls, batches)
    trainer = cls(model=model, args=args, train_dataset=features,
                  data_collator=data_collator(task, tokenizer, model), callbacks=list(callbacks))
    trainer.remove_callback(PrinterCallback)  # with logging_steps=1 it would print every step's logs
    return trainer


def _pipe_settings(spec: RunSpec) -> Dict[str, Any]:
    """The component block of the run's config (after overrides), for the reference's
    tokenization (prefix, truncation lengths)."""
    from thinc.api import Config

    config = Config().from_disk(spec.config, overrides=ours_overrides(spec), interpolate=False)
    return dict(config["components"][PIPES[spec.task]])


def _reference_docs(path: str) -> List[Any]:
    import spacy
    from spacy.tokens import DocBin

    from ..qa.answers import register_extensions
    from ..seq2seq.settings import register_doc_field

    register_extensions()  # doc._.gold_answers
    for name in FIELDS.values():
        register_doc_field(name)
    nlp = spacy.blank("xx")
    return list(DocBin().from_disk(path).get_docs(nlp.vocab))


def train_ref(spec: RunSpec) -> Tuple[str, float, List[float], List[float], Optional[float]]:
    """The Hugging Face Trainer on the DocBins ``spacy train`` reads; returns the saved
    model's folder, the wall time (loading to saved), per-step losses, step start times and
    the probe loss."""
    from transformers import set_seed

    out = Path(spec.output) / "hf"
    losses: List[float] = []
    step_times: List[float] = []
    start = time.perf_counter()
    set_seed(spec.seed)
    model, tokenizer = load_hf(spec)
    probe = probe_loss(spec, model, tokenizer)
    features, per_doc = doc_train_features(spec, tokenizer)
    batches = None
    if spec.order:
        order = json.loads(Path(spec.order).read_text(encoding="utf-8"))
        batches = ordered_batches(per_doc, order, spec.steps, spec.order)
    trainer = hf_trainer(spec.task, model, tokenizer, features, _trainer_arguments(spec, seq2seq=spec.task != "qa"),
                         [step_callback(losses, step_times)], batches=batches)
    trainer.train()
    trainer.model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    wall = time.perf_counter() - start
    return str(out), wall, losses, step_times, probe


def warm_imports(spec: RunSpec) -> None:
    """Import what both sides load lazily (torch, transformers' Trainer and the model's
    class) before either starts its clock."""
    import spacy  # noqa: F401
    import torch  # noqa: F401
    import transformers
    from transformers import Seq2SeqTrainer, Trainer  # noqa: F401

    architectures = json.loads((Path(spec.model) / "config.json").read_text(encoding="utf-8")).get("architectures")
    for name in architectures or []:
        getattr(transformers, name, None)


# ------------------------------------------------------------ test scores


def _scoring_pipeline(spec: RunSpec, trained: str) -> Any:
    """Our model-last, or the Trainer's folder in the same component, with the same
    inference settings (greedy/short generation: eval_num_beams, eval_max_new_tokens)."""
    import spacy

    pipe = PIPES[spec.task]
    settings: Dict[str, Any] = {}
    if spec.task != "qa":
        settings = {"num_beams": spec.eval_num_beams, "max_new_tokens": spec.eval_max_new_tokens}
    if spec.side == "ours":
        return spacy.load(trained, config={"components": {pipe: settings}} if settings else {})
    from thinc.api import Config

    config = Config().from_disk(spec.config, overrides=ours_overrides(spec), interpolate=False)
    block = dict(config["components"][pipe])
    block.update(settings)
    block["model"] = dict(block["model"], name=trained)
    for key in ("factory", "scorer"):
        block.pop(key, None)
    nlp = spacy.blank(config["nlp"]["lang"])
    nlp.add_pipe(pipe, config=block)
    nlp.initialize()
    return nlp


def heldout_loss(spec: RunSpec, model: Any, tokenizer: Any, batch_size: int = 32) -> float:
    """Teacher-forced cross-entropy per target token of ``model`` on the test DocBin (eval
    mode; features and padding as the Trainer makes them). Unlike BLEU or ROUGE of greedy
    output it moves smoothly with the weights: where generation has collapsed to one output for
    every input, it still tells two trained models apart."""
    features = seq2seq_doc_features(spec, tokenizer, _reference_docs(spec.test))
    collate = data_collator(spec.task, tokenizer, model)
    total, tokens = 0.0, 0
    with _evaluating(model) as device:
        for start in range(0, len(features), batch_size):
            batch = collate(features[start:start + batch_size])
            n = int((batch["labels"] != -100).sum())
            total += float(model(**{k: v.to(device) for k, v in batch.items()}).loss) * n
            tokens += n
    return total / tokens


def score_test(spec: RunSpec, trained: str) -> Tuple[Dict[str, Optional[float]], int, Optional[float]]:
    """The scores (0-1) of ``nlp.evaluate`` on the test DocBin, its number of examples and
    (seq2seq) the trained model's :func:`heldout_loss`, through the same scoring pipeline."""
    nlp = _scoring_pipeline(spec, trained)
    if spec.task == "qa":
        from ..qa.data import create_squad_corpus

        examples = list(create_squad_corpus(Path(spec.test))(nlp))
    else:
        from ..seq2seq.data import create_seq2seq_corpus

        field_name = FIELDS[spec.task]
        examples = list(create_seq2seq_corpus(Path(spec.test), field=field_name)(nlp))
    scores = nlp.evaluate(examples)
    prefix = QUALITY[spec.task].split("_")[0] + "_"  # translation_, summary_, qa_ (not spaCy's token_*)
    test_loss = None
    if spec.task != "qa":
        test_loss = heldout_loss(spec, *_hf_model_and_tokenizer(nlp.get_pipe(PIPES[spec.task])))
    scores = {k: v for k, v in scores.items() if k.startswith(prefix) and isinstance(v, (int, float))}
    return scores, len(examples), test_loss


def run_side(spec: RunSpec) -> SideResult:
    """Train one side and score it (the worker's job)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    _set_threads(spec.threads)
    warm_imports(spec)
    trained, wall, losses, step_times, probe = (train_ours if spec.side == "ours" else train_ref)(spec)
    start = time.perf_counter()
    scores, n_test, test_loss = score_test(spec, trained)
    return SideResult(side=spec.side, seed=spec.seed, losses=losses, step_times=step_times, wall_seconds=wall,
                      scores=scores, n_test=n_test, eval_seconds=time.perf_counter() - start, probe_loss=probe,
                      test_loss=test_loss)


def main(argv: Sequence[str]) -> int:
    """``python -m spacy_task_pipes.bench.training SPEC.json RESULT.json``"""
    if len(argv) != 2:
        print("usage: python -m spacy_task_pipes.bench.training SPEC.json RESULT.json", file=sys.stderr)
        return 2
    from ..io import write_json_atomic

    spec = RunSpec(**json.loads(Path(argv[0]).read_text(encoding="utf-8")))
    result = run_side(spec)
    write_json_atomic(asdict(result), argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
