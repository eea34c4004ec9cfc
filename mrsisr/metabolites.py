"""The metabolites mrsisr knows: one table, read by the network, the readers and the synthetic cohort.

Each :class:`Metabolite` row holds the canonical name, the network's embedding index,
and every way a fitting tool writes the quantity:

* ``lcmodel``: LCModel's rows, its total first (``total`` is the row LCModel's
  standard basis reports for the quantity, e.g. ``GPC+PCh``);
* ``fsl_mrs``: FSL-MRS basis names (``--combine`` sums such as ``PCho+GPC``);
* ``mrsiprep``: MRSIPrep ``met-`` labels (``GPCPCh``, ``CrPCr``, ``NAANAAG``, ``tNAA``);
* ``aliases``: other spellings in use (``Cho``, ``mI``);
* ``alone``: a single component that stands for the total only when the named
  others were **not** fitted separately (``Cr`` is total creatine in a basis without
  ``PCr``; ``PCho`` is total choline in a basis without ``GPC``).

Rows with an ``index`` are the quantities the packaged network super-resolves, in the
order of its embedding (:data:`METABOLITES`).  Rows without one are known combined
quantities that the network cannot take: ``Glx`` (Glu+Gln, ``combines`` Glu and Gln)
is recognised so that a request for Glu or Gln on a fit that only has ``Glx`` says
so, instead of silently using the sum for one of them.

Adding a tool's spellings is one edit of one row (the FSL-MRS names are the
``fsl_mrs`` fields below); adding a metabolite is one new row (the embedding index is
explicit, so existing indices never shift).

>>> METABOLITES
('tCho', 'tCr', 'NAA', 'Gly', 'Gln', 'Glu', 'Ins')
>>> TABLE["tCho"].candidates[:4]
('GPC+PCh', 'Cho+GPC+PCh', 'PCho+GPC', 'GPCPCh')
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["METABOLITES", "Metabolite", "TABLE", "TOTALS", "combined_quantities"]


@dataclass(frozen=True)
class Metabolite:
    """One row of the table (see the module docstring for each field)."""

    name: str
    description: str
    index: int | None = None
    lcmodel: tuple[str, ...] = ()
    fsl_mrs: tuple[str, ...] = ()
    mrsiprep: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    alone: dict[str, tuple[str, ...]] = field(default_factory=dict)
    combines: tuple[str, ...] = ()

    @property
    def total(self) -> str:
        """LCModel's row for this quantity (the first of ``lcmodel``, else the canonical name)."""
        return self.lcmodel[0] if self.lcmodel else self.name

    @property
    def candidates(self) -> tuple[str, ...]:
        """Source names that denote this quantity, in order of preference (totals first, components last)."""
        names = (*self.lcmodel, *self.fsl_mrs, *self.mrsiprep, *self.aliases, *self.alone)
        return tuple(dict.fromkeys(names))


_ROWS = (
    Metabolite(
        "tCho", "total choline (glycerophosphocholine + phosphocholine)", index=0,
        lcmodel=("GPC+PCh", "Cho+GPC+PCh"), fsl_mrs=("PCho+GPC",), mrsiprep=("GPCPCh",), aliases=("tCho", "Cho"),
        alone={"PCho": ("GPC",), "PCh": ("GPC",), "GPC": ("PCho", "PCh")},
    ),
    Metabolite(
        "tCr", "total creatine (creatine + phosphocreatine)", index=1,
        lcmodel=("Cr+PCr",), fsl_mrs=("Cr+PCr",), mrsiprep=("CrPCr",), aliases=("tCr",), alone={"Cr": ("PCr",)},
    ),
    Metabolite(
        "NAA", "N-acetylaspartate (+ N-acetylaspartylglutamate when fitted together)", index=2,
        lcmodel=("NAA+NAAG",), fsl_mrs=("NAA+NAAG",), mrsiprep=("NAANAAG", "tNAA"), aliases=("NAA",),
    ),
    Metabolite("Gly", "glycine", index=3, lcmodel=("Gly",), fsl_mrs=("Gly",), mrsiprep=("Gly",), aliases=("Glyc",)),
    Metabolite("Gln", "glutamine", index=4, lcmodel=("Gln",), fsl_mrs=("Gln",), mrsiprep=("Gln",)),
    Metabolite("Glu", "glutamate", index=5, lcmodel=("Glu",), fsl_mrs=("Glu",), mrsiprep=("Glu",)),
    Metabolite(
        "Ins", "myo-inositol", index=6, lcmodel=("Ins",), fsl_mrs=("Ins",), mrsiprep=("Ins",), aliases=("mI", "myo-Ins"),
    ),
    Metabolite(
        "Glx", "glutamate + glutamine, fitted as one quantity", lcmodel=("Glu+Gln",), fsl_mrs=("Glu+Gln",),
        mrsiprep=("GluGln", "Glx"), combines=("Glu", "Gln"),
    ),
)

#: Every known quantity by canonical name, in table order.
TABLE: dict[str, Metabolite] = {row.name: row for row in _ROWS}

#: The metabolites the network knows, in the order of its embedding index.
METABOLITES: tuple[str, ...] = tuple(row.name for row in sorted((r for r in _ROWS if r.index is not None),
                                                                key=lambda r: r.index))

#: Each network metabolite's LCModel total row (what the synthetic cohort writes).
TOTALS: dict[str, str] = {name: TABLE[name].total for name in METABOLITES}


def _check_table() -> None:
    """The embedding indices must be 0..M-1, each once (a gap or a repeat would re-index the network)."""
    indices = sorted(row.index for row in _ROWS if row.index is not None)
    if indices != list(range(len(indices))):
        raise ValueError(f"mrsisr.metabolites: embedding indices {indices} are not 0..{len(indices) - 1} each once")


_check_table()


def combined_quantities(metabolite: str) -> list[Metabolite]:
    """The known combined quantities that contain ``metabolite`` (``Glu`` -> [Glx])."""
    return [row for row in _ROWS if metabolite in row.combines]
