"""The serving model against TensorRT-LLM 0.9.0's published tables (35 measurements)."""

from __future__ import annotations

import pytest

from estimator import serving_validation as sv
from estimator.profiles import load_hardware


def test_every_measurement_is_a_scenario() -> None:
    runs = sv.serving_runs()
    assert len(runs) == 35
    assert {r.metric for r in runs} == {"throughput", "ttft"}
    assert {r.generation for r in runs} == {"ampere", "hopper"}


def test_in_sample_accuracy_per_metric() -> None:
    """In sample (the shipped serving calibration): throughput median 2.3 %, TTFT 6.1 % (2026-12-02). The
    worst throughput row is Mixtral 8x7B on two A100s at batch 32, 2048+2048 tokens: its published 801
    tokens/s/GPU needs 2.3 TB/s of fp16 expert weights per GPU, above the A100's 2.04 TB/s, so no
    roofline reproduces it. Leave-one-model-out (README) is far wider for Mixtral: the MoE GEMM share is
    learnt from Mixtral rows only."""
    groups = sv.serving_summaries(sv.validate_serving(cv=False))
    assert groups["throughput"]["in_sample"]["median_abs_error"] <= 0.08
    assert groups["ttft"]["in_sample"]["median_abs_error"] <= 0.08
    dense = [r for r in sv.validate_serving(cv=False) if "Mixtral" not in r.model]
    assert max(abs(r.error) for r in dense) <= 0.30


def test_shipped_serving_calibration_equals_a_fresh_fit() -> None:
    for name, block in sv.serving_blocks().items():
        shipped = load_hardware(name).calibration.serving  # type: ignore[union-attr]
        assert shipped is not None, name
        for key in (
            "sustained",
            "memory_bandwidth_efficiency",
            "step_overhead_s",
            "prefill_overhead_s",
            "moe_gemm_share",
            "kv_bandwidth_efficiency",
        ):
            assert getattr(shipped, key) == pytest.approx(getattr(block, key), abs=1e-9), (name, key)
        assert shipped.residuals == pytest.approx(block.residuals, abs=1e-9)
        assert shipped.command == "estimator validate --serving --write"


def test_decode_on_hopper_streams_below_the_training_default() -> None:
    """The issue's observation, recovered by the fit: small-batch decode on H100/H200 reaches well under
    the 80 % of HBM bandwidth streaming kernels reach (scheduler, sampling, launches between kernels)."""
    hopper = load_hardware("h100-sxm-80gb").calibration.serving  # type: ignore[union-attr]
    assert hopper is not None and hopper.memory_bandwidth_efficiency < 0.75
