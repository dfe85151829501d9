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
    """In sample (the shipped serving calibration), over the measurements within their physical bound:
    throughput median 2.9 % / max 27.5 %, TTFT 4.2 % / 16.8 % (2026-12-02; the issue's bar: median 8 %,
    max 30 %). Leave-one-model-out (README) is far wider for Mixtral: the MoE GEMM share is learnt from
    Mixtral rows only."""
    rows = sv.validate_serving(cv=False)
    groups = sv.serving_summaries(rows)
    for metric in ("throughput", "ttft"):
        assert groups[metric]["in_sample"]["median_abs_error"] <= 0.08
        assert groups[metric]["in_sample"]["max_abs_error"] <= 0.30
    assert groups["throughput"]["in_sample"]["runs"] == 22  # one measurement is beyond its bound


def test_a_measurement_beyond_its_physical_bound_is_named_and_left_out() -> None:
    """Mixtral 8x7B on two A100-80GB at batch 32, 2048+2048 tokens, fp16: the published 801 tokens/s/GPU
    needs every decode step to read the 46.7 GB of expert weights (each of the 8 experts is touched by 64
    routed tokens) faster than the A100's 2.04 TB/s allows: 1.43× the bound. No other row is beyond its
    bound, and the bound is above what the fitted calibration predicts for every row (it is a bound)."""
    beyond = {r.id: sv.beyond_bound(r) for r in sv.serving_runs()}
    flagged = {k: v for k, v in beyond.items() if v is not None}
    assert list(flagged) == ["trt090-a100-mixtral-tp2-b32-2048-2048"]
    assert flagged["trt090-a100-mixtral-tp2-b32-2048-2048"] == pytest.approx(1.43, abs=0.02)
    assert "trt090-a100-mixtral-tp2-b32-2048-2048" not in {r.id for r in sv.consistent_runs()}
    for r in sv.serving_runs():
        bound, fitted = sv.physical_bound(r), float(sv.predict(r))
        assert (bound >= fitted) if r.metric == "throughput" else (bound <= fitted), r.id


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


def test_kv_share_is_fitted_apart_only_where_the_rows_separate_it() -> None:
    """Hopper's rows separate the KV cache's HBM share from the weights' (neither at a bound); the A100's
    do not (fitted apart they run to the bounds), so one share serves both there."""
    a100 = load_hardware("a100-sxm-80gb").calibration.serving  # type: ignore[union-attr]
    hopper = load_hardware("h100-sxm-80gb").calibration.serving  # type: ignore[union-attr]
    assert a100 is not None and hopper is not None
    assert a100.kv_bandwidth_efficiency == a100.memory_bandwidth_efficiency
    assert hopper.kv_bandwidth_efficiency != hopper.memory_bandwidth_efficiency
    for cal in (a100, hopper):
        for share in (cal.memory_bandwidth_efficiency, cal.kv_bandwidth_efficiency):
            assert not sv._at_bound(share, sv.BOUNDS["memory"])  # type: ignore[arg-type]
