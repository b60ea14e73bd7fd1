"""``spacy_task_pipes.AdamW.v1``: torch's ``AdamW`` as the Hugging Face ``Trainer`` runs it,
usable as ``[training.optimizer]`` of ``spacy train``.

thinc's ``Adam.v1`` differs from the Trainer's update in three ways: its ``grad_clip`` clips
each parameter tensor on its own (the Trainer clips the global norm of all gradients), its
weight decay also decays biases and normalisation weights (the Trainer leaves them out), and
its epsilon is added to ``sqrt(v)`` before the bias correction (torch adds it after).
:class:`TorchAdamW` is a thinc :class:`~thinc.api.Optimizer` (so spaCy's training loop, its
``learn_rate`` schedules and ``step_schedules`` work unchanged) that hands the parameters of
each torch model to a real ``torch.optim.AdamW``: :meth:`SafetensorsHFShim.finish_update
<.shim.SafetensorsHFShim.finish_update>` calls :meth:`TorchAdamW.step_module`, which

1. skips the step when the grad scaler found inf/NaN gradients (thinc's shim unscales the
   gradients in backprop, so they are unscaled here, as ``GradScaler.unscale_`` leaves them);
2. clips the global norm of the module's gradients to ``max_grad_norm``
   (``torch.nn.utils.clip_grad_norm_``);
3. steps ``torch.optim.AdamW`` with two parameter groups, ``weight_decay`` for the parameters
   :func:`decay_parameter_names` names and 0 for the rest, at the current ``learn_rate`` of the
   schedule (set on the groups before every step);
4. zeroes the gradients.

Parameters that are not torch parameters (thinc layers around the model, none in this
package's components) are updated by thinc's own Adam with the same settings
(``grad_clip = max_grad_norm`` per tensor, decoupled ``weight_decay``).

Imports: torch, thinc and spaCy's registry; nothing of this package.
"""

from __future__ import annotations

import re
import weakref
from typing import Any, Dict, List, Optional, Tuple

import torch
from spacy.util import registry
from thinc.api import Optimizer
from thinc.optimizers import FloatOrSeq

# transformers 5's Trainer.get_decay_parameter_names: no decay inside nn.LayerNorm modules
# nor for parameters whose lowercased name matches one of these (biases, T5's "layer_norm",
# Llama's "norm"/"input_layernorm", RMSNorm, ...).
NO_DECAY_PATTERNS: Tuple[str, ...] = (r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)")
_NO_DECAY = tuple(re.compile(p) for p in NO_DECAY_PATTERNS)


def decay_parameter_names(module: "torch.nn.Module") -> List[str]:
    """Names of the parameters of ``module`` that get weight decay, by the rule of transformers'
    ``Trainer.get_decay_parameter_names``: every parameter except those of ``nn.LayerNorm``
    modules and those whose lowercased name matches :data:`NO_DECAY_PATTERNS` (biases and
    normalisation weights). Names as ``module.named_parameters()`` gives them (a tied weight is
    listed under each of its names)."""

    def names(mod: "torch.nn.Module") -> List[str]:
        result: List[str] = []
        for child_name, child in mod.named_children():
            result += [
                f"{child_name}.{n}"
                for n in names(child)
                if not isinstance(child, torch.nn.LayerNorm)
                and not any(p.search(f"{child_name}.{n}".lower()) for p in _NO_DECAY)
            ]
        result += [k for k in mod._parameters if not any(p.search(k.lower()) for p in _NO_DECAY)]
        return result

    return names(module)


def _default_fused() -> bool:
    """transformers 5's ``Trainer`` defaults to ``adamw_torch_fused`` from torch 2.8 on, else to
    ``adamw_torch`` (as transformers 4 always does)."""
    major, minor = (int(x) for x in re.findall(r"\d+", torch.__version__)[:2])
    return (major, minor) >= (2, 8)


