"""Throughput microbenchmarks on the local device: matmuls over a grid of shapes and dtypes, attention,
and a bandwidth-bound copy; fits the size-dependent efficiency curve and writes a profile YAML.

Timing: median of `repeats` runs after `warmup` runs, wall clock (torch.cuda.synchronize on GPUs).
"""

from __future__ import annotations

import datetime as _dt
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from estimator.roofline import size_efficiency
from estimator.specs.hardware import Calibration, EfficiencyCurve, HardwareSpec

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
SQUARE = (128, 256, 512, 1024, 2048)
SMALL_SQUARE = (64, 128, 256)


@dataclass(frozen=True)
class Timing:
    kind: str  # gemm | attention | copy
    dtype: str
    shape: tuple[int, ...]
    flops: float  # 0 for the copy
    bytes_moved: float
    seconds: float

    @property
    def flops_per_s(self) -> float:
        return self.flops / self.seconds

    @property
    def bytes_per_s(self) -> float:
        return self.bytes_moved / self.seconds


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_op(fn: Callable[[], Any], device: str, warmup: int = 2, repeats: int = 5) -> float:
    """Median wall time of `fn` in seconds."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def gemm_grid(sizes: Iterable[int]) -> list[tuple[int, int, int]]:
    """Square GEMMs plus Transformer-shaped ones (tokens × h × 4h and its transpose)."""
    grid = [(n, n, n) for n in sizes]
    grid += [(4 * n, n, 4 * n) for n in sizes if n <= 1024] + [(4 * n, 4 * n, n) for n in sizes if n <= 1024]
    return grid


def _progress(i: int, total: int, label: str) -> None:
    width = 30
    done = int(width * i / total)
    sys.stderr.write(f"\r[{'#' * done}{'.' * (width - done)}] {i}/{total} {label:<40}")
    if i == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def run_benchmarks(
    device: str = "cpu",
    dtypes: tuple[str, ...] = ("fp32", "bf16"),
    sizes: tuple[int, ...] = SQUARE,
    repeats: int = 5,
    progress: bool = True,
) -> list[Timing]:
    """Time GEMMs, attention (scaled_dot_product_attention) and a copy on `device`."""
    jobs: list[tuple[str, str, tuple[int, ...]]] = []
    for dt in dtypes:
        jobs += [("gemm", dt, shape) for shape in gemm_grid(sizes)]
        jobs += [("attention", dt, (1, 8, s, 64)) for s in (128, 256, 512, 1024) if s <= 2 * max(sizes)]
    jobs += [("copy", "fp32", (n,)) for n in (1 << 20, 1 << 23, 1 << 25)]
    out = []
    for i, (kind, dt, shape) in enumerate(jobs):
        out.append(_time_job(kind, DTYPES[dt], dt, shape, device, repeats))
        if progress:
            _progress(i + 1, len(jobs), f"{kind} {dt} {shape}")
    return out


def _time_job(kind: str, dtype: Any, dt: str, shape: tuple[int, ...], device: str, repeats: int) -> Timing:
    if kind == "gemm":
        m, k, n = shape
        a, b = torch.randn(m, k, device=device, dtype=dtype), torch.randn(k, n, device=device, dtype=dtype)
        seconds = time_op(lambda: a @ b, device, repeats=repeats)
        size = a.element_size()
        return Timing(kind, dt, shape, 2.0 * m * k * n, size * (m * k + k * n + m * n), seconds)
    if kind == "attention":
        bsz, heads, s, d = shape
        q, key, v = (torch.randn(bsz, heads, s, d, device=device, dtype=dtype) for _ in range(3))
        fn = lambda: torch.nn.functional.scaled_dot_product_attention(q, key, v, is_causal=False)  # noqa: E731
        seconds = time_op(fn, device, repeats=repeats)
        return Timing(
            kind, dt, shape, 4.0 * bsz * heads * s * s * d, 4.0 * q.numel() * q.element_size(), seconds
        )
    x = torch.empty(shape[0], device=device, dtype=dtype)
    seconds = time_op(lambda: x.clone(), device, repeats=repeats)
    return Timing(kind, dt, shape, 0.0, 2.0 * x.numel() * x.element_size(), seconds)


def fit_curve(points: list[tuple[float, float]]) -> EfficiencyCurve:
    """Least-squares fit of η(F) = max·F/(F + half) through (flops, efficiency) points.

    Linearised as 1/η = 1/max + (half/max)·(1/F) (a Lineweaver–Burk fit), weighted towards large
    operations, which dominate training time; clipped to 0 < max ≤ 1.
    """
    xs = [1.0 / f for f, _ in points]
    ys = [1.0 / e for _, e in points]
    ws = [f for f, _ in points]
    sw = sum(ws)
    mx = sum(w * x for w, x in zip(ws, xs, strict=True)) / sw
    my = sum(w * y for w, y in zip(ws, ys, strict=True)) / sw
    var = sum(w * (x - mx) ** 2 for w, x in zip(ws, xs, strict=True))
    slope = sum(w * (x - mx) * (y - my) for w, x, y in zip(ws, xs, ys, strict=True)) / var if var else 0.0
    intercept = my - slope * mx
    best = max(e for _, e in points)
    eta_max = min(1.0, max(best, 1.0 / intercept if intercept > 0 else best))
    return EfficiencyCurve(max=eta_max, half_flops=max(0.0, slope * eta_max))


def efficiency(curve: EfficiencyCurve, flops: float) -> float:
    """η(F) of a fitted curve, by the time model's own `roofline.size_efficiency`."""
    return float(size_efficiency(flops=flops, eta_max=curve.max, half_flops=curve.half_flops or 0.0))


