"""Software stacks (estimator/data/stacks.yaml): named sets of the switches that differ between
Megatron-LM 2021, Megatron-Core/NeMo, torchtitan, DeepSpeed and plain PyTorch. A scenario names its stack;
each switch it sets explicitly (training.flash_attention, assumptions.<switch>) wins."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

StackName = Literal["megatron-lm-2021", "megatron-core", "nemo", "torchtitan", "deepspeed", "pytorch-ddp"]
DEFAULT_STACK: StackName = "megatron-core"
STACKS_FILE = Path(__file__).resolve().parent.parent / "data" / "stacks.yaml"
# switch -> (section of the scenario it lives in, field)
SWITCHES: dict[str, tuple[str, str]] = {
    "flash_attention": ("training", "flash_attention"),
    "overlap_grad_reduce": ("assumptions", "overlap_grad_reduce"),
    "fp32_grad_reduce": ("assumptions", "fp32_grad_reduce"),
    "overlap_param_gather": ("assumptions", "overlap_param_gather"),
    "tp_comm_overlap": ("assumptions", "tp_comm_overlap"),
    "pp_comm_overlap": ("assumptions", "pp_comm_overlap"),
    "fused_elementwise": ("assumptions", "fused_elementwise"),
    "attention_kernel": ("assumptions", "attention_kernel"),
}


@functools.cache
def stacks() -> dict[str, dict[str, Any]]:
    from estimator.textio import read_yaml

    data: dict[str, dict[str, Any]] = read_yaml(STACKS_FILE)["stacks"]
    return data


def apply_stack(data: dict[str, Any]) -> dict[str, Any]:
    """The scenario mapping with every switch its stack sets and the mapping does not filled in."""
    name = data.get("stack", DEFAULT_STACK)
    known = stacks()
    if not isinstance(name, str) or name not in known:
        return data  # the field's own validation names the choices
    out = dict(data)
    for switch, (section, field) in SWITCHES.items():
        block = out.get(section)
        if block is None and section == "training":
            continue  # a missing training block is reported by its own validation
        block = dict(block) if isinstance(block, dict) else block
        if isinstance(block, dict) and field not in block:
            block[field] = known[name][switch]
            out[section] = block
        elif block is None:
            out[section] = {field: known[name][switch]}
    return out
