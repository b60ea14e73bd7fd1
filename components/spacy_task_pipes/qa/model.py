"""The registered question-answering architecture: HF ``AutoModelForQuestionAnswering``
behind the project's shim on thinc's ``PyTorchShim`` (weights serialized as safetensors)."""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d
from transformers import AutoModelForQuestionAnswering

from ..hf import create_hf_task_layer, get_hf_shim, initialize_hf_task_layer

# Input: padded features {"input_ids": (B, L), "attention_mask": (B, L), ...}
# Output: (start_logits, end_logits), each (B, L) float32.
QAInT = Dict[str, Any]
QAOutT = Tuple[Floats2d, Floats2d]


@registry.architectures("spacy_task_pipes.QuestionAnswering.v1")
def create_question_answering_model(
    name: str,
    tokenizer_config: Dict[str, Any] = {"use_fast": True},
    transformer_config: Dict[str, Any] = {},
    mixed_precision: bool = False,
    mixed_precision_dtype: str = "float16",
    grad_scaler_config: Dict[str, Any] = {},
    new_head: bool = False,
    quantize: Optional[str] = None,
    backend: str = "torch",
) -> Model[QAInT, QAOutT]:
    """Extractive QA model: a hub name or local directory loaded with
    ``AutoModelForQuestionAnswering`` when the pipeline is initialized.

    name (str): Hugging Face hub name or local directory (``save_pretrained`` output).
    tokenizer_config (dict): Keyword arguments for ``AutoTokenizer.from_pretrained``.
    transformer_config (dict): Keyword arguments for ``AutoConfig.from_pretrained``.
    mixed_precision (bool): Run the forward pass under CUDA autocast (GPU only).
    mixed_precision_dtype (str): "float16" or "bfloat16" for mixed precision.
    grad_scaler_config (dict): Arguments for thinc's ``PyTorchGradScaler``.
    new_head (bool): At initialize, start the QA head (qa_outputs) weights that ``name`` lacks
        (a base model). Off by default: weights that do not match completely are an error.
    quantize (Optional[str]): "int8": CPU inference with int8 weights (null: float32).
        Training and the saved weights stay float.
    backend (str): CPU inference runtime: "torch" or "onnxruntime" (ONNX export of the
        float weights at the first inference after loading; needs the cpu-fast extra).
    """
    hf_layer = create_hf_task_layer(
        name,
        tokenizer_config=tokenizer_config,
        transformer_config=transformer_config,
        output_names=("start_logits", "end_logits"),
        mixed_precision=mixed_precision,
        mixed_precision_dtype=mixed_precision_dtype,
        grad_scaler_config=grad_scaler_config,
        new_head=new_head,
        quantize=quantize,
        backend=backend,
        backends=("torch", "onnxruntime"),
        model_cls=AutoModelForQuestionAnswering,
        architecture="spacy_task_pipes.QuestionAnswering.v1",
    )
    return Model(
        "question_answering",
        forward,
        init=init,
        layers=[hf_layer],
        attrs={"name": name},
    )


def forward(model: Model[QAInT, QAOutT], X: QAInT, is_train: bool) -> Tuple[QAOutT, Callable]:
    return model.layers[0](X, is_train)


def init(model: Model[QAInT, QAOutT], X: Optional[QAInT] = None, Y=None) -> None:
    initialize_hf_task_layer(model.layers[0])  # messages name the owning component's block


def get_tokenizer(model: Model) -> Any:
    """The HF tokenizer of a loaded QA model for the calling thread (``None`` before
    initialization)."""
    return get_hf_shim(model).tokenizer


def has_weights(model: Model) -> bool:
    return get_hf_shim(model).has_transformer
