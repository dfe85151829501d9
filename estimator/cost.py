"""Dollars, GPU-hours, energy and CO2 from a run's duration. Pure formulas, array-safe."""

from __future__ import annotations

from typing import TYPE_CHECKING

from estimator.num import Num, ceil, maximum
from estimator.units import SECONDS_PER_HOUR

if TYPE_CHECKING:
    from estimator.specs.hardware import HardwareSpec
    from estimator.specs.workload import EnergySpec


def steps_for_tokens(*, tokens: Num, tokens_per_step: Num) -> Num:
    """Optimizer steps to consume `tokens`: the last, partial step counts as a whole one (at least one)."""
    return maximum(1.0, ceil(tokens / tokens_per_step - 1e-9))


def gpu_hours(*, gpus: Num, seconds: Num) -> Num:
    """GPU-hours = n × T (accelerator-hours for TPUs and others)."""
    return gpus * seconds / SECONDS_PER_HOUR


def cost_usd(*, gpu_hours: Num, usd_per_gpu_hour: Num) -> Num:
    """Dollars = GPU-hours × price per GPU-hour (on-demand, reserved or spot: the price says which)."""
    return gpu_hours * usd_per_gpu_hour


def energy_kwh(*, gpu_hours: Num, board_power_w: Num, power_fraction: Num, pue: Num) -> Num:
    """Energy ≈ GPU-hours × board power × utilisation × PUE (Patterson et al. 2021 Sec. 2; Llama 2 model
    card)."""
    return gpu_hours * board_power_w / 1000.0 * power_fraction * pue


def board_power_w(hw: HardwareSpec, energy: EnergySpec) -> tuple[float, str]:
    """Average power of one accelerator in training and where it comes from: the scenario's fraction of
    TDP when given, else the profile's published measurement, else the TDP."""
    if energy.power_fraction_of_tdp is not None:
        return hw.tdp_w * energy.power_fraction_of_tdp, (
            f"TDP {hw.tdp_w:.0f} W × {energy.power_fraction_of_tdp} (the scenario's fraction)"
        )
    if hw.measured_power_w is not None:
        source = hw.sources.get("measured_power_w", "the profile")
        return hw.measured_power_w, f"measured average {hw.measured_power_w:.0f} W ({source})"
    return hw.tdp_w, f"TDP {hw.tdp_w:.0f} W (no published measurement for this accelerator)"


def co2_kg(*, energy_kwh: Num, kg_co2_per_kwh: Num) -> Num:
    """CO2e = energy × grid carbon intensity (Patterson et al. 2021 Sec. 2.5)."""
    return energy_kwh * kg_co2_per_kwh


def energy_cost_usd(*, energy_kwh: Num, usd_per_kwh: Num) -> Num:
    """Electricity bill = energy × price per kWh (for owned hardware; cloud GPU-hour prices include power)."""
    return energy_kwh * usd_per_kwh
