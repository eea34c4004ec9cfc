"""Metabolite names: from what a fitting tool wrote to the canonical names of :data:`mrsisr.METABOLITES`.

Fitting tools spell the same quantity in several ways: LCModel writes total choline
as ``GPC+PCh``, ``PCh+GPC`` or ``Cho+GPC+PCh``, FSL-MRS as ``PCho+GPC``; BIDS-style map
names drop the ``+`` (MRSIPrep's ``met-GPCPCh``); LCModel's spreadsheet cuts names to
13 characters.  The spellings live in one table, :mod:`mrsisr.metabolites`;
:func:`resolve_metabolite` picks, for each requested name, the first of the row's
``candidates`` present in a fitting output.  The rules beyond the table:

* a component ``alone`` (``Cr``, ``PCho``) counts only when its partners were not
  fitted separately;
* combined Glu+Gln (``Glx``, ``GluGln``, ``Glu+Gln``) is its own quantity: it is never
  used for ``Glu`` or ``Gln``, and asking for them where only the sum exists says so;
* sums of glycine and inositol (``Ins+Glyc``, ``mI+Gly``, ``Gly+Ins`` ...) are
  **never** used for ``Ins`` or ``Gly``: at short echo time the two overlap, the
  sum is neither metabolite, and substituting it would bias the maps silently.  If
  only such a sum exists the error says so; pass ``overrides={"Ins": "Ins+Glyc"}``
  to use it knowingly.  ``scyllo``-inositol (``sIns``, ``Scyllo``) is not ``Ins``.

Matching ignores case and the order of ``+``-joined parts, accepts the spelling
without ``+`` (``CrPCr``), and a 13-character name matches a longer candidate it is
the LCModel-cut prefix of.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import permutations

from mrsisr.io.errors import MetaboliteNotFoundError
from mrsisr.metabolites import TABLE, combined_quantities

__all__ = [
    "ALIASES",
    "CSV_NAME_LENGTH",
    "canonical_name",
    "csv_name",
    "names_match",
    "resolve_metabolite",
    "resolve_metabolites",
]

#: LCModel's spreadsheet cuts metabolite names to this many characters.
CSV_NAME_LENGTH = 13

#: Candidate source names of each known quantity, in order of preference (from :data:`mrsisr.metabolites.TABLE`).
ALIASES: dict[str, tuple[str, ...]] = {name: row.candidates for name, row in TABLE.items()}


def csv_name(name: str) -> str:
    """The name as LCModel's CSI spreadsheet writes it (cut to 13 characters)."""
    return name[:CSV_NAME_LENGTH]


def _spellings(name: str) -> set[str]:
    """Lower-case spellings of a (possibly ``+``-joined) name: any part order, with or without ``+``."""
    parts = [p for p in name.lower().split("+") if p]
    if len(parts) > 4:  # long sums: keep the order as written
        return {"+".join(parts), "".join(parts)}
    return {joiner.join(order) for order in permutations(parts) for joiner in ("+", "")}


def names_match(written: str, candidate: str) -> bool:
    """Whether a name as written by a tool denotes ``candidate`` (see the module rules)."""
    if written.lower() in _spellings(candidate):
        return True
    return len(written) == CSV_NAME_LENGTH and len(candidate) > CSV_NAME_LENGTH and (
        candidate.lower().startswith(written.lower())
    )


def canonical_name(name: str) -> str:
    """The canonical name for ``name`` when it is one of the aliases, else ``name`` itself.

    >>> canonical_name("PCh+GPC"), canonical_name("mI"), canonical_name("Lac")
    ('tCho', 'Ins', 'Lac')
    """
    for canonical, row in TABLE.items():
        aliases = [a for a in row.candidates if a not in row.alone]
        if names_match(name, canonical) or any(names_match(name, alias) for alias in aliases):
            return canonical
    return name


def _find(candidate: str, available: list[str]) -> str | None:
    return next((name for name in available if names_match(name, candidate)), None)


def _glycine_inositol_sums(available: Iterable[str]) -> list[str]:
    gly, ins = ("gly", "glyc"), ("ins", "mi", "myo-ins")
    sums = []
    for name in available:
        parts = name.lower().split("+")
        if any(p in gly for p in parts) and any(p in ins for p in parts):
            sums.append(name)
    return sums


def resolve_metabolite(
    requested: str, available: Iterable[str], overrides: Mapping[str, str] | None = None, where: str = ""
) -> tuple[str, str]:
    """Find ``requested`` among the ``available`` names; return ``(canonical, name as written)``.

    ``requested`` may be canonical (``tCho``), an alias (``GPC+PCh``, ``mI``) or any
    other fitted name (``Lac``).  ``overrides`` maps a canonical or requested name
    to the exact source name to use.  ``where`` names the source in the error.

    Raises
    ------
    MetaboliteNotFoundError
        Nothing matches; the message lists the names present.
    """
    available = list(available)
    canonical = canonical_name(requested)
    overrides = dict(overrides or {})
    forced = overrides.get(requested, overrides.get(canonical))
    if forced is not None:
        if forced not in available:
            raise MetaboliteNotFoundError(
                f"{where or 'the fitting output'}: the name {forced!r} given for {requested!r} is not present; "
                f"present: {', '.join(available)}"
            )
        return canonical, forced
    row = TABLE.get(canonical)
    candidates = row.candidates if row else (requested,)
    for candidate in candidates:
        blockers = row.alone.get(candidate, ()) if row else ()
        if any(_find(blocker, available) for blocker in blockers):
            continue
        found = _find(candidate, available)
        if found is not None:
            return canonical, found
    message = (
        f"{where or 'the fitting output'} has no {requested!r} (looked for {', '.join(candidates)}); "
        f"present: {', '.join(available) or 'nothing'}"
    )
    sums = _glycine_inositol_sums(available) if canonical in ("Ins", "Gly") else []
    if sums:
        message += (
            f". {', '.join(sums)} is a glycine+inositol sum (they overlap at short TE) and is not used for "
            f"{canonical}; to use it anyway, map it explicitly (overrides={{{canonical!r}: {sums[0]!r}}})"
        )
    message += _combined_note(canonical, requested, available)
    raise MetaboliteNotFoundError(message)


def _combined_note(canonical: str, requested: str, available: list[str]) -> str:
    """Why a metabolite present only inside a known combined quantity (Glu in Glx) cannot be used."""
    for combined in combined_quantities(canonical):
        written = next((_find(c, available) for c in combined.candidates if _find(c, available)), None)
        if written is not None:
            parts = "+".join(combined.combines)
            return (
                f". {requested} is present only as a combined {parts} ({combined.name}), which the packaged model "
                f"cannot super-resolve (it knows {' and '.join(combined.combines)} separately); the fit wrote it "
                f"as {written!r}"
            )
    return ""


def resolve_metabolites(
    requested: Iterable[str], available: Iterable[str], overrides: Mapping[str, str] | None = None, where: str = ""
) -> list[tuple[str, str]]:
    """Resolve several names at once; the error lists every missing one, not just the first."""
    available = list(available)
    resolved, problems = [], []
    for name in requested:
        try:
            resolved.append(resolve_metabolite(name, available, overrides, where))
        except MetaboliteNotFoundError as exc:
            problems.append(str(exc))
    if problems:
        raise MetaboliteNotFoundError("\n".join(problems))
    return resolved
