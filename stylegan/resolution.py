"""The one rule for image sizes: square, a power of two, at least 4 (what the networks, datasets, growth and SWD's
pyramid accept)."""

import numpy as np


def is_power_of_two(value) -> bool:
    """Whether `value` is an int (not a bool) that is a power of two."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1 \
        and not value & (value - 1)


def is_valid_resolution(value, minimum: int = 4) -> bool:
    """Whether `value` is an int power of two of at least `minimum`."""
    return is_power_of_two(value) and value >= minimum


def check_resolution(value, name: str = "resolution", minimum: int = 4) -> int:
    """`value` as an int, after checking that it is a power of two of at least `minimum` (ValueError naming `name`)."""
    if not is_valid_resolution(value, minimum):
        raise ValueError(f"{name} must be a power of two >= {minimum}, got {value!r}")
    return int(value)
