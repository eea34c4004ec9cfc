"""Nipype interface that loads metabolite maps (LCModel, FSL-MRS, NIfTI) onto the MRSI grid.

The node wraps :func:`mrsisr.io.loader.load_metabolite_maps`; all reading, checking
and alias resolution lives in :mod:`mrsisr.io` and is tested there without Nipype.
"""

from __future__ import annotations

import os
from hashlib import md5

from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    Directory,
    File,
    SimpleInterface,
    TraitedSpec,
    isdefined,
    traits,
)

from mrsisr import METABOLITES
from mrsisr.io.discovery import source_files
from mrsisr.io.errors import MapLoadingError
from mrsisr.io.formats import FORMATS
from mrsisr.io.fslmrs import FSL_SCALINGS
from mrsisr.io.loader import load_metabolite_maps, save_loaded_maps

__all__ = ["LoadMetaboliteMaps"]


class _LoadMetaboliteMapsInputSpec(BaseInterfaceInputSpec):
    source = traits.Either(
        Directory(exists=True), File(exists=True), mandatory=True,
        desc="fitting output: a derivatives, subject, session or lcmodel_acq-<n> folder, an fsl_mrsi folder, "
        "a CSI .csv, or one map of a NIfTI set; the files found under it enter the node's hash (a re-fit re-runs)",
    )
    source_format = traits.Enum(
        "auto", *FORMATS, usedefault=True,
        desc=f"format to read; 'auto' tries, in order: {', '.join(FORMATS)} (mrsisr.io.formats.FORMATS)",
    )
    metabolites = traits.List(
        traits.Str, value=list(METABOLITES), usedefault=True, minlen=1,
        desc="metabolites to load (canonical names such as tCho, or aliases / any fitted name)",
    )
    name_overrides = traits.Dict(
        traits.Str, traits.Str, desc="explicit source name per requested metabolite, e.g. {'Ins': 'Ins+Glyc'}"
    )
    subject = traits.Str(desc="subject label (with or without 'sub-') when source is a derivatives folder")
    session = traits.Str(desc="session label (with or without 'ses-') when the data have sessions")
    acquisition = traits.Str(desc="acquisition label (acq-<label>) when a subject has several MRSI runs")
    reference = File(
        exists=True, xor=["geometry_file", "grid_shape"],
        desc="NIfTI on the MRSI grid giving shape and affine (default for LCModel: the raw MRSI in BIDS mrs/, "
        "else geometry.json beside the output)",
    )
    bids_dir = Directory(
        desc="raw BIDS dataset whose mrs/ holds the raw MRSI (default: the folder above derivatives/)"
    )
    mrsi_filters = traits.Dict(
        traits.Str, traits.Any, desc="pybids filters narrowing the raw MRSI query (--bids-filter-file key 'mrsi')"
    )
    geometry_file = File(
        exists=True, xor=["reference", "grid_shape"],
        desc="geometry JSON {'shape': [nx, ny, nz], 'affine': 4x4}; default: geometry.json beside the tables",
    )
    grid_shape = traits.Tuple(
        traits.Int, traits.Int, traits.Int, xor=["reference", "geometry_file"], requires=["grid_affine"],
        desc="explicit MRSI grid shape (nx, ny, nz)",
    )
    grid_affine = traits.List(
        traits.List(traits.Float, minlen=4, maxlen=4), minlen=4, maxlen=4, requires=["grid_shape"],
        desc="explicit 4x4 voxel-to-scanner (RAS, mm) affine of the MRSI grid",
    )
    snr_map = File(exists=True, requires=["fwhm_map"], desc="S/N map on the MRSI grid, overriding the source's")
    fwhm_map = File(exists=True, requires=["snr_map"], desc="FWHM map (ppm) on the MRSI grid, overriding the source's")
    spectrometer_frequency = traits.Float(
        desc="1H frequency in MHz, to convert FSL-MRS FWHM from Hz to ppm, only where neither fit/fit.nii.gz "
        "nor the raw NIfTI-MRS records it"
    )
    fsl_scaling = traits.Enum(
        "auto", *FSL_SCALINGS, usedefault=True,
        desc="fsl_mrsi concentration scaling (concs/<scaling>); 'auto' takes the first present in this order "
        "(FSL-MRS's own preference)",
    )
    fsl_quality_metabolite = traits.Str(
        "NAA", usedefault=True, desc="metabolite whose fsl_mrsi qc S/N and FWHM stand for the voxel's quality"
    )
    require_quality = traits.Bool(
        True, usedefault=True, desc="fail when S/N and FWHM are unavailable (else write NaN maps and warn)"
    )
    allow_nan = traits.Bool(
        False, usedefault=True, desc="accept NaN in input NIfTI maps as missing voxels (else NaN is an error)"
    )


    def get_hashval(self, hash_method=None):
        """Nipype's hash of the inputs plus every file the loader may read under ``source``.

        Nipype hashes a ``Directory`` by its path only, so a re-fitted subject (same folder,
        new tables) would keep its old maps on a re-run.  The located files enter the hash
        by size and modification time, or by content when nipype's ``hash_method`` is
        ``content``.
        """
        with_hash, digest = super().get_hashval(hash_method=hash_method)
        fingerprint = _source_fingerprint(self, content=hash_method == "content")
        with_hash.append(("source_files", fingerprint))
        return with_hash, md5((digest + str(fingerprint)).encode()).hexdigest()


