"""Step time, first order: hardware FLOPs at an explicit efficiency of the peak, plus the pipeline bubble.

This is the simple model the time-model issue refines (per-operation rooflines, communication);
its one assumption, the achieved fraction of peak, is printed with every result.
"""

from __future__ import annotations

from typing import Any

Num = Any


def compute_time_s(*, flops: Num, peak_flops_per_s: Num, efficiency: Num) -> Num:
    """Time to execute `flops` at `efficiency` × peak (the roofline's compute side, Williams et al. 2009)."""
    return flops / (peak_flops_per_s * efficiency)


def pipeline_bubble_fraction(*, pp: Num, micro_batches: Num, virtual_stages: Num) -> Num:
    """Idle fraction of the ideal step time: (p − 1)/(v·m) (Narayanan et al. 2021, Sec. 2.2.1–2.2.2).

    GPipe and 1F1B have the same bubble (v = 1); interleaving v model chunks per GPU divides it by v.
    """
    return (pp - 1) / (virtual_stages * micro_batches)
