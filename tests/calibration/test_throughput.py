"""Throughput calibration: the GEMM efficiency fit, the written profile, and collectives under torchrun."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from estimator.calibration.comm import fit_alpha_beta
from estimator.calibration.gemm import efficiency, fit_curve
from estimator.cli import main
from estimator.comms import collective_time_s, wire_factor
from estimator.profiles import load_hardware
from estimator.specs.hardware import EfficiencyCurve
from tests.conftest import make_scenario


def test_fit_curve_recovers_a_known_curve() -> None:
    true = EfficiencyCurve(max=0.8, half_flops=3e9)
    points = [(f, efficiency(true, f)) for f in (1e8, 1e9, 1e10, 1e11, 1e12)]
    got = fit_curve(points)
    assert got.max == pytest.approx(0.8, rel=1e-9)
    assert got.half_flops == pytest.approx(3e9, rel=1e-6)


def test_alpha_beta_fit_recovers_a_known_link() -> None:
    """t = α·2(n−1) + 2(n−1)/n·S/β for a ring all-reduce (NCCL bus-bandwidth convention)."""
    n, alpha, beta = 8, 5e-6, 2e11
    samples = [
        (
            s,
            collective_time_s(
                collective="all_reduce", n=n, payload_bytes=s, alpha_s=alpha, bandwidth_bytes_per_s=beta
            ),
        )
        for s in (1e4, 1e6, 1e8, 1e9)
    ]
    fit = fit_alpha_beta("all_reduce", n, samples)
    assert fit.alpha_s == pytest.approx(alpha, rel=1e-6) and fit.bandwidth_bytes_per_s == pytest.approx(
        beta, rel=1e-9
    )
    assert wire_factor("reduce_scatter", 4) == (0.75, 3)


def test_calibrate_gemm_writes_a_profile_the_estimator_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cpu.yaml"
    assert (
        main(
            [
                "calibrate",
                "gemm",
                "-o",
                str(out),
                "--device",
                "cpu",
                "--dtype",
                "fp32",
                "--max-size",
                "256",
                "--repeats",
                "2",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "GEMM fp32: η(F) =" in text
    hw = load_hardware(out)
    assert hw.calibration is not None and "fp32" in hw.calibration.gemm
    assert 0 < hw.calibration.gemm["fp32"].max <= 1 and hw.calibration.command.startswith(
        "estimator calibrate gemm"
    )
    sc = make_scenario(
        model="gpt2",
        hardware=str(out),
        gpus=1,
        precision="fp32",
        parallelism={"tp": 1, "pp": 1, "zero_stage": 0},
        training={"global_batch": 8, "seq_len": 1024},
    )
    assert sc.hardware.name == "cpu-local"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_calibrate_comm_with_two_gloo_processes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "a100-loopback.yaml"
    assert (
        main(
            [
                "calibrate",
                "comm",
                "--nproc",
                "2",
                "--max-bytes",
                str(1 << 22),
                "--repeats",
                "3",
                "--format",
                "json",
                "--port",
                str(_free_port()),
                "--base",
                "a100-sxm-80gb",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["backend"] == "gloo" and data["world_size"] == 2
    fits = {f["collective"]: f for f in data["fits"]}
    assert set(fits) == {"all_reduce", "all_gather", "reduce_scatter", "send_recv"}
    for f in fits.values():
        assert f["alpha_s"] >= 0 and 1e6 < f["bandwidth_bytes_per_s"] < 1e12
    link = load_hardware(out).calibration.comm["intra_node"]  # type: ignore[union-attr]
    assert link.bandwidth_bytes_per_s == pytest.approx(fits["all_reduce"]["bandwidth_bytes_per_s"])
