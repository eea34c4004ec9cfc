"""``mrsisr BIDS_DIR OUTPUT_DIR {participant,group}``: the BIDS-App command line.

Exit codes (BIDS-Apps execution draft): 0 success; 1 at least one subject failed;
16 the input is not valid BIDS; 17 unknown analysis level; 18 the filters selected no
subject (or an unknown label); 64 usage error; 66 an input is missing or unusable.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
import uuid
from pathlib import Path

import mrsisr
from mrsisr import METABOLITES, defaults
from mrsisr.bids_app import bids as bidsq
from mrsisr.bids_app.config import RunConfig
from mrsisr.defaults import OUTPUT_SPACES

__all__ = ["main", "parse_args", "EXIT"]

EXIT = {"ok": 0, "subject_failed": 1, "invalid_bids": 16, "bad_level": 17, "no_selection": 18,
        "usage": 64, "no_input": 66}
LEVELS = ("participant", "group")


class AppExit(Exception):
    """Stop with an exit code and a message (raised by the checks before any work)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors exit with 64 (EX_USAGE), not argparse's 2
        self.print_usage(sys.stderr)
        raise AppExit(EXIT["usage"], f"{self.prog}: error: {message}")


def _sharpness(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"λ must be in [0, 1] (paper: 0–0.03), got {text}")
    return value


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mrsisr", description="Super-resolution of MRSI metabolite maps (BIDS-App).",
                     epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bids_dir", type=Path, help="root of the raw BIDS dataset (read only)")
    parser.add_argument("output_dir", type=Path, help="where the derivatives go")
    parser.add_argument("analysis_level", help="participant or group")
    parser.add_argument("--version", action="version", version=f"mrsisr {mrsisr.__version__}")
    parser.add_argument("-v", "--verbose", dest="verbosity", action="count", default=0, help="more log output")
    select = parser.add_argument_group("selecting data")
    select.add_argument("--participant-label", "--participant_label", nargs="+", default=[],
                        help="subjects to process (with or without sub-); default: all")
    select.add_argument("--session-label", nargs="+", default=[], help="sessions to process (with or without ses-)")
    select.add_argument("--bids-filter-file", type=Path, help="JSON with pybids filters for 't1w' and 'flair'")
    select.add_argument("--skip-bids-validation", action="store_true", help="do not run bids-validator-deno")
    select.add_argument("--lcmodel-dir", type=Path, help="fitting outputs (default: BIDS_DIR/derivatives/lcmodel)")
    select.add_argument("--acquisition", help="acq-<label> of the fitting outputs; default: the lowest-resolution "
                        "one (the highest with --simulate-matrix)")
    select.add_argument("--validate-only", action="store_true",
                        help="check every selected subject's inputs, run nothing")
    method = parser.add_argument_group("super-resolution")
    method.add_argument("--metabolites", nargs="+", default=list(METABOLITES), help="metabolites (canonical names)")
    method.add_argument("--target-matrix", type=int, default=defaults.TARGET_MATRIX,
                        help="output in-plane matrix N (default 64)")
    method.add_argument("--sharpness", nargs="+", type=_sharpness, default=list(defaults.SHARPNESS), metavar="λ",
                        help="sharpness weights, one output each (default 0; paper: 0–0.03)")
    method.add_argument("--weights", type=Path, help="safetensors weights (default: the packaged model)")
    method.add_argument("--simulate-matrix", type=int, metavar="n",
                        help="evaluation: simulate an n×n acquisition from the N×N maps")
    method.add_argument("--backend", choices=("auto", "fsl", "python"), default="auto",
                        help="skull-strip/co-registration backend (auto: FSL when installed)")
    method.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    method.add_argument("--batch-size", type=int, default=defaults.BATCH_SIZE, help="maps per forward pass")
    method.add_argument("--uncertainty-samples", type=int, default=defaults.UNCERTAINTY_SAMPLES, metavar="K",
                        help="test-time transformations (flips, 90° turns, sub-voxel shifts) whose spread is written "
                             f"beside each map as desc-srLam<λ>Sd (costs K× the network time; default "
                             f"{defaults.UNCERTAINTY_SAMPLES}; 0: off)")
    quality = parser.add_argument_group("quality control")
    quality.add_argument("--snr-min", type=float, default=defaults.SNR_MIN,
                         help="reject voxels with S/N below (default 2.5)")
    quality.add_argument("--fwhm-max", type=float, default=defaults.FWHM_MAX_PPM,
                         help="reject FWHM above, ppm (default 0.15)")
    quality.add_argument("--crlb-max", type=float, help="reject %%SD above (default: off)")
    quality.add_argument("--min-valid-fraction", type=float, default=defaults.MIN_VALID_FRACTION,
                         help="keep slices whose valid voxels / (n*n) reach this (default 0.30)")
    run = parser.add_argument_group("execution")
    run.add_argument("-w", "--work-dir", type=Path, help="Nipype working directory (default: ./work)")
    run.add_argument("--nprocs", "--n-cpus", type=int, default=1, help="processes in parallel")
    run.add_argument("--omp-nthreads", type=int, default=1, help="threads per process (PyTorch)")
    run.add_argument("--mem-gb", type=float, help="memory limit for the scheduler")
    run.add_argument("--use-plugin", type=Path, help="Nipype plugin YAML (plugin: SLURM, plugin_args: ...)")
    run.add_argument("--stop-on-first-crash", action="store_true")
    run.add_argument("--no-reports", dest="reports", action="store_false", help="skip the HTML reports")
    run.add_argument("--output-spaces", nargs="+", choices=OUTPUT_SPACES, default=list(OUTPUT_SPACES),
                     metavar="SPACE", help="spaces of the super-resolved and ratio maps: orig (the MRSI grid at N; always "
                     "written, like fMRIPrep's T1w-space anatomy) and T1w (resampled onto the T1w grid, to overlay "
                     "on the anatomy); default: orig T1w")
    run.add_argument("--export-slices", action="store_true",
                     help="participant: also export prepared slices for training (needs N×N maps)")
    run.add_argument("--train", action="store_true", help="group: train a model on the exported slices")
    run.add_argument("--train-args", default="", help="extra arguments for mrsisr-train, quoted")
    return parser


