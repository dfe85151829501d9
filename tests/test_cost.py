"""Time, cost and energy against published totals."""

from __future__ import annotations

import pytest

from estimator.cost import co2_kg, energy_kwh, gpu_hours, steps_for_tokens
from estimator.schedule import pipeline_time_s
from estimator.training import estimate_training
from estimator.training.step import step_time
from estimator.units import SECONDS_PER_DAY
from tests.conftest import make_scenario


def test_gpt3_energy_and_carbon_patterson_table4() -> None:
    """Patterson et al. 2021 Table 4: 10,000 V100 × 14.8 days at 330 W measured, PUE 1.10 -> 1,287 MWh, 552.1
    t."""
    hours = gpu_hours(gpus=10_000, seconds=14.8 * SECONDS_PER_DAY)
    kwh = energy_kwh(gpu_hours=hours, board_power_w=300, power_fraction=330 / 300, pue=1.10)
    assert kwh / 1000 == pytest.approx(1287, rel=3e-3)
    assert co2_kg(energy_kwh=1287e3, kg_co2_per_kwh=0.429) / 1000 == pytest.approx(552.1, rel=1e-3)


@pytest.mark.parametrize("virtual_stages", [1, 2])
def test_gpt3_175b_on_1024_a100_out_of_sample(virtual_stages: int) -> None:
    """Narayanan et al. 2021 Sec. 5.1: GPT-3 175B, 1024 A100, batch 1536, 140 TFLOP/s (Eq. 3) = 31.47 s per
    iteration. Not in the validation set; the model is 8–11 % optimistic here (Calculon: 12 %), so the
    stated tolerance is 12 %."""
    sc = make_scenario(
        model="megatron-175b",
        precision="fp16-mixed",
        stack="megatron-lm-2021",
        parallelism={"zero_stage": 0, "virtual_stages": virtual_stages},
    )
    assert step_time(sc).total == pytest.approx(31.47, rel=0.12)


def test_bubble_and_steps() -> None:
    """Pipeline idle time is (p−1)/(v·m) of the ideal time (Narayanan et al. 2021 Sec. 2.2)."""
    for p, m, v in ((16, 192, 1), (8, 64, 3)):
        total = pipeline_time_s(stage_max_s=1.0, stage_mean_s=1.0, micro_batches=m, pp=p, virtual_stages=v)
        assert (total - m) / m == pytest.approx((p - 1) / (v * m))
    assert steps_for_tokens(tokens=300e9, tokens_per_step=1536 * 2048) == 95_368


def test_ranges_bracket_the_estimate() -> None:
    est = estimate_training(make_scenario())
    lo, hi = est.cost_usd_range or (0.0, 0.0)
    assert lo < (est.cost_usd or 0.0) < hi
    assert est.step_time_s_range[0] < est.step_time_s < est.step_time_s_range[1]


def test_profile_price_used_when_scenario_has_none() -> None:
    est = estimate_training(make_scenario(pricing={"usd_per_gpu_hour": None}))
    assert est.usd_per_gpu_hour == 2.79 and est.assumptions["price"]["date"] == "2026-09-20"
    unpriced = estimate_training(make_scenario(hardware="mi300x", pricing={"usd_per_gpu_hour": None}))
    assert unpriced.cost_usd is None and "pricing.usd_per_gpu_hour" in unpriced.assumptions["price"]["source"]


def test_energy_uses_measured_power_where_published() -> None:
    """GPT-3 on 10,000 V100 for 14.8 days: Patterson et al. 2021 measured 330 W per accelerator (TDP 300 W)
    and report 1,287 MWh at PUE 1.10; TDP × hours is 9 % under. The V100 profile carries the measurement;
    a scenario's explicit fraction of TDP still wins."""
    from estimator.cost import board_power_w
    from estimator.profiles import load_hardware
    from estimator.specs.workload import EnergySpec

    v100 = load_hardware("v100-sxm2-32gb")
    watts, source = board_power_w(v100, EnergySpec())
    assert watts == 330 and "Patterson" in source
    kwh = energy_kwh(
        gpu_hours=gpu_hours(gpus=10_000, seconds=14.8 * SECONDS_PER_DAY),
        board_power_w=watts,
        power_fraction=1.0,
        pue=1.10,
    )
    assert kwh / 1000 == pytest.approx(1287, rel=3e-3)
    assert board_power_w(v100, EnergySpec(power_fraction_of_tdp=1.0))[0] == 300
    assert "no published measurement" in board_power_w(load_hardware("h100-sxm-80gb"), EnergySpec())[1]
