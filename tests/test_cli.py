"""The CLI contract: keys, formats, exit codes, and no heavy imports on `estimator train`."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from estimator.cli import main

CONTRACT_KEYS = [
    "params_total",
    "params_active",
    "flops_model_per_step",
    "flops_hardware_per_step",
    "flops_model_total",
    "step_time_s",
    "time_breakdown_s",
    "tokens_per_s",
    "tflops_per_gpu",
    "mfu",
    "hfu",
    "steps",
    "train_time_s",
    "gpu_hours",
    "cost_usd",
    "cost_usd_range",
    "energy_kwh",
    "co2_kg",
    "memory_per_gpu_bytes",
    "fits_in_memory",
    "assumptions",
]
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "gpt3-175b.yaml"


def test_train_json_has_every_contract_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(EXAMPLE), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert all(k in out for k in CONTRACT_KEYS)
    assert set(out["memory_per_gpu_bytes"]) == {
        "weights",
        "gradients",
        "optimizer",
        "activations",
        "other",
        "total",
    }
    assert out["params_total"] == 174_604_259_328
    assert len(out["cost_usd_range"]) == 2 and out["fits_in_memory"] is True


def test_train_table_and_csv(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(EXAMPLE)]) == 0
    table = capsys.readouterr().out
    assert (
        "days" in table
        and "GiB" in table
        and "assumptions:" in table
        and "efficiencies" in table
        and "tp_comm" in table
    )
    assert main(["train", str(EXAMPLE), "--format", "csv"]) == 0
    rows = dict(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert float(rows["params_total"]) == 174_604_259_328 and "memory_per_gpu_bytes.total" in rows


def test_bad_scenario_exits_2_naming_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("tp: 8", "tp: 7"))
    assert main(["train", str(bad)]) == 2
    assert "parallelism.tp" in capsys.readouterr().err
    assert main(["train", str(bad), "--format", "json"]) == 2
    assert "parallelism.tp" in json.loads(capsys.readouterr().out)["error"]
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2


def test_lists(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list", "--format", "json"]) == 0
    models = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert models["llama2-7b"]["params_total"] == 6_738_415_616
    assert main(["hardware", "list"]) == 0
    assert "h100-sxm-80gb" in capsys.readouterr().out


def test_train_does_not_import_heavy_packages() -> None:
    code = (
        "import sys, io, contextlib\nfrom estimator.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()): rc = main(['train', '--format', 'json'])\n"
        "heavy = [m for m in ('torch', 'fvcore', 'streamlit', 'transformers') if m in sys.modules]\n"
        "print(rc, heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "0 []"
