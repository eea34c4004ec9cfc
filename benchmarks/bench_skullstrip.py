"""The python skull-strip's levers, in one run: extraction resolution and numba's kernel cache.

On the 1 mm MNI head phantom (:func:`mrsisr.anatomy.mni_head_phantom`, 171×189×165), each
configuration runs ``mrsisr.skullstrip.skullstrip_python`` in a fresh process (so start-up and
compilation are what a participant run pays) and reports its wall time, the Dice of its mask
with the true brain mask and with the full-resolution mask, and how much the MRI block the network
sees changes (relative L1 of the masked T1w on a 1.13 mm grid against the one from the 1 mm mask):

- ``cold``: an empty numba cache (a fresh install: brainextractor's kernels are compiled);
- ``warm``: the cache the cold run filled;
- ``full``: warm cache, brainextractor on the 1 mm grid (``resolution_mm=None``);
- with ``--generic``: ``cold generic`` and ``warm generic``, code for a generic x86-64 CPU
  (``NUMBA_CPU_NAME=generic``, the container's portable cache) in a second cache.

    python benchmarks/bench_skullstrip.py --generic    # 1000 iterations, as the app
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe

_CHILD = """
import json, sys, time
start = time.perf_counter()
from mrsisr.skullstrip import skullstrip_python
resolution = None if sys.argv[4] == "none" else float(sys.argv[4])
skullstrip_python(sys.argv[1], sys.argv[2], sys.argv[3], iterations=int(sys.argv[5]), resolution_mm=resolution)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def _dice(a, b) -> float:
    return float(2 * (a & b).sum() / (a.sum() + b.sum()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--resolution", type=float, default=2.0, help="extraction grid of the cold and warm runs (mm)")
    parser.add_argument("--generic", action="store_true", help="also time generic-CPU kernels (NUMBA_CPU_NAME=generic)")
    args = parser.parse_args()
    print(describe(2))
    import nibabel as nib
    import numpy as np

    from mrsisr.anatomy import mni_head_phantom
    from mrsisr.grid import resample_to_grid

    root = Path(tempfile.mkdtemp(prefix="mrsisr-bench-skullstrip-"))
    head, truth = mni_head_phantom(1)
    head.to_filename(root / "T1w.nii.gz")
    truth = np.asarray(truth.dataobj) > 0
    host = dict(os.environ, NUMBA_CACHE_DIR=str(root / "numba"), OMP_NUM_THREADS="2")
    host.pop("NUMBA_CPU_NAME", None)
    generic = dict(host, NUMBA_CACHE_DIR=str(root / "numba-generic"), NUMBA_CPU_NAME="generic")
    runs = [("cold", args.resolution, host), ("warm", args.resolution, host), ("full", None, host)]
    if args.generic:
        runs += [("cold generic", args.resolution, generic), ("warm generic", args.resolution, generic)]
    masks, blocks, rows = {}, {}, []
    fine_affine = head.affine.copy()
    fine_affine[:3, :3] = np.diag([34 / 30] * 3)
    fine_shape = tuple(int(s / (34 / 30)) for s in head.shape)
    for name, resolution, env in runs:
        out, mask = root / f"{name.replace(' ', '_')}_brain.nii.gz", root / f"{name.replace(' ', '_')}_mask.nii.gz"
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _CHILD, str(root / "T1w.nii.gz"), str(out), str(mask),
                               "none" if resolution is None else str(resolution), str(args.iterations)],
                              env=env, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - start
        seconds = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
        masks[name] = np.asarray(nib.load(mask).dataobj) > 0
        blocks[name] = resample_to_grid(nib.load(out).get_fdata(dtype=np.float32), head.affine, fine_shape,
                                        fine_affine, order=1, antialias=True)
        rows.append((name, "1 mm" if resolution is None else f"{resolution:g} mm", wall, seconds))
    print("\n| run | extraction grid | process wall (s) | import + skull-strip (s) | Dice vs truth | Dice vs 1 mm mask "
          "| MRI block Δ (rel. L1) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    inside = blocks["full"] > 0
    for name, grid, wall, seconds in rows:
        change = np.abs(blocks[name] - blocks["full"])[inside].sum() / blocks["full"][inside].sum()
        print(f"| {name} | {grid} | {wall:.1f} | {seconds:.1f} | {_dice(masks[name], truth):.4f} "
              f"| {_dice(masks[name], masks['full']):.4f} | {change:.4f} |")
    import shutil

    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
