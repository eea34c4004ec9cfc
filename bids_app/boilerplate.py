"""The methods paragraph a user can paste into a paper (like fMRIPrep's boilerplate), with references.

:func:`methods_markdown` turns the facts of a run (what ran, versions, parameters; gathered
from the derivatives' sidecars by :mod:`mrsisr.bids_app.report`) into Markdown: a
paragraph per stage, the references it cites, and the CC0 waiver that lets authors copy
it unchanged. :func:`write_citation` writes it as ``OUTPUT_DIR/logs/CITATION.md``.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["MethodsFacts", "REFERENCES", "facts_from_sidecar", "fitting_tool_name", "methods_html", "methods_markdown",
           "write_citation"]

#: The references the paragraph may cite, by key: the text cites ``[key]``; they are numbered in
#: the order of first citation.
REFERENCES: dict[str, str] = {
    "mcm": "Dong S, Hangel G, Bogner W, Widhalm G, Rössler K, Trattnig S, You C, de Graaf R, Onofrey JA, "
           "Duncan JS. Multi-scale super-resolution magnetic resonance spectroscopic imaging with adjustable "
           "sharpness. Medical Image Computing and Computer Assisted Intervention (MICCAI) 2022. "
           "arXiv:2206.08984, doi:10.48550/arXiv.2206.08984",
    "lcmodel": "Provencher SW. Estimation of metabolite concentrations from localized in vivo proton NMR spectra. "
               "Magn Reson Med. 1993;30(6):672-679. doi:10.1002/mrm.1910300604",
    "fslmrs": "Clarke WT, Stagg CJ, Jbabdi S. FSL-MRS: An end-to-end spectroscopy analysis package. "
              "Magn Reson Med. 2021;85(6):2950-2964. doi:10.1002/mrm.28630",
    "bet": "Smith SM. Fast robust automated brain extraction. Hum Brain Mapp. 2002;17(3):143-155. "
           "doi:10.1002/hbm.10062",
    "flirt": "Jenkinson M, Smith S. A global optimisation method for robust affine registration of brain images. "
             "Med Image Anal. 2001;5(2):143-156. doi:10.1016/S1361-8415(01)00036-6",
    "flirt2": "Jenkinson M, Bannister P, Brady M, Smith S. Improved optimization for the robust and accurate "
              "linear registration and motion correction of brain images. NeuroImage. 2002;17(2):825-841. "
              "doi:10.1006/nimg.2002.1132",
    "simpleitk": "Lowekamp BC, Chen DT, Ibáñez L, Blezek D. The design of SimpleITK. Front Neuroinform. "
                 "2013;7:45. doi:10.3389/fninf.2013.00045",
    "nipype": "Gorgolewski K, Burns CD, Madison C, Clark D, Halchenko YO, Waskom ML, Ghosh SS. Nipype: a flexible, "
              "lightweight and extensible neuroimaging data processing framework in Python. Front Neuroinform. "
              "2011;5:13. doi:10.3389/fninf.2011.00013",
    "pytorch": "Paszke A, Gross S, Massa F, et al. PyTorch: an imperative style, high-performance deep learning "
               "library. Advances in Neural Information Processing Systems 32 (NeurIPS). 2019",
    "scipy": "Virtanen P, Gommers R, Oliphant TE, et al. SciPy 1.0: fundamental algorithms for scientific computing "
             "in Python. Nat Methods. 2020;17:261-272. doi:10.1038/s41592-019-0686-2",
}

_CITATION = re.compile(r"\[([a-z0-9]+(?:, [a-z0-9]+)*)\]")
_WAIVER = ("The above methods text was generated automatically by mrsisr from the parameters and software "
           "versions of this run, with the intention that users copy and paste it into their manuscripts "
           "unchanged. It is released under the [CC0](https://creativecommons.org/publicdomain/zero/1.0/) licence.")


@dataclass(frozen=True)
class MethodsFacts:
    """What ran: every value the methods paragraph states (``None``/empty: not stated)."""

    version: str
    metabolites: tuple[str, ...]
    sharpness: tuple[float, ...]
    acquired_matrix: tuple[int, ...]
    target_matrix: int
    skullstrip_backend: str | None = None
    coreg_backend: str | None = None
    fitting_tool: str | None = None
    missing_metabolites: tuple[str, ...] = ()
    flair: bool = True
    flair_substitute: str | None = None
    field_strength_t: float | None = None
    voxel_size_mm: tuple[float, float, float] | None = None
    thresholds: dict = field(default_factory=dict)
    model_variant: str | None = None
    model_sha256: str | None = None
    placeholder_model: bool = False
    lambda_origin: float = 0.0
    simulated: bool = False
    ratios: tuple[str, ...] = ()
    ratio_floor_fraction: float | None = None
    output_spaces: tuple[str, ...] = ("orig",)
    versions: dict = field(default_factory=dict)


def fitting_tool_name(source_format: str | None) -> str | None:
    """The fitting tool behind a loader ``SourceFormat`` (``table``/``csv``: LCModel, ``fsl-mrs``: FSL-MRS).

    >>> fitting_tool_name("csv"), fitting_tool_name("fsl-mrs"), fitting_tool_name(None)
    ('LCModel', 'FSL-MRS', None)
    """
    return {"table": "LCModel", "csv": "LCModel", "lcmodel": "LCModel", "fsl-mrs": "FSL-MRS",
            "fsl_mrsi": "FSL-MRS", "nifti": "NIfTI maps"}.get(str(source_format).lower()) if source_format else None


def _version(facts: MethodsFacts, package: str) -> str:
    value = facts.versions.get(package)
    return f" {value}" if value and value != "n/a" else ""


def _listing(items) -> str:
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


def _anatomy(facts: MethodsFacts) -> str:
    if facts.skullstrip_backend == "fsl":
        strip = "with BET (FSL) [bet]"
    elif facts.skullstrip_backend == "python":
        strip = f"with brainextractor{_version(facts, 'brainextractor')}, a Python implementation of BET [bet]"
    else:
        strip = "(brain extraction)"
    text = f"The T1-weighted (T1w) image was skull-stripped {strip}. "
    if not facts.flair:
        substitute = facts.flair_substitute or "the substitute that the model was trained with"
        return text + f"No FLAIR image was available; the network's FLAIR input was {substitute}. "
    if facts.coreg_backend == "fsl":
        how = "with FLIRT (FSL; 6 degrees of freedom, rigid) [flirt, flirt2]"
    elif facts.coreg_backend == "python":
        how = (f"with SimpleITK{_version(facts, 'SimpleITK')} (rigid, 6 degrees of freedom, Mattes mutual "
               "information) [simpleitk]")
    else:
        how = "rigidly (6 degrees of freedom)"
    return text + f"The FLAIR image was co-registered to the T1w {how} and masked with the T1w brain mask. "


def _quality(facts: MethodsFacts) -> str:
    limits = facts.thresholds
    rules = []
    if limits.get("SNRMin") is not None:
        rules.append(f"S/N below {limits['SNRMin']:g}")
    if limits.get("FWHMMax") is not None:
        rules.append(f"a linewidth (FWHM) above {limits['FWHMMax']:g} ppm")
    if limits.get("CRLBMax") is not None:
        rules.append(f"a Cramér-Rao lower bound above {limits['CRLBMax']:g} %SD")
    rules.append("a position outside the eroded brain mask")
    text = "Voxels were rejected for " + _listing(rules) + ". "
    if limits.get("MinSliceFraction") is not None:
        text += (f"Axial slices were kept when their valid voxels reached {limits['MinSliceFraction']:g} of those of "
                 "the fullest slice (--min-slice-fraction). ")
    if limits.get("MinValidFraction") is not None:
        text += (f"Axial slices were kept when their valid voxels reached a fraction of {limits['MinValidFraction']:g} "
                 "(--min-valid-fraction). ")
    return text


def _mrsi(facts: MethodsFacts) -> str:
    tool = facts.fitting_tool or "the spectral fitting tool"
    if facts.fitting_tool == "LCModel":
        tool = "LCModel [lcmodel]"
    elif facts.fitting_tool == "FSL-MRS":
        tool = "FSL-MRS (fsl_mrsi) [fslmrs]"
    matrices = _listing(f"{n}×{n}" for n in facts.acquired_matrix) or "the acquired"
    grid = f"{matrices} in-plane matrix"
    if facts.voxel_size_mm:
        grid += " (voxels of " + " × ".join(f"{v:.3g}" for v in facts.voxel_size_mm) + " mm)"
    field_text = f" at {facts.field_strength_t:.3g} T" if facts.field_strength_t else ""
    how = (" (simulated by k-space truncation of the measured high-resolution maps, for evaluation)"
           if facts.simulated else "")
    text = (f"Metabolite maps quantified by {tool} from MRSI acquired{field_text} on a {grid}{how} were filtered "
            f"for quality. {_quality(facts)}")
    text += ("The T1w and FLAIR images were resampled onto the MRSI slab at three times its resolution in every "
             f"direction. The maps of {_listing(facts.metabolites)} were super-resolved to a "
             f"{facts.target_matrix}×{facts.target_matrix} matrix with a multi-encoder UNet with the "
             "Multi-Conditional Module [mcm]: its convolution filters are scaled by the acquired matrix size and the "
             "metabolite (Filter Scaling), its conditional instance normalisation by the weight λ of the adversarial "
             "loss (adjustable sharpness), and a data-consistency step keeps the measured k-space. ")
    text += f"The maps were produced at λ = {_listing(f'{lam:g}' for lam in facts.sharpness)}"
    if facts.model_variant or facts.model_sha256:
        text += f" with the {facts.model_variant or ''} model (weights SHA-256 {str(facts.model_sha256)[:12]}…)"
    text += ". "
    if facts.lambda_origin:
        from mrsisr.models.conditioning import trained_sharpness

        slope = trained_sharpness(1.0, facts.lambda_origin) - facts.lambda_origin
        text += (f"The sharpness control of these weights starts at the trained λ = {facts.lambda_origin:g} (the λ of "
                 f"highest fidelity on validation subjects): a requested λ stands for the trained "
                 f"λ = {facts.lambda_origin:g} + {slope:g}·λ. ")
    if facts.placeholder_model:
        text += "These weights are a placeholder (untrained) model: the maps must not be interpreted. "
    if facts.missing_metabolites:
        text += (f"{_listing(facts.missing_metabolites)} could not be super-resolved: absent from the fitting "
                 "output or not known to the model (e.g. a combined Glu+Gln). ")
    if facts.ratios:
        floor = (f" and the denominator exceeded {100 * facts.ratio_floor_fraction:g} % of its 99th percentile"
                 if facts.ratio_floor_fraction is not None else "")
        text += (f"Ratio maps ({_listing(facts.ratios)}) were computed from the super-resolved maps where both "
                 f"maps were valid{floor}. ")
    if "T1w" in facts.output_spaces:
        text += ("The super-resolved and ratio maps were also resampled onto the T1w grid by trilinear "
                 "interpolation normalised within their masks, so that masked-out voxels do not bias the values. ")
    return text


def _methods_parts(facts: MethodsFacts) -> tuple[list[str], list[str]]:
    """The paragraphs (citations as ``[1, 2]``) and the references they cite, numbered in order."""
    parts = [f"Results included in this manuscript come from super-resolution of MRSI metabolite maps performed "
             f"with *mrsisr* {facts.version} [mcm], a Nipype{_version(facts, 'nipype')} workflow [nipype].",
             _anatomy(facts).strip(), _mrsi(facts).strip(),
             f"The network ran with PyTorch{_version(facts, 'torch')} [pytorch]; resampling used "
             f"SciPy{_version(facts, 'scipy')} [scipy] and NiBabel{_version(facts, 'nibabel')}."]
    order: list[str] = []  # numbered in the order of first citation
    for group in _CITATION.findall("\n".join(parts)):
        order += [key for key in group.split(", ") if key not in order]
    numbers = {key: index + 1 for index, key in enumerate(order)}

    def number(match: re.Match) -> str:
        return "[" + ", ".join(str(numbers[key]) for key in match.group(1).split(", ")) + "]"

    return [_CITATION.sub(number, part) for part in parts], [REFERENCES[key] for key in order]


def methods_markdown(facts: MethodsFacts) -> str:
    """The methods paragraph with numbered references, as Markdown (``logs/CITATION.md``)."""
    paragraphs, references = _methods_parts(facts)
    listing = "\n".join(f"{index}. {text}" for index, text in enumerate(references, 1))
    return (f"# Methods (mrsisr {facts.version})\n\n" + "\n\n".join(paragraphs)
            + f"\n\n## References\n\n{listing}\n\n{_WAIVER}\n")


def methods_html(facts: MethodsFacts) -> str:
    """The same text as HTML, for the report."""
    paragraphs, references = _methods_parts(facts)
    body = "".join(f"<p>{html.escape(p).replace('*mrsisr*', '<i>mrsisr</i>')}</p>" for p in paragraphs)
    items = "".join(f"<li>{html.escape(text)}</li>" for text in references)
    waiver = html.escape(_WAIVER).replace("[CC0](https://creativecommons.org/publicdomain/zero/1.0/)", "CC0")
    return f"<div class='methods'>{body}<h3>References</h3><ol>{items}</ol><p><small>{waiver}</small></p></div>"


def facts_from_sidecar(meta: dict, *, metabolites, sharpness, ratios=(), output_spaces=("orig",),
                       missing_metabolites=None, flair: bool = True, flair_substitute: str | None = None,
                       fitting_tool: str | None = None, field_strength_t: float | None = None,
                       voxel_size_mm=None, acquired_matrix=None) -> MethodsFacts:
    """:class:`MethodsFacts` from a super-resolved map's sidecar plus what the sidecar does not hold.

    Arguments left ``None`` fall back on the sidecar (``MissingMetabolites``, ``FittingTool`` or
    ``SourceFormat``), so that the values other steps record there are used when given.
    """
    import mrsisr
    from mrsisr.defaults import RATIO_DENOMINATOR_FLOOR

    model = meta.get("Model", {})
    if missing_metabolites is None:
        missing_metabolites = meta.get("MissingMetabolites", ())
    tool = fitting_tool or meta.get("FittingTool") or fitting_tool_name(meta.get("SourceFormat"))
    matrices = acquired_matrix if acquired_matrix is not None else [meta.get("AcquiredMatrix")]
    return MethodsFacts(
        version=mrsisr.__version__, metabolites=tuple(metabolites), sharpness=tuple(float(v) for v in sharpness),
        acquired_matrix=tuple(sorted({int(n) for n in matrices if n is not None})),
        target_matrix=int(meta.get("TargetMatrix", 64)), skullstrip_backend=meta.get("SkullStrippingBackend"),
        coreg_backend=meta.get("CoregistrationBackend"), fitting_tool=tool,
        missing_metabolites=tuple(missing_metabolites), flair=flair, flair_substitute=flair_substitute,
        field_strength_t=field_strength_t, voxel_size_mm=tuple(voxel_size_mm) if voxel_size_mm else None,
        thresholds=dict(meta.get("QualityThresholds", {})), model_variant=model.get("Variant"),
        model_sha256=model.get("Sha256"), placeholder_model=bool(model.get("Placeholder", False)),
        lambda_origin=float(model.get("SharpnessOrigin", 0.0)),
        simulated=bool(meta.get("SimulatedAcquisition", False)), ratios=tuple(ratios),
        ratio_floor_fraction=RATIO_DENOMINATOR_FLOOR if ratios else None, output_spaces=tuple(output_spaces),
        versions=dict(meta.get("ProcessingSoftware", {})))


def write_citation(output_dir: str | Path, facts: MethodsFacts) -> Path:
    """``OUTPUT_DIR/logs/CITATION.md`` (atomically); returns its path."""
    from mrsisr.interfaces.bids import atomic_write_text

    return atomic_write_text(Path(output_dir) / "logs" / "CITATION.md", methods_markdown(facts))
