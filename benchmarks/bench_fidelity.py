#!/usr/bin/env python
"""Fidelity figures (issue 14): does super-resolution follow the metabolism or paint the MRI?

On held-out synthetic subjects (a seed never used in training), inject MRI-occult metabolic
lesions (Gaussian blobs 6/10/16 mm wide, +100 %, maps only) and 6 mm MRI-only lesions (T1w ×0.7,
FLAIR ×1.8, maps untouched) with :func:`mrsisr.evaluation.fidelity.fidelity_study`, and score the
network against zero-filling and bicubic interpolation at each n and λ. Writes ``fidelity.json``,
``fidelity.md`` and ``fidelity.png`` (peak and shape error per lesion size, leak near / far).

Examples::

    # prepared slices of held-out subjects already at hand
    python benchmarks/bench_fidelity.py --prepared prepared777 --out-dir benchmarks/results/fidelity
    # from nothing: generate 2 subjects of seed 777, prepare them, then score (CPU: tens of minutes)
    python benchmarks/bench_fidelity.py --synth-subjects 2 --seed 777 --work-dir /tmp/fidelity \\
        --simulate-matrix 16 32 --sharpness 0 0.09 --slice-step 2 --out-dir benchmarks/results/fidelity
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--prepared", type=Path, help="folder of *_slices.npz of held-out subjects")
    source.add_argument("--synth-subjects", type=int, help="generate and prepare this many synthetic subjects")
    parser.add_argument("--seed", type=int, default=777, help="cohort seed for --synth-subjects (default 777)")
    parser.add_argument("--tiny", action="store_true", help="tiny synthetic subjects (a smoke run, not a result)")
    parser.add_argument("--work-dir", type=Path, default=Path("fidelity-work"), help="cohort and prepared slices")
    parser.add_argument("--weights", default="default", help="safetensors file, or 'default' (packaged model)")
    parser.add_argument("--simulate-matrix", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--sharpness", type=float, nargs="+", default=[0.0, 0.09])
    parser.add_argument("--slice-step", type=int, default=1, help="score every K-th prepared slice (default 1)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out-dir", type=Path, default=Path("benchmarks/results/fidelity"))
    return parser


def _prepared(args: argparse.Namespace) -> Path:
    if args.prepared:
        return args.prepared
    from mrsisr.synth import generate_dataset
    from mrsisr.training.cohort import main as prepare

    cohort, prepared = args.work_dir / "cohort", args.work_dir / "prepared"
    if not (cohort / "dataset_description.json").is_file():
        generate_dataset(cohort, subjects=args.synth_subjects, seed=args.seed, tiny=args.tiny,
                         acquired_matrix=(16,), formats=("nifti",))
    if not list(prepared.glob("*_slices.npz")):
        if prepare([str(cohort), str(prepared)]) != 0:
            raise RuntimeError(f"mrsisr-prepare failed on {cohort}")
    return prepared


def plot(result: dict, path: Path) -> Path:
    """Peak and shape error against lesion size (per method, n, λ) and the leaks, in one figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    sizes = result["settings"]["diameters_mm"]
    keys = sorted({(r["method"], r["n"], r["lam"]) for r in result["lesions"]}, key=lambda k: (k[1], k[0], k[2]))
    figure, axes = plt.subplots(1, 3, figsize=(14, 4))
    for key in keys:
        label = f"{key[0]} n={key[1]}" + (f" λ={key[2]:g}" if key[0] not in ("zero-fill", "bicubic") else "")
        for axis, value in zip(axes[:2], ("peak", "shape_error")):
            means = [np.mean([r[value] for r in result["lesions"] if (r["method"], r["n"], r["lam"]) == key
                              and r["size_mm"] == d]) for d in sizes]
            axis.plot(sizes, means, marker="o", label=label)
    leaks = [[np.mean([r[v] for r in result["leaks"] if (r["method"], r["n"], r["lam"]) == key]) * 100
              for v in ("leak", "leak_far")] for key in keys]
    positions = np.arange(len(keys))
    axes[2].bar(positions - 0.2, [v[0] for v in leaks], 0.4, label="≤ 2 voxels")
    axes[2].bar(positions + 0.2, [v[1] for v in leaks], 0.4, label="far (control)")
    axes[2].set_xticks(positions, [f"{k[0]}\nn={k[1]} λ={k[2]:g}" for k in keys], fontsize=6, rotation=60)
    axes[2].axhline(10, color="k", lw=0.8, ls="--")
    for axis, title in zip(axes, ("recovered peak / true rise", "relative shape error",
                                  "MRI-only lesion leak (% of local concentration)")):
        axis.set_title(title, fontsize=9)
    axes[0].axhline(1, color="k", lw=0.8, ls="--")
    for axis in axes[:2]:
        axis.set_xlabel("metabolic lesion width (FWHM, mm)")
    axes[0].legend(fontsize=6)
    axes[2].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    from mrsisr.evaluation import runner
    from mrsisr.evaluation.fidelity import fidelity_markdown, fidelity_study
    from mrsisr.inference import load_for_inference
    from mrsisr.slices import every_kth_slice, load_dataset

    start = time.perf_counter()
    subjects = [every_kth_slice(s, args.slice_step) for s in load_dataset(_prepared(args))]
    model, info = load_for_inference(None if args.weights == "default" else args.weights, args.device)
    methods = [runner.model_method("model", model), runner.zero_fill_method(), runner.bicubic_method()]
    result = fidelity_study(subjects, methods, args.simulate_matrix, args.sharpness,
                            progress=lambda text: print(f"[bench_fidelity] {text}", file=sys.stderr))
    result["settings"].update({"weights": args.weights, "model": info.to_dict(), "source": str(args.prepared or
                               f"mrsisr-synth --seed {args.seed} --subjects {args.synth_subjects}"
                               + (" --tiny" if args.tiny else "")), "seconds": round(time.perf_counter() - start)})
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "fidelity.json").write_text(json.dumps(result, indent=1, default=float))
    (args.out_dir / "fidelity.md").write_text(fidelity_markdown(result))
    plot(result, args.out_dir / "fidelity.png")
    print(fidelity_markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
