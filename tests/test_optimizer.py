"""``spacy_task_pipes.AdamW.v1`` against the Hugging Face ``Trainer``'s update (issue #22): torch's
``AdamW`` with the Trainer's decay groups, global-norm clipping and the linear warm-up/decay
schedule, on a deep copy of the same model with the same gradients."""

from __future__ import annotations

import copy

import numpy
import pytest
import spacy
import torch
from thinc.api import Adam, Linear, warmup_linear

from conftest import ROOT
from spacy_task_pipes.hf import HFObjects, TorchAdamW, create_hf_task_layer, decay_parameter_names

N_STEPS = 8
WARMUP, TOTAL, LR = 2, 10, 1e-2


def tiny_bert(seed: int = 0):
    from transformers import BertConfig, BertForQuestionAnswering

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=60, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=32, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    return BertForQuestionAnswering(config)


def wrap(model):
    """The thinc layer of the QA architecture around ``model`` (no tokenizer needed here)."""
    layer = create_hf_task_layer("tiny", tokenizer_config={}, transformer_config={},
                                 output_names=("start_logits", "end_logits"))
    layer.shims[0].set_hf_objects(HFObjects(None, model, {}, {}))
    return layer


def adamw(**kwargs) -> TorchAdamW:
    return spacy.util.registry.optimizers.get("spacy_task_pipes.AdamW.v1")(**kwargs)


def trainer_optimizer(model, weight_decay: float, lr: float = LR):
    """What ``Trainer.create_optimizer`` builds: two groups by ``get_decay_parameter_names``."""
    from transformers import Trainer

    decay = set(Trainer.get_decay_parameter_names(None, model))
    groups = [
        {"params": [p for n, p in model.named_parameters() if n in decay and p.requires_grad],
         "weight_decay": weight_decay},
        {"params": [p for n, p in model.named_parameters() if n not in decay and p.requires_grad],
         "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8,
                             fused=True if adamw().fused else None)


def batches(n: int, seed: int = 0):
    """(inputs, d_start, d_end) per step: random ids and output gradients large enough that
    the global norm is clipped on some steps and not on others."""
    rng = numpy.random.default_rng(seed)
    for step in range(n):
        X = {"input_ids": rng.integers(1, 60, size=(3, 8)).astype("int64"),
             "attention_mask": numpy.ones((3, 8), dtype="int64")}
        scale = 10.0 if step % 2 else 0.01
        yield X, (rng.standard_normal((3, 8)) * scale).astype("float32"), \
            (rng.standard_normal((3, 8)) * scale).astype("float32")


def assert_same_parameters(model_a, model_b, atol=1e-7, rtol=1e-6):
    a, b = dict(model_a.named_parameters()), dict(model_b.named_parameters())
    assert a.keys() == b.keys()
    bad = [n for n in a if not torch.allclose(a[n], b[n], atol=atol, rtol=rtol)]
    assert bad == []


def test_steps_equal_torch_adamw_with_the_trainers_clipping_groups_and_schedule():
    from transformers import get_linear_schedule_with_warmup

    model = tiny_bert()
    reference = copy.deepcopy(model)
    start = copy.deepcopy(model)
    layer = wrap(model)
    optimizer = adamw(learn_rate=warmup_linear(LR, WARMUP, TOTAL), weight_decay=0.1, max_grad_norm=0.5)
    ref_opt = trainer_optimizer(reference, weight_decay=0.1)
    schedule = get_linear_schedule_with_warmup(ref_opt, WARMUP, TOTAL)
    clipped = 0
    for X, d_start, d_end in batches(N_STEPS):
        (_, _), backprop = layer.begin_update(X)
        backprop((d_start, d_end))
        layer.finish_update(optimizer)
        optimizer.step_schedules()

        reference.train()
        out = reference(**{k: torch.from_numpy(v) for k, v in X.items()})
        torch.autograd.backward((out.start_logits, out.end_logits),
                                (torch.from_numpy(d_start), torch.from_numpy(d_end)))
        clipped += float(torch.nn.utils.clip_grad_norm_(reference.parameters(), 0.5)) > 0.5
        ref_opt.step()
        schedule.step()
        ref_opt.zero_grad()
        assert optimizer.learn_rate == pytest.approx(schedule.get_last_lr()[0], abs=1e-12)
    assert 0 < clipped < N_STEPS  # both regimes ran
    assert_same_parameters(model, reference)
    # the run moved the weights (the warm-up starts at 0: step 0 changes nothing)
    moved = [n for n, p in model.named_parameters() if not torch.equal(p, dict(start.named_parameters())[n])]
    assert len(moved) == len(list(model.parameters()))
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())  # zeroed


