"""Decoding against real Hugging Face `generate` on the CPU: FLOPs and KV cache, greedy, sampling, beams."""

from __future__ import annotations

import pytest

from estimator.calibration.generate import (
    GenerateRun,
    generation_flops,
    generation_kv_bytes,
    measure_generate,
)
from estimator.calibration.reference import default_cases

CASES = {c.family: c for c in default_cases()}
RUNS = [
    GenerateRun(7, 5, 2, 1, False),
    GenerateRun(6, 4, 1, 3, False),
    GenerateRun(5, 4, 2, 1, True),
    GenerateRun(4, 3, 2, 4, False),
]


@pytest.mark.parametrize("family", ["gpt2", "llama", "mixtral"])
@pytest.mark.parametrize(
    "run",
    RUNS,
    ids=lambda r: (
        f"p{r.prompt_tokens}-n{r.new_tokens}-b{r.batch}-k{r.beams}{'-sample' if r.do_sample else ''}"
    ),
)
def test_generate_flops_and_kv_cache_exact(family: str, run: GenerateRun) -> None:
    """FlopCounterMode over `generate` equals the analytic prefill + decode FLOPs, and the returned cache
    holds exactly 2·L·g·d·(p + n − 1)·b·k·4 bytes: beam width multiplies both."""
    flops, kv = measure_generate(CASES[family], run)
    assert flops == generation_flops(CASES[family], run)
    assert kv == generation_kv_bytes(CASES[family], run)
