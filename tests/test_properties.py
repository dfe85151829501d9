"""Invariants of the model under random valid scenarios (hypothesis). ESTIMATOR_PROPERTY_EXAMPLES sets
how many scenarios each property draws (CI default 40)."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from estimator.columns import Columns
from estimator.errors import InputError
from estimator.results import TrainingEstimate
from estimator.roofline import resolve_efficiencies
from estimator.scenario_io import scenario_from_dict
from estimator.specs.scenario import Scenario
from estimator.training import estimate_training
from estimator.training.memory import memory_per_gpu
from estimator.training.step import step_time

EXAMPLES = int(os.environ.get("ESTIMATOR_PROPERTY_EXAMPLES", "40"))
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
MODELS = [
    "gpt2",
    "gpt3-xl",
    "bert-base",
    "t5-small",
    "llama2-7b",
    "llama3-8b",
    "mixtral-8x7b",
    "megatron-22b",
    "gpt3-175b",
]
HARDWARE = ["a100-sxm-80gb", "h100-sxm-80gb", "b200-sxm-180gb", "mi300x", "tpu-v5p", "l4", "gaudi3"]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """A random valid scenario (invalid draws are discarded by `assume`)."""
    model = draw(st.sampled_from(MODELS))
    tp, pp = draw(st.sampled_from([1, 2, 4, 8])), draw(st.sampled_from([1, 2, 4]))
    cp = draw(st.sampled_from([1, 1, 2]))
    dp = draw(st.sampled_from([1, 2, 4, 8]))
    mb = draw(st.sampled_from([1, 2, 4]))
    m = draw(st.integers(1, 8))
    ep = draw(st.sampled_from([1, 2])) if model == "mixtral-8x7b" else 1
    data: dict[str, Any] = {
        "model": model,
        "hardware": draw(st.sampled_from(HARDWARE)),
        "gpus": tp * pp * cp * dp,
        "parallelism": {
            "tp": tp,
            "pp": pp,
            "cp": cp,
            "ep": ep,
            "micro_batch": mb,
            "virtual_stages": draw(st.sampled_from([1, 2])) if pp > 1 else 1,
            "zero_stage": draw(st.integers(0, 3)),
            "recompute": draw(st.sampled_from(["none", "selective", "full"])),
            "sequence_parallel": draw(st.booleans()) and tp > 1,
        },
        "precision": draw(st.sampled_from(["bf16-mixed", "fp16-mixed", "fp32", "bf16"])),
        "training": {
            "tokens": draw(st.floats(1e6, 1e13)),
            "global_batch": mb * dp * m * pp,
            "seq_len": draw(st.sampled_from([128, 512, 2048])),
            "flash_attention": draw(st.booleans()),
        },
        "pricing": {"usd_per_gpu_hour": draw(st.floats(0.5, 20.0))},
    }
    try:
        return scenario_from_dict(data)
    except InputError:
        assume(False)
        raise


@SETTINGS
@given(sc=scenarios(), factor=st.floats(1.0001, 100.0))
def test_more_tokens_never_cost_less(sc: Scenario, factor: float) -> None:
    more = sc.model_copy(
        update={"training": sc.training.model_copy(update={"tokens": (sc.training.tokens or 1) * factor})}
    )
    a, b = estimate_training(sc), estimate_training(more)
    assert b.gpu_hours >= a.gpu_hours and b.train_time_s >= a.train_time_s and b.energy_kwh >= a.energy_kwh
    assert (a.cost_usd is None) == (b.cost_usd is None) == (not a.fits_in_memory)
    if a.cost_usd is not None and b.cost_usd is not None:
        assert b.cost_usd >= a.cost_usd


@SETTINGS
@given(sc=scenarios())
def test_doubling_peak_never_slows_a_step(sc: Scenario) -> None:
    eff = resolve_efficiencies(sc.hardware, sc.precision_policy.compute_dtype)
    faster = dataclasses.replace(
        eff,
        peak_flops_per_s=2 * eff.peak_flops_per_s,
        gemm_half_flops=2 * eff.gemm_half_flops,
        attention_half_flops=2 * eff.attention_half_flops,
    )
    assert step_time(sc, faster).total <= step_time(sc, eff).total * (1 + 1e-12)


def _with(sc: Scenario, **par: Any) -> Scenario | None:
    try:
        return scenario_from_dict(
            {**sc.model_dump(mode="json"), "parallelism": {**sc.parallelism.model_dump(mode="json"), **par}}
        )
    except InputError:
        return None


@SETTINGS
@given(sc=scenarios())
def test_memory_saving_options_never_raise_what_they_shard(sc: Scenario) -> None:
    base = memory_per_gpu(sc)
    order = ["none", "selective", "full"]
    for rc in order[order.index(sc.parallelism.recompute) + 1 :]:
        other = _with(sc, recompute=rc)
        if other is not None:
            assert memory_per_gpu(other).activations <= base.activations * (1 + 1e-12)
    if sc.parallelism.effective_zero_stage < 3:
        other = _with(sc, zero_stage=sc.parallelism.effective_zero_stage + 1, fsdp=False)
        if other is not None:
            o = memory_per_gpu(other)
            assert (
                o.weights + o.gradients + o.optimizer <= base.weights + base.gradients + base.optimizer + 1e-6
            )


@SETTINGS
@given(sc=scenarios())
def test_physical_invariants(sc: Scenario) -> None:
    """Invariants that hold for any correct model and fail for many wrong ones: no FLOP runs faster than the
    best GEMM efficiency allows, and the GPUs together hold every byte of model state at least once."""
    e = estimate_training(sc)
    eff = resolve_efficiencies(sc.hardware, sc.precision_policy.compute_dtype)
    assert 0 < e.mfu <= e.hfu <= eff.gemm_max * (1 + 1e-9)
    assert e.flops_hardware_per_step >= e.flops_model_per_step > 0
    assert e.step_time_s_range[0] <= e.step_time_s <= e.step_time_s_range[1]
    mem = e.memory_per_gpu_bytes
    prec = sc.precision_policy
    from estimator.specs.precision import OPTIMIZERS, optimizer_bytes_per_param

    per_param = (
        prec.weight_bytes
        + prec.grad_bytes
        + optimizer_bytes_per_param(prec, OPTIMIZERS[sc.training.optimizer])
    )
    held = (mem["weights"] + mem["gradients"] + mem["optimizer"]) * sc.gpus  # the worst stage, on every GPU
    assert held >= per_param * e.params_total * (1 - 1e-9)


@SETTINGS
@given(sc=scenarios())
def test_vectorised_path_equals_scalar(sc: Scenario) -> None:
    c = Columns.from_scenario(sc)
    arrays = Columns(**{k: np.asarray([v, v]) for k, v in c.__dict__.items()})
    assert np.allclose(step_time(sc, None, arrays).total, step_time(sc).total, rtol=1e-12)
    assert np.allclose(memory_per_gpu(sc, arrays).total, memory_per_gpu(sc).total, rtol=1e-12)


@SETTINGS
@given(sc=scenarios())
def test_units_round_trip_through_json(sc: Scenario) -> None:
    e = estimate_training(sc)
    again = TrainingEstimate.from_json_dict(json.loads(json.dumps(e.to_json_dict())))
    assert again == e
    assert scenario_from_dict(json.loads(sc.model_dump_json())) == sc
