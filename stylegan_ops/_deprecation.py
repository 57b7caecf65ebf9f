"""Renamed keyword arguments: the old name keeps working, with a DeprecationWarning."""

import functools
import warnings


def renamed_keywords(**renames: str):
    """Decorator: `fn` also accepts each old keyword of `renames` (old name -> new name), warns, and passes it on
    under the new name. Giving both names is a TypeError."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{fn.__name__}() got both {old!r} (deprecated) and {new!r}")
                    warnings.warn(f"{fn.__name__}: the keyword {old!r} is deprecated; use {new!r}",
                                  DeprecationWarning, stacklevel=2)
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return wrapper

    return decorate