def _source_fingerprint(inputs, content: bool = False) -> list[tuple]:
    """``(path, size, mtime_ns)`` (or ``(path, md5)``) of each file :func:`source_files` lists."""
    if not isdefined(inputs.source):
        return []
    located = {name: getattr(inputs, name) for name in ("source_format", "subject", "session", "acquisition",
                                                         "bids_dir", "mrsi_filters")
               if isdefined(getattr(inputs, name))}
    try:
        files = source_files(inputs.source, **located)
    except (MapLoadingError, OSError) as exc:  # the run itself will report it
        return [("unlocatable", str(exc))]
    if content:
        return [(str(p), md5(p.read_bytes()).hexdigest()) for p in files]
    return [(str(p), (stat := p.stat()).st_size, stat.st_mtime_ns) for p in files]


class _LoadMetaboliteMapsOutputSpec(TraitedSpec):
    conc_file = File(exists=True, desc="4-D (x, y, z, metabolite) concentrations, NaN where invalid")
    sd_file = File(exists=True, desc="4-D (x, y, z, metabolite) %SD (CRLB) as written, NaN where no voxel")
    valid_file = File(exists=True, desc="4-D (x, y, z, metabolite) uint8, 1 where the fit is valid")
    snr_file = File(exists=True, desc="3-D S/N on the MRSI grid (NaN where unavailable)")
    fwhm_file = File(exists=True, desc="3-D FWHM in ppm on the MRSI grid (NaN where unavailable)")
    metadata_file = File(exists=True, desc="JSON sidecar: metabolites, source names, format, geometry origin")
    metabolites = traits.List(traits.Str, desc="canonical names, in the order of the 4th dimension")
    source_names = traits.List(traits.Str, desc="the names as the fitting tool wrote them, same order")
    acquired_matrix = traits.Int(desc="acquired in-plane matrix n of the (square) MRSI grid")
    quality_available = traits.Bool(desc="whether S/N and FWHM were found")
    quality_criteria = traits.List(traits.Str, desc="criteria the output allows: some of S/N, FWHM, %SD, skull")
    geometry_source = traits.Str(desc="the MRSI grid and where it came from (BIDS mrs/, geometry.json, maps...)")
    source_format = traits.Str(desc=f"the format that was read (one of {', '.join(FORMATS)})")