def test_biases_and_layer_norm_weights_are_not_decayed():
    from transformers import Trainer

    model = tiny_bert()
    names = decay_parameter_names(model)
    assert names == Trainer.get_decay_parameter_names(None, model)
    assert not [n for n in names if "bias" in n or "LayerNorm" in n]
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    layer = wrap(model)
    for p in model.parameters():  # zero gradients: only the weight decay moves a weight
        p.grad = torch.zeros_like(p)
    layer.finish_update(adamw(learn_rate=0.1, weight_decay=0.5))
    for n, p in model.named_parameters():
        if n in names:
            assert torch.allclose(p, before[n] * (1 - 0.1 * 0.5)), n
        else:
            assert torch.equal(p, before[n]), n
    assert "qa_outputs.bias" not in names and "qa_outputs.weight" in names
    assert "bert.embeddings.LayerNorm.weight" not in names


def test_t5_layer_norm_weights_are_not_decayed():
    from transformers import T5Config, T5ForConditionalGeneration

    model = T5ForConditionalGeneration(T5Config(vocab_size=40, d_model=8, d_kv=4, d_ff=16, num_layers=1,
                                                num_decoder_layers=1, num_heads=2))
    names = set(decay_parameter_names(model))
    norms = [n for n, _ in model.named_parameters() if "layer_norm" in n]
    assert norms and not names & set(norms)
    assert "encoder.block.0.layer.0.SelfAttention.q.weight" in names


def _step_with_grads(model, optimizer, grads):
    for p, g in zip(model.parameters(), grads):
        p.grad = g.clone()
    optimizer(model)


def test_clipping_is_global_over_the_components_parameters():
    """Every tensor's gradient norm is below max_grad_norm, their global norm is not: the
    Trainer (and ours) clip, thinc's per-tensor grad_clip does not."""
    model = tiny_bert()
    params = list(model.parameters())
    rng = torch.Generator().manual_seed(0)
    steps = []
    for scale in (0.3, 0.01, 0.3):  # per-tensor norm 0.3, then 0.01: only global clipping acts
        grads = [torch.randn(p.shape, generator=rng) for p in params]
        steps.append([g * (scale / g.norm()) for g in grads])
    assert all(g.norm() < 1.0 for g in steps[0]) and torch.stack([g.norm() for g in steps[0]]).norm() > 1.0

    ours = copy.deepcopy(model)
    layer = wrap(ours)
    optimizer = adamw(learn_rate=0.01, max_grad_norm=1.0)
    for grads in steps:
        _step_with_grads(ours, lambda m: layer.finish_update(optimizer), grads)

    def torch_run(clip_global: bool):
        m = copy.deepcopy(model)
        opt = torch.optim.AdamW(m.parameters(), lr=0.01, weight_decay=0.0, fused=True if optimizer.fused else None)

        def step(module):
            if clip_global:
                torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            opt.step()
            opt.zero_grad()

        for grads in steps:
            _step_with_grads(m, step, grads)
        return m

    assert_same_parameters(ours, torch_run(clip_global=True))
    unclipped = torch_run(clip_global=False)  # = per-tensor clipping: no tensor is over 1.0
    diff = max(float((a - b).detach().abs().max()) for a, b in zip(ours.parameters(), unclipped.parameters()))
    assert diff > 1e-4

    thinc_model = copy.deepcopy(model)
    thinc_layer = wrap(thinc_model)
    thinc_adam = Adam(0.01, grad_clip=1.0, L2=0.0, use_averages=False)
    for grads in steps:
        _step_with_grads(thinc_model, lambda m: thinc_layer.finish_update(thinc_adam), grads)
    diff = max(float((a - b).detach().abs().max()) for a, b in zip(ours.parameters(), thinc_model.parameters()))
    assert diff > 1e-4


