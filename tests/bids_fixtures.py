"""Shared helpers of the BIDS-App and workflow tests (imported by the test modules).

* :func:`synthetic_dataset`: a tiny ``mrsisr-synth`` dataset, generated once per machine and
  synth version into the temporary folder, then copied for each test that needs its own.
* :func:`tiny_weights`: a small MCM network's safetensors file (fast inference on CPU).
* :func:`install_fsl_standins`: stand-in ``bet``/``flirt`` executables that honour FSL's
  command-line contract (the files they must write), so the FSL code path runs without FSL.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path

import mrsisr

SYNTH_SUBJECTS = 2

_BET = r'''#!{python}
"""Stand-in for FSL bet: `bet IN OUT [-f F] [-m]` writes OUT(.nii.gz) and OUT_mask(.nii.gz)."""
import sys
import nibabel as nib
import numpy as np
from scipy import ndimage

args = sys.argv[1:]
source, out = args[0], args[1]
out = out[:-7] if out.endswith(".nii.gz") else out
img = nib.load(source if source.endswith((".nii", ".nii.gz")) else source + ".nii.gz")
data = np.asarray(img.dataobj, dtype=np.float32)
foreground = data > 0.35 * np.percentile(data[data > 0], 95)
labels, count = ndimage.label(ndimage.binary_erosion(foreground, iterations=2))
sizes = ndimage.sum(foreground, labels, range(1, count + 1))
mask = ndimage.binary_dilation(labels == 1 + int(np.argmax(sizes)), iterations=2)
mask = ndimage.binary_fill_holes(mask)
nib.save(nib.Nifti1Image(data * mask, img.affine), out + ".nii.gz")
if "-m" in args:
    nib.save(nib.Nifti1Image(mask.astype(np.uint8), img.affine), out + "_mask.nii.gz")
'''

_FLIRT = r'''#!{python}
"""Stand-in for FSL flirt: identity in scanner space; writes -out (FLAIR on the -ref grid) and -omat."""
import sys
import nibabel as nib
import numpy as np
from scipy import ndimage
from mrsisr.anatomy import ras_to_fsl_matrix

args = sys.argv[1:]
option = lambda flag: args[args.index(flag) + 1]
moving, reference = nib.load(option("-in")), nib.load(option("-ref"))
np.savetxt(option("-omat"), ras_to_fsl_matrix(np.eye(4), moving, reference), fmt="%.8f")
ref_to_moving = np.linalg.inv(moving.affine) @ reference.affine
out = ndimage.affine_transform(np.asarray(moving.dataobj, dtype=np.float32), ref_to_moving,
                               output_shape=reference.shape[:3], order=1)
nib.save(nib.Nifti1Image(out, reference.affine), option("-out"))
'''


def install_fsl_standins(folder: Path) -> dict[str, str]:
    """Write ``bet``/``flirt`` stand-ins under ``folder/bin``; returns the environment to use them."""
    bindir = Path(folder) / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    for name, body in (("bet", _BET), ("flirt", _FLIRT)):
        exe = bindir / name
        exe.write_text(body.replace("{python}", sys.executable))
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return {"FSLDIR": str(folder), "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
            "FSLOUTPUTTYPE": "NIFTI_GZ"}


def _synth_fingerprint() -> str:
    digest = hashlib.sha256(mrsisr.__version__.encode())
    for path in sorted((Path(mrsisr.__file__).parent / "synth").glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def synthetic_dataset(subjects: int = SYNTH_SUBJECTS) -> Path:
    """A cached tiny synthetic dataset (read-only use: copy it before changing anything)."""
    from mrsisr.synth import generate_dataset

    cache = Path(tempfile.gettempdir()) / f"mrsisr-test-synth-{_synth_fingerprint()}-{subjects}"
    if not (cache / "dataset_description.json").is_file():
        staging = Path(tempfile.mkdtemp(prefix="mrsisr-synth-", dir=cache.parent))
        generate_dataset(staging, subjects=subjects, seed=0, tiny=True, acquired_matrix=(16,), formats=("nifti",))
        try:
            staging.rename(cache)
        except OSError:  # another process won the race
            shutil.rmtree(staging, ignore_errors=True)
    return cache


def copy_dataset(destination: Path, subjects: int = SYNTH_SUBJECTS) -> Path:
    """A private copy of the synthetic dataset without its ground truth (``sourcedata``)."""
    shutil.copytree(synthetic_dataset(subjects), destination, ignore=shutil.ignore_patterns("sourcedata"))
    return destination


def tiny_weights(path: Path) -> Path:
    """A small MCM network's weights (random, untrained): fast on CPU."""
    from mrsisr.models import build
    from mrsisr.models.weights import save_weights

    model = build("mcm", base_features=2, latent_width=4, sharpness_width=4)
    return save_weights(model, path)


def tree_digest(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (to show a folder was not written to)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(root).rglob("*")) if p.is_file()}
