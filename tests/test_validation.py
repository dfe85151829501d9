"""The time model against the 68 published runs: every run expressed, the shipped calibration equal to a
fresh fit, accuracy quoted leave-one-source-out, ranges that contain the measurements."""

from __future__ import annotations

import json
import math

import pytest

from estimator import validation as v
from estimator.cli import main
from estimator.profiles import load_hardware


def test_every_published_run_is_a_scenario() -> None:
    """Both shipped sets, every run with a measured step time, written from its published configuration."""
    assert len(v.runs("a100")) == 18
    assert len(v.runs("modern")) == 50
    assert v.unexpressible_runs() == []
    families = {r.family for r in v.runs("all")}
    assert {"narayanan-2021-table1", "korthikanti-2022-table5", "mlperf-gpt3", "torchtitan"} <= families
    # the frontier shapes of the modern set are written down as published, not approximated
    run = next(r for r in v.runs("modern") if r.id == "mlperf-v5.0-llama31-405b-h100-512")
    assert run.scenario.parallelism.stage_layers == (15, 16, 16, 16, 16, 16, 16, 15)
    assert run.scenario.model.n_layers == 126


@pytest.fixture(scope="module")
def rows() -> list[v.ValidationRow]:
    return v.validate("all")


def test_cross_validated_accuracy(rows: list[v.ValidationRow]) -> None:
    """Leave-one-source-out (each paper or benchmark family predicted by the calibration fitted without
    it), against the issue's bars: A100 median ≤ 5 %, max ≤ 10 %; modern median ≤ 7 %, max ≤ 20 %.
    Measured 2026-12-02: A100 3.9 % / 7.1 %, modern 4.9 % / 16.2 %."""
    a100 = v.summary([r for r in rows if r.run in {x.id for x in v.runs("a100")}], cv=True)
    modern = v.summary([r for r in rows if r.run in {x.id for x in v.runs("modern")}], cv=True)
    assert a100["median_abs_error"] <= 0.05 and a100["max_abs_error"] <= 0.10
    assert modern["median_abs_error"] <= 0.07 and modern["max_abs_error"] <= 0.20
    assert abs(modern["mean_error"]) <= 0.03  # no systematic optimism on today's hardware


def test_shipped_calibration_equals_a_fresh_fit() -> None:
    """Every profile's `calibration.fitted` block is what `estimator validate --fit --write` computes now
    (rerun it after changing the model)."""
    fresh = v.fitted_blocks()
    for name, block in fresh.items():
        shipped = load_hardware(name).calibration.fitted  # type: ignore[union-attr]
        assert shipped is not None, name
        for key in ("sustained", "memory_bandwidth_efficiency", "step_overhead_s", "network_efficiency"):
            assert getattr(shipped, key) == pytest.approx(getattr(block, key), abs=1e-9), (name, key)
        assert shipped.residuals == pytest.approx(block.residuals, abs=1e-9), name
        assert shipped.best_mfu == pytest.approx(block.best_mfu, abs=1e-9), name
        assert shipped.own_runs == block.own_runs and shipped.runs == block.runs
        assert shipped.command == "estimator validate --fit --write" and shipped.date


def test_fitted_parameters_are_physical() -> None:
    """Sustained GEMM shares below the best-shape benchmark and above a third of it; no fitted value at a
    search bound except where the data ask for it (network links at NCCL's line rate)."""
    for key, f in v.full_fit().items():
        for dtype, share in f.sustained.items():
            assert 0.5 < share < 1.0, (key, dtype, share)
        assert f.memory_bandwidth_efficiency is not None and 0.5 < f.memory_bandwidth_efficiency <= 1.0
        assert 0.0 <= f.step_overhead_s < 0.2, key


def test_the_vectorised_fit_evaluates_the_model_itself() -> None:
    """The fitter scores candidates through arrays; for the fitted values it must give the very numbers
    the estimate gives."""
    fits = v.full_fit()
    for run in v.runs("all")[::7]:
        fitted = v.calibration_of(run, fits)
        assert isinstance(fitted, type(next(iter(fits.values()))))
        grid = v._predict_grid(
            run,
            dict(fitted.sustained),
            fitted.memory_bandwidth_efficiency,
            fitted.step_overhead_s,
            fitted.network_efficiency,
        )
        assert float(grid) == pytest.approx(v.predict_s(run, fitted), rel=1e-9)


