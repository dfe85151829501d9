"""Sizing a model to a compute or dollar budget: compute-optimal parameters and tokens, predicted loss,
and over-trained alternatives (smaller models on more tokens, Llama-style) with their cost.

Ref: Hoffmann et al. 2022 ("Chinchilla"): about 20 tokens per parameter at the compute optimum
(Approach 1, Table 3: N and D both ∝ C^0.5, C = 6·N·D), and the parametric loss of Approach 3,
L(N, D) = E + A/N^α + B/D^β with E 1.69, A 406.4, B 410.7, α 0.34, β 0.28.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from estimator.num import Num

CHINCHILLA_TOKENS_PER_PARAM = 20.0
LOSS = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def chinchilla_loss(*, params: Num, tokens: Num) -> Num:
    """L(N, D) = E + A/N^α + B/D^β (Hoffmann et al. 2022, Eq. 10 with the Approach 3 fit)."""
    return LOSS["E"] + LOSS["A"] / params ** LOSS["alpha"] + LOSS["B"] / tokens ** LOSS["beta"]


def optimal_for_compute(
    *, compute_flops: Num, tokens_per_param: Num = CHINCHILLA_TOKENS_PER_PARAM
) -> tuple[Num, Num]:
    """(N, D) with C = 6·N·D and D = r·N: N = sqrt(C / (6r)) (Hoffmann et al. 2022 Approach 1, Table 3)."""
    params = (compute_flops / (6 * tokens_per_param)) ** 0.5
    return params, tokens_per_param * params


def tokens_for_loss(*, params: float, loss: float) -> float:
    """Tokens a model of `params` needs to reach `loss` under L(N, D); inf where it cannot."""
    gap = loss - LOSS["E"] - LOSS["A"] / params ** LOSS["alpha"]
    return math.inf if gap <= 0 else (LOSS["B"] / gap) ** (1 / LOSS["beta"])


def loss_optimal_params(*, compute_flops: Num) -> Num:
    """N minimising L(N, C/(6N)) under the Approach 3 law: G·(C/6)^(β/(α+β)), G = (αA/(βB))^(1/(α+β))
    (Hoffmann et al. 2022, Eq. 4 and App. D.2)."""
    a, b = LOSS["alpha"], LOSS["beta"]
    g = (a * LOSS["A"] / (b * LOSS["B"])) ** (1 / (a + b))
    optimum: Num = g * (compute_flops / 6) ** (b / (a + b))
    return optimum


@dataclass(frozen=True)
class SizingRow:
    """One way to spend the compute: a model size and its tokens, the predicted loss, and what reaching
    the Chinchilla-optimal loss would take with a model this size."""

    label: str
    tokens_per_param: float
    params: float
    tokens: float
    compute_flops: float
    loss: float
    compute_for_reference_loss: float
    cost_usd: float | None
    gpu_hours: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def size(
    *,
    compute_flops: float,
    flops_per_gpu_hour: float | None = None,
    usd_per_gpu_hour: float | None = None,
    ratios: tuple[float, ...] = (50, 100, 200, 500),
) -> list[SizingRow]:
    """Ways to spend `compute_flops`: Chinchilla's 20 tokens/parameter, the Approach 3 loss optimum, and
    over-trained smaller models (Llama-style: cheaper to serve, higher loss for the same compute)."""
    n_ref, d_ref = optimal_for_compute(compute_flops=compute_flops)
    reference = float(chinchilla_loss(params=n_ref, tokens=d_ref))
    hours = compute_flops / flops_per_gpu_hour if flops_per_gpu_hour else None
    cost = hours * usd_per_gpu_hour if (hours is not None and usd_per_gpu_hour) else None

    def row(label: str, n: float) -> SizingRow:
        d = compute_flops / (6 * n)
        need = tokens_for_loss(params=n, loss=reference)
        return SizingRow(
            label,
            d / n,
            n,
            d,
            compute_flops,
            float(chinchilla_loss(params=n, tokens=d)),
            6 * n * need,
            cost,
            hours,
        )

    rows = [
        row("compute-optimal, Chinchilla Approach 1 (20 tokens/param)", float(n_ref)),
        row("loss-optimal under the Approach 3 law", float(loss_optimal_params(compute_flops=compute_flops))),
    ]
    rows += [
        row(
            f"over-trained, {r:g} tokens/param",
            float(optimal_for_compute(compute_flops=compute_flops, tokens_per_param=r)[0]),
        )
        for r in ratios
    ]
    return rows
