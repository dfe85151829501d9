"""The dashboard's current scenario as flat fields, kept in the URL's query parameters so that a link
reproduces it. Only field plumbing lives here; every number comes from the estimator library."""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    "model": "gpt3-175b", "hardware": "a100-sxm-80gb", "gpus": 1024, "tp": 8, "pp": 16, "cp": 1, "ep": 1,
    "micro_batch": 1, "virtual_stages": 1, "zero_stage": 1, "recompute": "full", "sequence_parallel": False,
    "precision": "bf16-mixed", "flash_attention": False, "tokens": 3.0e11, "global_batch": 1536, "seq_len": 2048,
    "usd_per_gpu_hour": 2.0,
}
INT_FIELDS = {"gpus", "tp", "pp", "cp", "ep", "micro_batch", "virtual_stages", "zero_stage", "global_batch", "seq_len"}
FLOAT_FIELDS = {"tokens", "usd_per_gpu_hour"}
BOOL_FIELDS = {"sequence_parallel", "flash_attention"}


def from_query(params: dict[str, str]) -> dict[str, Any]:
    """Fields from query parameters; a value that does not parse keeps the default (never a crash)."""
    out = dict(DEFAULTS)
    for key, raw in params.items():
        if key not in DEFAULTS:
            continue
        try:
            if key in INT_FIELDS:
                out[key] = int(float(raw))
            elif key in FLOAT_FIELDS:
                out[key] = float(raw)
            elif key in BOOL_FIELDS:
                out[key] = raw.lower() in ("1", "true", "yes")
            else:
                out[key] = str(raw)[:200]
        except ValueError:
            continue
    return out


def to_query(fields: dict[str, Any]) -> dict[str, str]:
    return {k: str(fields[k]) for k in DEFAULTS if k in fields}


def scenario_dict(fields: dict[str, Any], model: Any = None) -> dict[str, Any]:
    """The scenario mapping of the flat fields (`model` overrides the preset name with a mapping)."""
    return {
        "name": "dashboard scenario",
        "model": model if model is not None else fields["model"],
        "hardware": fields["hardware"],
        "gpus": fields["gpus"],
        "parallelism": {k: fields[k] for k in ("tp", "pp", "cp", "ep", "micro_batch", "virtual_stages", "zero_stage",
                                               "recompute", "sequence_parallel")},
        "precision": fields["precision"],
        "training": {"tokens": fields["tokens"], "global_batch": fields["global_batch"], "seq_len": fields["seq_len"],
                     "flash_attention": fields["flash_attention"]},
        "pricing": {"usd_per_gpu_hour": fields["usd_per_gpu_hour"] or None},
    }


def field_errors(message: str) -> dict[str, str]:
    """Split an estimator error ("parallelism.tp: ...; training.global_batch: ...") by the field it names."""
    out: dict[str, str] = {}
    for part in message.replace("\n", "; ").split("; "):
        head, _, _ = part.partition(":")
        key = head.strip().split(".")[-1]
        out.setdefault(key if key in DEFAULTS or key == "model" else "_", part.strip())
    return out
