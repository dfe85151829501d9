"""The dashboard's current scenario as flat fields, kept in the URL's query parameters so that a link
reproduces it. Only field plumbing lives here; every number comes from the estimator library.

Widgets own their values between reruns (keyed in session state); the URL is written from them after
every run. A URL that differs from the one this session last wrote — a pasted link, "Open plan" — is
loaded into the widgets once (`sync`). That order is what keeps repeated edits: the query parameters
never overwrite a value the user just typed.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import MutableMapping
from typing import Any

DEFAULTS: dict[str, Any] = {
    "model": "gpt3-175b",
    "hardware": "a100-sxm-80gb",
    "gpus": 1024,
    "tp": 8,
    "pp": 16,
    "cp": 1,
    "ep": 1,
    "micro_batch": 1,
    "virtual_stages": 1,
    "zero_stage": 1,
    "recompute": "full",
    "sequence_parallel": False,
    "precision": "bf16-mixed",
    "stack": "megatron-lm-2021",  # the embedded GPT-3 run's software (Narayanan et al. 2021)
    "flash_attention": False,
    "tokens": 3.0e11,
    "global_batch": 1536,
    "seq_len": 2048,
    "usd_per_gpu_hour": 0.0,  # 0: the hardware profile's dated, sourced price (it follows the hardware)
    "model_spec": "",  # a custom or uploaded model's fields, compact JSON (overrides `model`)
}
INT_FIELDS = {
    "gpus",
    "tp",
    "pp",
    "cp",
    "ep",
    "micro_batch",
    "virtual_stages",
    "zero_stage",
    "global_batch",
    "seq_len",
}
FLOAT_FIELDS = {"tokens", "usd_per_gpu_hour"}
BOOL_FIELDS = {"sequence_parallel", "flash_attention"}


# widget ranges: a URL value outside them is clamped with a notice (a widget given an out-of-range value
# raises)
BOUNDS: dict[str, tuple[float, float]] = {
    "gpus": (1, 1_000_000),
    "tp": (1, 4096),
    "pp": (1, 4096),
    "cp": (1, 4096),
    "ep": (1, 4096),
    "micro_batch": (1, 4096),
    "virtual_stages": (1, 64),
    "zero_stage": (0, 3),
    "tokens": (1.0, 1e16),
    "global_batch": (1, 10_000_000),
    "seq_len": (1, 1_048_576),
    "usd_per_gpu_hour": (0.0, 1000.0),
}
CHOICES: dict[str, tuple[str, ...]] = {
    "precision": ("fp32", "fp16-mixed", "bf16-mixed", "bf16", "fp8-mixed", "fp4-mixed"),
    "recompute": ("none", "selective", "full", "selective-op"),
    "stack": ("megatron-lm-2021", "megatron-core", "nemo", "torchtitan", "deepspeed", "pytorch-ddp"),
}
MODEL_SPEC_LIMIT = 4000  # characters of model JSON a URL may carry


def _known_names(key: str) -> list[str]:
    """The names a URL may give for `key`: shipped presets and profiles only, never a server path."""
    if key == "model":
        from estimator.presets import model_presets

        return list(model_presets())
    if key == "hardware":
        from estimator.profiles import builtin_profiles

        return sorted(builtin_profiles())
    return list(CHOICES.get(key, ()))


def _closest(value: str, known: list[str]) -> str:
    close = difflib.get_close_matches(value, known, n=3, cutoff=0.4)
    return f"; closest: {', '.join(close)}" if close else ""


KEPT_PREFIXES = ("tr_", "sv_", "pl_")  # widget keys of the training, serving and planner pages
NOT_SETTABLE = ("tr_upload",)  # a file uploader's state cannot be written back


def parse_query(params: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Fields from query parameters, and a notice for every parameter that could not be used.

    A URL names shipped presets and profiles only (a path to a file on the server is refused, whatever it
    names); an unknown name or an unreadable number keeps the default and says so — never a silent
    substitution and never a crash.
    """
    out, notices = dict(DEFAULTS), []
    for key, raw in params.items():
        if key not in DEFAULTS:
            continue
        text = str(raw)[:200]
        try:
            if key in INT_FIELDS or key in FLOAT_FIELDS:
                out[key] = _parse_number(key, text, notices)
            elif key in BOOL_FIELDS:
                out[key] = text.lower() in ("1", "true", "yes")
            elif key == "model_spec":
                spec, notice = parse_model_spec(str(raw))
                if notice:
                    notices.append(notice)
                out[key] = spec
            elif key in ("model", "hardware") or key in CHOICES:
                known = _known_names(key)
                if text not in known:
                    kind = {"model": "model preset", "hardware": "hardware profile"}.get(key, key)
                    notices.append(
                        f"URL parameter {key}={text!r} is not a known {kind}; showing {DEFAULTS[key]!r} "
                        f"instead{_closest(text, known)}"
                    )
                    continue
                out[key] = text
        except (ValueError, OverflowError):
            notices.append(f"URL parameter {key}={text!r} is not a number; showing {DEFAULTS[key]!r} instead")
    return out, notices


