"""Mechanisms of the step-time model: each option moves time where it should, breakdowns add up."""

from __future__ import annotations

import pytest

from estimator.comms import collective_time_s
from estimator.training import estimate_training
from estimator.training.step import step_time
from tests.conftest import make_scenario


def test_full_recompute_repeats_one_forward() -> None:
    """Narayanan et al. 2021 Sec. 3.5: full recomputation adds one forward pass to forward + backward, so
    hardware/model FLOPs are 4/3 (less the logits, which are not recomputed: Eq. 3 vs Eq. 7), and the time
    spent recomputing is about a third of the layers' forward-and-backward time (a little more: the recomputed
    forward repeats its tensor-parallel all-reduces, which `compute` does not contain)."""
    sc = make_scenario()
    st = step_time(sc)
    est = estimate_training(sc)
    h, s_, layers, vocab = 12288, 2048, 96, 50257
    eq3 = 1 + s_ / (6 * h) + vocab / (16 * layers * h)
    eq7 = 1 + s_ / (6 * h) + vocab / (12 * layers * h)
    assert est.flops_hardware_per_step / est.flops_model_per_step == pytest.approx(
        96 * eq3 / (72 * eq7), rel=1e-9
    )
    assert 0.30 < st.recompute / st.compute < 0.40


def test_selective_recompute_with_sp_is_faster_than_full() -> None:
    """Korthikanti et al. 2022 Table 5: 29–32 % more throughput; the model must at least order them."""
    full = step_time(make_scenario(parallelism={"recompute": "full"})).total
    sel = step_time(make_scenario(parallelism={"recompute": "selective", "sequence_parallel": True})).total
    assert 0.65 < sel / full < 0.9


def test_sequence_parallel_moves_the_same_volume() -> None:
    """AG + RS of S equals one all-reduce of S in bytes (Korthikanti et al. Sec. 4.2.2)."""
    kw = dict(n=8, payload_bytes=1e8, alpha_s=0.0, bandwidth_bytes_per_s=1e11)
    ar = collective_time_s(collective="all_reduce", **kw)
    assert collective_time_s(collective="all_gather", **kw) + collective_time_s(
        collective="reduce_scatter", **kw
    ) == pytest.approx(ar)


def test_no_tp_no_tp_comm_and_overlap_hides_dp() -> None:
    sc = make_scenario(
        model="gpt3-xl",
        gpus=64,
        parallelism={"tp": 1, "pp": 1, "recompute": "none", "micro_batch": 4},
        training={"global_batch": 512},
        assumptions={"overlap_grad_reduce": False},
    )
    exposed = step_time(sc)
    hidden = step_time(
        make_scenario(
            model="gpt3-xl",
            gpus=64,
            parallelism={"tp": 1, "pp": 1, "recompute": "none", "micro_batch": 4},
            training={"global_batch": 512},
            assumptions={"overlap_grad_reduce": True},
        )
    )
    assert exposed.tp_comm == 0 and exposed.dp_comm > hidden.dp_comm


def test_zero3_communicates_more_than_zero1() -> None:
    base = {"model": "llama2-7b", "gpus": 64, "training": {"global_batch": 256, "seq_len": 4096}}
    z1 = step_time(
        make_scenario(**base, parallelism={"tp": 1, "pp": 1, "zero_stage": 1, "recompute": "full"})
    )
    z3 = step_time(
        make_scenario(**base, parallelism={"tp": 1, "pp": 1, "zero_stage": 3, "recompute": "full"})
    )
    assert z3.dp_comm >= z1.dp_comm


def test_newer_hardware_is_faster_and_sensible() -> None:
    """Same job on A100, H100, B200: faster in that order, MFU within what published runs show (30–60 %)."""
    times = {}
    for hw in ("a100-sxm-80gb", "h100-sxm-80gb", "b200-sxm-180gb"):
        est = estimate_training(
            make_scenario(
                hardware=hw,
                parallelism={"recompute": "selective", "sequence_parallel": True},
                training={"flash_attention": True},
            )
        )
        times[hw] = est.step_time_s
        assert 0.30 < est.mfu < 0.62, (hw, est.mfu)
    assert times["a100-sxm-80gb"] > times["h100-sxm-80gb"] > times["b200-sxm-180gb"]