class LoadMetaboliteMaps(SimpleInterface):
    """Load metabolite maps and their quality measures onto the MRSI grid in scanner space.

    Reads LCModel per-voxel ``.table`` folders, CSI spreadsheets, NIfTI map sets
    (MRSIPrep naming) or ``fsl_mrsi`` output; resolves names (``tCho`` = ``GPC+PCh``
    ...); marks failed fits and missing voxels invalid (NaN, not 0).  Outputs, all in
    the node's folder: ``metabolites_conc.nii.gz``, ``metabolites_sd.nii.gz`` and
    ``metabolites_valid.nii.gz`` (4-D, volume ``m`` is ``metabolites[m]``),
    ``snr.nii.gz``, ``fwhm.nii.gz`` (ppm) and ``metabolites.json``.

    Bad input raises a :class:`mrsisr.io.errors.MapLoadingError` subclass naming the
    file, what is wrong and what was expected.

    Examples
    --------
    A one-voxel LCModel run on a 2x2x1 grid, written on the spot:

    >>> import json, os, tempfile
    >>> from mrsisr.interfaces.maps import LoadMetaboliteMaps
    >>> folder = tempfile.mkdtemp()
    >>> table = (" LCModel (Version 6.3-1N)\\n Slice#1 Row#1 Col#2  demo\\n\\n"
    ...          "$$CONC  2 lines in following concentration table = NCONC+1\\n"
    ...          "    Conc.  %SD /Cr+PCr  Metabolite\\n"
    ...          "    8.000   4%   1.000 Cr+PCr\\n\\n"
    ...          "$$MISC  1 lines in following misc. output table\\n"
    ...          "  FWHM = 0.061 ppm    S/N =  12\\n")
    >>> with open(os.path.join(folder, "sl1_1-2.table"), "w") as f:
    ...     _ = f.write(table)
    >>> with open(os.path.join(folder, "geometry.json"), "w") as f:
    ...     json.dump({"shape": [2, 2, 1], "affine": [[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0], [0, 0, 0, 1]]}, f)
    >>> load = LoadMetaboliteMaps(source=folder, metabolites=["tCr"])
    >>> result = load.run(cwd=tempfile.mkdtemp())
    >>> result.outputs.metabolites, result.outputs.source_names, result.outputs.acquired_matrix
    (['tCr'], ['Cr+PCr'], 2)
    """

    input_spec = _LoadMetaboliteMapsInputSpec
    output_spec = _LoadMetaboliteMapsOutputSpec

    def _run_interface(self, runtime):
        maps = load_metabolite_maps(self.inputs.source, **self._loader_arguments())
        for key, path in save_loaded_maps(maps, runtime.cwd).items():
            self._results[key] = str(path)
        self._results.update(
            metabolites=list(maps.metabolites), source_names=list(maps.source_names),
            acquired_matrix=int(maps.acquired_matrix), quality_available=bool(maps.quality_available),
            source_format=maps.source_format, quality_criteria=list(maps.quality_criteria.names),
            geometry_source=maps.geometry_source,
        )
        return runtime

    def _loader_arguments(self) -> dict:
        """The defined inputs, named as :func:`load_metabolite_maps` takes them."""
        names = (
            "source_format", "metabolites", "subject", "session", "acquisition", "reference", "geometry_file",
            "grid_shape", "grid_affine", "snr_map", "fwhm_map", "spectrometer_frequency", "fsl_scaling",
            "fsl_quality_metabolite", "require_quality", "allow_nan", "bids_dir",
        )
        arguments = {name: getattr(self.inputs, name) for name in names if isdefined(getattr(self.inputs, name))}
        for name in ("name_overrides", "mrsi_filters"):
            if isdefined(getattr(self.inputs, name)):
                arguments[name] = dict(getattr(self.inputs, name))
        paths = ("reference", "geometry_file", "bids_dir")
        return {key: os.fspath(v) if key in paths else v for key, v in arguments.items()}
