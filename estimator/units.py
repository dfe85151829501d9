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

_BYTE_UNITS = {
    "b": 1.0, "byte": 1.0, "bytes": 1.0,
    "kb": KB, "mb": MB, "gb": GB, "tb": TB,
    "kib": KiB, "mib": MiB, "gib": GiB, "tib": TiB,
}
_RATE_UNITS = {"b/s": 1.0, "kb/s": KB, "mb/s": MB, "gb/s": GB, "tb/s": TB}
_QUANTITY = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z/]+)\s*$")


def parse_bytes(value: object) -> object:
    """Parse '80 GiB', '40GB', '1.5e9 bytes' to a float number of bytes; pass numbers through.

    Anything else is returned unchanged so that the pydantic field reports it with its own message.
    """
    if isinstance(value, str):
        match = _QUANTITY.match(value)
        if match and match.group(2).lower() in _BYTE_UNITS:
            return float(match.group(1)) * _BYTE_UNITS[match.group(2).lower()]
        try:
            return float(value)
        except ValueError:
            raise ValueError(
                f"cannot read {value!r} as a byte count; write a number of bytes or e.g. '80 GiB', '40 GB'"
            ) from None
    return value


def parse_bytes_per_s(value: object) -> object:
    """Parse '2.039 TB/s', '300 GB/s' to bytes per second; pass numbers through."""
    if isinstance(value, str):
        match = _QUANTITY.match(value)
        if match and match.group(2).lower() in _RATE_UNITS:
            return float(match.group(1)) * _RATE_UNITS[match.group(2).lower()]
        try:
            return float(value)
        except ValueError:
            raise ValueError(
                f"cannot read {value!r} as a bandwidth; write bytes per second or e.g. '2.0 TB/s', '300 GB/s'"
            ) from None
    return value


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
