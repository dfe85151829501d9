"""Sizing against Chinchilla's Table 3 (Hoffmann et al. 2022): compute-optimal parameters and tokens."""

from __future__ import annotations

import pytest

from estimator.sizing import chinchilla_loss, optimal_for_compute, size, tokens_for_loss

# Table 3: parameters, FLOPs, tokens (compute-optimal, Approach 1)
TABLE3 = [
    (400e6, 1.92e19, 8.0e9),
    (1e9, 1.21e20, 20.2e9),
    (10e9, 1.23e22, 205.1e9),
    (67e9, 5.76e23, 1.5e12),
    (175e9, 3.85e24, 3.7e12),
    (280e9, 9.90e24, 5.9e12),
    (520e9, 3.43e25, 11.0e12),
    (1e12, 1.27e26, 21.2e12),
    (10e12, 1.30e28, 216.2e12),
]


@pytest.mark.parametrize(("params", "flops", "tokens"), TABLE3, ids=[f"{p:.0e}" for p, _, _ in TABLE3])
def test_chinchilla_table3_within_10_percent(params: float, flops: float, tokens: float) -> None:
    n, d = optimal_for_compute(compute_flops=flops)
    assert n == pytest.approx(params, rel=0.10)
    assert d == pytest.approx(tokens, rel=0.10)


def test_loss_law_and_over_training() -> None:
    """Chinchilla 70B on 1.4T tokens: the Approach 3 law gives ~1.94 (its Fig. 4 range). At a fixed budget,
    more tokens per parameter means a smaller model; past the law's optimum the loss rises, and matching
    the reference loss costs more compute (the price of Llama-style over-training)."""
    assert chinchilla_loss(params=70e9, tokens=1.4e12) == pytest.approx(1.94, abs=0.02)
    rows = size(compute_flops=5.76e23, flops_per_gpu_hour=0.4 * 989e12 * 3600, usd_per_gpu_hour=3.0)
    ref, law_opt, *over = rows
    assert law_opt.loss <= min(r.loss for r in rows) + 1e-12
    assert [r.params for r in over] == sorted((r.params for r in over), reverse=True)
    assert over[-1].loss > over[-2].loss > law_opt.loss  # past the law's optimum (~93 tokens/param here)
    assert over[-1].compute_for_reference_loss > ref.compute_flops
    assert ref.cost_usd == pytest.approx(5.76e23 / (0.4 * 989e12 * 3600) * 3.0)
    assert tokens_for_loss(params=1e9, loss=1.5) == float("inf")