def peaks_from(timings: list[Timing], base: HardwareSpec | None) -> dict[str, float]:
    """Peak FLOP/s per dtype: the base profile's vendor peak, or, with no base (a CPU), the best measured."""
    out = {}
    for dt in {t.dtype for t in timings if t.kind == "gemm"}:
        vendor = base.peak_flops_per_s.get(dt) if base else None  # type: ignore[arg-type]
        out[dt] = (
            vendor if vendor else max(t.flops_per_s for t in timings if t.kind == "gemm" and t.dtype == dt)
        )
    return out


def calibrated_profile(
    timings: list[Timing], base: HardwareSpec | None, device: str, command: str
) -> dict[str, Any]:
    """A profile mapping: the base profile (or a measured CPU profile) plus a `calibration` block."""
    peaks = peaks_from(timings, base)
    gemm, attention = {}, {}
    for dt, peak in peaks.items():
        pts = [(t.flops, t.flops_per_s / peak) for t in timings if t.kind == "gemm" and t.dtype == dt]
        gemm[dt] = fit_curve(pts)
        att = [(t.flops, t.flops_per_s / peak) for t in timings if t.kind == "attention" and t.dtype == dt]
        if att:
            attention[dt] = fit_curve(att)
    copies = [t for t in timings if t.kind == "copy"]
    copy_bw = max(copies, key=lambda t: t.bytes_moved).bytes_per_s  # the largest copy: out of cache
    mem_bw = base.memory_bandwidth_bytes_per_s if base else copy_bw
    cal = Calibration(
        gemm=gemm,
        attention=attention,
        memory_bandwidth_efficiency=min(copy_bw / mem_bw, 1.5),
        date=_dt.date.today().isoformat(),
        command=command,
        device=device_name(device),
        notes=("η(F) = max·F/(F + half_flops) fitted to median wall times",),
    )
    if base is not None:
        data = base.model_dump(mode="json", exclude_none=True)
        data["name"] = f"{base.name}-calibrated"
    else:
        data = _cpu_profile(peaks, copy_bw)
    data["calibration"] = cal.model_dump(mode="json", exclude_none=True)
    return data


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return str(torch.cuda.get_device_name(0))
    return f"{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def _cpu_profile(peaks: dict[str, float], copy_bw: float) -> dict[str, Any]:
    note = "measured ceiling (best GEMM of the grid), not a vendor peak: a CPU profile has no datasheet here"
    return {
        "name": "cpu-local",
        "display_name": f"Local CPU: {device_name('cpu')}",
        "vendor": "local",
        "peak_flops_per_s": peaks,
        "memory_bytes": float(_total_memory()),
        "memory_bandwidth_bytes_per_s": copy_bw,
        "intra_node_bandwidth_bytes_per_s": copy_bw,
        "inter_node_bandwidth_bytes_per_s": 1.25e9,
        "gpus_per_node": 1,
        "tdp_w": 100.0,
        "sources": {
            "peak_flops_per_s": note,
            "memory_bandwidth_bytes_per_s": "measured copy bandwidth",
            "memory_bytes": "os.sysconf physical pages",
            "intra_node_bandwidth_bytes_per_s": "copy bandwidth",
            "inter_node_bandwidth_bytes_per_s": "ASSUMED 10 Gb/s Ethernet",
            "gpus_per_node": "one device",
            "tdp_w": "ASSUMED 100 W",
        },
    }


def _total_memory() -> int:
    import os

    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def write_profile(data: dict[str, Any], path: Path) -> None:
    """Write a profile YAML (floats in 1.23e+14 form, which PyYAML reads back as floats)."""
    HardwareSpec.model_validate(data)  # refuse to write what the estimator could not read
    path.write_text(
        f"# Written by `{data['calibration']['command']}` on {data['calibration']['date']}.\n"
        + yaml.safe_dump(data, sort_keys=False, width=120)
    )
