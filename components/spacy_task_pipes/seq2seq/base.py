"""The shared sequence-to-sequence base of the ``summarizer`` and ``translator``.

- ``spacy_task_pipes.Seq2SeqLM.v1``: the registered architecture, a Hugging Face
  ``AutoModelForSeq2SeqLM`` (hub name or local directory) behind the project's shim
  on thinc's ``PyTorchShim`` (:mod:`spacy_task_pipes.hf`) (weights serialized as safetensors). Its
  forward pass takes padded ``input_ids``/``attention_mask``/``labels`` and returns
  the teacher-forced cross-entropy (``loss``, label padding = -100 ignored).
- :class:`Seq2SeqPipe`: the trainable pipe base. It splits text into pieces that
  fit ``max_input_length`` (on sentence boundaries, then tokens, then characters),
  generates in length-sorted batches under a token budget (``torch.inference_mode``,
  results in input order, nothing kept on the GPU), decodes with special tokens
  skipped and whitespace cleaned, trains with ``update()`` and (de)serializes the
  weights as safetensors + tokenizer files (no pickle).

The task subclasses (:mod:`.translation`, :mod:`.summarization`) only decide which
pieces to generate for and how the results are written to the ``Doc``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy
import torch
from spacy.pipeline import Sentencizer, TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import SimpleFrozenList, registry
from spacy.util import logger as spacy_logger
from thinc.api import Model, Optimizer
from transformers import AutoModelForSeq2SeqLM
from wasabi import Printer

from .settings import BASE_DEFAULTS, register_doc_field, seq2seq_model_config  # noqa: F401
from ..hf import (
    HFPipeSerializationMixin,
    TrainingDropout,
    check_tokenizer,
    bind_component,
    create_hf_task_layer,
    example_texts,
    ctranslate2_generate,
    get_hf_shim,
    initialize_hf_task_layer,
    release_device_memory,
)

# Input: {"input_ids": (B, L), "attention_mask": (B, L), "labels": (B, T)} int64.
# Output: (loss,) with loss a 0-d float32 array (mean token cross-entropy).
Seq2SeqInT = Dict[str, Any]
Seq2SeqOutT = Tuple[Any]
CharRange = Tuple[int, int]

LABEL_PAD = -100


# ------------------------------------------------------------- architecture


@registry.architectures("spacy_task_pipes.Seq2SeqLM.v1")
def create_seq2seq_model(
    name: str,
    tokenizer_config: Dict[str, Any] = {"use_fast": True},
    transformer_config: Dict[str, Any] = {},
    mixed_precision: bool = False,
    mixed_precision_dtype: str = "float16",
    grad_scaler_config: Dict[str, Any] = {},
    new_head: bool = False,
    quantize: Optional[str] = None,
    backend: str = "torch",
) -> Model[Seq2SeqInT, Seq2SeqOutT]:
    """Encoder-decoder model loaded with ``AutoModelForSeq2SeqLM`` when the pipeline
    is initialized (T5, BART, Marian, mBART-50, M2M100, NLLB, ...).

    name (str): Hugging Face hub name or local directory (``save_pretrained`` output).
    tokenizer_config (dict): Keyword arguments for ``AutoTokenizer.from_pretrained``.
    transformer_config (dict): Keyword arguments for ``AutoConfig.from_pretrained``.
    mixed_precision (bool): Run training and generation under CUDA autocast (GPU only).
    mixed_precision_dtype (str): "float16" or "bfloat16" for mixed precision.
    grad_scaler_config (dict): Arguments for thinc's ``PyTorchGradScaler``.
    new_head (bool): At initialize, start the LM head weights that ``name`` lacks
        (a base model). Off by default: weights that do not match completely are an error.
    quantize (Optional[str]): "int8": CPU generation with int8 weights (null: float32).
        Training and the saved weights stay float.
    backend (str): CPU generation runtime: "torch" or "ctranslate2" (converted from the
        float weights at the first generation after loading; needs the cpu-fast extra).
    """
    hf_layer = create_hf_task_layer(
        name,
        tokenizer_config=tokenizer_config,
        transformer_config=transformer_config,
        output_names=("loss",),
        mixed_precision=mixed_precision,
        mixed_precision_dtype=mixed_precision_dtype,
        grad_scaler_config=grad_scaler_config,
        new_head=new_head,
        quantize=quantize,
        backend=backend,
        backends=("torch", "ctranslate2"),
        model_cls=AutoModelForSeq2SeqLM,
        architecture="spacy_task_pipes.Seq2SeqLM.v1",
    )
    return Model("seq2seq_lm", _forward, init=_init, layers=[hf_layer], attrs={"name": name})


def _forward(model: Model, X: Seq2SeqInT, is_train: bool):
    return model.layers[0](X, is_train)


def _init(model: Model, X=None, Y=None) -> None:
    initialize_hf_task_layer(model.layers[0])  # messages name the owning component's block


def pipe_from_factory_args(pipe_cls: type, args: Dict[str, Any]) -> "Seq2SeqPipe":
    """The pipe for a factory's arguments (its ``locals()``): ``nlp``, ``name``,
    ``model``, ``field`` and ``scorer`` go to the constructor, the settings into ``cfg``."""
    cfg = dict(args)
    nlp, name, model, field, scorer = (cfg.pop(key) for key in ("nlp", "name", "model", "field", "scorer"))
    return pipe_cls(nlp.vocab, model, name, field=field, scorer=scorer, **cfg)


# ------------------------------------------------------------------ helpers


def clean_whitespace(text: str) -> str:
    return " ".join(text.split())


def batches_by_token_budget(
    lengths: Sequence[int], max_tokens: int, max_batch_size: int
) -> List[List[int]]:
    """Indices in length-sorted batches whose padded size (n * longest) stays within
    ``max_tokens`` (a longer single item still gets its own batch)."""
    if max_tokens < 1 or max_batch_size < 1:
        raise ValueError(
            f"batch_token_budget ({max_tokens}) and max_batch_size ({max_batch_size}) must be >= 1."
        )
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches: List[List[int]] = []
    current: List[int] = []
    for i in order:
        longest = max(lengths[i], 1)
        if current and ((len(current) + 1) * longest > max_tokens or len(current) >= max_batch_size):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def _pad(rows: Sequence[Sequence[int]], value: int) -> numpy.ndarray:
    width = max(len(r) for r in rows)
    arr = numpy.full((len(rows), width), value, dtype="int64")
    for i, row in enumerate(rows):
        arr[i, : len(row)] = row
    return arr


def sentence_ranges(doc: Doc) -> List[CharRange]:
    """Character ranges of the doc's sentences; a copy of the doc is run through a
    rule-based ``Sentencizer`` where the doc has no sentence boundaries."""
    if not doc.has_annotation("SENT_START"):
        doc = Sentencizer()(doc.copy())
    return [(s.start_char, s.end_char) for s in doc.sents]


def _token_ranges(doc: Doc, start: int, end: int) -> List[CharRange]:
    span = doc.char_span(start, end, alignment_mode="expand")
    tokens = list(span) if span is not None else []
    ranges = [(t.idx, t.idx + len(t.text)) for t in tokens if not t.is_space]
    return [(max(s, start), min(e, end)) for s, e in ranges if min(e, end) > max(s, start)]


# --------------------------------------------------------------------- pipe


class Seq2SeqPipe(HFPipeSerializationMixin, TrainablePipe):
    """Base of the seq2seq pipes: input splitting, batched generation, training,
    serialization. Subclasses implement :meth:`predict` and :meth:`set_annotations`
    with :meth:`generate_texts` and :meth:`split_to_fit`.

    The gold target of a training example is ``example.reference._.<field>``.

    Training settings: ``use_training_dropout`` (false: the model trains with its own config's
    dropout, as the Hugging Face ``Trainer`` does, and a different ``training.dropout`` is
    reported once; true: ``training.dropout`` is every dropout probability of the model).

    Evaluation during training: from :meth:`update` until the pipe is saved (``to_disk``,
    ``to_bytes``: ``spacy train`` saves ``model-last`` after every evaluation and at the end) or
    :meth:`end_training_evaluation` is called, generation uses ``eval_num_beams`` and
    ``eval_max_new_tokens`` (greedy, 64 tokens by default; null: the inference setting) instead of
    ``num_beams`` and ``max_new_tokens``. So the scoring inside ``spacy train`` is cheap, while a
    loaded pipeline, ``nlp(...)`` and ``nlp.pipe`` outside training, and the saved config keep the
    inference settings. In a training loop of your own, call :meth:`end_training_evaluation`
    before using the pipe for inference without saving it.
    """

    task_defaults: Dict[str, Any] = {}
    """Task-specific settings of a subclass (name -> default)."""

    def __init__(
        self,
        vocab,
        model: Model,
        name: str,
        *,
        field: str,
        scorer: Optional[Callable] = None,
        **cfg: Any,
    ) -> None:
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        unknown = set(cfg) - set(BASE_DEFAULTS) - set(self.task_defaults)
        if unknown:
            raise ValueError(f"[components.{name}] unknown settings {sorted(unknown)}.")
        self.cfg: Dict[str, Any] = {**BASE_DEFAULTS, **self.task_defaults, **cfg, "field": field}
        self._validate_cfg()
        self._dropout = TrainingDropout(name, self.cfg["use_training_dropout"])
        self._training_evaluation = False  # see the class docstring
        self._reported_eval_settings = False
        bind_component(model, name)
        register_doc_field(field)

    # ---------------------------------------------------------------- config

    def _validate_cfg(self) -> None:
        c = self.cfg
        where = f"[components.{self.name}]"
        for key in ("max_input_length", "max_target_length", "num_beams", "max_new_tokens",
                    "batch_token_budget", "max_batch_size", "update_token_budget"):
            if not isinstance(c[key], int) or c[key] < 1:
                raise ValueError(f"{where} {key} must be an integer >= 1, got {c[key]!r}.")
        for key in ("min_new_tokens", "no_repeat_ngram_size"):
            if not isinstance(c[key], int) or c[key] < 0:
                raise ValueError(f"{where} {key} must be an integer >= 0, got {c[key]!r}.")
        if c["min_new_tokens"] > c["max_new_tokens"]:
            raise ValueError(
                f"{where} min_new_tokens ({c['min_new_tokens']}) is larger than "
                f"max_new_tokens ({c['max_new_tokens']}); lower min_new_tokens."
            )
        for key in ("eval_num_beams", "eval_max_new_tokens"):
            if c[key] is not None and (not isinstance(c[key], int) or isinstance(c[key], bool) or c[key] < 1):
                raise ValueError(
                    f"{where} {key} must be an integer >= 1, or null for the inference setting "
                    f"({key[len('eval_'):]}), got {c[key]!r}."
                )
        eval_max = c["max_new_tokens"] if c["eval_max_new_tokens"] is None else c["eval_max_new_tokens"]
        if c["min_new_tokens"] > eval_max:
            raise ValueError(
                f"{where} min_new_tokens ({c['min_new_tokens']}) is larger than "
                f"eval_max_new_tokens ({eval_max}), used while spacy train evaluates; raise "
                "eval_max_new_tokens or lower min_new_tokens."
            )
        if not isinstance(c["use_training_dropout"], bool):
            raise ValueError(f"{where} use_training_dropout must be true or false, got {c['use_training_dropout']!r}.")
        if not isinstance(c["field"], str) or not c["field"].isidentifier():
            raise ValueError(f"{where} field must be a Python identifier (e.g. \"translation\"), got {c['field']!r}.")

    @property
    def field(self) -> str:
        return self.cfg["field"]

    @property
    def hf_model(self):
        return self._loaded().hf_objects.transformer

    @property
    def tokenizer(self):
        """The tokenizer for the calling thread, with ``src_lang``/``tgt_lang`` set."""
        shim = self._loaded()
        tokenizer = shim.tokenizer
        self._configure_tokenizer(tokenizer)
        return tokenizer

    def _loaded(self):
        shim = get_hf_shim(self.model)
        if not shim.has_transformer:
            raise ValueError(
                f"The '{self.name}' component has no weights yet: call nlp.initialize() "
                f"(which loads [components.{self.name}.model] name) or load a saved pipeline."
            )
        return shim

    def _configure_tokenizer(self, tokenizer) -> None:
        """Set ``src_lang``/``tgt_lang`` on multilingual tokenizers (mBART-50, M2M100, NLLB)."""
        for key in ("src_lang", "tgt_lang"):
            value = self.cfg[key]
            if value is None:
                continue
            if not hasattr(tokenizer, key):
                raise ValueError(
                    f"[components.{self.name}] {key} = \"{value}\" but the tokenizer "
                    f"({type(tokenizer).__name__}) has no language codes. Set {key} = null "
                    "(use prefix for T5-style models; Marian models need neither)."
                )
            if getattr(tokenizer, key) != value:
                setattr(tokenizer, key, value)

    def forced_bos_token_id(self) -> Optional[int]:
        """The target-language token that starts every output (multilingual models)."""
        tgt = self.cfg["tgt_lang"]
        if tgt is None:
            return None
        tokenizer = self.tokenizer
        if hasattr(tokenizer, "get_lang_id"):  # M2M100: "pt" -> "__pt__"
            try:
                token_id = tokenizer.get_lang_id(tgt)
            except KeyError:
                token_id = None
        else:  # mBART-50 ("pt_XX"), NLLB ("por_Latn")
            token_id = tokenizer.convert_tokens_to_ids(tgt)
        if token_id is None or token_id == tokenizer.unk_token_id:
            raise ValueError(
                f"[components.{self.name}] tgt_lang = \"{tgt}\" is not a language code of "
                f"this tokenizer ({type(tokenizer).__name__}). Use the model's own codes, "
                "e.g. \"pt_XX\" (mBART-50), \"pt\" (M2M100) or \"por_Latn\" (NLLB)."
            )
        return int(token_id)

    @property
    def evaluating_in_training(self) -> bool:
        """Whether generation uses the evaluation settings (``eval_num_beams``,
        ``eval_max_new_tokens``): after :meth:`update`, until the pipe is saved or
        :meth:`end_training_evaluation` is called (see the class docstring)."""
        return self._training_evaluation

    def end_training_evaluation(self) -> None:
        """Generate with the inference settings again (``num_beams``, ``max_new_tokens``)."""
        self._training_evaluation = False

    def generation_settings(self) -> Dict[str, int]:
        """``num_beams`` and ``max_new_tokens`` in use: the inference settings, or the
        ``eval_*`` ones while :attr:`evaluating_in_training`."""
        c = self.cfg
        settings = {"num_beams": c["num_beams"], "max_new_tokens": c["max_new_tokens"]}
        if self._training_evaluation:
            for key in settings:
                if c[f"eval_{key}"] is not None:
                    settings[key] = c[f"eval_{key}"]
        return settings

    def _report_eval_settings(self, settings: Dict[str, int]) -> None:
        c = self.cfg
        if self._reported_eval_settings or all(settings[k] == c[k] for k in settings):
            return
        self._reported_eval_settings = True
        line = (
            f"[{self.name}] evaluation during training generates with num_beams = "
            f"{settings['num_beams']}, max_new_tokens = {settings['max_new_tokens']} "
            f"([components.{self.name}] eval_num_beams, eval_max_new_tokens); nlp(...) and the saved "
            f"pipeline use num_beams = {c['num_beams']}, max_new_tokens = {c['max_new_tokens']}."
        )
        spacy_logger.info(line)
        Printer().info(line)  # shown next to spaCy's own notices in `spacy train`

    def generation_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments for ``model.generate`` from the config (with the evaluation
        settings while :attr:`evaluating_in_training`)."""
        c = self.cfg
        active = self.generation_settings()
        kwargs: Dict[str, Any] = {
            "num_beams": active["num_beams"],
            "max_new_tokens": active["max_new_tokens"],
            "min_new_tokens": c["min_new_tokens"],
            "no_repeat_ngram_size": c["no_repeat_ngram_size"],
            "do_sample": c["do_sample"],
        }
        if active["num_beams"] > 1:
            kwargs["length_penalty"] = c["length_penalty"]
            kwargs["early_stopping"] = c["early_stopping"]
        forced = self.forced_bos_token_id()
        if forced is not None:
            kwargs["forced_bos_token_id"] = forced
        return kwargs

    # ------------------------------------------------------------- splitting

    def input_length(self, text: str) -> int:
        """Model input tokens of ``text`` (with prefix and special tokens)."""
        return len(self.tokenizer(self.cfg["prefix"] + text)["input_ids"])

    def split_to_fit(
        self, doc: Doc, units: Sequence[CharRange], *, pack: bool, max_length: Optional[int] = None
    ) -> List[CharRange]:
        """Cut ``units`` (character ranges of ``doc.text``, e.g. sentences) so that
        each piece fits ``max_length`` input tokens: a unit that is too long is split
        on tokens (then characters). With ``pack``, consecutive pieces are merged
        greedily while they fit. Whitespace-only units are dropped; nothing else is."""
        limit = max_length or self.cfg["max_input_length"]
        text = doc.text
        pieces: List[CharRange] = []
        for start, end in units:
            if not text[start:end].strip():
                continue
            if self.input_length(text[start:end]) <= limit:
                pieces.append((start, end))
                continue
            for t_start, t_end in self._pack(text, _token_ranges(doc, start, end), limit):
                if self.input_length(text[t_start:t_end]) <= limit:
                    pieces.append((t_start, t_end))
                else:  # a single token longer than the limit
                    pieces.extend(self._split_chars(text, t_start, t_end, limit))
        return self._pack(text, pieces, limit) if pack else pieces

    def _pack(self, text: str, pieces: Sequence[CharRange], limit: int) -> List[CharRange]:
        if not pieces:
            return []
        base = self.input_length("")
        counts = [max(self.input_length(text[s:e]) - base, 1) for s, e in pieces]
        chunks: List[CharRange] = []
        i = 0
        while i < len(pieces):
            j, total = i, base + counts[i]
            while j + 1 < len(pieces) and total + counts[j + 1] <= limit:
                j += 1
                total += counts[j]
            while j > i and self.input_length(text[pieces[i][0] : pieces[j][1]]) > limit:
                j -= 1
            chunks.append((pieces[i][0], pieces[j][1]))
            i = j + 1
        return chunks

    def _split_chars(self, text: str, start: int, end: int, limit: int) -> List[CharRange]:
        if end - start <= 1 or self.input_length(text[start:end]) <= limit:
            return [(start, end)]
        mid = (start + end) // 2
        return self._split_chars(text, start, mid, limit) + self._split_chars(text, mid, end, limit)

    def plan_docs(self, docs: Sequence[Doc], plan: Callable[[Doc], Any]) -> List[Any]:
        """``plan(doc)`` per doc; a doc whose planning fails gets ``None`` and a
        warning naming its index, so it never breaks the other docs of the batch."""
        if docs:
            self._loaded()  # a pipe without weights is a setup error, not a bad doc
        plans = []
        for i, doc in enumerate(docs):
            try:
                plans.append(plan(doc) if doc.text.strip() else None)
            except Exception as err:  # noqa: BLE001 - isolate one bad doc
                warnings.warn(
                    f"[{self.name}] doc {i} of the batch ({doc.text[:50]!r}) could not be "
                    f"prepared ({type(err).__name__}: {err}); it gets an empty result."
                )
                plans.append(None)
        return plans

    # ------------------------------------------------------------ generation

    def generate_ids(self, texts: Sequence[str]) -> List[Optional[List[int]]]:
        """Generated token ids per text (trailing padding removed), in input order.

        Batches are length-sorted and bounded by ``batch_token_budget`` input tokens
        (times ``num_beams``) and ``max_batch_size``. A batch that fails is retried one
        text at a time; a text that still fails gets ``None`` and a warning (unless all
        fail, then the error is raised)."""
        results: List[Optional[List[int]]] = [None] * len(texts)
        if not texts:
            return results
        tokenizer = self.tokenizer
        cfg = self.cfg
        encoded = tokenizer(
            [cfg["prefix"] + t for t in texts],
            truncation=True,
            max_length=cfg["max_input_length"],
        )["input_ids"]
        kwargs = self.generation_kwargs()
        if self._training_evaluation:
            self._report_eval_settings(self.generation_settings())
        budget = max(cfg["batch_token_budget"] // kwargs["num_beams"], 1)
        errors: List[Tuple[int, BaseException]] = []
        for idx in batches_by_token_budget([len(e) for e in encoded], budget, cfg["max_batch_size"]):
            try:
                for i, ids in zip(idx, self._generate_batch([encoded[i] for i in idx], kwargs)):
                    results[i] = ids
            except (RuntimeError, IndexError, ValueError) as err:
                if len(idx) == 1:
                    errors.append((idx[0], err))
                    continue
                for i in idx:
                    try:
                        results[i] = self._generate_batch([encoded[i]], kwargs)[0]
                    except (RuntimeError, IndexError, ValueError) as single_err:
                        errors.append((i, single_err))
        release_device_memory()
        if errors and len(errors) == len(texts):
            raise errors[0][1]
        for i, err in errors:
            warnings.warn(
                f"[{self.name}] generation failed for input {i} of the batch "
                f"({texts[i][:60]!r}...): {err}. It gets an empty result."
            )
        return results

    def _generate_batch(self, rows: Sequence[Sequence[int]], kwargs: Dict[str, Any]) -> List[List[int]]:
        shim = get_hf_shim(self.model)
        model = self.hf_model
        if shim.uses_cpu_runner:
            if shim.backend == "ctranslate2":
                forced_eos = getattr(model.generation_config, "forced_eos_token_id", None) is not None
                return ctranslate2_generate(shim.inference_runner(), self.tokenizer, rows, kwargs, forced_eos)
            model = shim.inference_runner()  # the int8 copy
        model.eval()
        pad_id = self._pad_id()
        device = next(model.parameters()).device
        input_ids = torch.from_numpy(_pad(rows, pad_id)).to(device)
        mask = torch.from_numpy(_pad([[1] * len(r) for r in rows], 0)).to(device)
        with torch.inference_mode(), torch.autocast(
            "cuda", dtype=shim.autocast_dtype, enabled=shim._mixed_precision and device.type == "cuda"
        ):
            out = model.generate(input_ids=input_ids, attention_mask=mask, **kwargs)
        sequences = out.cpu().tolist()
        del out, input_ids, mask
        eos = getattr(self.hf_model.generation_config, "eos_token_id", None)
        eos_ids = set(eos if isinstance(eos, (list, tuple)) else [] if eos is None else [eos])
        return [self._trim(seq, pad_id, eos_ids) for seq in sequences]

    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.hf_model.config.pad_token_id
        return 0 if pad is None else int(pad)

    @staticmethod
    def _trim(seq: List[int], pad_id: int, eos_ids: Iterable[int] = ()) -> List[int]:
        """The sequence up to its first end token after the decoder start (what follows it is
        filler: padding, or end tokens again where transformers 4.x pads finished beams with
        them), else without trailing padding."""
        eos_ids = set(eos_ids)
        for i in range(1, len(seq)):
            if seq[i] in eos_ids:
                return seq[: i + 1]
        end = len(seq)
        while end > 1 and seq[end - 1] == pad_id:
            end -= 1
        return seq[:end]

    def decode(self, ids: Optional[Sequence[int]]) -> str:
        """Text of generated ids, special tokens skipped, whitespace cleaned. Ids the tokenizer
        does not have (a model's embedding matrix is often padded past the vocabulary) are
        dropped, as transformers 4 did; transformers 5 would write a literal "<unk>"."""
        if not ids:
            return ""
        tokenizer = self.tokenizer
        size = _vocabulary_size(tokenizer)
        ids = [i for i in ids if 0 <= i < size]
        text = tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=True)
        return clean_whitespace(text)

    def generate_texts(self, texts: Sequence[str]) -> List[str]:
        """Generated text per input text, in input order ("" for empty inputs)."""
        todo = [i for i, t in enumerate(texts) if t.strip()]
        out = [""] * len(texts)
        for i, ids in zip(todo, self.generate_ids([texts[i] for i in todo])):
            out[i] = self.decode(ids)
        return out

    # -------------------------------------------------------------- training

    def initialize(self, get_examples: Optional[Callable[[], Iterable[Example]]] = None, *, nlp=None) -> None:
        initialize_hf_task_layer(self.model.layers[0], setting=f"[components.{self.name}.model] name")
        self.model.initialize()
        check_tokenizer(self.tokenizer, example_texts(get_examples), f"[components.{self.name}.model] name")
        self.generation_kwargs()  # checks tgt_lang

    def target_of(self, eg: Example, index: int = 0) -> str:
        target = getattr(eg.reference._, self.field)
        if not isinstance(target, str):
            raise ValueError(
                f"[{self.name}] training example {index} ({eg.reference.text[:50]!r}) has no "
                f"target: set reference doc._.{self.field} to the gold text (the readers in "
                "spacy_task_pipes.seq2seq.data do this)."
            )
        return target

    def make_training_batch(self, sources: Sequence[str], targets: Sequence[str]) -> Tuple[List[List[int]], List[List[int]]]:
        tokenizer = self.tokenizer
        cfg = self.cfg
        inputs = tokenizer(
            [cfg["prefix"] + s for s in sources], truncation=True, max_length=cfg["max_input_length"]
        )["input_ids"]
        labels = tokenizer(
            text_target=list(targets), truncation=True, max_length=cfg["max_target_length"]
        )["input_ids"]
        return inputs, labels

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Teacher-forced cross-entropy on (reference text, reference ``doc._.<field>``),
        averaged over all target tokens of the examples (label padding is -100, so
        ignored). Examples are split into length-sorted chunks within
        ``update_token_budget`` (padded size: examples x longest input + target); each chunk's
        gradient is weighted by its share of the target tokens, so they add up to the update of
        the whole batch, with less padding (the Trainer pads a batch to its longest example).

        ``drop`` (``training.dropout`` in ``spacy train``): with ``use_training_dropout = true``
        every dropout probability of the model is set to it; with ``false`` (the default, as the
        Hugging Face ``Trainer``) the model trains with its own config's dropout, and a ``drop``
        that differs from it is reported once (:class:`~spacy_task_pipes.hf.TrainingDropout`)."""
        self._training_evaluation = True  # evaluation until saved uses the eval_* settings
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        pairs = [(eg.reference.text, self.target_of(eg, i)) for i, eg in enumerate(examples)]
        pairs = [(s, t) for s, t in pairs if s.strip()]
        if not pairs:
            return losses
        self._dropout.apply(self.hf_model, drop)
        inputs, labels = self.make_training_batch([s for s, _ in pairs], [t for _, t in pairs])
        n_total = sum(len(lab) for lab in labels)
        lengths = [len(a) + len(b) for a, b in zip(inputs, labels)]
        pad_id = self._pad_id()
        total = 0.0
        for idx in batches_by_token_budget(lengths, self.cfg["update_token_budget"], self.cfg["max_batch_size"]):
            X = {
                "input_ids": _pad([inputs[i] for i in idx], pad_id),
                "attention_mask": _pad([[1] * len(inputs[i]) for i in idx], 0),
                "labels": _pad([labels[i] for i in idx], LABEL_PAD),
            }
            weight = sum(len(labels[i]) for i in idx) / n_total
            (loss,), backprop = self.model.begin_update(X)
            backprop((numpy.asarray(weight, dtype="float32"),))
            total += float(loss) * weight
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += total
        return losses

    def get_loss(self, examples, scores):  # pragma: no cover - update computes the loss
        raise NotImplementedError(f"{type(self).__name__} computes its loss inside update().")

    # --------------------------------------------------------- serialization

    def to_bytes(self, *, exclude: Iterable[str] = SimpleFrozenList()) -> bytes:
        """The weights (see :class:`HFPipeSerializationMixin`); saving ends the evaluation
        settings of training (:meth:`end_training_evaluation`)."""
        self.end_training_evaluation()
        return super().to_bytes(exclude=exclude)

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = SimpleFrozenList()) -> None:
        """The weights (see :class:`HFPipeSerializationMixin`); saving ends the evaluation
        settings of training (:meth:`end_training_evaluation`)."""
        self.end_training_evaluation()
        super().to_disk(path, exclude=exclude)


def _vocabulary_size(tokenizer: Any) -> int:
    """``len(tokenizer)``, once per tokenizer object (slow tokenizers build their vocabulary
    dict for each ``len``)."""
    size = getattr(tokenizer, "_spacy_task_pipes_size", None)
    if size is None:
        size = len(tokenizer)
        try:
            tokenizer._spacy_task_pipes_size = size
        except AttributeError:  # pragma: no cover - a tokenizer with __slots__
            pass
    return size
