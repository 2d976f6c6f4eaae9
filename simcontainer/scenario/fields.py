"""The field types every scenario and catalogue model shares: bounded numbers, whole numbers that
also come as floats, names without control characters, and the strict base model."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)

from simcontainer.scenario.errors import short_repr

if TYPE_CHECKING:
    pass


def _no_control_chars(v: str) -> str:
    bad = next((c for c in v if ord(c) < 32 or 127 <= ord(c) < 160), None)
    if bad is not None:
        raise ValueError(f"got {v!r}, which holds the control character {bad!r} "
                         "(allowed: printable text)")
    return v


def _whole_number(v: Any) -> Any:
    """Counts take an integer, or a float with nothing after the point (TOML ``20.0``); never
    text or true/false, which strict pydantic refuses for floats but lax ints would take."""
    if isinstance(v, bool | np.bool_) or not isinstance(v, numbers.Real):
        raise ValueError(f"got {short_repr(v)} (allowed: an integer)")
    return int(v) if isinstance(v, numbers.Integral) else v    # numpy integers too


# Every number is strict (no "600", no true) and finite (no nan, no inf): see Model. Sizes,
# rates and times stop at 1e15 (an exabyte in MiB, 30 million years in s): far above any host,
# and far enough below the float range that totals over 10,000 hosts stay finite in the JSON.
MAX_NUMBER = 1e15
NonNeg = Annotated[float, Field(ge=0, le=MAX_NUMBER)]
Positive = Annotated[float, Field(gt=0, le=MAX_NUMBER)]
Int = Annotated[int, BeforeValidator(_whole_number), Field(strict=False)]
# Counts and indexes with no bound of their own stop at 10**15, as other numbers do: beyond any
# count a run can hold, and far below what fails to convert to a float (count = 2**1024 crashed
# the size guard)
MAX_COUNT = 10**15
Name = Annotated[str, Field(min_length=1), AfterValidator(_no_control_chars)]


class Model(BaseModel):
    """Base for every schema object: unknown keys are errors; numbers are neither coerced from
    text or booleans nor allowed to be nan or infinite; a name is a string, never a list."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False,
                              validate_assignment=False)


# --------------------------------------------------------------------------- runtime profiles
