"""The python skull-strip at the resolution its consumers need, and numba's kernel cache (issue 16, item 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest

from mrsisr import skullstrip
from mrsisr.anatomy import mni_head_phantom
from mrsisr.grid import resample_to_grid
from mrsisr.skullstrip import configure_numba_cache, skullstrip_python


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


@pytest.fixture(scope="module")
def one_mm(tmp_path_factory):
    """The 1 mm MNI head, skull-stripped on a 2 mm grid (the default) and on its own 1 mm grid."""
    d = tmp_path_factory.mktemp("ss1mm")
    head, truth = mni_head_phantom(resolution=1)
    head.to_filename(d / "T1w.nii.gz")
    out = {"head": head, "truth": np.asarray(truth.dataobj) > 0}
    for name, resolution in (("2mm", skullstrip.SKULLSTRIP_RESOLUTION_MM), ("1mm", None)):
        brain, mask = d / f"{name}_brain.nii.gz", d / f"{name}_mask.nii.gz"
        skullstrip_python(str(d / "T1w.nii.gz"), str(brain), str(mask), iterations=400, resolution_mm=resolution)
        out[name] = (nib.load(brain), nib.load(mask))
    return out


@pytest.mark.slow
def test_two_mm_extraction_matches_the_full_resolution_mask(one_mm):
    assert skullstrip.SKULLSTRIP_RESOLUTION_MM == 2.0
    head = one_mm["head"]
    coarse, full = (np.asarray(one_mm[name][1].dataobj) > 0 for name in ("2mm", "1mm"))
    assert one_mm["2mm"][1].shape == head.shape and np.allclose(one_mm["2mm"][1].affine, head.affine)
    assert _dice(coarse, full) >= 0.95
    assert _dice(coarse, one_mm["truth"]) >= 0.93


@pytest.mark.slow
def test_mri_blocks_change_negligibly(one_mm):
    """The masked T1w on a 1.13 mm grid (the network's MRI input) barely differs between the two masks."""
    head = one_mm["head"]
    fine_affine = head.affine.copy()
    fine_affine[:3, :3] = np.diag([34 / 30] * 3)
    fine_shape = tuple(int(s / (34 / 30)) for s in head.shape)
    blocks = {name: resample_to_grid(one_mm[name][0].get_fdata(dtype=np.float32), head.affine, fine_shape,
                                     fine_affine, order=1, antialias=True) for name in ("2mm", "1mm")}
    inside = blocks["1mm"] > 0
    relative_l1 = np.abs(blocks["2mm"] - blocks["1mm"])[inside].sum() / blocks["1mm"][inside].sum()
    assert relative_l1 < 0.05, relative_l1


def test_work_grid_is_isotropic_and_never_finer_than_the_image():
    def image(zooms):
        return nib.Nifti1Image(np.ones((20, 20, 20), np.float32), np.diag([*zooms, 1.0]))

    work, scale = skullstrip._work_grid(image((1, 1, 1)), 2.0)
    assert work.header.get_zooms() == (2.0, 2.0, 2.0) and work.shape == (10, 10, 10)
    np.testing.assert_allclose(scale, 2.0)
    np.testing.assert_allclose(work.affine[:3, 3], 0.0)  # first voxel kept: voxel w is image voxel 2w
    assert skullstrip._work_grid(image((1, 1, 1)), None)[0].shape == (20, 20, 20)
    assert skullstrip._work_grid(image((3, 3, 3)), 2.0)[0].header.get_zooms() == (3.0, 3.0, 3.0)
    work, scale = skullstrip._work_grid(image((2, 2, 3)), 2.0)
    assert work.header.get_zooms() == (2.0, 2.0, 2.0) and work.shape == (20, 20, 29)
    np.testing.assert_allclose(scale, [1.0, 1.0, 2 / 3])


@pytest.fixture
def numba_env():
    """Restore the cache variables and numba's configuration after a test changed them."""
    saved = {key: os.environ.get(key) for key in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if "numba" in sys.modules:
        from numba.core import config

        config.reload_config()


def test_numba_cache_kept_when_writable_else_in_the_user_cache(tmp_path, numba_env, monkeypatch):
    os.environ["NUMBA_CACHE_DIR"] = str(tmp_path / "given")
    assert configure_numba_cache() == tmp_path / "given" and (tmp_path / "given").is_dir()
    os.environ.pop("NUMBA_CACHE_DIR")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    assert configure_numba_cache() == tmp_path / "xdg" / "mrsisr" / "numba"
    assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "xdg" / "mrsisr" / "numba")
    import numba.core.config

    assert numba.core.config.CACHE_DIR == os.environ["NUMBA_CACHE_DIR"]
    # a read-only pre-warmed cache (an Apptainer image) seeds the user's cache
    image = tmp_path / "image-cache" / "brainextractor"
    image.mkdir(parents=True)
    (image / "main.step-1.py311.nbi").write_bytes(b"index")
    os.environ["NUMBA_CACHE_DIR"] = str(tmp_path / "image-cache")
    real = skullstrip._writable
    monkeypatch.setattr(skullstrip, "_writable", lambda folder: folder != tmp_path / "image-cache" and real(folder))
    folder = configure_numba_cache()
    assert folder == tmp_path / "xdg" / "mrsisr" / "numba"
    assert (folder / "brainextractor" / "main.step-1.py311.nbi").read_bytes() == b"index"


_COMPILE_STATS = """
import json
from mrsisr.anatomy import mni_head_phantom
from mrsisr.skullstrip import _brainextractor_mask
_brainextractor_mask(mni_head_phantom(2)[0], 0.5, 3, 4.0)
import brainextractor.helpers as helpers, brainextractor.main as main
jitted = [getattr(owner, name) for owner in (helpers, main.BrainExtractor) for name in dir(owner)]
jitted = [f for f in jitted if hasattr(f, "stats") and hasattr(f, "py_func")]
print(json.dumps({f.py_func.__name__: [sum(f.stats.cache_hits.values()), sum(f.stats.cache_misses.values())]
                  for f in jitted}))
"""


@pytest.mark.slow
def test_a_warmed_cache_means_no_compile_on_the_first_run(tmp_path):
    """After :func:`warm_numba_cache` (the container build), a new process loads every kernel."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    warm = "from mrsisr.skullstrip import warm_numba_cache; print(warm_numba_cache())"
    done = subprocess.run([sys.executable, "-c", warm], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip().endswith(str(tmp_path / "numba"))
    assert list((tmp_path / "numba").rglob("*.nbc"))
    done = subprocess.run([sys.executable, "-c", _COMPILE_STATS], env=env, capture_output=True, text=True, check=True)
    stats = json.loads(done.stdout.strip().splitlines()[-1])
    used = {name: counts for name, counts in stats.items() if sum(counts)}
    assert {"step_of_deformation", "compute_face_normals", "update_surf_attr"} <= set(used), stats
    for name, (hits, misses) in used.items():
        assert not misses and hits, (name, hits, misses)