def _parse_number(key: str, text: str, notices: list[str]) -> float | int:
    """A number from the URL, clamped into its field's bounds (saying so); a fraction where a whole number
    belongs is truncated (saying so)."""
    number = float(text)
    if number != number:
        raise ValueError(text)
    low, high = BOUNDS[key]
    if not low <= number <= high:
        clamped = min(max(number, low), high)
        notices.append(
            f"URL parameter {key}={text!r} is outside {fmt_bound(low)}–{fmt_bound(high)}; "
            f"showing {fmt_bound(clamped)}"
        )
        number = clamped
    if key in INT_FIELDS and number != int(number):
        notices.append(
            f"URL parameter {key}={text!r} is not a whole number; showing {fmt_bound(int(number))}"
        )
    return int(number) if key in INT_FIELDS else number


def fmt_bound(x: float) -> str:
    """A bound as people write it: 1,000,000 rather than 1e+06."""
    return f"{x:,.0f}" if float(x).is_integer() and abs(x) < 1e15 else f"{x:,g}"


def from_query(params: dict[str, str]) -> dict[str, Any]:
    """Fields from query parameters (see `parse_query`); a value that cannot be used keeps the default."""
    return parse_query(params)[0]


def parse_model_spec(text: str) -> tuple[str, str | None]:
    """A custom model carried in the URL: compact JSON of ModelSpec fields, validated; ("", notice) when it
    cannot be used."""
    if not text:
        return "", None
    if len(text) > MODEL_SPEC_LIMIT:
        return (
            "",
            f"URL parameter model_spec is longer than {MODEL_SPEC_LIMIT} characters; showing the preset",
        )
    try:
        from estimator.specs.model import ModelSpec

        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        ModelSpec.model_validate(data)
    except Exception as exc:  # noqa: BLE001 - any defect in a URL is a notice, never a crash
        return "", f"URL parameter model_spec is not a valid model ({str(exc)[:160]}); showing the preset"
    return json.dumps(data, separators=(",", ":"), sort_keys=True), None


def encode_model(spec: dict[str, Any]) -> str:
    """A model's fields as compact JSON for the URL (fields at their defaults left out)."""
    from estimator.specs.model import ModelSpec

    full = ModelSpec.model_validate(spec)
    data = full.model_dump(mode="json", exclude_defaults=True)
    for key in ("n_layers", "d_model", "n_heads", "vocab_size", "max_seq_len", "architecture"):
        data[key] = getattr(full, key)
    data.pop("source", None)
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def model_of(fields: dict[str, Any]) -> Any:
    """The model the fields describe: the custom/uploaded spec when the URL carries one, else the preset."""
    return json.loads(fields["model_spec"]) if fields.get("model_spec") else fields["model"]


def model_label(fields: dict[str, Any]) -> str:
    if fields.get("model_spec"):
        return f"{json.loads(fields['model_spec']).get('name', 'custom')} (custom)"
    return str(fields["model"])


def to_query(fields: dict[str, Any]) -> dict[str, str]:
    return {k: str(fields[k]) for k in DEFAULTS if k in fields}


def sync(
    session: MutableMapping[str, Any], params: dict[str, str], prefix: str, fields: dict[str, Any]
) -> bool:
    """Load `fields` (parsed from the URL) into the widgets keyed `prefix + name` when the URL is not the
    one this session last wrote (first load, a pasted link, another page's "Open"); returns whether it
    did. Otherwise the widgets keep what the user typed."""
    marker = f"{prefix}_written"
    current = {k: str(v) for k, v in params.items() if k in DEFAULTS}
    if session.get(marker) == current and all(f"{prefix}{k}" in session for k in fields):
        return False
    for key, value in fields.items():
        session[f"{prefix}{key}"] = value
    return True


def written(session: MutableMapping[str, Any], prefix: str, query: dict[str, str]) -> None:
    """Remember the URL this run wrote, so the next run knows the widgets are ahead of it."""
    session[f"{prefix}_written"] = {k: v for k, v in query.items() if k in DEFAULTS}


def scenario_dict(fields: dict[str, Any], model: Any = None) -> dict[str, Any]:
    """The scenario mapping of the flat fields (`model` overrides the preset name with a mapping)."""
    return {
        "name": "dashboard scenario",
        "model": model if model is not None else model_of(fields),
        "hardware": fields["hardware"],
        "gpus": fields["gpus"],
        "parallelism": {
            k: fields[k]
            for k in (
                "tp",
                "pp",
                "cp",
                "ep",
                "micro_batch",
                "virtual_stages",
                "zero_stage",
                "recompute",
                "sequence_parallel",
            )
        },
        "precision": fields["precision"],
        "stack": fields["stack"],
        "training": {
            "tokens": fields["tokens"],
            "global_batch": fields["global_batch"],
            "seq_len": fields["seq_len"],
            "flash_attention": fields["flash_attention"],
        },
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
