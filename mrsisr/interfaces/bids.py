"""BIDS derivatives from inside a workflow: the sink that names and writes every output, atomically.

Naming (the path pattern of ``mrsisr/data/mrsisr_pybids.json``)::

    sub-<s>[/ses-<t>]/<datatype>/sub-<s>[_ses-<t>][_acq-<n>][_from-<a>][_to-<b>][_mode-<m>]
        [_space-<sp>][_res-<N>][_met-<Met>][_desc-<d>]_<suffix><extension>

``sub``/``ses`` come from the BIDS source file; every other entity is given.
Entity values must be alphanumeric. Every file is written to a hidden
temporary name in its destination folder and moved into place with
:func:`os.replace`, so an interrupted run never leaves a half-written NIfTI or
JSON under its final name. This is niworkflows' place for the sink
(``niworkflows/interfaces/bids.py``): the ``init_ds_*_wf`` builders use it without the app.
"""

from __future__ import annotations

import json
import contextlib
import os
import re
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path

import nibabel as nib
import numpy as np
from nipype.interfaces.base import (
    BaseInterfaceInputSpec, File, SimpleInterface, TraitedSpec, isdefined, traits,
)

__all__ = [
    "DerivativesDataSink",
    "PYBIDS_CONFIG",
    "atomic_copy",
    "atomic_save_nifti",
    "atomic_write_text",
    "build_derivative_path",
    "LAMBDA_PREFIX",
    "lambda_label",
    "lambda_of_label",
    "sink_file",
    "source_entities",
    "write_sidecar",
]

#: The pybids configuration that declares the ``met`` entity (``metabolite``) and our path patterns.
PYBIDS_CONFIG = Path(__file__).resolve().parents[1] / "data" / "mrsisr_pybids.json"

_ALNUM = re.compile(r"^[A-Za-z0-9]+$")
#: ``desc`` prefix of the super-resolved maps; the λ follows (:func:`lambda_label`).
LAMBDA_PREFIX = "srLam"


def lambda_label(value: float) -> str:
    """Sharpness weight λ as an alphanumeric ``desc`` label: ``srLam0p03`` for 0.03.

    >>> [lambda_label(v) for v in (0, 0.03, 0.1, 1e-3)]
    ['srLam0', 'srLam0p03', 'srLam0p1', 'srLam0p001']
    """
    text = np.format_float_positional(float(value), trim="-")  # the shortest text that reads back exactly
    return LAMBDA_PREFIX + text.replace(".", "p").replace("-", "m")


def lambda_of_label(label: str) -> float:
    """The λ of a ``desc`` label written by :func:`lambda_label` (its exact inverse).

    >>> lambda_of_label("srLam0p0001")
    0.0001
    """
    if not label.startswith(LAMBDA_PREFIX):
        raise ValueError(f"{label!r} is not a sharpness label (expected {LAMBDA_PREFIX}<value>, e.g. srLam0p03)")
    return float(label[len(LAMBDA_PREFIX):].replace("p", ".").replace("m", "-"))


def source_entities(source_file: str) -> dict[str, str]:
    """``subject`` and ``session`` of a BIDS file name (what the derivatives inherit)."""
    name = Path(source_file).name
    entities = {}
    for key, prefix in (("subject", "sub"), ("session", "ses")):
        match = re.search(rf"(?:^|_){prefix}-([A-Za-z0-9]+)", name)
        if match:
            entities[key] = match.group(1)
    if "subject" not in entities:
        raise ValueError(f"source file {source_file} has no sub-<label> entity")
    return entities


def build_derivative_path(entities: dict) -> str:
    """Relative derivative path for ``entities`` (pybids ``build_path`` with our pattern)."""
    from bids.layout.writing import build_path

    for key, value in entities.items():
        if key not in ("datatype", "suffix", "extension") and value is not None and not _ALNUM.match(str(value)):
            raise ValueError(f"entity {key}={value!r} is not alphanumeric (BIDS derivative rule)")
    patterns = json.loads(PYBIDS_CONFIG.read_text())["default_path_patterns"]
    path = build_path({k: v for k, v in entities.items() if v is not None}, patterns, strict=True)
    if path is None:
        raise ValueError(f"no derivative path pattern fits the entities {entities}")
    return path


@contextmanager
def _atomic(path: str | Path):
    """Yield a hidden temporary name beside ``path`` (same extension, so nibabel picks gzip by it);
    on success it replaces ``path`` in one :func:`os.replace`, on failure it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{uuid.uuid4().hex[:8]}.{path.name}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(OSError):  # the cleanup must never hide the error that stopped the write
            temporary.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with _atomic(path) as temporary:
        temporary.write_text(text)
    return Path(path)


def atomic_copy(source: str | Path, path: str | Path) -> Path:
    """Copy a file to ``path`` atomically."""
    with _atomic(path) as temporary:
        shutil.copyfile(source, temporary)
    return Path(path)


def atomic_save_nifti(img: nib.Nifti1Image, path: str | Path) -> Path:
    """Save a NIfTI atomically, with spatial units set to mm (the validator checks them)."""
    img.header.set_xyzt_units(xyz="mm")
    with _atomic(path) as temporary:
        nib.save(img, temporary)
    return Path(path)


def _to_json(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.ndarray,)):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to a JSON sidecar")


def write_sidecar(path: str | Path, metadata: dict) -> Path:
    """Write a JSON sidecar atomically (sorted keys, so identical runs give identical files)."""
    return atomic_write_text(path, json.dumps(metadata, indent=2, sort_keys=True, default=_to_json) + "\n")


def _merge_companion(companion: dict, metadata: dict) -> dict:
    """A node's own sidecar, with its ``Source``/``Sources`` (paths in the working directory, which
    differ between runs) replaced by the derivative's ``Sources``, then ``metadata`` on top."""

    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k not in ("Source", "Sources")}
        return value

    return dict(clean(companion), **metadata)


