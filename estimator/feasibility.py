"""One rule for configurations that do not fit in memory, applied everywhere (CLI, JSON, reports, dashboard):
they get no price, a statement of by how much they miss, and the smallest single changes that make them fit.

Each suggestion is a real, re-validated scenario whose memory the estimator computed; nothing is guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from estimator.errors import InputError
from estimator.units import fmt_bytes

NOT_PRICED = "not priced: the configuration does not fit in memory"


def shortfall_bytes(*, total_bytes: float, capacity_bytes: float) -> float:
    """Bytes over capacity (0 when it fits)."""
    return max(0.0, total_bytes - capacity_bytes)


def _training_changes(data: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Single changes to a training scenario mapping, smallest first: recomputation, ZeRO, sequence
    parallelism, micro-batch 1, more tensor or pipeline parallelism, more GPUs (data parallelism)."""
    par = dict(data.get("parallelism") or {})
    gpus = int(data["gpus"])

    def with_par(**kw: Any) -> dict[str, Any]:
        return {**data, "parallelism": {**par, **kw}}

    if par.get("recompute", "none") != "full":
        yield "recompute: full", with_par(recompute="full")
    for stage in (1, 2, 3):
        if int(par.get("zero_stage", 0)) < stage and not par.get("fsdp"):
            yield f"zero_stage: {stage}", with_par(zero_stage=stage)
    tp = int(par.get("tp", 1))
    if tp > 1 and not par.get("sequence_parallel"):
        yield "sequence_parallel: true", with_par(sequence_parallel=True)
    if int(par.get("micro_batch", 1)) > 1:
        yield "micro_batch: 1", with_par(micro_batch=1)
    hw = data.get("hardware")
    max_tp = int(hw.get("gpus_per_node", 8)) if isinstance(hw, dict) else 8  # tp stays inside a node
    for key in ("tp", "pp"):
        value = int(par.get(key, 1))
        for factor in (2, 4):
            if key == "tp" and value * factor > max_tp:
                continue
            yield (
                f"{key}: {value * factor} (on {gpus * factor} GPUs)",
                {**with_par(**{key: value * factor}), "gpus": gpus * factor},
            )
    for factor in (2, 4):
        yield (
            f"gpus: {gpus * factor} (more data parallelism for ZeRO to shard over)",
            {**data, "gpus": gpus * factor},
        )


def _evaluate(
    candidates: Iterator[tuple[str, dict[str, Any]]],
    memory_total: Callable[[dict[str, Any]], tuple[float, float]],
) -> list[tuple[float, float, str, dict[str, Any]]]:
    out = []
    for label, candidate in candidates:
        try:
            total, capacity = memory_total(candidate)
        except InputError:
            continue
        out.append((total, capacity, label, candidate))
    return out


def fit_suggestions(
    data: dict[str, Any],
    memory_total: Callable[[dict[str, Any]], tuple[float, float]],
    limit: int = 3,
    rounds: int = 6,
) -> list[str]:
    """Up to `limit` single changes to the scenario mapping `data` after which it fits, each with its
    memory per GPU; if no single change is enough, the combination found by applying, `rounds` times at
    most, the change that saves the most memory. `memory_total(mapping)` returns (bytes per GPU,
    capacity) or raises InputError for a layout that is not valid."""
    tried = _evaluate(_training_changes(data), memory_total)
    fitting = [(t, c, label) for t, c, label, _ in tried if t <= c]
    if fitting:
        return [f"{label} → {fmt_bytes(t)} per GPU of {fmt_bytes(c)}" for t, c, label in fitting[:limit]]
    steps: list[str] = []
    current = data
    for _ in range(rounds):
        options = _evaluate(_training_changes(current), memory_total)
        if not options:
            break
        total, capacity, label, current = min(options, key=lambda o: o[0])
        steps.append(label)
        if total <= capacity:
            return [" + ".join(steps) + f" → {fmt_bytes(total)} per GPU of {fmt_bytes(capacity)}"]
    return []


def shortfall_text(*, total_bytes: float, capacity_bytes: float) -> str:
    """ "needs X per GPU, Y more than the Z available"."""
    over = shortfall_bytes(total_bytes=total_bytes, capacity_bytes=capacity_bytes)
    return (
        f"needs {fmt_bytes(total_bytes)} per GPU, {fmt_bytes(over)} more than the "
        f"{fmt_bytes(capacity_bytes)} "
        "available"
    )
