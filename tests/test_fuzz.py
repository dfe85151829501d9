"""Fuzzing the inputs: malformed scenarios and config.json files get an InputError that names the problem,
never another exception. ESTIMATOR_FUZZ_EXAMPLES sets the number of generated inputs per target (CI
default 300; raise it for longer runs)."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from estimator.errors import InputError
from estimator.hf_config import load_hf_config, model_from_hf_dict
from estimator.scenario_io import load_inference_scenario, load_scenario, scenario_from_dict
from estimator.training import estimate_training

EXAMPLES = int(os.environ.get("ESTIMATOR_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
GOOD = yaml.safe_load((Path(__file__).resolve().parent.parent / "examples" / "gpt3-175b.yaml").read_text())

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["gpt3-175b", "a100-sxm-80gb", "full", "bf16-mixed", "1e9", "80 GiB", "-1", "nan"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def _mutate(draw: st.DrawFn, doc: Any, depth: int = 0) -> Any:
    """Replace, delete or add one key somewhere in a valid scenario."""
    if not isinstance(doc, dict) or not doc:
        return draw(values)
    doc = dict(doc)
    key = draw(st.sampled_from(sorted(doc)))
    action = draw(st.sampled_from(["replace", "delete", "add", "recurse"]))
    if action == "replace":
        doc[key] = draw(values)
    elif action == "delete":
        del doc[key]
    elif action == "add":
        doc[draw(st.text(min_size=1, max_size=12))] = draw(values)
    else:
        doc[key] = _mutate(draw, doc[key], depth + 1)
    return doc


@st.composite
def mutated_scenarios(draw: st.DrawFn) -> Any:
    doc: Any = GOOD
    for _ in range(draw(st.integers(1, 3))):
        doc = _mutate(draw, doc)
    return doc


def _only_input_errors(data: Any) -> None:
    try:
        sc = scenario_from_dict(data)
    except InputError as exc:
        assert str(exc).strip(), "an input error must say what is wrong"
        return
    est = estimate_training(sc)  # a scenario that validates must estimate without error
    assert est.step_time_s > 0 and est.train_time_s > 0


@FUZZ
@given(data=mutated_scenarios())
def test_mutated_scenarios_only_raise_input_errors(data: Any) -> None:
    _only_input_errors(data)


@FUZZ
@given(data=values)
def test_arbitrary_documents_only_raise_input_errors(data: Any) -> None:
    _only_input_errors(data)


@FUZZ
@given(text=st.text(max_size=300))
def test_arbitrary_yaml_text(tmp_path_factory: Any, text: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "s.yaml"
    path.write_text(text, encoding="utf-8")
    for load in (load_scenario, load_inference_scenario):
        with contextlib.suppress(InputError):
            load(path)


HF_KEYS = [
    "model_type",
    "n_layer",
    "n_embd",
    "n_head",
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "intermediate_size",
    "num_layers",
    "d_model",
    "num_heads",
    "d_kv",
    "d_ff",
    "feed_forward_proj",
    "num_local_experts",
    "num_experts_per_tok",
    "head_dim",
    "max_position_embeddings",
    "tie_word_embeddings",
    "architectures",
]


@st.composite
def hf_configs(draw: st.DrawFn) -> dict[str, Any]:
    cfg = {k: draw(values) for k in draw(st.lists(st.sampled_from(HF_KEYS), max_size=10, unique=True))}
    cfg["model_type"] = draw(
        st.sampled_from(["gpt2", "bert", "t5", "llama", "mistral", "mixtral", "whisper", 3, None])
    )
    return cfg


@FUZZ
@given(cfg=hf_configs())
def test_hf_configs_only_raise_input_errors(cfg: dict[str, Any]) -> None:
    with contextlib.suppress(InputError):
        model_from_hf_dict(cfg)


@FUZZ
@given(raw=st.binary(max_size=200))
def test_hf_config_bytes(tmp_path_factory: Any, raw: bytes) -> None:
    path = tmp_path_factory.mktemp("cfg") / "config.json"
    path.write_bytes(raw)
    with contextlib.suppress(InputError):
        load_hf_config(path)


def test_json_upload_of_wrong_shape(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps([1, 2, 3]))
    with pytest.raises(InputError, match="JSON object"):
        load_hf_config(path)
