"""Time, cost and energy against published totals."""

from __future__ import annotations

import pytest

from estimator.cost import co2_kg, energy_kwh, gpu_hours, steps_for_tokens
from estimator.timing import compute_time_s, pipeline_bubble_fraction
from estimator.training import estimate_training
from estimator.units import SECONDS_PER_DAY
from tests.conftest import make_scenario


def test_gpt3_energy_and_carbon_patterson_table4() -> None:
    """Patterson et al. 2021 Table 4: 10,000 V100 × 14.8 days at 330 W measured, PUE 1.10 -> 1,287 MWh, 552.1 t."""
    hours = gpu_hours(gpus=10_000, seconds=14.8 * SECONDS_PER_DAY)
    kwh = energy_kwh(gpu_hours=hours, board_power_w=300, power_fraction=330 / 300, pue=1.10)
    assert kwh / 1000 == pytest.approx(1287, rel=3e-3)
    assert co2_kg(energy_kwh=1287e3, kg_co2_per_kwh=0.429) / 1000 == pytest.approx(552.1, rel=1e-3)


def test_nanogpt_days() -> None:
    """Style anchors: 124M params, 300B tokens, 8 × A100 at 30 % MFU ≈ 3.46 days (6ND)."""
    seconds = compute_time_s(flops=6 * 124e6 * 300e9, peak_flops_per_s=8 * 312e12, efficiency=0.30)
    assert seconds / SECONDS_PER_DAY == pytest.approx(3.46, rel=5e-3)


def test_megatron_gpt3_days_at_140_tflops() -> None:
    """Narayanan et al. 2021: 1024 A100 at 140 TFLOP/s (Eq. 3 FLOPs) -> 34.7 days for 300B tokens (peers.md 6.1)."""
    sc = make_scenario(parallelism={"pp": 1, "tp": 8}, assumptions={
        "compute_efficiency": 140 / 312, "compute_efficiency_low": 0.3, "compute_efficiency_high": 0.6})
    est = estimate_training(sc)
    assert est.steps == 95_368
    assert est.train_time_s / SECONDS_PER_DAY == pytest.approx(34.7, rel=2e-3)
    assert est.hfu == pytest.approx(140 / 312, rel=1e-9)


def test_bubble_and_steps() -> None:
    assert pipeline_bubble_fraction(pp=16, micro_batches=192, virtual_stages=1) == pytest.approx(15 / 192)
    assert pipeline_bubble_fraction(pp=8, micro_batches=64, virtual_stages=3) == pytest.approx(7 / 192)
    assert steps_for_tokens(tokens=300e9, tokens_per_step=1536 * 2048) == 95_368


def test_ranges_bracket_the_estimate() -> None:
    est = estimate_training(make_scenario())
    lo, hi = est.cost_usd_range or (0.0, 0.0)
    assert lo < (est.cost_usd or 0.0) < hi
    assert est.step_time_s_range[0] < est.step_time_s < est.step_time_s_range[1]
    assert sum(est.time_breakdown_s.values()) == pytest.approx(est.step_time_s)


def test_profile_price_used_when_scenario_has_none() -> None:
    est = estimate_training(make_scenario(pricing={"usd_per_gpu_hour": None}))
    assert est.usd_per_gpu_hour == 2.79 and est.assumptions["price"]["date"] == "2026-09-20"
    unpriced = estimate_training(make_scenario(hardware="mi300x", pricing={"usd_per_gpu_hour": None}))
    assert unpriced.cost_usd is None and "pricing.usd_per_gpu_hour" in unpriced.assumptions["price"]["source"]
