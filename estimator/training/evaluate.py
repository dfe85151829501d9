"""One composition for one configuration and for a grid of them: FLOPs from the ledger, step time, memory,
MFU/HFU, steps, days, GPU-hours, price, cost, energy and CO2, and the range. `estimate_training` calls it
with scalars, the planner with numpy columns, so the two cannot drift apart (tests hold every plan's row
equal to `estimator train` of that plan's scenario)."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

from estimator.columns import Columns
from estimator.cost import board_power_w, co2_kg, cost_usd, energy_kwh, gpu_hours, steps_for_tokens
from estimator.ledger.account import (
    RECOMPUTE_NAMES,
    executed_flops,
    model_flops,
    over_stage,
    recompute_flops,
)
from estimator.ledger.model import SampleShape, StageOps, sample_ops
from estimator.ledger.work import Work
from estimator.num import Num, choose
from estimator.roofline import Efficiencies, resolve_efficiencies
from estimator.specs.model import ModelSpec
from estimator.specs.scenario import Scenario
from estimator.specs.workload import FinetuneSpec
from estimator.training.memory import MemoryBreakdown, memory_per_gpu
from estimator.training.shape import counted_causal_fraction, executed_causal_fraction, sequence_shape
from estimator.training.step import StepTime, stage_ledgers, step_time
from estimator.uncertainty import step_time_range
from estimator.units import SECONDS_PER_DAY


def sample_ledger(sc: Scenario, *, executed: bool) -> StageOps:
    """The whole model's ops for one training sample, with causal attention as the kernel runs it
    (`executed`) or as the counting convention says."""
    frac = executed_causal_fraction(sc.training.flash_attention) if executed else counted_causal_fraction(sc)
    return _sample_ledger(
        sc.model,
        sequence_shape(sc),
        frac,
        sc.precision_policy.activation_bytes,
        sc.training.flash_attention,
        sc.finetune,
    )


@functools.lru_cache(maxsize=64)
def _sample_ledger(
    model: ModelSpec,
    shape: SampleShape,
    frac: float,
    act_bytes: float,
    flash: bool,
    finetune: FinetuneSpec | None,
) -> StageOps:
    base = Work(batch=1, q_len=1.0, kv_len=1.0, act_bytes=act_bytes, flash=flash, finetune=finetune)
    return sample_ops(model, shape, causal_fraction=frac, base=base)


@dataclass(frozen=True)
class SampleFlops:
    """FLOPs of one training sample (forward + backward): model (matmuls, no recomputation) and hardware
    (what the kernels execute, recomputation included)."""

    model: float
    hardware: float


def sample_flops(sc: Scenario, recompute: str, *, executed: bool) -> SampleFlops:
    """Per-sample FLOPs of `sc` under the recomputation policy `recompute`."""
    ledger = sample_ledger(sc, executed=executed)
    hardware = over_stage(ledger, executed_flops) + sum(
        count * recompute_flops(ops, recompute) for count, ops in ledger.layers
    )
    return SampleFlops(model=float(over_stage(ledger, model_flops)), hardware=float(hardware))


def price_per_gpu_hour(sc: Scenario) -> tuple[float | None, dict[str, Any]]:
    """The scenario's price, else its hardware profile's first (dated, sourced) price, and where it came
    from."""
    if sc.pricing.usd_per_gpu_hour is not None:
        return sc.pricing.usd_per_gpu_hour, {
            "usd_per_gpu_hour": sc.pricing.usd_per_gpu_hour,
            "source": "scenario",
        }
    price = sc.hardware.default_price
    if price is None:
        return None, {
            "usd_per_gpu_hour": None,
            "source": f"no price in profile {sc.hardware.name!r}: set pricing.usd_per_gpu_hour",
        }
    return price.usd_per_gpu_hour, {
        "usd_per_gpu_hour": price.usd_per_gpu_hour,
        "provider": price.provider,
        "kind": price.kind,
        "date": price.date,
        "source": price.source,
    }


@dataclass(frozen=True)
class TrainingColumns:
    """Every per-configuration figure of a training estimate (scalars, or arrays over a grid)."""

    step: StepTime
    memory: MemoryBreakdown
    step_s: Num
    step_s_low: Num
    step_s_high: Num
    range_note: str
    flops_model_per_step: Num  # by the counting convention
    flops_hardware_per_step: Num
    mfu: Num  # FLOPs the kernels execute (never above 1)
    hfu: Num
    tokens_per_step: Num
    steps: Num
    train_s: Num
    gpu_hours: Num
    gpu_hours_low: Num
    gpu_hours_high: Num
    usd_per_gpu_hour: float  # NaN without a price
    price_info: dict[str, Any]
    cost_usd: Num
    cost_usd_low: Num
    cost_usd_high: Num
    energy_kwh: Num
    co2_kg: Num

    @property
    def train_days(self) -> Num:
        return self.train_s / SECONDS_PER_DAY


def evaluate(
    sc: Scenario, columns: Columns | None = None, efficiencies: Efficiencies | None = None
) -> TrainingColumns:
    """Evaluate `sc` (or the grid `columns` laid over it) end to end."""
    c = columns or Columns.from_scenario(sc)
    eff = efficiencies or resolve_efficiencies(sc.hardware, sc.precision_policy.compute_dtype)
    ledgers = stage_ledgers(sc, c)
    st = step_time(sc, eff, c, ledgers)
    mem = memory_per_gpu(sc, c, ledgers)
    step_s = st.total
    low, high, note = step_time_range(step_s, sc, c.cp)
    codes = RECOMPUTE_NAMES
    counted = [sample_flops(sc, r, executed=False) for r in codes]
    run = [sample_flops(sc, r, executed=True) for r in codes]

    def by_code(values: list[float]) -> Num:
        """Per recompute code; block-method full recomputation repeats only its share of the layers."""
        full = values[0] + c.recompute_share * (values[2] - values[0])
        return choose(c.recompute, [values[0], values[1], full, *values[3:]])

    batch = c.global_batch
    peak_s = step_s * c.gpus * eff.peak_flops_per_s
    tokens_per_step = c.global_batch * sc.training.seq_len
    steps = steps_for_tokens(tokens=sc.tokens, tokens_per_step=tokens_per_step)
    train_s = steps * step_s
    hours = gpu_hours(gpus=c.gpus, seconds=train_s)
    price, info = price_per_gpu_hour(sc)
    usd = math.nan if price is None else price
    kwh = energy_kwh(
        gpu_hours=hours,
        board_power_w=board_power_w(sc.hardware, sc.energy)[0],
        power_fraction=1.0,
        pue=sc.energy.pue,
    )
    hours_low, hours_high = (
        gpu_hours(gpus=c.gpus, seconds=steps * low),
        gpu_hours(gpus=c.gpus, seconds=steps * high),
    )
    return TrainingColumns(
        step=st,
        memory=mem,
        step_s=step_s,
        step_s_low=low,
        step_s_high=high,
        range_note=note,
        flops_model_per_step=batch * counted[0].model,
        flops_hardware_per_step=batch * by_code([f.hardware for f in counted]),
        mfu=batch * run[0].model / peak_s,
        hfu=batch * by_code([f.hardware for f in run]) / peak_s,
        tokens_per_step=tokens_per_step,
        steps=steps,
        train_s=train_s,
        gpu_hours=hours,
        gpu_hours_low=hours_low,
        gpu_hours_high=hours_high,
        usd_per_gpu_hour=usd,
        price_info=info,
        cost_usd=cost_usd(gpu_hours=hours, usd_per_gpu_hour=usd),
        cost_usd_low=cost_usd(gpu_hours=hours_low, usd_per_gpu_hour=usd),
        cost_usd_high=cost_usd(gpu_hours=hours_high, usd_per_gpu_hour=usd),
        energy_kwh=kwh,
        co2_kg=co2_kg(energy_kwh=kwh, kg_co2_per_kwh=sc.energy.kg_co2_per_kwh),
    )