def test_ranges_contain_at_least_80_percent_of_measured_steps() -> None:
    """The estimate's step-time range (cross-validated residuals of the generation, widened outside the
    validated domain) holds the measured step of at least 80 % of the published runs."""
    from estimator.uncertainty import step_time_range

    inside = 0
    runs = v.runs("all")
    for run in runs:
        predicted = v.predict_s(run)
        low, high, note = step_time_range(predicted, run.scenario, run.scenario.parallelism.cp)
        inside += low <= run.measured_s <= high
        assert "residuals" in note
    assert inside / len(runs) >= 0.80


def test_validate_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--set", "a100", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["runs"]) == 18 and out["unexpressible"] == []
    assert {"run", "family", "measured_s", "predicted_s", "error", "cv_error"} <= set(out["runs"][0])
    assert not math.isnan(out["cross_validated"]["median_abs_error"])
    assert main(["validate", "--set", "modern"]) == 0
    text = capsys.readouterr().out
    assert "leave-one-source-out" in text and "hopper" in text and "runs not expressible" in text


def test_estimates_do_not_run_the_validation() -> None:
    from estimator.training import estimate_training
    from tests.conftest import make_scenario

    calls = []
    original = v.validate
    v.validate = lambda *a, **k: calls.append(1) or original(*a, **k)  # type: ignore[assignment,func-returns-value]
    try:
        estimate_training(make_scenario(hardware="h100-sxm-80gb"))
    finally:
        v.validate = original
    assert not calls


def test_stored_summary_equals_what_validation_computes() -> None:
    """Reports and the dashboard quote validation_summary.yaml; it is what the validation gives now."""
    stored, fresh = v.stored_summary(), v.summary_record()
    for name in ("a100", "modern", "all"):
        for kind in ("in_sample", "cross_validated"):
            for key, value in fresh["sets"][name][kind].items():
                assert stored["sets"][name][kind][key] == pytest.approx(value, rel=1e-9), (name, kind, key)
    assert len(stored["rows"]) == len(fresh["rows"]) == 68


def test_unstated_micro_batch_is_the_one_a_tuner_picks() -> None:
    """The Megatron-Core README table states no micro-batch; each run takes the fastest one that fits by
    the model's documented defaults (no fitted value, no measurement): under pipeline parallelism 1 (its many
    micro-batches shrink the bubble), without it the whole per-replica batch (one backward hides the
    gradient reduce-scatter); and the choice is said in the run's assumptions."""
    by = {r.id: r for r in v.runs("modern")}
    no_pp, with_pp = by["mlm-r0.8-weak-gpt-32b-h100-384"], by["mlm-r0.8-weak-gpt-177b-h100-2304"]
    assert no_pp.scenario.parallelism.micro_batch == 4 and with_pp.scenario.parallelism.micro_batch == 1
    assert "micro-batch 4 (tuned" in no_pp.assumed[-1]
    stated = by["nemo2407-llama3-8b-h100-8"]  # NeMo states MBS 1: a stated value is never tuned
    assert stated.scenario.parallelism.micro_batch == 1


def test_unstated_interleaving_follows_the_tables_own_practice() -> None:
    """Korthikanti et al. state three virtual stages for their pipelined 175B and 530B runs and nothing for
    1T, whose 2 layers per stage allow 1 or 2: the 1T runs take 2 (no model or measurement in the choice),
    and say so; Narayanan's 1T run, stated as not interleaved, keeps 1."""
    by = {r.id: r for r in v.runs("a100")}
    one_t = by["korthikanti2022-table5-1t-full_recompute"]
    assert one_t.scenario.parallelism.virtual_stages == 2
    assert "the table's practice (3 virtual stages" in one_t.assumed[-1]
    assert by["korthikanti2022-table5-530b-full_recompute"].scenario.parallelism.virtual_stages == 3
    assert by["megatron2021-table1-1008.0b"].scenario.parallelism.virtual_stages == 1
    with pytest.raises(ValueError, match="only micro_batch"):
        v.tuned(one_t.scenario, "virtual_stages")
