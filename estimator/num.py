"""The numeric type of the formulas, and the few choices they make, for a Python number (one estimate) or a
numpy array (the planner's grid) alike.

Every formula is plain arithmetic plus these functions, so the same code serves both paths;
`tests/test_properties.py` holds the array path equal to the scalar one. numpy is imported only when an
array is actually met: one estimate (`estimator train`) never loads it, which keeps the CLI's start-up short.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    import numpy.typing as npt

    Num: TypeAlias = float | npt.NDArray[Any]
    Flag: TypeAlias = Num  # 0/1 or a boolean, scalar or per grid row (bool and int are numbers to mypy)
else:  # annotations only: at run time a value is a number or, in the planner, a numpy array
    Num = Flag = float


def is_array(*values: object) -> bool:
    """Whether any of `values` is a numpy array (none can be unless numpy was imported)."""
    numpy = sys.modules.get("numpy")
    return numpy is not None and any(isinstance(v, numpy.ndarray) for v in values)


def _np() -> Any:
    import numpy

    return numpy


def maximum(a: Num, b: Num) -> Num:
    """Element-wise max (numpy's `maximum` on arrays)."""
    return _np().maximum(a, b) if is_array(a, b) else (a if a >= b else b)


def minimum(a: Num, b: Num) -> Num:
    """Element-wise min (numpy's `minimum` on arrays)."""
    return _np().minimum(a, b) if is_array(a, b) else (a if a <= b else b)


def where(condition: Num, a: Num, b: Num) -> Num:
    """`a` where `condition`, else `b` (numpy's `where` on arrays)."""
    if is_array(condition, a, b):
        chosen: Num = _np().where(condition, a, b)
        return chosen
    return a if condition else b


def clip(x: Num, low: Num, high: Num) -> Num:
    return minimum(maximum(x, low), high)


def ceil(x: Num) -> Num:
    if is_array(x):
        rounded: Num = _np().ceil(x)
        return rounded
    return float(math.ceil(x))


def choose(code: Num, options: Sequence[Num]) -> Num:
    """options[code] for a code 0, 1, 2, … (per grid row for an array of codes)."""
    if is_array(code, *options):
        np = _np()
        shape = np.broadcast_shapes(np.shape(code), *(np.shape(o) for o in options))
        chosen: Num = np.choose(np.broadcast_to(code, shape), [np.broadcast_to(o, shape) for o in options])
        return chosen
    return options[int(code)]


def reduce_maximum(values: Iterable[Num]) -> Num:
    """The element-wise largest of several values."""
    out: Num | None = None
    for v in values:
        out = v if out is None else maximum(out, v)
    return 0.0 if out is None else out


def shape_of(*values: object) -> tuple[int, ...]:
    """The broadcast shape of `values` (() for scalars)."""
    if not is_array(*values):
        return ()
    np = _np()
    shape: tuple[int, ...] = np.broadcast_shapes(*(np.shape(v) for v in values))
    return shape


def all_true(condition: Num) -> bool:
    return bool(_np().all(condition)) if is_array(condition) else bool(condition)
