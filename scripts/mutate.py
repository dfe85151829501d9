"""Mutation testing of the formulas: apply one small, plausible mistake at a time and check that the test
suite catches it. A mutation that survives is a formula no test anchors to an outside number.

    .venv/bin/python scripts/mutate.py               # every mutation, the formula tests (about 1 min each)
    .venv/bin/python scripts/mutate.py --list        # the mutations, without running anything
    .venv/bin/python scripts/mutate.py --only ep zero3-buffer   # some of them
    .venv/bin/python scripts/mutate.py --tests tests/test_mechanisms.py   # against a smaller suite

Each mutation edits one file in place and the file is restored afterwards (also on Ctrl-C); the script
refuses to start if a file it would edit has uncommitted changes. Exit status 1 when any mutation survives.
Not part of `make test`: it runs the suite once per mutation.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUITE = [
    "tests",
    "--ignore=tests/test_browser.py",
    "--ignore=tests/test_dashboard.py",
    "--ignore=tests/test_dashboard_fuzz.py",
    "--ignore=tests/test_report.py",
    "--ignore=tests/test_fuzz.py",
    "--ignore=tests/test_hardening.py",
]


@dataclass(frozen=True)
class Mutation:
    key: str
    path: str
    old: str
    new: str
    what: str


MUTATIONS = [
    Mutation(
        "ep",
        "estimator/ledger/layers.py",
        '                "ep_combine",\n                "collective",\n                "collective",',
        '                "ep_combine",\n                "elementwise",\n                "none",',
        "expert all-to-all ×2 → ×1 (no combine)",
    ),
    Mutation(
        "zero12-gather",
        "estimator/training/step.py",
        "plain = exposed_sync + (zero >= 1) * gather",
        "plain = exposed_sync + (zero >= 1) * 0.0 * gather",
        "ZeRO-1/2 parameter all-gather removed",
    ),
    Mutation(
        "fp32-grads",
        "estimator/training/step.py",
        "    grads = trainable * (4 if a.fp32_grad_reduce else prec.grad_bytes)",
        "    grads = trainable * prec.grad_bytes",
        "fp32 gradient-reduce bytes ignored",
    ),
    Mutation(
        "overlap-share",
        "estimator/training/step.py",
        "window * 2 / 3, window)",
        "window, window)",
        "last-backward overlap share 2/3 → 1",
    ),
    Mutation(
        "flash-backward",
        "estimator/ledger/ops.py",
        '"flash": BackwardRule(kernels=1, flop_scale=2.5,',
        '"flash": BackwardRule(kernels=1, flop_scale=2.0,',
        "FlashAttention backward 2.5 → 2.0 × forward",
    ),
    Mutation(
        "decode-flops",
        "estimator/inference.py",
        "    return Work(\n        batch=sequences,",
        "    return Work(\n        batch=sequences / 2,",
        "decode (and serving) FLOPs halved",
    ),
    Mutation(
        "decode-overhead",
        "estimator/inference.py",
        "KERNELS_PER_LAYER = 10",
        "KERNELS_PER_LAYER = 0",
        "decode kernel overhead 0",
    ),
    Mutation(
        "prefill-launches",
        "estimator/inference.py",
        "launches = (model.n_layers + model.n_decoder_layers) * KERNELS_PER_LAYER",
        "launches = 0 * (model.n_layers + model.n_decoder_layers) * KERNELS_PER_LAYER",
        "prefill pays no kernel launches",
    ),
    Mutation(
        "serving-activations",
        "estimator/inference.py",
        "    return float(sc.act_bytes * prompt * (per_token + scores) + 4 * model.vocab_size / t)",
        "    return float(sc.act_bytes * prompt * (per_token + scores))",
        "serving activation bytes (no logits)",
    ),
    Mutation(
        "fp32-logits",
        "estimator/ledger/model.py",
        '"logits_fp32": 4.0 * positions',
        '"logits_fp32": 2.0 * positions',
        "fp32 logits kept as 2 bytes",
    ),
    Mutation(
        "zero3-buffer",
        "estimator/training/memory.py",
        "zero3_buffer = (c.zero == 3) * 2 * prec.weight_bytes",
        "zero3_buffer = (c.zero == 3) * 0 * prec.weight_bytes",
        "ZeRO-3 prefetch buffer removed",
    ),
    Mutation(
        "pp-sends",
        "estimator/training/step.py",
        "count=c.virtual_stages * (c.pp > 1),",
        "count=1 * (c.pp > 1),",
        "pipeline p2p count not ×v",
    ),
    Mutation(
        "bubble",
        "estimator/schedule.py",
        "(pp - 1) / virtual_stages * stage_mean_s",
        "(pp - 1) / virtual_stages * stage_max_s",
        "bubble at the slowest stage (max) instead of the mean",
    ),
    Mutation(
        "ring-steps",
        "estimator/comms.py",
        "    return maximum(n - 1, 0) * (alpha_s",
        "    return maximum(n, 0) * (alpha_s",
        "ring attention c steps instead of c − 1",
    ),
    Mutation(
        "norm-flops",
        "estimator/flops.py",
        "    return tokens * d_model * (5 - rms)",
        "    return tokens * d_model * (4 - rms)",
        "norm FLOPs 5 → 4 per element",
    ),
    Mutation(
        "experts-touched",
        "estimator/kvcache.py",
        "    return n_experts * (1 - (1 - top_k / n_experts) ** tokens)",
        "    return n_experts * min(1.0, top_k * tokens / n_experts) if not hasattr(tokens, 'shape') "
        "else n_experts * (1 - (1 - top_k / n_experts) ** tokens)",
        "experts touched: linear, not saturating",
    ),
    Mutation(
        "gemm-backward",
        "estimator/ledger/ops.py",
        '"gemm": BackwardRule(kernels=2,',
        '"gemm": BackwardRule(kernels=1,',
        "GEMM backward 1 × forward (no weight gradient)",
    ),
    Mutation(
        "tp-exchange",
        "estimator/ledger/layers.py",
        '        collective="all_reduce",\n        group="tp",',
        '        collective="all_gather",\n        group="tp",',
        "tensor-parallel all-reduce costed as an all-gather",
    ),
    Mutation(
        "selective-drop",
        "estimator/activations.py",
        'SELECTIVE_DROPS = (\n    "softmax_output",\n',
        "SELECTIVE_DROPS = (\n",
        "selective recomputation keeps the softmax output",
    ),
    Mutation(
        "kv-cache",
        "estimator/kvcache.py",
        "    return 2 * n_layers * n_kv_heads",
        "    return n_layers * n_kv_heads",
        "KV cache without the V half",
    ),
    Mutation(
        "zero-optimizer",
        "estimator/training/memory.py",
        "optimizer_bytes * sharded(total=params, shards=dp, active=zero_stage >= 1)",
        "optimizer_bytes * sharded(total=params, shards=dp, active=zero_stage >= 2)",
        "ZeRO-1 does not shard the optimizer",
    ),
    Mutation(
        "inflight",
        "estimator/activations.py",
        "    return minimum(pp - rank, micro_batches)",
        "    return minimum(pp - rank, 1)",
        "1F1B keeps one micro-batch in flight",
    ),
    Mutation(
        "nic-rings",
        "estimator/ledger/account.py",
        "across = minimum(eff.inter_bandwidth_bytes_per_s * k, eff.intra_bandwidth_bytes_per_s)",
        "across = minimum(eff.inter_bandwidth_bytes_per_s * 1, eff.intra_bandwidth_bytes_per_s)",
        "a group crossing nodes uses one NIC per node",
    ),
    Mutation(
        "fp8-attention",
        "estimator/ledger/account.py",
        'if eff.high is not None and (op.kind == "attention" or op.high_precision):',
        "if eff.high is not None and op.high_precision:",
        "fp8 recipes run the attention core at the fp8 peak",
    ),
    Mutation(
        "tp-overlap-chunk",
        "estimator/training/step.py",
        "        first = comm / maximum(tp_overlap, 1)",
        "        first = 0.0 * comm",
        "TP overlap hides the first chunk too",
    ),
    Mutation(
        "eager-rmsnorm",
        "estimator/training/step.py",
        '        return "rmsnorm"',
        "        return None",
        "eager RMSNorm moves no more than the fused kernel",
    ),
]


def _run(tests: list[str]) -> tuple[bool, float, str]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if proc.returncode in (3, 4, 5):  # internal error, usage error, no tests collected: not a kill
        raise SystemExit(f"pytest could not run {tests}: {(proc.stdout + proc.stderr)[-400:]}")
    failed = [line for line in proc.stdout.splitlines() if line.startswith("FAILED")]
    return proc.returncode != 0, time.perf_counter() - start, failed[0] if failed else proc.stdout[-200:]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", help="mutation keys to run (default: all)")
    parser.add_argument("--tests", nargs="*", help="pytest arguments (default: every formula test)")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if not args.only or m.key in args.only]
    if args.list:
        for m in chosen:
            print(f"{m.key:<20} {m.path:<32} {m.what}")
        return 0
    dirty = subprocess.run(
        ["git", "status", "--porcelain", *{m.path for m in chosen}], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    if dirty:
        print(f"uncommitted changes in files a mutation edits; commit or stash first:\n{dirty}")
        return 2
    tests = args.tests or SUITE
    survivors = []
    for i, m in enumerate(chosen, start=1):
        path = ROOT / m.path
        original = path.read_text(encoding="utf-8")
        if original.count(m.old) != 1:
            print(f"[{i}/{len(chosen)}] {m.key}: the text to mutate is not found once in {m.path}: fix it")
            survivors.append(m)
            continue
        try:
            path.write_text(original.replace(m.old, m.new), encoding="utf-8")
            killed, seconds, evidence = _run(tests)
        finally:
            path.write_text(original, encoding="utf-8")
        print(
            f"[{i}/{len(chosen)}] {m.key:<18} {'killed' if killed else 'SURVIVED':<8} {seconds:3.0f} s  "
            + m.what
            + (f"\n      by {evidence}" if killed else ""),
            flush=True,
        )
        if not killed:
            survivors.append(m)
    print(
        f"\n{len(chosen) - len(survivors)} of {len(chosen)} mutations killed; survivors: "
        + (", ".join(m.key for m in survivors) or "none")
    )
    return 1 if survivors else 0


if __name__ == "__main__":
    raise SystemExit(main())
