#!/usr/bin/env python
"""Benchmark the python backends of ``SkullStrip`` + ``CoRegister`` on one head.

The head is nilearn's packaged MNI152 template (1 mm by default) with a synthetic
scalp/skull shell (:func:`mrsisr.anatomy.mni_head_phantom`); the FLAIR is an
inverted-contrast copy moved by a known rigid motion (4°/-3°/5°, 3/-4/2.5 mm) on an
anisotropic LAS grid (:func:`mrsisr.anatomy.flair_like_phantom`).  Each node runs as a
Nipype interface, as in the pipeline; image synthesis is not timed.  Reported: wall
time per stage and per subject, the mask's Dice against the true brain mask, and the
registration error (rotation angle of R_est·R_true⁻¹, mean displacement over brain
points).

Example::

    python benchmarks/bench_anatomical.py --resolution 1 --repeats 2
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from importlib import metadata

from machine import cpu_model


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--resolution", type=int, choices=(1, 2), default=1, help="T1w voxel size in mm (default 1)")
    parser.add_argument("--repeats", type=int, default=1, help="subjects (repetitions) to time (default 1)")
    parser.add_argument("--iterations", type=int, default=1000, help="brainextractor iterations (default 1000)")
    parser.add_argument("--sampling", type=float, default=0.15, help="MI sampling fraction (default 0.15)")
    parser.add_argument("--threads", type=int, default=None, help="ITK threads for resampling (default: all cores)")
    parser.add_argument(
        "--reg-threads",
        type=int,
        default=1,
        help="threads of the registration itself (default 1: bit-for-bit reproducible)",
    )
    parser.add_argument("--workdir", default=None, help="where to write images (default: a temporary folder)")
    return parser


def _versions() -> str:
    names = ("numpy", "nibabel", "nipype", "SimpleITK", "brainextractor", "numba", "trimesh")
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} -")
    return ", ".join(found)


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    import nibabel as nib
    import numpy as np
    import SimpleITK as sitk

    from mrsisr.anatomy import flair_like_phantom, mni_head_phantom, read_matrix, rigid_error, rigid_matrix
    from mrsisr.interfaces.registration import CoRegister
    from mrsisr.interfaces.skullstrip import SkullStrip

    if args.threads:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(args.threads)
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"CPU: {cpu_model()}; cores visible: {affinity}; "
        f"ITK threads: {sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()}"
    )
    print(f"Python {platform.python_version()} on {platform.platform()}")
    print(f"Versions: {_versions()}")

    work = args.workdir or tempfile.mkdtemp(prefix="bench_anat_")
    os.makedirs(work, exist_ok=True)
    truth = rigid_matrix((4.0, -3.0, 5.0), (3.0, -4.0, 2.5), center=(0.0, -18.0, 18.0))
    head, mask = mni_head_phantom(resolution=args.resolution)
    t1, flair = os.path.join(work, "sub-01_T1w.nii.gz"), os.path.join(work, "sub-01_FLAIR.nii.gz")
    head.to_filename(t1)
    z = 1.3 * args.resolution
    flair_like_phantom(head, truth, zooms=(z, z, 1.6 * args.resolution)).to_filename(flair)
    inside = np.asarray(mask.dataobj) > 0
    pts = nib.affines.apply_affine(np.linalg.inv(truth), nib.affines.apply_affine(mask.affine, np.argwhere(inside)))
    print(f"T1w {head.shape} at {args.resolution} mm; FLAIR {nib.load(flair).shape}; work dir {work}")

    rows = []
    for rep in range(args.repeats):
        cwd = os.path.join(work, f"run{rep}")
        os.makedirs(cwd, exist_ok=True)
        t0, c0 = time.perf_counter(), time.process_time()
        ss = SkullStrip(in_file=t1, backend="python", iterations=args.iterations).run(cwd=cwd).outputs
        t1_done, c1 = time.perf_counter(), time.process_time()
        co = (
            CoRegister(
                in_file=flair, reference=t1, backend="python", sampling=args.sampling, omp_nthreads=args.reg_threads
            )
            .run(cwd=cwd)
            .outputs
        )
        t2_done, c2 = time.perf_counter(), time.process_time()
        est = np.asarray(nib.load(ss.mask_file).dataobj) > 0
        dice = 2 * np.logical_and(est, inside).sum() / (est.sum() + inside.sum())
        deg, mm = rigid_error(read_matrix(co.out_matrix), truth, pts)
        rows.append((rep, t1_done - t0, c1 - c0, t2_done - t1_done, c2 - c1, t2_done - t0, c2 - c0, dice, deg, mm))

    header = (
        "run",
        "skullstrip wall s (CPU s)",
        "coregister wall s (CPU s)",
        "total wall s (CPU s)",
        "Dice",
        "rot err deg",
        "disp err mm",
    )
    print("\n| " + " | ".join(header) + " |")
    print("|" + "|".join("---:" for _ in header) + "|")
    for rep, a, ac, b, bc, c, cc, dice, deg, mm in rows:
        cells = (f"{a:.1f} ({ac:.1f})", f"{b:.1f} ({bc:.1f})", f"{c:.1f} ({cc:.1f})", f"{dice:.4f}", f"{deg:.3f}")
        print(f"| {rep} | " + " | ".join(cells) + f" | {mm:.3f} |")
    try:
        load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
        print(f"\nLoad average after the run (1, 5, 15 min): {load} (wall times inflate when it exceeds the cores)")
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
