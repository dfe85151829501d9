"""Unit constants and conversions for display and for parsing user input.

Everything inside the estimator is SI (bytes, seconds, FLOPs, FLOP/s, bytes/s, USD); this module is
the only place that knows about GB, GiB, days or TFLOP/s. Formulas never convert units.
"""

from __future__ import annotations

import math
import re

KB = 1e3
MB = 1e6
GB = 1e9
TB = 1e12
KiB = 2.0**10
MiB = 2.0**20
GiB = 2.0**30
TiB = 2.0**40

SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86400.0
HOURS_PER_MONTH = 730.0  # 8760 h / 12, the convention of cloud price sheets

_PREFIXES = {
    "": 1.0,
    "k": KB,
    "K": KB,
    "M": MB,
    "G": GB,
    "T": TB,
    "P": 1e15,
    "Ki": KiB,
    "Mi": MiB,
    "Gi": GiB,
    "Ti": TiB,
    "Pi": 2.0**50,
}
# "B" (or "byte(s)") is a byte, "b" (or "bit(s)") a bit: NICs are quoted in Gb/s, memories in GB/s
_UNIT = re.compile(r"^(?P<prefix>[kKMGTP]i?)?(?P<unit>B|bytes?|b|bits?)(?P<rate>/s|ps)?$")
_QUANTITY = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z/]+)\s*$")
UNITS_HELP = (
    "B or byte = bytes, b or bit = bits (÷ 8); prefixes k, M, G, T, P (10³…) and Ki, Mi, Gi, Ti, Pi "
    "(2¹⁰…); rates end in /s: '80 GiB', '2.039 TB/s', '400 Gb/s' (= 50 GB/s)"
)


def _scale(unit: str, *, rate: bool) -> float | None:
    """Bytes (per second with `rate`) in one `unit`, or None if `unit` is not a unit of that kind."""
    match = _UNIT.match(unit)
    if match is None or bool(match.group("rate")) != rate:
        return None
    bits = match.group("unit") in ("b", "bit", "bits")
    return _PREFIXES[match.group("prefix") or ""] / (8.0 if bits else 1.0)


def _parse(value: object, *, rate: bool, what: str, example: str) -> object:
    if not isinstance(value, str):
        return value
    match = _QUANTITY.match(value)
    scale = _scale(match.group(2), rate=rate) if match else None
    if match and scale is not None:
        return float(match.group(1)) * scale
    try:
        return float(value)
    except ValueError:
        raise ValueError(
            f"cannot read {value!r} as {what}; write e.g. {example} (B = bytes, b = bits)"
        ) from None


def parse_bytes(value: object) -> object:
    """Parse '80 GiB', '40GB', '1.5e9 bytes' to a float number of bytes; pass numbers through.

    Anything else is returned unchanged so that the pydantic field reports it with its own message.
    """
    return _parse(value, rate=False, what="a byte count", example="'80 GiB' or '40 GB'")


def parse_bytes_per_s(value: object) -> object:
    """Parse '2.039 TB/s', '300 GB/s', '400 Gb/s' (bits: 50 GB/s) to bytes per second; pass numbers
    through."""
    return _parse(value, rate=True, what="a bandwidth", example="'2.0 TB/s', '300 GB/s' or '400 Gb/s'")


def fmt_bytes(n: float) -> str:
    """Human form of a byte count in binary units (GiB), the unit `nvidia-smi` and allocators report."""
    if not math.isfinite(n):
        return str(n)
    for unit, size in (("TiB", TiB), ("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if abs(n) >= size:
            return f"{n / size:,.2f} {unit}"
    return f"{n:,.0f} B"


def fmt_duration(seconds: float) -> str:
    """Human form of a duration: ms, s, h or days."""
    if not math.isfinite(seconds):
        return str(seconds)
    if seconds < 1.0:
        return f"{seconds * 1e3:,.1f} ms"
    if seconds < 2 * SECONDS_PER_HOUR:
        return f"{seconds:,.2f} s"
    if seconds < 2 * SECONDS_PER_DAY:
        return f"{seconds / SECONDS_PER_HOUR:,.1f} h"
    return f"{seconds / SECONDS_PER_DAY:,.1f} days"


def fmt_count(n: float) -> str:
    """Human form of a large count: 1.75e11 -> '175.0 B'."""
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:,.2f} {unit}"
    return f"{n:,.0f}"


def fmt_usd(usd: float) -> str:
    """Human form of a dollar amount."""
    if abs(usd) >= 1e6:
        return f"${usd / 1e6:,.2f} M"
    if abs(usd) >= 1e3:
        return f"${usd / 1e3:,.1f} k"
    return f"${usd:,.2f}"
