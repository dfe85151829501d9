"""Multi-phase runs: each phase is the scenario with its own tokens, sequence length, global batch (or a batch
ramp), GPUs and layout; their steps, time, GPU-hours, dollars and energy add up.

Ref: Devlin et al. 2019 Sec. A.2 (BERT: 90 % of steps at sequence 128, the rest at 512); DeepSeek-AI 2024,
DeepSeek-V3 Sec. 4.2 (batch size ramped from 3,072 to 15,360 over the first 469B tokens) and Sec. 4.3 (the
long-context extension stages); Llama Team 2024 Sec. 3.4 (long-context pre-training at the end).
"""

from __future__ import annotations

from typing import Any

from estimator.errors import InputError
from estimator.specs.scenario import Scenario
from estimator.specs.workload import PhaseSpec

RAMP_STEPS = 8  # a batch ramp is evaluated as this many equal-token sub-phases at the interpolated batch


def _valid_batch(target: float, unit: int) -> int:
    """The multiple of `unit` (micro-batch × data-parallel size) nearest to `target`, at least one."""
    return max(unit, int(round(target / unit)) * unit)


def phase_scenarios(sc: Scenario) -> list[tuple[str, Scenario]]:
    """(label, scenario) of every phase (a ramp becomes RAMP_STEPS sub-phases); [("", sc)] without phases."""
    if not sc.phases:
        return [("", sc)]
    base = sc.model_dump(mode="json", exclude={"phases", "plan"})
    base["model"] = sc.model.model_dump(mode="json")
    base["hardware"] = sc.hardware.model_dump(mode="json")
    out: list[tuple[str, Scenario]] = []
    for i, phase in enumerate(sc.phases, start=1):
        label = phase.name or f"phase {i}"
        for sub_label, doc in _phase_docs(base, phase, label):
            try:
                out.append((sub_label, Scenario.model_validate(doc)))
            except ValueError as exc:
                raise InputError(f"phases[{i - 1}] ({label}): {exc}") from None
    return out


def _phase_docs(base: dict[str, Any], phase: PhaseSpec, label: str) -> list[tuple[str, dict[str, Any]]]:
    doc = {**base, "name": f"{base.get('name', 'scenario')}: {label}"}
    training = {**base["training"], "tokens": phase.tokens}
    if phase.seq_len is not None:
        training["seq_len"] = phase.seq_len
    if phase.gpus is not None:
        doc["gpus"] = phase.gpus
    if phase.parallelism:
        doc["parallelism"] = {**base["parallelism"], **phase.parallelism}
    if isinstance(phase.global_batch, int):
        training["global_batch"] = phase.global_batch
    doc["training"] = training
    ramp = phase.ramp
    if ramp is None:
        return [(label, doc)]
    par = doc["parallelism"]
    model_parallel = par.get("tp", 1) * par.get("pp", 1) * par.get("cp", 1)
    unit = par.get("micro_batch", 1) * (doc["gpus"] // model_parallel)
    start, end = ramp
    docs = []
    for k in range(RAMP_STEPS):
        batch = _valid_batch(start + (end - start) * (k + 0.5) / RAMP_STEPS, unit)
        sub = {**doc, "training": {**training, "tokens": phase.tokens / RAMP_STEPS, "global_batch": batch}}
        docs.append((f"{label} (batch {batch})", sub))
    return docs
