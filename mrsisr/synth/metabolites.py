"""Metabolite concentrations: tissue-fraction-weighted literature values with smooth variation.

Concentrations are in LCModel "institutional units" close to mM (water-scaled). Healthy values
follow 7T MRSI/MRS reports for grey and white matter (e.g. NAA+NAAG ≈ 9–10 / 8–9 mM, Cr+PCr
≈ 8 / 6 mM, GPC+PCh ≈ 1.0 / 1.5 mM, Glu ≈ 10 / 6.5 mM, Gln ≈ 3.5 / 2.2 mM, Ins ≈ 6 / 5 mM,
Gly ≈ 0.9 / 0.6 mM); CSF holds none. High-grade glioma (e.g. Hangel et al. 2020, 7T FID-MRSI):
enhancing tumour has NAA and tCr down, tCho, Gly and Gln up, Ins variable; necrosis holds
almost nothing but lactate and lipid; oedema scales the underlying tissue's values
(:data:`OEDEMA_FACTOR`); non-enhancing tumour (inside the FLAIR abnormality, invisible as
tumour on the MRI) has raised tCho and lowered NAA (:data:`NON_ENHANCING`). The variation the MRI
does not explain (smooth fields, regions, subjects) is in :mod:`mrsisr.synth.landscape`, tumour
infiltration in :mod:`mrsisr.synth.tumour`, hot/cold spots in :mod:`mrsisr.synth.findings`.

Besides the seven network metabolites the generator carries the other rows LCModel reports
(Asp, GABA, GSH, Tau, Lac, lipids and macromolecules) so the tables look like real ones.
"""

from __future__ import annotations

import numpy as np


#: Concentration (institutional units ≈ mM) per compartment.
CONCENTRATIONS: dict[str, dict[str, float]] = {
    "tCho": {"gm": 1.0, "wm": 1.5, "csf": 0.0, "enhancing": 3.4, "necrosis": 0.25},
    "tCr": {"gm": 8.2, "wm": 6.0, "csf": 0.05, "enhancing": 4.5, "necrosis": 0.5},
    "NAA": {"gm": 9.6, "wm": 8.8, "csf": 0.0, "enhancing": 2.2, "necrosis": 0.4},
    "Gly": {"gm": 0.9, "wm": 0.6, "csf": 0.0, "enhancing": 2.8, "necrosis": 0.3},
    "Gln": {"gm": 3.6, "wm": 2.2, "csf": 0.1, "enhancing": 6.5, "necrosis": 0.6},
    "Glu": {"gm": 10.5, "wm": 6.5, "csf": 0.0, "enhancing": 5.0, "necrosis": 0.6},
    "Ins": {"gm": 5.8, "wm": 5.2, "csf": 0.1, "enhancing": 5.5, "necrosis": 0.6},
    "Asp": {"gm": 2.6, "wm": 1.8, "csf": 0.0, "enhancing": 1.2, "necrosis": 0.2},
    "GABA": {"gm": 1.3, "wm": 0.9, "csf": 0.0, "enhancing": 0.7, "necrosis": 0.1},
    "GSH": {"gm": 1.6, "wm": 1.4, "csf": 0.0, "enhancing": 2.0, "necrosis": 0.2},
    "Tau": {"gm": 1.5, "wm": 1.2, "csf": 0.0, "enhancing": 1.5, "necrosis": 0.2},
    "Lac": {"gm": 0.6, "wm": 0.5, "csf": 0.2, "enhancing": 3.0, "necrosis": 4.5},
    "MM": {"gm": 9.0, "wm": 8.0, "csf": 0.0, "enhancing": 7.0, "necrosis": 2.0},
    "Lip": {"gm": 0.0, "wm": 0.0, "csf": 0.0, "enhancing": 4.0, "necrosis": 25.0},
}
#: Concentration in non-enhancing tumour (infiltrative, low-grade-like component).
NON_ENHANCING = {"tCho": 2.6, "tCr": 5.0, "NAA": 3.5, "Gly": 1.8, "Gln": 4.5, "Glu": 5.5, "Ins": 6.5,
                 "Asp": 1.2, "GABA": 0.6, "GSH": 1.8, "Tau": 1.4, "Lac": 1.5, "MM": 7.5, "Lip": 1.0}
#: Multiplicative change of the underlying tissue's concentration in oedema.
OEDEMA_FACTOR = {"tCho": 1.15, "tCr": 0.85, "NAA": 0.65, "Gly": 1.3, "Gln": 1.35, "Glu": 0.85, "Ins": 1.25}
#: Lipid concentration of pure scalp fat / marrow (bleeds into the brain by k-space sampling).
EXTRACRANIAL_LIPID = 400.0

SPECIES = tuple(CONCENTRATIONS)


def concentration_maps(
    tissues: dict[str, np.ndarray],
    tumour: dict[str, np.ndarray] | None,
    variation: dict[str, np.ndarray],
    inositol_factor: float = 1.0,
    tissue_factors: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Concentration of every species at N points from tissue and tumour fractions.

    ``tissues`` holds ``gm``, ``wm``, ``csf`` and ``lipid`` (extra-cranial fat and marrow);
    ``tumour`` holds ``necrosis``, ``enhancing``, ``oedema`` and optionally ``nonenhancing``
    fractions, or is ``None``; ``variation`` holds each species' factor on everything
    (:meth:`mrsisr.synth.landscape.MetabolicLandscape.factors`); ``tissue_factors`` (species →
    factor, missing species: 1) multiply the brain tissue only (infiltration, spots, gliosis).
    """
    zeros = np.zeros_like(tissues["gm"])
    necrosis = tumour["necrosis"] if tumour else zeros
    enhancing = tumour["enhancing"] if tumour else zeros
    oedema = tumour["oedema"] if tumour else zeros
    nonenhancing = tumour.get("nonenhancing", zeros) if tumour else zeros
    healthy = np.clip(1.0 - necrosis - enhancing, 0.0, 1.0)
    tissue_factors = tissue_factors or {}
    maps: dict[str, np.ndarray] = {}
    for name, values in CONCENTRATIONS.items():
        tissue = tissues["gm"] * values["gm"] + tissues["wm"] * values["wm"]
        tissue = tissue * (1.0 + oedema * (OEDEMA_FACTOR.get(name, 1.0) - 1.0)) * tissue_factors.get(name, 1.0)
        tissue = tissue * (1.0 - nonenhancing) + nonenhancing * NON_ENHANCING[name]
        enhancing_value = values["enhancing"] * (inositol_factor if name == "Ins" else 1.0)
        lesion = enhancing * enhancing_value + necrosis * values["necrosis"]
        total = healthy * (tissue + tissues["csf"] * values["csf"]) + lesion
        maps[name] = (total * variation[name]).astype(np.float32)
    maps["Lip"] = maps["Lip"] + EXTRACRANIAL_LIPID * tissues["lipid"]
    return maps
