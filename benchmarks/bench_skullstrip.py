"""The python skull-strip's levers, in one run: extraction resolution and numba's kernel cache.

On the 1 mm MNI head phantom (:func:`mrsisr.anatomy.mni_head_phantom`, 171×189×165), each
configuration runs ``mrsisr.skullstrip.skullstrip_python`` in a fresh process (so start-up and
compilation are what a participant run pays) and reports its wall time, the Dice of its mask
with the true brain mask and with the full-resolution mask:

- ``cold``: an empty numba cache (a fresh install: brainextractor's kernels are compiled);
- ``warm``: the cache the cold run filled;
- ``full``: warm cache, brainextractor on the 1 mm grid (``resolution_mm=None``).

    python benchmarks/bench_skullstrip.py              # 1000 iterations, as the app
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
    args = parser.parse_args()
    print(describe(2))
    import nibabel as nib
    import numpy as np

    from mrsisr.anatomy import mni_head_phantom

    root = Path(tempfile.mkdtemp(prefix="mrsisr-bench-skullstrip-"))
    head, truth = mni_head_phantom(1)
    head.to_filename(root / "T1w.nii.gz")
    truth = np.asarray(truth.dataobj) > 0
    env = dict(os.environ, NUMBA_CACHE_DIR=str(root / "numba"), OMP_NUM_THREADS="2")
    masks, rows = {}, []
    for name, resolution in (("cold", args.resolution), ("warm", args.resolution), ("full", None)):
        out, mask = root / f"{name}_brain.nii.gz", root / f"{name}_mask.nii.gz"
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _CHILD, str(root / "T1w.nii.gz"), str(out), str(mask),
                               "none" if resolution is None else str(resolution), str(args.iterations)],
                              env=env, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - start
        inside = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
        masks[name] = np.asarray(nib.load(mask).dataobj) > 0
        rows.append((name, "1 mm" if resolution is None else f"{resolution:g} mm", wall, inside))
    print("\n| run | extraction grid | process wall (s) | import + skull-strip (s) | Dice vs truth | Dice vs 1 mm mask |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, grid, wall, inside in rows:
        print(f"| {name} | {grid} | {wall:.1f} | {inside:.1f} | {_dice(masks[name], truth):.4f} "
              f"| {_dice(masks[name], masks['full']):.4f} |")
    import shutil

    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