def test_uncertainty_band_widens_outside_the_validated_domain() -> None:
    """The band is the generation's leave-one-source-out residuals; each way out of what the runs cover
    (no run on the profile, a generation without runs, a stack, MoE, a small model, CP at short
    sequences) widens it by its stated margin and says so."""
    from estimator.uncertainty import EXTRAPOLATION_MARGIN, MARGINS

    def width(**kw: object) -> float:
        e = estimate_training(make_scenario(**kw))
        return (e.step_time_s_range[1] - e.step_time_s_range[0]) / e.step_time_s

    base = width(hardware="h100-sxm-80gb")
    assert width(hardware="h800-sxm-80gb") == pytest.approx(base + 2 * MARGINS["own_runs"])
    assert width(hardware="h100-sxm-80gb", stack="deepspeed") == pytest.approx(base + 2 * MARGINS["stack"])
    small = {"hardware": "h100-sxm-80gb", "gpus": 64, "parallelism": {"tp": 1, "pp": 1}}
    assert width(**small, model="gpt3-xl") == pytest.approx(base)  # 1.3 B: inside
    assert width(**small, model="gpt3-small") == pytest.approx(base + 2 * MARGINS["small_model"])
    from estimator.profiles import load_hardware

    a100 = load_hardware("a100-sxm-80gb").calibration.fitted.residuals  # type: ignore[union-attr]
    assert width(hardware="gaudi3") == pytest.approx(a100["high"] - a100["low"] + 2 * EXTRAPOLATION_MARGIN)
    note = estimate_training(make_scenario(hardware="h800-sxm-80gb")).assumptions["step_time_range"]
    assert "leave-one-source-out residuals" in note and "no published run on this profile" in note


def test_context_and_expert_parallel_communicate() -> None:
    cp = step_time(
        make_scenario(
            model="llama3-8b",
            gpus=16,
            parallelism={"tp": 2, "pp": 1, "cp": 4, "recompute": "none"},
            training={"global_batch": 16, "seq_len": 8192},
        )
    )
    assert cp.cp_comm >= 0 and cp.tp_comm > 0
    ep = step_time(
        make_scenario(
            model="mixtral-8x7b",
            gpus=64,
            parallelism={"tp": 2, "pp": 1, "ep": 8, "recompute": "full"},
            training={"global_batch": 64, "seq_len": 4096},
        )
    )
    assert ep.ep_comm > 0


def test_hardware_comparison_keeps_the_scenario_price_on_its_own_hardware() -> None:
    from estimator.sweeps import hardware_comparison

    table = hardware_comparison(make_scenario(), ["a100-sxm-80gb", "h100-sxm-80gb"]).set_index("hardware")
    own = estimate_training(make_scenario())
    assert table.loc["a100-sxm-80gb", "cost_usd"] == pytest.approx(own.cost_usd)
    h100 = estimate_training(make_scenario(hardware="h100-sxm-80gb", pricing={"usd_per_gpu_hour": None}))
    assert table.loc["h100-sxm-80gb", "cost_usd"] == pytest.approx(h100.cost_usd)


def test_op_roofline_adds_up_to_the_step_compute_and_bounds_follow_the_ridge() -> None:
    """The per-op view sums to the step model's compute time of the slowest stage (one code path checked
    against another), GEMMs of GPT-3 at 2048 tokens are compute-bound, norms memory-bound, collectives
    communication; the same GEMMs at 64 tokens per micro-batch fall under the A100's ridge point
    (312 TFLOP/s ÷ 2.0 TB/s ≈ 156 FLOP/byte) and become memory-bound."""
    from estimator.columns import Columns
    from estimator.scenario_io import load_scenario
    from estimator.training.step import (
        _stage_parts,
        links_of,
        op_roofline,
        resolve_efficiencies,
        stage_ledgers,
    )

    sc = load_scenario(None)
    rows = op_roofline(sc)
    bound = {r["op"]: r["bound_by"] for r in rows}
    assert bound["fc1"] == bound["qkv_proj"] == "compute"
    assert bound["norm"] == "memory" and bound["tp_exchange"] == "communication"
    c = Columns.from_scenario(sc)
    eff = resolve_efficiencies(sc.hardware, sc.precision_policy.compute_dtype)
    parts = [_stage_parts(s, eff, links_of(sc, c, eff), 0) for s in stage_ledgers(sc, c)]
    compute = max(float(p["compute"]) for p in parts) * float(c.micro_batches)
    ops = sum(r["seconds_per_step"] for r in rows if r["kind"] != "collective")
    assert ops == pytest.approx(compute, rel=1e-9)
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)
    short = sc.model_copy(
        update={"training": sc.training.model_copy(update={"seq_len": 64}), "model": sc.model}
    )
    assert {r["op"]: r["bound_by"] for r in op_roofline(short)}["fc1"] == "memory"
