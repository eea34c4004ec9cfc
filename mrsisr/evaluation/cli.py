"""``mrsisr-evaluate``: score networks against zero-filling and bicubic interpolation.

Examples::

    # the default model vs zero-filling at n = 16, on a dataset with high-resolution maps
    mrsisr-evaluate synth/ --weights default --simulate-matrix 16 --json scores.json
    # Table 1 on prepared slices of the test fold 0, two trained variants
    mrsisr-evaluate prepared/ --weights runs/fs/model.safetensors runs/un/model.safetensors \\
        --names filter-scaling unconditioned --folds 5 --fold 0 --out-dir table1/
    # the λ sweep (Fig. 4) and the condition-mismatch study (Fig. 2)
    mrsisr-evaluate prepared/ --weights default --sharpness 0 0.03 0.06 0.09 --mismatch --out-dir figs/
    # fidelity (issue 14): MRI-occult metabolic lesions recovered? MRI-only lesions painted in?
    mrsisr-evaluate prepared/ --folds 5 --fold 0 --simulate-matrix 16 --sharpness 0 0.09 --fidelity --out-dir fid/
    # T1w-only input: the same subjects with the FLAIR replaced by the app's substitute (the T1w)
    mrsisr-evaluate prepared/ --folds 5 --fold 0 --simulate-matrix 16 --without-flair --out-dir t1only/
    # uncertainty (issue 14): does the spread under test-time transforms rank the errors?
    mrsisr-evaluate prepared/ --folds 5 --fold 0 --simulate-matrix 16 --sharpness 0 0.09 --uncertainty --out-dir unc/

``DATA`` is a folder of prepared slices (``*_slices.npz``) or a BIDS dataset whose LCModel
derivatives hold high-resolution (N×N) maps; a BIDS dataset's slices are first prepared as
``mrsisr-prepare`` does (slices already there are reused).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from mrsisr import METABOLITES, TRAINED_MATRIX_SIZES
from mrsisr.defaults import BATCH_SIZE, UNCERTAINTY_SAMPLES
from mrsisr.evaluation import fidelity as fid, runner, summary as summ, uncertainty as unc

__all__ = ["main", "parse_args"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mrsisr-evaluate", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("data", type=Path, help="prepared-slice folder or BIDS dataset")
    parser.add_argument("--weights", nargs="+", default=["default"],
                        help="safetensors files to evaluate, or 'default' for the packaged model")
    parser.add_argument("--names", nargs="+", help="method names for --weights (default: the variants)")
    parser.add_argument("--simulate-matrix", type=int, nargs="+", default=list(TRAINED_MATRIX_SIZES),
                        help="acquired matrix sizes n to simulate (default: 16 18 … 32)")
    parser.add_argument("--sharpness", type=float, nargs="+", default=[0.0], help="λ values for the mcm variant")
    parser.add_argument("--baselines", nargs="*", choices=("zero-fill", "bicubic"), default=["zero-fill", "bicubic"])
    parser.add_argument("--folds", type=int, default=1, help="evaluate the test subjects of --fold (1: everyone)")
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--subjects", nargs="+", help="evaluate only these subject labels")
    parser.add_argument("--slice-step", type=int, default=1, metavar="K",
                        help="score every K-th prepared slice of each subject (quicker studies; default: all)")
    parser.add_argument("--without-flair", action="store_true",
                        help="evaluate as a T1w-only study: every FLAIR is replaced by the app's substitute "
                             "for a missing FLAIR (mrsisr.slices.flair_substitute: the T1w)")
    parser.add_argument("--mismatch", action="store_true", help="also run the Fig. 2 condition-mismatch study")
    parser.add_argument("--mismatch-sizes", type=int, nargs="+", default=list(TRAINED_MATRIX_SIZES),
                        help="matrix sizes of the mismatch study (default: the trained 16 18 … 32)")
    parser.add_argument("--fidelity", action="store_true",
                        help="also inject MRI-occult metabolic lesions and MRI-only lesions and score how each "
                             "method recovers / leaks them (fidelity.json, fidelity.md in --out-dir)")
    parser.add_argument("--uncertainty", action="store_true",
                        help="also score the networks' uncertainty maps: Spearman ρ with the absolute error per "
                             "metabolite, and the uncertainty at injected lesions (uncertainty.json, uncertainty.md "
                             "in --out-dir)")
    parser.add_argument("--uncertainty-samples", type=int, default=UNCERTAINTY_SAMPLES, metavar="K",
                        help=f"test-time transformations of the uncertainty (default {UNCERTAINTY_SAMPLES})")
    parser.add_argument("--panels", type=int, metavar="N_ACQUIRED",
                        help="also draw the Fig. 3 panel (each metabolite at every --sharpness) at this n, "
                             "one PNG per evaluated subject (needs --out-dir)")
    parser.add_argument("--json", type=Path, help="write the summary as JSON here")
    parser.add_argument("--out-dir", type=Path, help="write rows.csv, summary.md, summary.json and PNG plots here")
    parser.add_argument("--work-dir", type=Path, help="prepared slices of a BIDS input go under WORK_DIR/derivatives (default: DATA-eval)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="maps per forward pass")
    parser.add_argument("--quiet", action="store_true")
    return parser


def _load_subjects(args: argparse.Namespace):
    from dataclasses import replace

    from mrsisr.slices import every_kth_slice, flair_substitute, kfold_split, load_dataset

    data_dir = args.data
    if (args.data / "dataset_description.json").is_file() and not any(args.data.glob("*_slices.npz")):
        from mrsisr.evaluation.bids_input import prepare_from_bids

        data_dir = prepare_from_bids(args.data, args.work_dir or args.data.parent / f"{args.data.name}-eval")
    subjects = load_dataset(data_dir)
    labels = [s.subject for s in subjects]
    chosen = set(kfold_split(labels, args.folds, args.fold)["test"] if args.folds > 1 else labels)
    if args.subjects:
        unknown = set(args.subjects) - set(labels)
        if unknown:
            raise ValueError(f"subjects {sorted(unknown)} are not in {data_dir}; available: {labels}")
        chosen &= set(args.subjects)
    if args.slice_step < 1:
        raise ValueError(f"--slice-step must be at least 1, got {args.slice_step}")
    chosen_subjects = [every_kth_slice(s, args.slice_step) for s in subjects if s.subject in chosen]
    if args.without_flair:
        chosen_subjects = [replace(s, flair=flair_substitute(s.t1)) for s in chosen_subjects]
    return chosen_subjects


def _methods(args: argparse.Namespace):
    from mrsisr.inference import load_for_inference

    names = args.names or []
    if names and len(names) != len(args.weights):
        raise ValueError(f"--names gives {len(names)} names for {len(args.weights)} --weights")
    methods, models = [], []
    for index, weights in enumerate(args.weights):
        model, info = load_for_inference(None if weights == "default" else weights, args.device)
        name = names[index] if names else ("model" if len(args.weights) == 1 else info.variant)
        methods.append(runner.model_method(name, model, args.batch_size))
        models.append(model)
    if "zero-fill" in args.baselines:
        methods.append(runner.zero_fill_method())
    if "bicubic" in args.baselines:
        methods.append(runner.bicubic_method())
    return methods, models


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (usage errors exit with code 2)."""
    return _build_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run ``mrsisr-evaluate``; 0 on success, 2 when the data or the weights cannot be used."""
    args = parse_args(argv)
    try:
        subjects = _load_subjects(args)
        if not subjects:
            raise ValueError("no subject to evaluate (check --folds/--fold/--subjects)")
        methods, models = _methods(args)
        log = None if args.quiet else (lambda text: print(f"[mrsisr-evaluate] {text}", file=sys.stderr))
        rows = runner.evaluate(subjects, methods, args.simulate_matrix, args.sharpness, progress=log)
        result = summ.summarise(rows)
        result["settings"] = {"data": str(args.data), "subjects": [s.subject for s in subjects],
                              "simulate_matrix": args.simulate_matrix, "sharpness": args.sharpness,
                              "mismatch_sizes": args.mismatch_sizes, "weights": args.weights,
                              "flair": "substituted by the T1w" if args.without_flair else "as prepared"}
        if args.mismatch:
            study = runner.mismatch_study(subjects, models[0], list(args.mismatch_sizes), args.batch_size)
            result["mismatch"] = {key: value.tolist() for key, value in study.items()}
        if args.fidelity:
            fidelity = fid.fidelity_study(subjects, methods, args.simulate_matrix, args.sharpness, progress=log)
            result["fidelity"] = {key: value for key, value in fidelity.items() if key != "rows"}
        if args.uncertainty:
            uncertainty = unc.uncertainty_study(subjects, methods[:len(models)], args.simulate_matrix, args.sharpness,
                                                unc.UncertaintySettings(samples=args.uncertainty_samples), progress=log)
            result["uncertainty"] = {key: value for key, value in uncertainty.items() if key != "feature_rows"}
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"mrsisr-evaluate: error: {error}", file=sys.stderr)
        return 2
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, default=float))
    if args.out_dir:
        _write_outputs(args.out_dir, rows, result)
        if args.fidelity:
            (args.out_dir / "fidelity.json").write_text(json.dumps(fidelity, indent=1, default=float))
            (args.out_dir / "fidelity.md").write_text(fid.fidelity_markdown(fidelity))
        if args.uncertainty:
            (args.out_dir / "uncertainty.json").write_text(json.dumps(uncertainty, indent=1, default=float))
            (args.out_dir / "uncertainty.md").write_text(unc.uncertainty_markdown(uncertainty))
        if args.panels:
            from mrsisr.evaluation.figures import sharpness_panel

            for data in subjects:
                sharpness_panel(models[0], data, args.panels, args.sharpness,
                                args.out_dir / f"panel_sub-{data.subject}_n{args.panels}.png")
    print(summ.markdown_report(result, "mrsisr evaluation").split("\n## ")[0])
    if args.fidelity:
        print(fid.fidelity_markdown(fidelity))
    if args.uncertainty:
        print(unc.uncertainty_markdown(uncertainty))
    return 0


def _write_outputs(out_dir: Path, rows: list[dict], result: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    summ.write_csv(rows, out_dir / "rows.csv")
    (out_dir / "summary.json").write_text(json.dumps(result, indent=1, default=float))
    (out_dir / "summary.md").write_text(summ.markdown_report(result, "mrsisr evaluation"))
    summ.plot_per_n(result, out_dir / "per_n.png")
    if len({r["lam"] for r in rows}) > 1:
        summ.plot_lambda_sweep(result, out_dir / "lambda_sweep.png")
    if "mismatch" in result:
        sizes = [str(n) for n in result["settings"]["mismatch_sizes"]]
        summ.plot_heatmap(np.array(result["mismatch"]["n"]), sizes, out_dir / "mismatch_n.png",
                          "SSIM: input n vs conditioned n", "conditioned n", "input n")
        summ.plot_heatmap(np.array(result["mismatch"]["metabolite"]), list(METABOLITES),
                          out_dir / "mismatch_metabolite.png", "SSIM: input vs conditioned metabolite",
                          "conditioned metabolite", "input metabolite")


if __name__ == "__main__":
    sys.exit(main())
