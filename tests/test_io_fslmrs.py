"""FSL-MRS fsl_mrsi output reading (mrsisr.io.fslmrs)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from mrsisr.io.errors import MapLoadingError
from mrsisr.io.fslmrs import find_fslmrs_maps, hz_to_ppm, is_fslmrs_folder, read_spectrometer_frequency


def save(path: Path, data, extension: dict | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Image(np.asarray(data, dtype=np.float32), np.diag([3.0, 3.0, 3.0, 1.0]))
    if extension is not None:
        img.header.extensions.append(nib.nifti1.Nifti1Extension(44, json.dumps(extension).encode()))
    nib.save(img, str(path))
    return path


def make_fsl_mrsi(folder: Path, metabolites=("NAA", "Cr", "PCh+GPC"), scalings=("internal", "molarity")) -> Path:
    """A minimal fsl_mrsi output tree on a 2x2x1 grid."""
    for scaling in scalings:
        for met in metabolites:
            save(folder / "concs" / scaling / f"{met}.nii.gz", np.full((2, 2, 1), 2.0))
    for met in metabolites:
        save(folder / "uncertainties" / f"{met}_sd.nii.gz", np.full((2, 2, 1), 5.0))
        if "+" not in met:  # fsl_mrsi writes qc for single metabolites only
            save(folder / "qc" / f"{met}_fwhm.nii.gz", np.full((2, 2, 1), 29.72))
            save(folder / "qc" / f"{met}_snr.nii.gz", np.full((2, 2, 1), 20.0))
    return folder


def test_find_maps_and_scaling(tmp_path):
    folder = make_fsl_mrsi(tmp_path / "fsl")
    assert is_fslmrs_folder(folder) and not is_fslmrs_folder(tmp_path)
    maps = find_fslmrs_maps(folder)
    assert maps.scaling == "molarity" and sorted(maps.conc) == ["Cr", "NAA", "PCh+GPC"]
    assert sorted(maps.sd) == ["Cr", "NAA", "PCh+GPC"] and sorted(maps.fwhm) == ["Cr", "NAA"]
    assert find_fslmrs_maps(folder, "internal").scaling == "internal"
    with pytest.raises(MapLoadingError, match=r"concs/raw holds no maps; scalings present: molarity, internal"):
        find_fslmrs_maps(folder, "raw")
    with pytest.raises(MapLoadingError, match="is not an fsl_mrsi output folder"):
        find_fslmrs_maps(tmp_path)


def test_fwhm_hz_to_ppm():
    assert np.allclose(hz_to_ppm(np.array([29.72]), 297.2), 0.1)
    with pytest.raises(MapLoadingError, match="not a 1H frequency in MHz"):
        hz_to_ppm(np.array([29.72]), 7.0)  # Tesla given by mistake


def test_frequency_from_nifti_mrs_or_sidecar(tmp_path):
    assert read_spectrometer_frequency(save(tmp_path / "a.nii.gz", np.zeros((2, 2, 1, 4)),
                                            {"SpectrometerFrequency": [297.2], "ResonantNucleus": ["1H"]})) == 297.2
    plain = save(tmp_path / "b.nii.gz", np.zeros((2, 2, 1)))
    with pytest.raises(MapLoadingError, match="no SpectrometerFrequency.*give spectrometer_frequency"):
        read_spectrometer_frequency(plain)
    (tmp_path / "b.json").write_text(json.dumps({"ResonantFrequency": 123.2}))
    assert read_spectrometer_frequency(plain) == 123.2
