"""The analytic model against real PyTorch and Hugging Face layers: parameters, fvcore FLOPs,
FlopCounterMode FLOPs and saved-tensor bytes, on the default cases and on random small configurations."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from estimator.calibration.compare import flop_records, memory_records
from estimator.calibration.reference import FAMILIES, ReferenceCase, torch_layer_spec
from estimator.cli import main
from estimator.specs.model import ModelSpec

EXAMPLES = int(os.environ.get("ESTIMATOR_HYPOTHESIS_EXAMPLES", "6"))


def test_calibrate_flops_json_covers_every_family(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "flops", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert {r["model"] for r in records} == set(FAMILIES)
    for r in records:
        assert set(r) >= {"model", "config", "analytic", "measured", "rel_error"}
        limit = 1e-12  # params, fvcore and FlopCounterMode: exact (to rounding)
        assert abs(r["rel_error"]) <= limit, r
        if r["quantity"] == "forward_flops":
            assert r["note"].endswith("unsupported ops: none"), r


def test_calibrate_memory_json_covers_every_family(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "memory", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert {r["model"] for r in records} == set(FAMILIES)
    assert {("recompute full" in r["config"]) for r in records} == {True, False}
    assert any("selective" in r["config"] for r in records) and any(
        "flash kernel" in r["config"] for r in records
    )
    for r in records:
        assert abs(r["rel_error"]) <= 0.02, r


@st.composite
def cases(draw: st.DrawFn, family: str) -> ReferenceCase:
    """A random small configuration of one reference family."""
    heads = draw(st.integers(1, 4))
    d_head = draw(st.sampled_from([8, 16]))
    d_model = heads * d_head
    d_ff = draw(st.integers(2, 12)) * 8
    layers = draw(st.integers(1, 2))
    vocab = draw(st.integers(11, 97))
    dropout = draw(st.sampled_from([0.0, 0.1]))
    batch, seq, dec = draw(st.integers(1, 3)), draw(st.integers(2, 12)), draw(st.integers(1, 7))
    kv = draw(st.sampled_from([g for g in range(1, heads + 1) if heads % g == 0]))
    label = f"random h{d_model} a{heads} f{d_ff}"
    if family.startswith("torch"):
        arch = {
            "torch-encoder-layer": "encoder",
            "torch-decoder-layer": "encoder",
            "torch-transformer": "encoder-decoder",
        }[family]
        m = torch_layer_spec(
            n_layers=layers,
            d_model=d_model,
            n_heads=heads,
            d_ff=d_ff,
            dropout=dropout,
            activation=draw(st.sampled_from(["relu", "gelu"])),
            architecture=arch,
        )
    elif family == "gpt2":
        m = ModelSpec(
            name=family,
            n_layers=layers,
            d_model=d_model,
            n_heads=heads,
            d_ff=d_ff,
            vocab_size=vocab,
            max_seq_len=32,
            dropout=dropout,
            tie_embeddings=True,
        )
    elif family == "bert":
        m = ModelSpec(
            name=family,
            architecture="encoder",
            n_layers=layers,
            d_model=d_model,
            n_heads=heads,
            d_ff=d_ff,
            vocab_size=vocab,
            max_seq_len=32,
            dropout=dropout,
            type_vocab_size=2,
            embedding_norm=True,
            final_norm=False,
            pooler=True,
            nsp_head=True,
        )
    elif family == "t5":
        m = ModelSpec(
            name=family,
            architecture="encoder-decoder",
            n_layers=layers,
            n_decoder_layers=draw(st.integers(1, 2)),
            d_model=d_model,
            n_heads=heads,
            d_ff=d_ff,
            vocab_size=vocab,
            max_seq_len=32,
            ffn="relu",
            norm="rmsnorm",
            position="relative",
            bias=False,
            ffn_dropout=True,
            dropout=dropout,
            relative_attention_buckets=draw(st.integers(4, 16)),
            tie_embeddings=True,
        )
    else:
        experts = (
            dict(n_experts=draw(st.integers(2, 4)), top_k=draw(st.integers(1, 2)))
            if family == "mixtral"
            else {}
        )
        m = ModelSpec(
            name=family,
            n_layers=layers,
            d_model=d_model,
            n_heads=heads,
            n_kv_heads=kv,
            d_ff=d_ff,
            vocab_size=vocab,
            max_seq_len=32,
            ffn="swiglu",
            norm="rmsnorm",
            position="rope",
            bias=False,
            tie_embeddings=draw(st.booleans()),
            dropout=0.0,
            **experts,
        )
    return ReferenceCase(family, label, m, batch=batch, seq_len=seq, dec_len=dec)


@pytest.mark.parametrize("family", FAMILIES)
def test_random_configurations(family: str) -> None:
    """Hypothesis: params exactly sum(numel); matmul FLOPs exactly fvcore's; training FLOPs exactly
    FlopCounterMode; saved-tensor bytes within 2 % of the analytic activation terms."""

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(case=cases(family))
    def check(case: ReferenceCase) -> None:
        for r in flop_records(case):
            assert abs(r.rel_error) <= 1e-12, r
        for r in memory_records(case, dtypes=("fp32", "bf16")):
            assert abs(r.rel_error) <= 0.02, r

    check()