def test_thinc_parameters_get_thincs_adam():
    """A thinc layer's own parameters (not torch's) are updated as thinc's Adam.v1 would."""
    layers = [Linear(3, 2).initialize(), Linear(3, 2).initialize()]
    layers[1].set_param("W", layers[0].get_param("W").copy())
    layers[1].set_param("b", layers[0].get_param("b").copy())
    start = layers[0].get_param("W").copy()
    rng = numpy.random.default_rng(0)
    optimizers = [adamw(learn_rate=0.1, weight_decay=0.01, max_grad_norm=1.0),
                  Adam(0.1, L2=0.01, grad_clip=1.0, use_averages=False)]
    for _ in range(3):
        dW = rng.standard_normal((3, 2)).astype("float32")
        for layer, opt in zip(layers, optimizers):
            layer.inc_grad("W", dW.copy())
            layer.inc_grad("b", dW[:, 0].copy())
            layer.finish_update(opt)
    assert numpy.allclose(layers[0].get_param("W"), layers[1].get_param("W"))
    assert numpy.allclose(layers[0].get_param("b"), layers[1].get_param("b"))
    assert not numpy.allclose(layers[0].get_param("W"), start)


def test_the_seq2seq_and_qa_configs_use_it():
    for name in ("qa", "translate", "summarize"):
        config = spacy.util.load_config(ROOT / "configs" / f"{name}.cfg")
        opt = config["training"]["optimizer"]
        assert opt["@optimizers"] == "spacy_task_pipes.AdamW.v1", name
        assert opt["weight_decay"] == 0.01 and opt["max_grad_norm"] == 1.0 and opt["eps"] == 1e-8
        assert opt["learn_rate"]["@schedules"] == "warmup_linear.v1"
        resolved = spacy.util.registry.resolve({"optimizer": opt})["optimizer"]
        assert isinstance(resolved, TorchAdamW) and resolved.weight_decay == 0.01


def test_negative_settings_name_the_setting():
    with pytest.raises(ValueError, match="max_grad_norm = -1"):
        adamw(max_grad_norm=-1.0)


def test_gradients_of_several_backprops_are_unscaled_once(monkeypatch):
    """With the grad scaler on (fp16), a step run in chunks (as the components do) accumulates
    the same gradients as without it. thinc scales only CUDA tensors: the scaling is emulated on
    the CPU here, the unscaling is thinc's own."""
    from thinc.shims import pytorch_grad_scaler

    def scale_on_any_device(self, tensor, scale_per_device, inplace):
        scale = self._scale.to(tensor.device)
        return tensor.mul_(scale) if inplace else tensor * scale

    monkeypatch.setattr(pytorch_grad_scaler.PyTorchGradScaler, "_scale_tensor", scale_on_any_device)

    def gradients(scaler_on: bool):
        model = tiny_bert()
        layer = wrap(model)
        layer.shims[0]._grad_scaler = pytorch_grad_scaler.PyTorchGradScaler(enabled=scaler_on, init_scale=2.0 ** 10)
        for X, d_start, d_end in batches(3):
            (_, _), backprop = layer.begin_update(X)
            backprop((d_start, d_end))
        assert not layer.shims[0]._grad_scaler.found_inf
        return [p.grad.clone() for p in model.parameters()]

    for plain, scaled in zip(gradients(False), gradients(True)):
        assert torch.allclose(plain, scaled, rtol=1e-5, atol=1e-7)
