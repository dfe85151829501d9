"""Hostile but realistic inputs: each gets exit 2 (or the documented answer) with one line naming the field.

One test per defect found by red-teaming (issue 12, items 1–16); every one of them failed before its fix.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import time
from pathlib import Path

import pytest
import yaml

from estimator.cli import main
from estimator.errors import InputError
from estimator.flops import t5_span_corruption_lengths
from estimator.scenario_io import load_inference_scenario, load_scenario, scenario_from_dict
from estimator.units import parse_bytes, parse_bytes_per_s
from tests.conftest import make_scenario

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "gpt3-175b.yaml"
GOOD = yaml.safe_load(EXAMPLE.read_text())


def _write(tmp_path: Path, doc: dict, name: str = "s.yaml") -> Path:  # type: ignore[type-arg]
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse refusing an option
        rc = int(exc.code or 0)
    out = capsys.readouterr()
    return rc, out.out, out.err


# 1. the dashboard reads only shipped presets and profiles from a URL


def test_url_names_only_known_presets_and_profiles(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "dashboard"))
    import state

    secret = tmp_path / "secret.yaml"
    secret.write_text("name: secret\npassword: hunter2\n")
    fields, notices = state.parse_query({"hardware": str(secret), "model": "gpt5-foo", "gpus": "abc"})
    assert fields["hardware"] == state.DEFAULTS["hardware"] and fields["model"] == state.DEFAULTS["model"]
    assert any("hardware=" in n and "not a known hardware profile" in n for n in notices)
    assert any("model='gpt5-foo'" in n and "closest" in n for n in notices)
    assert any("gpus='abc'" in n for n in notices)
    assert not any("hunter2" in n for n in notices)
    with pytest.raises(InputError, match="hardware: a file path is not accepted"):
        scenario_from_dict({**GOOD, "hardware": str(secret)}, names_only=True)
    with pytest.raises(InputError, match="model: a file path is not accepted"):
        scenario_from_dict({**GOOD, "model": str(tmp_path / "config.json")}, names_only=True)


# 2. bounded reads: FIFOs, devices, directories and oversized files are refused without reading them


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_and_devices_are_refused_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "s.yaml"
    os.mkfifo(fifo)
    started = time.monotonic()
    for argv in (
        ["train", str(fifo)],
        ["plan", str(fifo)],
        ["infer", str(fifo)],
        ["train", "/dev/zero"],
        ["train", str(tmp_path)],
    ):
        rc, _, err = _run(argv, capsys)
        assert rc == 2 and ("not a regular file" in err or "directory" in err), (argv, err)
    assert time.monotonic() - started < 10


def test_oversized_files_are_refused_by_every_loader(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(EXAMPLE.read_text() + "#" * 1_100_000 + "\n")
    for command in ("train", "plan", "infer"):
        rc, _, err = _run([command, str(big)], capsys)
        assert rc == 2 and "too large" in err, (command, err)


# 3. CSV formula injection


def test_csv_cells_cannot_start_a_formula(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, {**GOOD, "name": '=HYPERLINK("http://evil")'})
    rc, out, _ = _run(["train", str(path), "--format", "csv"], capsys)
    rows = dict(csv.reader(io.StringIO(out)))
    assert rc == 0 and rows["scenario"].startswith("'=") and float(rows["params_total"]) == 174_604_259_328
    report = tmp_path / "r.csv"
    assert _run(["report", str(path), "--no-alternatives", "-o", str(report)], capsys)[0] == 0
    cells = [c for row in csv.reader(report.open()) for c in row]
    assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells if not _is_number(c))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# 4. T5 span corruption: no loop over tokens, sane bounds


def test_t5_span_lengths_are_closed_form_and_bounded() -> None:
    assert t5_span_corruption_lengths(512, 0.15, 3.0) == (568, 114)
    started = time.monotonic()
    t5_span_corruption_lengths(10_000_000, 0.15, 3.0)
    t5_span_corruption_lengths(512, 0.95, 1.0e4)
    assert time.monotonic() - started < 1.0
    base = {
        "model": "t5-small",
        "hardware": "a100-sxm-80gb",
        "gpus": 8,
        "training": {"tokens": 1e9, "global_batch": 8, "seq_len": 512},
    }
    for key, value in (("noise_density", 0.999999), ("mean_noise_span_length", 1.0e9)):
        with pytest.raises(InputError, match=f"training.{key}"):
            scenario_from_dict({**base, "training": {**base["training"], key: value}})


# 5. every numeric CLI option is bounded


@pytest.mark.parametrize(
    "argv, option",
    [
        (["plan", "--top", "-1"], "--top"),
        (["plan", "--top", "0"], "--top"),
        (["size", "--mfu", "50", "--budget-usd", "1e6"], "--mfu"),
        (["size", "--budget-usd", "1e6", "--usd-per-gpu-hour", "0"], "--usd-per-gpu-hour"),
        (["size", "--budget-usd", "1e6", "--usd-per-gpu-hour", "-3"], "--usd-per-gpu-hour"),
        (["size", "--compute-flops", "nan"], "--compute-flops"),
        (["dashboard", "--port", "70000"], "--port"),
    ],
)
def test_cli_numbers_are_bounded(argv: list[str], option: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(argv, capsys)
    assert rc == 2 and option in err


def test_size_uses_the_price_given(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(
        ["size", "--budget-usd", "1e6", "--usd-per-gpu-hour", "1.5", "--format", "json"], capsys
    )
    assert rc == 0 and json.loads(out)["usd_per_gpu_hour"] == 1.5


# 6. bad input is exit 2, not an internal error


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
def test_non_utf8_scenarios(tmp_path: Path, encoding: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(EXAMPLE.read_text().replace("GPT-3", "GPT-3 café").encode(encoding))
    rc, _, err = _run(["train", str(path)], capsys)
    assert rc == 2 and "UTF" in err and str(path) in err


def test_deep_nesting_in_yaml_and_config_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "deep.yaml").write_text("name: " + "[" * 500 + "]" * 500 + "\n")
    (tmp_path / "config.json").write_text('{"model_type": "llama", "x": ' + "[" * 500 + "]" * 500 + "}")
    assert _run(["train", str(tmp_path / "deep.yaml")], capsys)[0] == 2
    path = _write(tmp_path, {**GOOD, "model": "config.json"})
    rc, _, err = _run(["train", str(path)], capsys)
    assert rc == 2 and "nest" in err


def test_absurd_output_tokens_and_report_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    serving = yaml.safe_load((ROOT / "examples" / "serving-customer-service.yaml").read_text())
    serving["inference"]["output_tokens"] = 1.0e308
    rc, _, err = _run(["infer", str(_write(tmp_path, serving))], capsys)
    assert rc == 2 and "output_tokens" in err
    for target in (str(tmp_path), "/proc/x/report.json", "/sys/report.html"):
        rc, _, err = _run(["report", "--no-alternatives", "-o", target], capsys)
        assert rc == 2 and "-o" in err, target


# 7. no non-finite number leaves the tool


def test_physical_bounds_on_profiles_and_traffic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = yaml.safe_load((ROOT / "hardware_profiles" / "a100-sxm-80gb.yaml").read_text())
    profile["peak_flops_per_s"]["bf16"] = 1.0e-300
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(profile))
    rc, out, err = _run(
        ["train", str(_write(tmp_path, {**GOOD, "hardware": "tiny.yaml"})), "--format", "json"], capsys
    )
    assert rc == 2 and "bf16" in err and "nan" not in out.lower()
    serving = yaml.safe_load((ROOT / "examples" / "serving-customer-service.yaml").read_text())
    serving["traffic"] = {"requests_per_s": 1.0e308}
    rc, out, err = _run(["infer", str(_write(tmp_path, serving)), "--format", "json"], capsys)
    assert rc == 2 and "requests_per_s" in err and "Infinity" not in out


# 8. strict types


@pytest.mark.parametrize(
    "change, field",
    [
        ({"training": {**GOOD["training"], "tokens": True}}, "training.tokens"),
        ({"gpus": "1024"}, "gpus"),
        ({"training": {**GOOD["training"], "tokens": 1.0e-300}}, "training.tokens"),
        ({"parallelism": {**GOOD["parallelism"], "tp": True}}, "parallelism.tp"),
    ],
)
def test_numbers_must_be_numbers(change: dict, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InputError, match=field.replace(".", r"\.")):
        scenario_from_dict({**GOOD, **change})


def test_duplicate_yaml_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(EXAMPLE.read_text() + "gpus: 8\n")
    rc, _, err = _run(["train", str(path)], capsys)
    assert rc == 2 and "duplicate key 'gpus'" in err


def test_plan_lists_are_strict() -> None:
    with pytest.raises(InputError, match="plan.micro_batches"):
        scenario_from_dict({**GOOD, "plan": {"micro_batches": [True, 2]}})


# 9. units: bits and bytes


def test_bits_and_bytes() -> None:
    assert parse_bytes_per_s("400 Gb/s") == pytest.approx(50e9)
    assert parse_bytes_per_s("400 Gbit/s") == pytest.approx(50e9)
    assert parse_bytes_per_s("50 GB/s") == pytest.approx(50e9)
    assert parse_bytes_per_s("1 GiB/s") == 2**30
    assert parse_bytes("80 GiB") == 80 * 2**30 and parse_bytes("40 GB") == 40e9
    with pytest.raises(ValueError, match="bandwidth"):
        parse_bytes_per_s("400 Gb")


# 10. accepted means used; unknown config values are refused; one line per problem


def test_electricity_price_is_used() -> None:
    est = make_scenario(energy={"usd_per_kwh": 0.08})
    from estimator.training import estimate_training

    e = estimate_training(est)
    assert e.energy_cost_usd == pytest.approx(e.energy_kwh * 0.08)


def test_unknown_activation_and_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = {
        "model_type": "gpt2",
        "n_layer": 12,
        "n_embd": 768,
        "n_head": 12,
        "vocab_size": 50257,
        "activation_function": "swish",
    }
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    rc, _, err = _run(["train", str(_write(tmp_path, {**GOOD, "model": "config.json"}))], capsys)
    assert rc == 2 and "activation_function 'swish'" in err
    cfg = {**cfg, "activation_function": "gelu", "n_layer": 0}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    rc, _, err = _run(["train", str(_write(tmp_path, {**GOOD, "model": "config.json"}))], capsys)
    assert rc == 2 and "n_layer" in err and "pydantic" not in err and "https://" not in err
    profile = yaml.safe_load((ROOT / "hardware_profiles" / "a100-sxm-80gb.yaml").read_text())
    profile["tdp_w"] = "lots"
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(profile))
    rc, _, err = _run(["train", str(_write(tmp_path, {**GOOD, "hardware": "p.yaml"}))], capsys)
    assert rc == 2 and "tdp_w" in err and "https://" not in err and len(err.strip().splitlines()) == 1


# 12. a plan without a price can neither meet a budget nor win on cost


def test_unpriced_hardware_is_not_ranked_by_cost() -> None:
    from estimator.planner import plan
    from estimator.specs.plan import PlanSpec

    sc = make_scenario(gpus=1, parallelism={"tp": 1, "pp": 1}, training={"flash_attention": True})
    result = plan(
        sc,
        PlanSpec(hardware=("mi300x", "h100-sxm-80gb"), max_gpus=512, min_gpus=256, budget_usd=5e6),
        progress=False,
    )
    assert set(result.table["hardware"]) == {"h100-sxm-80gb"} and result.unpriced_hardware() == ["mi300x"]
    assert result.table["cost_usd"].notna().all()


# 13. fine-tuning is carried through plans and reports


def test_finetune_survives_the_planner(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = {
        "name": "qlora",
        "model": "llama2-7b",
        "hardware": "a100-sxm-80gb",
        "gpus": 1,
        "training": {"global_batch": 16, "seq_len": 2048},
        "finetune": {"method": "qlora", "dataset_tokens": 1.0e8},
        "plan": {"hardware": ["a100-sxm-80gb"], "max_gpus": 8},
    }
    rc, out, err = _run(["plan", str(_write(tmp_path, doc)), "--format", "json", "--top", "2"], capsys)
    assert rc == 0, err
    best = json.loads(out)["plans"][0]
    assert best["scenario"]["finetune"]["method"] == "qlora"
    assert best["estimate"]["step_time_s"] == pytest.approx(best["grid_step_time_s"], rel=1e-9)


# 14. a configuration that does not fit gets no price, its shortfall and what would fix it


def test_what_does_not_fit_is_not_priced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small = {
        **GOOD,
        "gpus": 8,
        "parallelism": {"tp": 8, "pp": 1, "recompute": "none"},
        "training": {**GOOD["training"], "global_batch": 8},
    }
    rc, out, _ = _run(["train", str(_write(tmp_path, small)), "--format", "json"], capsys)
    doc = json.loads(out)
    assert (
        rc == 0
        and doc["fits_in_memory"] is False
        and doc["cost_usd"] is None
        and doc["cost_usd_range"] is None
    )
    assert doc["memory_shortfall_bytes"] > 250 * 2**30 and doc["fit_suggestions"]
    rc, out, _ = _run(["train", str(_write(tmp_path, small))], capsys)
    assert "DOES NOT FIT" in out and "$" not in out.split("cost", 1)[1].splitlines()[0]
    serving = {
        "name": "big",
        "model": "llama3-405b",
        "hardware": "h100-sxm-80gb",
        "gpus": 1,
        "precision": "bf16",
        "traffic": {"requests_per_s": 2.0},
    }
    rc, out, _ = _run(["infer", str(_write(tmp_path, serving)), "--format", "json"], capsys)
    doc = json.loads(out)
    assert rc == 0 and doc["fits_in_memory"] is False
    assert doc["usd_per_million_tokens"] is None and doc["monthly_cost_usd"] is None


# 15. MFU and HFU never exceed 1


def test_mfu_and_hfu_below_one_at_extreme_length() -> None:
    from estimator.training import estimate_training

    for flash in (True, False):
        sc = scenario_from_dict(
            {
                "model": "llama3-8b",
                "hardware": "a100-sxm-80gb",
                "gpus": 8,
                "parallelism": {"tp": 8},
                "training": {
                    "tokens": 1e12,
                    "global_batch": 8,
                    "seq_len": 134_217_728,
                    "flash_attention": flash,
                },
            }
        )
        e = estimate_training(sc)
        assert 0 < e.mfu <= e.hfu < 1, (flash, e.mfu, e.hfu)


# 16. serving context is capped at the model's limit


def test_max_context_capped_at_model_limit(tmp_path: Path) -> None:
    from estimator.serving import estimate_inference

    doc = {
        "name": "l2",
        "model": "llama2-7b",
        "hardware": "h200-sxm-141gb",
        "gpus": 1,
        "inference": {"batch": 1},
    }
    est = estimate_inference(load_inference_scenario(_write(tmp_path, doc)))
    assert est.max_context_tokens == 4096


def test_default_scenario_still_loads() -> None:
    sc = load_scenario()
    assert sc.gpus == 1024 and math.isfinite(sc.training.tokens or 0)