class TorchAdamW(Optimizer):
    """A thinc optimizer whose torch parameters are stepped by ``torch.optim.AdamW`` with the
    Hugging Face ``Trainer``'s global-norm clipping and decay groups (see the module docstring).

    ``learn_rate``, ``b1``, ``b2``, ``eps`` and ``L2`` (the weight decay) are thinc's attributes,
    schedules included; ``grad_clip`` is ``max_grad_norm``. The torch optimizer state (moments,
    step counts) lives here, one ``AdamW`` per torch module, as thinc keeps Adam's moments in
    the optimizer: a new optimizer starts from zero moments."""

    __slots__ = ("fused", "_torch_optimizers")

    def __init__(
        self,
        learn_rate: FloatOrSeq,
        *,
        beta1: FloatOrSeq = 0.9,
        beta2: FloatOrSeq = 0.999,
        eps: FloatOrSeq = 1e-8,
        weight_decay: FloatOrSeq = 0.0,
        max_grad_norm: FloatOrSeq = 1.0,
        fused: Optional[bool] = None,
    ) -> None:
        super().__init__(
            learn_rate,
            L2=weight_decay,
            beta1=beta1,
            beta2=beta2,
            eps=eps,
            grad_clip=max_grad_norm,
            use_averages=False,
            use_radam=False,
            L2_is_weight_decay=True,
        )
        self.fused = _default_fused() if fused is None else bool(fused)
        # key -> (weak reference to the module, its torch.optim.AdamW)
        self._torch_optimizers: Dict[Any, Tuple[Any, torch.optim.AdamW]] = {}

    @property
    def weight_decay(self) -> float:
        return float(self.L2)

    @property
    def max_grad_norm(self) -> float:
        return float(self.grad_clip)

    def torch_optimizer(self, key: Any, module: "torch.nn.Module") -> torch.optim.AdamW:
        """The ``AdamW`` of ``module`` (made on its first step, and again for a new module under
        the same key, e.g. after the weights were reloaded): a decay group (``weight_decay``) and
        a no-decay group (0.0), of the parameters that require gradients."""
        entry = self._torch_optimizers.get(key)
        if entry is not None and entry[0]() is module:
            return entry[1]
        decay = set(decay_parameter_names(module))
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        groups = [
            {"params": [p for n, p in named if n in decay], "weight_decay": self.weight_decay, "decay": True},
            {"params": [p for n, p in named if n not in decay], "weight_decay": 0.0, "decay": False},
        ]
        optimizer = torch.optim.AdamW(
            [g for g in groups if g["params"]],
            lr=float(self.learn_rate),
            betas=(float(self.b1), float(self.b2)),
            eps=float(self.eps),
            weight_decay=self.weight_decay,
            fused=True if self.fused else None,
        )
        self._torch_optimizers[key] = (weakref.ref(module), optimizer)
        return optimizer

    def step_module(self, key: Any, module: "torch.nn.Module", grad_scaler: Any = None) -> bool:
        """One update of ``module`` from the gradients in its parameters' ``.grad``: global-norm
        clipping to ``max_grad_norm``, then ``AdamW`` at the current learning rate; the gradients
        are zeroed after. Nothing is stepped when ``grad_scaler.found_inf`` (an fp16 overflow)
        or no parameter has a gradient. Returns whether the weights were stepped."""
        params = [p for p in module.parameters() if p.grad is not None]
        if not params:
            return False
        stepped = not (grad_scaler is not None and grad_scaler.found_inf)
        if stepped:
            optimizer = self.torch_optimizer(key, module)
            for group in optimizer.param_groups:
                group["lr"] = float(self.learn_rate)
                group["betas"] = (float(self.b1), float(self.b2))
                group["eps"] = float(self.eps)
                group["weight_decay"] = self.weight_decay if group["decay"] else 0.0
            if self.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm)
            optimizer.step()
        for p in params:
            p.grad.zero_()
        return stepped


@registry.optimizers("spacy_task_pipes.AdamW.v1")
def create_adamw(
    learn_rate: FloatOrSeq = 5e-5,
    *,
    beta1: FloatOrSeq = 0.9,
    beta2: FloatOrSeq = 0.999,
    eps: FloatOrSeq = 1e-8,
    weight_decay: FloatOrSeq = 0.0,
    max_grad_norm: FloatOrSeq = 1.0,
    fused: Optional[bool] = None,
) -> TorchAdamW:
    """torch's ``AdamW`` as the Hugging Face ``Trainer`` uses it (defaults: ``TrainingArguments``'):

    learn_rate (float or schedule): e.g. ``warmup_linear.v1``, which gives the same rates step
        for step as transformers' ``get_linear_schedule_with_warmup``.
    beta1, beta2, eps: ``AdamW``'s ``betas`` and ``eps`` (added to ``sqrt(v_hat)``).
    weight_decay (float): decoupled weight decay, not applied to biases and normalisation
        weights (:func:`decay_parameter_names`).
    max_grad_norm (float): clip the global norm of each component's gradients (0: no clipping).
    fused (Optional[bool]): torch's fused ``AdamW`` kernel (the same update, rounded
        differently); null: as transformers 5's ``Trainer`` by default (fused from torch 2.8 on).
    """
    for name, value in (("weight_decay", weight_decay), ("max_grad_norm", max_grad_norm)):
        if isinstance(value, (int, float)) and value < 0:
            raise ValueError(
                f"[training.optimizer] {name} = {value}: must be >= 0 (spacy_task_pipes.AdamW.v1; "
                "the Trainer's defaults are weight_decay = 0.0, max_grad_norm = 1.0)."
            )
    return TorchAdamW(
        learn_rate,
        beta1=beta1,
        beta2=beta2,
        eps=eps,
        weight_decay=weight_decay,
        max_grad_norm=max_grad_norm,
        fused=fused,
    )