def parse_args(argv: list[str] | None = None) -> RunConfig:
    """Parse and check the command line; raises :class:`AppExit` for every refusal."""
    args = _build_parser().parse_args(argv)
    if args.analysis_level not in LEVELS:
        raise AppExit(EXIT["bad_level"], f"unknown analysis level {args.analysis_level!r}; expected one of {LEVELS}")
    try:
        participants = tuple(bidsq.clean_label(label, "sub") for label in args.participant_label)
        sessions = tuple(bidsq.clean_label(label, "ses") for label in args.session_label)
    except bidsq.LabelError as error:
        raise AppExit(EXIT["usage"], str(error)) from error
    for name, value, low in (("--nprocs", args.nprocs, 1), ("--omp-nthreads", args.omp_nthreads, 1),
                             ("--batch-size", args.batch_size, 1), ("--target-matrix", args.target_matrix, 2)):
        if value < low:
            raise AppExit(EXIT["usage"], f"{name} must be at least {low}, got {value}")
    if args.uncertainty_samples == 1 or args.uncertainty_samples < 0:
        raise AppExit(EXIT["usage"], f"--uncertainty-samples must be 0 (off) or at least 2 (the identity and one "
                      f"transformation), got {args.uncertainty_samples}")
    simulate = args.simulate_matrix
    if simulate is not None and (simulate % 2 or not 2 <= simulate < args.target_matrix):
        raise AppExit(EXIT["usage"], f"--simulate-matrix must be even and below --target-matrix {args.target_matrix}")
    if args.export_slices and (args.simulate_matrix is None or args.analysis_level != "participant"):
        raise AppExit(EXIT["usage"], "--export-slices is a participant-level option that needs --simulate-matrix "
                      "(training slices come from the N×N maps)")
    if args.train and args.analysis_level != "group":
        raise AppExit(EXIT["usage"], "--train is a group-level option (mrsisr BIDS_DIR OUTPUT_DIR group --train)")
    try:
        acquisition = bidsq.clean_label(args.acquisition, "acq") if args.acquisition is not None else None
    except bidsq.LabelError as error:
        raise AppExit(EXIT["usage"], f"invalid --acquisition {args.acquisition!r}: letters and digits only") from error
    bids_dir = args.bids_dir.absolute()
    output_dir = args.output_dir.absolute()
    if not bids_dir.is_dir():
        raise AppExit(EXIT["no_input"], f"BIDS directory {bids_dir} does not exist")
    work_dir = (args.work_dir or Path.cwd() / "work").absolute()
    try:
        bidsq.check_output_dir(bids_dir, output_dir)
        bidsq.check_output_dir(bids_dir, work_dir, what="working directory")
    except bidsq.InputError as error:
        raise AppExit(EXIT["usage"], str(error)) from error
    lcmodel_dir = (args.lcmodel_dir or bids_dir / "derivatives" / "lcmodel").absolute()
    for option, path in (("--weights", args.weights), ("--use-plugin", args.use_plugin),
                         ("--bids-filter-file", args.bids_filter_file)):
        if path is not None and not path.is_file():
            raise AppExit(EXIT["no_input"], f"{option} {path} does not exist")
    try:
        filters = bidsq.load_bids_filters(args.bids_filter_file)
    except bidsq.InputError as error:
        raise AppExit(EXIT["no_input"], str(error)) from error
    return RunConfig(
        bids_dir=bids_dir, output_dir=output_dir, analysis_level=args.analysis_level,
        work_dir=work_dir, lcmodel_dir=lcmodel_dir,
        participant_label=participants, session_label=sessions, bids_filters=filters,
        acquisition=acquisition,
        metabolites=tuple(args.metabolites), target_matrix=args.target_matrix, simulate_matrix=args.simulate_matrix,
        sharpness=tuple(args.sharpness), weights=args.weights.absolute() if args.weights else None,
        backend=args.backend, device=args.device, batch_size=args.batch_size,
        uncertainty_samples=args.uncertainty_samples, snr_min=args.snr_min,
        fwhm_max=args.fwhm_max, crlb_max=args.crlb_max, min_valid_fraction=args.min_valid_fraction,
        nprocs=args.nprocs, omp_nthreads=args.omp_nthreads, mem_gb=args.mem_gb,
        use_plugin=args.use_plugin.absolute() if args.use_plugin else None,
        stop_on_first_crash=args.stop_on_first_crash, skip_bids_validation=args.skip_bids_validation,
        validate_only=args.validate_only, export_slices=args.export_slices,
        output_spaces=tuple(dict.fromkeys(args.output_spaces)), train=args.train,
        train_args=tuple(shlex.split(args.train_args)), reports=args.reports, verbosity=args.verbosity,
        run_uuid=time.strftime("%Y%m%d-%H%M%S") + "_" + uuid.uuid4().hex[:8])


def _setup_logging(verbosity: int) -> None:
    """Nipype's own log at WARNING (``-v``: INFO, ``-vv``: DEBUG); our progress lines go to stdout."""
    from nipype import config as nipype_config
    from nipype import logging as nipype_logging

    level = "WARNING" if verbosity == 0 else ("INFO" if verbosity == 1 else "DEBUG")
    nipype_config.update_config({"logging": {"workflow_level": level, "interface_level": level,
                                             "utils_level": level}})
    nipype_logging.update_logging(nipype_config)


def main(argv: list[str] | None = None) -> int:
    """Run the BIDS-App; returns the exit code (see the module docstring)."""
    try:
        config = parse_args(argv)
        _setup_logging(config.verbosity)
        if config.analysis_level == "group":
            from mrsisr.bids_app.group import run_group

            return run_group(config)
        from mrsisr.bids_app.participant import run_participant

        return run_participant(config)
    except AppExit as stop:
        print(f"mrsisr: {stop}", file=sys.stderr)
        return stop.code


if __name__ == "__main__":
    sys.exit(main())
