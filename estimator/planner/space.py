"""The search space as numpy columns, and which rows are invalid and why (a reason per row, no crash)."""

from __future__ import annotations

import numpy as np

from estimator.ledger.account import RECOMPUTE_NAMES
from estimator.specs.model import ModelSpec
from estimator.specs.plan import PlanSpec

DIMS = (
    "gpus",
    "tp",
    "pp",
    "cp",
    "ep",
    "micro_batch",
    "virtual_stages",
    "global_batch",
    "sp",
    "zero",
    "recompute",
)
REASONS = (
    "",
    "gpus not a multiple of tp·pp·cp",
    "layers not divisible by pp·virtual_stages",
    "global batch not divisible by micro_batch·dp",
    "interleaving needs micro-batches divisible by pp",
    "virtual stages need pp > 1",
    "sequence parallelism needs tp > 1",
    "ep must divide dp·cp",
    "does not fit in memory (with headroom)",
    "MFU above what the validation supports",
    "over the deadline",
    "over the budget",
    "no price in the hardware profile (cannot be ranked by cost or held to a budget)",
)


def gpu_counts(gpus_per_node: int, lo: int, hi: int) -> list[int]:
    """GPU counts tried: powers of two up to a node, then whole nodes of the form 2^k or 3·2^k."""
    out = {n for n in (1 << k for k in range(31)) if lo <= n <= min(hi, gpus_per_node)}
    for k in range(31):
        for n in (1 << k, 3 << k):
            if gpus_per_node < n <= hi and n >= lo and n % gpus_per_node == 0:
                out.add(n)
    return sorted(out)


def _divisors(n: int, cap: int) -> list[int]:
    return [d for d in range(1, min(n, cap) + 1) if n % d == 0]


def dimension_values(
    model: ModelSpec,
    plan: PlanSpec,
    *,
    gpus_per_node: int,
    seq_len: int,
    global_batches: tuple[int, ...],
    flash: bool = False,
) -> dict[str, list[int]]:
    """The values each dimension takes (before the per-row validity rules). With FlashAttention,
    selective recomputation has nothing to drop and equals no recomputation, so it is not tried."""
    recompute = {RECOMPUTE_NAMES.index(r) for r in plan.recompute}
    if flash and 0 in recompute:
        recompute.discard(1)
    tps = [
        t
        for t in (1, 2, 4, 8, 16)
        if t <= min(plan.max_tp, gpus_per_node) and model.n_heads % t == 0 and model.n_kv_heads % t == 0
    ]
    cps = [c for c in (1, 2, 4, 8, 16) if c <= plan.max_cp and (c == 1 or seq_len % (2 * c) == 0)]
    return {
        "gpus": gpu_counts(gpus_per_node, plan.min_gpus, plan.max_gpus),
        "tp": tps,
        "pp": _divisors(model.total_layers, model.total_layers),
        "cp": cps,
        "ep": [e for e in _divisors(model.n_experts, model.n_experts) if e & (e - 1) == 0],
        "micro_batch": list(plan.micro_batches),
        "virtual_stages": list(range(1, plan.max_virtual_stages + 1)),
        "global_batch": list(global_batches),
        "sp": [0, 1],
        "zero": sorted(set(plan.zero_stages)),
        "recompute": sorted(recompute),
    }


def build_grid(values: dict[str, list[int]]) -> dict[str, np.ndarray]:
    """The Cartesian product of the dimension values, one int64 column per dimension."""
    mesh = np.meshgrid(*(np.asarray(values[d], dtype=np.int64) for d in DIMS), indexing="ij")
    return {d: m.ravel() for d, m in zip(DIMS, mesh, strict=True)}


def structural_reasons(grid: dict[str, np.ndarray], model: ModelSpec) -> np.ndarray:
    """Index into REASONS of the first rule each row breaks (0: none), before anything is evaluated."""
    g = grid
    mp = g["tp"] * g["pp"] * g["cp"]
    dp = np.maximum(g["gpus"] // mp, 1)
    m = g["global_batch"] // np.maximum(g["micro_batch"] * dp, 1)
    rules = [
        g["gpus"] % mp != 0,
        model.total_layers % (g["pp"] * g["virtual_stages"]) != 0,
        g["global_batch"] % (g["micro_batch"] * dp) != 0,
        (g["virtual_stages"] > 1) & (m % g["pp"] != 0),
        (g["virtual_stages"] > 1) & (g["pp"] == 1),
        (g["sp"] == 1) & (g["tp"] == 1),
        (dp * g["cp"]) % g["ep"] != 0,
    ]
    reason = np.zeros(len(g["gpus"]), dtype=np.int8)
    for code, broken in reversed(list(enumerate(rules, start=1))):
        reason[broken] = code
    return reason


def grid_size(values: dict[str, list[int]]) -> int:
    return int(np.prod([len(values[d]) for d in DIMS]))