def sink_file(
    *,
    in_file: str,
    base_directory: str,
    source_file: str,
    entities: dict,
    metadata: dict | None = None,
    volume: int | None = None,
) -> tuple[str, str | None]:
    """Write one derivative (optionally one volume of a 4-D NIfTI) and its sidecar; returns both paths."""
    full = dict(source_entities(source_file), **entities)
    name = Path(in_file).name
    if "extension" not in full:
        full["extension"] = ".nii.gz" if name.endswith((".nii", ".nii.gz")) else "".join(Path(name).suffixes)
    out_path = Path(base_directory) / build_derivative_path(full)
    if full["extension"] in (".nii", ".nii.gz"):
        img = nib.load(in_file)
        data = np.asanyarray(img.dataobj)
        if volume is not None:
            data = data[..., volume]
        out = nib.Nifti1Image(data, img.affine)
        out.header.set_data_dtype(img.get_data_dtype())
        atomic_save_nifti(out, out_path)
    else:
        atomic_copy(in_file, out_path)
    meta_path = None
    companion = Path(in_file).with_suffix(".json")
    if full["extension"] == ".tsv" and companion.is_file():  # a table's column descriptions
        metadata = _merge_companion(json.loads(companion.read_text()), metadata or {})
    if metadata is not None:
        stem = out_path.name[: -len(full["extension"])]
        meta_path = write_sidecar(out_path.with_name(stem + ".json"), metadata)
    return str(out_path), (str(meta_path) if meta_path else None)


class _DerivativesDataSinkInputSpec(BaseInterfaceInputSpec):
    base_directory = traits.Str(mandatory=True, desc="root of the output (derivatives) dataset")
    source_file = File(mandatory=True, desc="BIDS file the output derives from (gives sub and ses)")
    in_file = File(exists=True, mandatory=True, desc="file to write (NIfTI, or any file copied as is)")
    datatype = traits.Enum("anat", "mrs", "figures", mandatory=True, desc="BIDS datatype folder")
    suffix = traits.Str(mandatory=True, desc="BIDS suffix (mask, mrsi, xfm, counts ...)")
    acquisition = traits.Str(desc="acq-<label>: the MRSI acquisition the output derives from")
    space = traits.Str(desc="space-<label>")
    res = traits.Str(desc="res-<label>: output in-plane matrix N")
    desc = traits.Str(desc="desc-<label>")
    from_ = traits.Str(desc="from-<label> (transforms)")
    to = traits.Str(desc="to-<label> (transforms)")
    mode = traits.Str(desc="mode-<label> (transforms)")
    extension = traits.Str(desc="extension, e.g. .txt (default: that of in_file)")
    metabolites = traits.List(traits.Str, desc="split a 4-D NIfTI: one file per volume with met-<label>")
    metadata = traits.Dict(desc="JSON sidecar content (one sidecar per written file)")
    metabolite_metadata = traits.Dict(desc="extra sidecar content per metabolite label")


class _DerivativesDataSinkOutputSpec(TraitedSpec):
    out_file = traits.List(File(exists=True), desc="the written derivative(s)")
    out_meta = traits.List(File(exists=True), desc="the written JSON sidecar(s)")


class DerivativesDataSink(SimpleInterface):
    """Write an output into the derivatives dataset under its BIDS name (atomically).

    >>> sink = DerivativesDataSink(datatype="mrs", suffix="mrsi", desc="zerofilled")
    >>> sink.always_run
    True
    """

    input_spec = _DerivativesDataSinkInputSpec
    output_spec = _DerivativesDataSinkOutputSpec
    always_run = True  # cheap; rewrites outputs deleted since the cached run

    def _entities(self) -> dict:
        names = {"acquisition": "acquisition", "space": "space", "res": "res", "desc": "desc",
                 "from_": "from", "to": "to", "mode": "mode", "extension": "extension"}
        entities = {"datatype": self.inputs.datatype, "suffix": self.inputs.suffix}
        for trait, entity in names.items():
            value = getattr(self.inputs, trait)
            if isdefined(value) and value != "":
                entities[entity] = value
        return entities

    def _run_interface(self, runtime):
        inputs = self.inputs
        metadata = dict(inputs.metadata) if isdefined(inputs.metadata) else None
        common = {"in_file": inputs.in_file, "base_directory": inputs.base_directory,
                  "source_file": inputs.source_file}
        outputs, sidecars = [], []
        if isdefined(inputs.metabolites) and inputs.metabolites:
            per_met = dict(inputs.metabolite_metadata) if isdefined(inputs.metabolite_metadata) else {}
            for index, metabolite in enumerate(inputs.metabolites):
                meta = (None if metadata is None
                        else dict(metadata, Metabolite=metabolite, **per_met.get(metabolite, {})))
                entities = dict(self._entities(), metabolite=metabolite)
                out, side = sink_file(**common, entities=entities, metadata=meta, volume=index)
                outputs.append(out)
                sidecars += [side] if side else []
        else:
            out, side = sink_file(**common, entities=self._entities(), metadata=metadata)
            outputs.append(out)
            sidecars += [side] if side else []
        self._results.update(out_file=outputs, out_meta=sidecars)
        return runtime
