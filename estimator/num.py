"""The numeric type of the formulas: a Python number for one estimate, a numpy array for the planner's grid.

Every formula is plain arithmetic (and `np.maximum`/`np.where` where it must choose), so the same function
serves both; `tests/test_properties.py` holds the array path equal to the scalar one.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

Num: TypeAlias = float | npt.NDArray[Any]
Flag: TypeAlias = Num  # 0/1 or a boolean, scalar or per grid row (bool and int are numbers to mypy)


def is_array(value: object) -> bool:
    """Whether `value` is a grid column (a numpy array) rather than one configuration's scalar."""
    return isinstance(value, np.ndarray)
