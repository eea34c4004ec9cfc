"""BIDS labels (``sub-01`` -> ``01``): the one place where a label is cleaned and checked.

A BIDS label is letters and digits only.  The check uses :func:`re.fullmatch`: with
``re.match`` and ``$``, a trailing newline (``"01\\n"``) would pass, and reach file
names and pybids queries.
"""

from __future__ import annotations

import re

__all__ = ["LABEL", "LabelError", "clean_label", "optional_label"]

#: A valid BIDS label: letters and digits only (use with ``fullmatch``).
LABEL = re.compile(r"[A-Za-z0-9]+")


class LabelError(ValueError):
    """A BIDS label that is malformed (or, for the app, not in the dataset)."""


def clean_label(label: str, prefix: str) -> str:
    """Strip an optional ``<prefix>-`` (``sub-``, ``ses-``, ``acq-``) and refuse anything but letters and digits.

    >>> clean_label("sub-01", "sub"), clean_label("01", "sub"), clean_label("acq-16", "acq")
    ('01', '01', '16')
    >>> try:
    ...     clean_label("01\\n", "sub")
    ... except LabelError as error:
    ...     print(error)
    invalid sub label '01\\n': BIDS labels are letters and digits only (no path separators, wildcards or dots)
    """
    value = label[len(prefix) + 1:] if label.startswith(f"{prefix}-") else label
    if not LABEL.fullmatch(value):
        raise LabelError(
            f"invalid {prefix} label {label!r}: BIDS labels are letters and digits only "
            "(no path separators, wildcards or dots)"
        )
    return value


def optional_label(label: str | None, prefix: str) -> str | None:
    """:func:`clean_label` for an optional entity: None or ``""`` stays None."""
    return None if label in (None, "") else clean_label(label, prefix)
