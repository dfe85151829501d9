"""The planner cannot drift from `estimator train`: every plan's grid row equals the scalar estimate of that
plan's scenario, on every key the grid reports, to 1e-9, over eight scenario families (issue 13, item 3)."""

from __future__ import annotations

from typing import Any

import pytest

from estimator.planner import plan
from estimator.planner.rank import plan_scenario, rank
from estimator.scenario_io import scenario_from_dict
from estimator.training import estimate_training

FAMILIES: dict[str, dict[str, Any]] = {
    "gpt-dense": {
        "model": "gpt3-2.7b",
        "training": {"tokens": 3.0e10, "global_batch": 512, "seq_len": 2048, "flash_attention": False},
        "plan": {"max_cp": 1},
    },
    "llama-gqa": {"model": "llama3-8b", "training": {"tokens": 1.0e11, "global_batch": 256, "seq_len": 8192}},
    "mixtral-ep": {
        "model": "mixtral-8x7b",
        "training": {"tokens": 1.0e11, "global_batch": 256, "seq_len": 4096},
        "plan": {"max_cp": 1, "max_virtual_stages": 1},
    },
    "t5-span": {
        "model": "t5-large",
        "training": {"tokens": 3.4e10, "global_batch": 2048, "seq_len": 512},
        "plan": {"max_cp": 1, "max_virtual_stages": 1},
    },
    "bert-mlm-nsp": {
        "model": "bert-large",
        "training": {"tokens": 1.3e11, "global_batch": 1024, "seq_len": 512},
        "plan": {"max_cp": 1},
    },
    "context-parallel": {
        "model": "llama3-8b",
        "training": {"tokens": 1.0e11, "global_batch": 64, "seq_len": 32768},
        "plan": {"max_cp": 8, "recompute": ["full"]},
    },
    "zero3": {
        "model": "llama2-13b",
        "training": {"tokens": 1.0e11, "global_batch": 512, "seq_len": 4096},
        "plan": {"zero_stages": [3], "max_cp": 1},
    },
    "qlora": {
        "model": "llama2-70b",
        "training": {"global_batch": 64, "seq_len": 2048},
        "finetune": {"method": "qlora", "rank": 16, "dataset_tokens": 1.0e8},
        "plan": {"max_cp": 1, "max_virtual_stages": 1},
    },
}
KEYS = {  # grid column -> (estimate key, index into it)
    "step_time_s": ("step_time_s", None),
    "train_days": ("train_time_s", "days"),
    "gpu_hours": ("gpu_hours", None),
    "cost_usd": ("cost_usd", None),
    "mfu": ("mfu", None),
    "hfu": ("hfu", None),
    "energy_kwh": ("energy_kwh", None),
    "co2_kg": ("co2_kg", None),
    "step_time_s_low": ("step_time_s_range", 0),
    "step_time_s_high": ("step_time_s_range", 1),
    "cost_usd_high": ("cost_usd_range", 1),
}


def _scenario(family: str) -> Any:
    doc = {"name": family, "hardware": "h100-sxm-80gb", "gpus": 1, **FAMILIES[family]}
    doc["plan"] = {
        "hardware": ["h100-sxm-80gb", "a100-sxm-80gb"],
        "max_gpus": 256,
        "min_gpus": 8,
        "micro_batches": [1, 2],
        **doc.get("plan", {}),
    }
    return scenario_from_dict(doc)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_plan_row_equals_estimator_train(family: str) -> None:
    sc = _scenario(family)
    assert sc.plan is not None
    result = plan(sc, sc.plan, progress=False)
    top = rank(result.table, "cost", 4)
    assert len(top) >= 2, f"{family}: too few plans to compare"
    for i, (_, row) in enumerate(top.iterrows(), start=1):
        scenario = plan_scenario(sc, row, i)
        est = estimate_training(scenario_from_dict(scenario)).to_json_dict()
        assert scenario.get("finetune") == (sc.finetune.model_dump(mode="json") if sc.finetune else None)
        for column, (key, index) in KEYS.items():
            value = est[key]
            if index == "days":
                value = value / 86400
            elif index is not None:
                value = value[index]
            assert value == pytest.approx(float(row[column]), rel=1e-9), (family, column)
        assert est["memory_per_gpu_bytes"]["total"] == pytest.approx(row["memory_per_gpu_bytes"], rel=1e-9)
        for part, seconds in est["time_breakdown_s"].items():
            assert seconds == pytest.approx(row[f"t_{part}"], rel=1e-9, abs=1e-12), (family, part)
