"""`estimator calibrate {flops,memory,gemm,comm}`: kept apart from estimator.cli so that torch is only
imported when a calibration is asked for."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from estimator.cli_types import bounded_int
from estimator.errors import InputError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cal = sub.add_parser("calibrate", help="hold the model to real PyTorch layers; measure this device")
    csub = cal.add_subparsers(dest="what", required=True)
    for what, text in (
        ("flops", "parameters and FLOPs: analytic vs fvcore and FlopCounterMode"),
        ("memory", "activation bytes per layer: analytic vs saved-tensor hooks"),
    ):
        p = csub.add_parser(what, help=text)
        p.add_argument("--format", choices=("table", "json"), default="table")
        p.add_argument("--family", action="append", help="only these families (repeatable)")
    gemm = csub.add_parser(
        "gemm", help="time matmuls, attention and a copy; fit efficiency curves; write a profile"
    )
    gemm.add_argument("-o", "--output", type=Path, required=True, help="profile YAML to write")
    gemm.add_argument("--base", help="profile whose vendor peaks the efficiencies are relative to (GPUs)")
    gemm.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    gemm.add_argument("--dtype", action="append", choices=("fp32", "bf16", "fp16"), help="repeatable")
    gemm.add_argument(
        "--max-size", type=bounded_int(16, 65536), default=2048, help="largest square GEMM dimension"
    )
    gemm.add_argument("--repeats", type=bounded_int(1, 1000), default=5)
    comm = csub.add_parser(
        "comm", help="all-reduce/all-gather/reduce-scatter/send-recv under torchrun; α-β fit"
    )
    comm.add_argument("--nproc", type=bounded_int(1, 1024), default=2, help="processes on this machine")
    comm.add_argument("--max-bytes", type=bounded_int(8, 1 << 34), default=1 << 24)
    comm.add_argument("--repeats", type=bounded_int(1, 1000), default=5)
    comm.add_argument("--port", type=bounded_int(1, 65535), default=29533)
    comm.add_argument("--format", choices=("table", "json"), default="table")
    comm.add_argument("-o", "--output", type=Path, help="profile YAML to write the fit into (with --base)")
    comm.add_argument("--base", help="profile to copy into --output with the fitted intra-node link")
    cal.set_defaults(func=run)


def _progress(i: int, total: int, label: str) -> None:
    sys.stderr.write(f"\r[{i}/{total}] {label:<60}")
    sys.stderr.write("\n" if i == total else "")
    sys.stderr.flush()


def _records(args: argparse.Namespace) -> str:
    from estimator.calibration.compare import Record, flop_records, memory_records, to_table
    from estimator.calibration.reference import FAMILIES, default_cases

    unknown = set(args.family or ()) - set(FAMILIES)
    if unknown:
        raise InputError(f"--family: unknown {sorted(unknown)}; known: {', '.join(FAMILIES)}")
    cases = [c for c in default_cases() if not args.family or c.family in args.family]
    records: list[Record] = []
    for i, case in enumerate(cases):
        _progress(i, len(cases), f"{case.family} {case.config}")
        records += list(flop_records(case) if args.what == "flops" else memory_records(case))
    _progress(len(cases), len(cases), "done")
    if args.format == "json":
        return json.dumps([r.as_dict() for r in records], indent=2) + "\n"
    return to_table(records)


def _gemm(args: argparse.Namespace) -> str:
    import torch

    from estimator.calibration.gemm import SQUARE, calibrated_profile, run_benchmarks, write_profile
    from estimator.profiles import load_hardware

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    base = load_hardware(args.base) if args.base else None
    dtypes = tuple(args.dtype or (("bf16", "fp16") if device == "cuda" else ("fp32", "bf16")))
    sizes = tuple(n for n in (*SQUARE, 4096, 8192) if n <= args.max_size)
    timings = run_benchmarks(device, dtypes, sizes, args.repeats)
    command = (
        "estimator calibrate gemm " + " ".join(sys.argv[3:])
        if len(sys.argv) > 3
        else "estimator calibrate gemm"
    )
    data = calibrated_profile(timings, base, device, command)
    write_profile(data, args.output)
    lines = [f"{'kind':<9} {'dtype':<5} {'shape':<22} {'TFLOP/s':>9} {'GB/s':>9}"]
    lines += [
        f"{t.kind:<9} {t.dtype:<5} {str(t.shape):<22} {t.flops_per_s / 1e12:>9.3f} "
        f"{t.bytes_per_s / 1e9:>9.2f}"
        for t in timings
    ]
    cal = data["calibration"]
    lines.append("")
    for dt, c in cal["gemm"].items():
        lines.append(f"GEMM {dt}: η(F) = {c['max']:.3f}·F/(F + {c['half_flops']:.3e} FLOPs)")
    lines.append(f"memory bandwidth efficiency: {cal['memory_bandwidth_efficiency']:.3f}")
    lines.append(f"wrote {args.output}")
    return "\n".join(lines) + "\n"


def _comm(args: argparse.Namespace) -> str:
    from estimator.calibration.comm import fits_from, run_torchrun

    if args.nproc < 2:
        raise InputError("--nproc: a collective needs at least 2 processes")
    sizes, size = [], 1 << 10
    while size <= args.max_bytes:
        sizes.append(size)
        size <<= 2
    data = run_torchrun(args.nproc, sizes, args.repeats, args.port)
    fits = fits_from(data)
    if args.output:
        _write_comm_profile(args, fits, data)
    if args.format == "json":
        return (
            json.dumps(
                {
                    "backend": data["backend"],
                    "world_size": data["world_size"],
                    "measurements": data["results"],
                    "fits": [f.__dict__ for f in fits],
                },
                indent=2,
            )
            + "\n"
        )
    lines = [
        f"{data['backend']} on {data['world_size']} processes (loopback)",
        f"{'collective':<15} {'alpha':>10} {'bandwidth':>12}",
    ]
    lines += [
        f"{f.collective:<15} {f.alpha_s * 1e6:>8.1f} µs {f.bandwidth_bytes_per_s / 1e9:>8.2f} GB/s"
        for f in fits
    ]
    return "\n".join(lines) + "\n"


def _write_comm_profile(args: argparse.Namespace, fits: list, data: dict) -> None:  # type: ignore[type-arg]
    import datetime as dt

    import yaml

    from estimator.profiles import load_hardware
    from estimator.specs.hardware import Calibration, CommLink, HardwareSpec

    if not args.base:
        raise InputError("--output needs --base: the profile the fitted link is written into")
    base = load_hardware(args.base)
    allreduce = next(f for f in fits if f.collective == "all_reduce")
    old = base.calibration or Calibration()
    comm = dict(old.comm)
    comm["intra_node"] = CommLink(
        alpha_s=allreduce.alpha_s, bandwidth_bytes_per_s=allreduce.bandwidth_bytes_per_s
    )
    cal = old.model_copy(
        update={
            "comm": comm,
            "date": dt.date.today().isoformat(),
            "command": "estimator calibrate comm " + " ".join(sys.argv[3:]),
        }
    )
    data_out = base.model_dump(mode="json", exclude_none=True)
    data_out["calibration"] = cal.model_dump(mode="json", exclude_none=True)
    HardwareSpec.model_validate(data_out)
    args.output.write_text(yaml.safe_dump(data_out, sort_keys=False, width=120))


def run(args: argparse.Namespace) -> str:
    if args.what in ("flops", "memory"):
        return _records(args)
    if args.what == "gemm":
        return _gemm(args)
    return _comm(args)
