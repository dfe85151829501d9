"""A low–high range on step time from the validation residuals, carried to days, GPU-hours and dollars.

The band is the spread of measured/predicted − 1 over the shipped published runs (no run is fitted
individually). Hardware the runs do not cover gets the band widened by `EXTRAPOLATION_MARGIN` on each
side: the model's mechanisms carry over, its constants are untested there.
"""

from __future__ import annotations

import functools

from estimator.num import Num

EXTRAPOLATION_MARGIN = 0.10


@functools.cache
def residual_band() -> tuple[float, float, frozenset[str]]:
    """(smallest, largest) measured/predicted − 1 over the validation runs, and the hardware they cover, as
    stored by `estimator validate --write` (estimates never run the validation)."""
    from estimator.validation import stored_band

    band = stored_band()
    return float(band["residual_low"]), float(band["residual_high"]), frozenset(band["hardware"])


def step_time_range(step_s: Num, hardware: str) -> tuple[Num, Num, str]:
    """(low, high) step time and a sentence saying where the band comes from."""
    low, high, covered = residual_band()
    if hardware in covered:
        note = (
            f"validation residuals on {len(covered)} profile(s): measured/predicted − 1 in "
            f"[{low:+.1%}, {high:+.1%}]"
        )
        return step_s * (1 + low), step_s * (1 + high), note
    note = (
        f"validation residuals [{low:+.1%}, {high:+.1%}] on {', '.join(sorted(covered))}, widened by "
        f"±{EXTRAPOLATION_MARGIN:.0%}: no published run on {hardware} is in the validation set"
    )
    return step_s * (1 + low - EXTRAPOLATION_MARGIN), step_s * (1 + high + EXTRAPOLATION_MARGIN), note
