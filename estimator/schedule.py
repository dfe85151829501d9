"""Pipeline schedules: how m micro-batches flow through p stages, and what is idle.

Ref: Huang et al. 2019 (GPipe); Narayanan et al. 2019 (PipeDream-Flush / 1F1B); Narayanan et al. 2021
Sec. 2.2 (interleaved 1F1B with v model chunks per GPU, bubble (p−1)/(v·m)); DeepSeek-AI 2024,
DeepSeek-V3 Sec. 3.2.1 and Table 2 (DualPipe: bubble (p/2 − 1)·(F&B + B − 3W)).
"""

from __future__ import annotations

from estimator.num import Num, maximum, minimum


def pipeline_time_s(
    *, stage_max_s: Num, stage_mean_s: Num, micro_batches: Num, pp: Num, virtual_stages: Num
) -> Num:
    """Time for m micro-batches through p stages: the slowest stage sets the steady state (m·t_max) and the
    fill and drain cost (p−1)/v stage-times of the average stage. GPipe, 1F1B and interleaved 1F1B share
    this form (they differ in memory, not in bubble, except interleaving's division by v)."""
    return micro_batches * stage_max_s + (pp - 1) / virtual_stages * stage_mean_s


# DualPipe's idle time relative to 1F1B's, per stage-time: (F&B + B − 3W) / (F + B) with an overlapped
# forward-and-backward chunk F&B = F + B, backward B = 2F and weight gradients W = B/2 (half of backward):
# (3F + 2F − 3F) / 3F = 2/3
DUALPIPE_BUBBLE_PER_STAGE = 2.0 / 3.0


def dualpipe_time_s(*, stage_max_s: Num, stage_mean_s: Num, micro_batches: Num, pp: Num) -> Num:
    """DualPipe (DeepSeek-V3 Table 2): micro-batches fed from both ends of the pipeline, each forward chunk
    overlapped with a backward chunk; the bubble is (p/2 − 1) stage-times at DUALPIPE_BUBBLE_PER_STAGE of a
    1F1B stage-time."""
    return micro_batches * stage_max_s + (pp / 2 - 1) * DUALPIPE_BUBBLE_PER_STAGE * stage_mean_s * (pp > 2)


def unpaired_share(*, schedule: str, pp: Num, micro_batches: Num) -> Num:
    """Share of micro-batches whose chunks find no other micro-batch's chunk to overlap with: the warm-up and
    drain of 1F1B ((p − 1) of m; none without a pipeline when m ≥ 2), half of that for DualPipe, whose two
    directions fill each other's warm-up."""
    warm = (pp - 1) / 2 if schedule == "dualpipe" else pp - 1
    return minimum(1.0, maximum(warm, micro_batches < 2) / micro_batches)
