"""Pipeline schedules: how m micro-batches flow through p stages, and what is idle.

Ref: Huang et al. 2019 (GPipe); Narayanan et al. 2019 (PipeDream-Flush / 1F1B); Narayanan et al. 2021
Sec. 2.2 (interleaved 1F1B with v model chunks per GPU, bubble (p−1)/(v·m)).
"""

from __future__ import annotations

from estimator.num import Num


def pipeline_time_s(
    *, stage_max_s: Num, stage_mean_s: Num, micro_batches: Num, pp: Num, virtual_stages: Num
) -> Num:
    """Time for m micro-batches through p stages: the slowest stage sets the steady state (m·t_max) and the
    fill and drain cost (p−1)/v stage-times of the average stage. GPipe, 1F1B and interleaved 1F1B share
    this form (they differ in memory, not in bubble, except interleaving's division by v)."""
    return micro_batches * stage_max_s + (pp - 1) / virtual_stages * stage_mean_s


def pipeline_p2p_count(*, virtual_stages: Num) -> Num:
    """Send/receive pairs on one GPU's critical path per micro-batch: one activation forward and one
    gradient backward per model chunk (v chunks when interleaved)."""
    return 2 * virtual_stages
