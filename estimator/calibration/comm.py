"""Collective bandwidth and latency with torch.distributed under torchrun (gloo on CPUs, NCCL on GPUs),
fitted to the α-β model per collective and link type.

Ring algorithms (NCCL's "bus bandwidth" convention, nccl-tests PERFORMANCE.md): all-reduce moves
2·(n−1)/n·S bytes per rank, all-gather and reduce-scatter (n−1)/n·S, send/recv S. The fit is
t = α·steps + wire_bytes/β, with steps 2(n−1), n−1, n−1 and 1.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from estimator.comms import Collective, wire_factor

COLLECTIVES = (
    "all_reduce",
    "all_gather",
    "reduce_scatter",
    "send_recv",
)  # fitted with estimator.comms.wire_factor


@dataclass(frozen=True)
class Fit:
    collective: str
    alpha_s: float
    bandwidth_bytes_per_s: float
    points: int


def fit_alpha_beta(collective: Collective, n: int, samples: list[tuple[float, float]]) -> Fit:
    """Least squares of t = α·steps + factor·S/β over (payload bytes S, seconds t)."""
    factor, steps = wire_factor(collective, n)
    xs = [factor * s for s, _ in samples]
    ys = [t for _, t in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0
    intercept = my - slope * mx
    if (
        slope <= 0 or intercept < 0
    ):  # noise swamped the size dependence: a bandwidth-only bound from the largest
        x_max, t_max = max(zip(xs, ys, strict=True))
        alpha = max(min(ys), 0.0) / steps if slope <= 0 else 0.0
        return Fit(collective, float(alpha), float(x_max / t_max), len(samples))
    return Fit(collective, float(intercept / steps), float(1.0 / slope), len(samples))


def _worker(out_path: str, sizes: list[int], repeats: int) -> None:  # pragma: no cover - runs under torchrun
    import torch
    import torch.distributed as dist

    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    rank, n = dist.get_rank(), dist.get_world_size()
    device = (
        torch.device("cuda", rank % torch.cuda.device_count()) if backend == "nccl" else torch.device("cpu")
    )
    if backend == "nccl":
        torch.cuda.set_device(device)
    results: dict[str, list[tuple[int, float]]] = {c: [] for c in COLLECTIVES}
    for size in sizes:
        numel = max(size // 4, n) // n * n
        x = torch.ones(numel, device=device)
        gathered = torch.empty(numel * n, device=device)
        shard = torch.empty(numel // n, device=device)
        ops: dict[str, Callable[[], Any]] = {
            "all_reduce": lambda: dist.all_reduce(x),  # noqa: B023
            "all_gather": lambda: dist.all_gather_into_tensor(gathered, x),  # noqa: B023
            "reduce_scatter": lambda: dist.reduce_scatter_tensor(shard, x),  # noqa: B023
            "send_recv": lambda: (dist.send(x, 1) if rank == 0 else dist.recv(x, 0)) if rank < 2 else None,  # noqa: B023
        }
        for name, op in ops.items():
            payload = numel * 4 * (n if name == "all_gather" else 1)  # S: the full buffer, NCCL's convention
            times = []
            for i in range(repeats + 1):
                dist.barrier()
                if backend == "nccl":
                    torch.cuda.synchronize()
                start = time.perf_counter()
                op()
                if backend == "nccl":
                    torch.cuda.synchronize()
                if i:
                    times.append(time.perf_counter() - start)
            results[name].append((payload, statistics.median(times)))
    if rank == 0:
        Path(out_path).write_text(json.dumps({"world_size": n, "backend": backend, "results": results}))
    dist.destroy_process_group()


def run_torchrun(
    nproc: int, sizes: list[int], repeats: int, port: int = 29533, timeout_s: float = 600
) -> dict[str, Any]:
    """Run the worker under torchrun on this machine and return rank 0's measurements."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "comm.json")
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nproc_per_node={nproc}",
            f"--master_port={port}",
            "-m",
            "estimator.calibration.comm",
            out,
            ",".join(map(str, sizes)),
            str(repeats),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        if proc.returncode != 0 or not os.path.exists(out):
            raise RuntimeError(f"torchrun failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        data: dict[str, Any] = json.loads(Path(out).read_text())
        return data


def fits_from(data: dict[str, Any]) -> list[Fit]:
    n = int(data["world_size"])
    return [
        fit_alpha_beta(c, n if c != "send_recv" else 2, [tuple(p) for p in data["results"][c]])  # type: ignore[arg-type]
        for c in COLLECTIVES
    ]


if __name__ == "__main__":  # pragma: no cover - torchrun entry point
    _worker(sys.argv[1], [int(s) for s in sys.argv[2].split(",")], int(sys.argv[3]))
