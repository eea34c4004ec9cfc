"""``mrsisr BIDS_DIR OUTPUT_DIR {participant,group}``: the BIDS-App command line.

Exit codes (BIDS-Apps execution draft): 0 success; 1 at least one subject failed;
16 the input is not valid BIDS; 17 unknown analysis level; 18 the filters selected no
subject (or an unknown label); 64 usage error; 66 an input is missing or unusable;
75 another run holds the working directory (try again when it has finished).
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
from mrsisr.io.errors import MapLoadingError
from mrsisr.io.fslmrs import FSL_SCALINGS, check_frequency

__all__ = ["main", "parse_args", "EXIT"]

EXIT = {"ok": 0, "subject_failed": 1, "invalid_bids": 16, "bad_level": 17, "no_selection": 18,
        "usage": 64, "no_input": 66, "busy": 75}
LEVELS = ("participant", "group")
#: The output matrix N must be a multiple of this: the network pools the 3N×3N MRI grid four
#: times by 2 (levels 2–5 of each encoder) and the decoder upsamples it back, so 3N/16 must be
#: whole (``mrsisr.models.unet``; N = 16, 32, 48, 64, 80 ...).
MATRIX_MULTIPLE = 16


class AppExit(Exception):
    """Stop with an exit code and a message (raised by the checks before any work)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors exit with 64 (EX_USAGE), not argparse's 2
        self.print_usage(sys.stderr)
        raise AppExit(EXIT["usage"], f"error: {message}")  # main() prefixes "mrsisr: "


def _number(kind, low: float | None = None, high: float | None = None, *, above: bool = False,
            what: str = "a number"):
    """An argparse type: ``kind`` (int/float) in [low, high] (``above``: strictly above ``low``),
    so that a bad value is a usage error at parse time, not a hang or a traceback later."""

    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value != value or (low is not None and (value <= low if above else value < low)) \
                or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
        return value

    return convert


_sharpness = _number(float, 0.0, 1.0, what="λ in [0, 1] (paper: 0–0.03)")
_count = _number(int, 1, what="an integer of at least 1")
_positive = _number(float, 0.0, above=True, what="a positive number")


def _unique(values) -> tuple:
    """``values`` without repeats, in the order given (``--sharpness 0 0`` runs λ = 0 once)."""
    return tuple(dict.fromkeys(values))


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
    select.add_argument("--bids-filter-file", type=Path,
                        help="JSON with pybids filters for 't1w', 'flair' and 'mrsi' (the raw MRSI in mrs/)")
    select.add_argument("--skip-bids-validation", action="store_true", help="do not run bids-validator-deno")
    select.add_argument("--lcmodel-dir", type=Path, help="fitting outputs (default: BIDS_DIR/derivatives/lcmodel)")
    select.add_argument("--acquisition", help="acq-<label> of the fitting outputs; default: the lowest-resolution "
                        "one (the highest with --simulate-matrix)")
    select.add_argument("--validate-only", action="store_true",
                        help="check every selected subject's inputs, run nothing")
    select.add_argument("--fsl-mrs-scaling", choices=("auto", *FSL_SCALINGS), default="auto",
                        help="fsl_mrsi concentration scaling (concs/<scaling>); default auto: the first present of "
                        + ", ".join(FSL_SCALINGS) + " (FSL-MRS's own preference)")
    select.add_argument("--spectrometer-frequency", type=float, metavar="MHz",
                        help="1H frequency converting fsl_mrsi FWHM from Hz to ppm; only needed where neither "
                        "fit/fit.nii.gz nor the raw NIfTI-MRS in mrs/ records it")
    method = parser.add_argument_group("super-resolution")
    method.add_argument("--metabolites", nargs="+", default=[], help="metabolites to super-resolve, each required "
                        f"(default: every one of {', '.join(METABOLITES)} that the fitting output has)")
    method.add_argument("--target-matrix", type=_count, default=defaults.TARGET_MATRIX,
                        help=f"output in-plane matrix N, a multiple of {MATRIX_MULTIPLE} (default 64)")
    method.add_argument("--sharpness", nargs="+", type=_sharpness, default=list(defaults.SHARPNESS), metavar="λ",
                        help="sharpness weights, one output each (default 0; paper: 0–0.03)")
    method.add_argument("--weights", type=Path, help="safetensors weights (default: the packaged model)")
    method.add_argument("--simulate-matrix", type=_count, metavar="n",
                        help="evaluation: simulate an n×n acquisition from the N×N maps")
    method.add_argument("--backend", choices=("auto", "fsl", "python"), default="auto",
                        help="skull-strip/co-registration backend (auto: FSL when installed)")
    method.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    method.add_argument("--batch-size", type=_count, default=defaults.BATCH_SIZE, help="maps per forward pass")
    method.add_argument("--uncertainty-samples", type=int, default=defaults.UNCERTAINTY_SAMPLES, metavar="K",
                        help="test-time transformations (flips, 90° turns, sub-voxel shifts) whose spread is written "
                             f"beside each map as desc-srLam<λ>Sd (costs K× the network time; default "
                             f"{defaults.UNCERTAINTY_SAMPLES}; 0: off)")
    quality = parser.add_argument_group("quality control")
    quality.add_argument("--snr-min", type=_number(float, 0.0, what="a number of at least 0"),
                         default=defaults.SNR_MIN, help="reject voxels with S/N below (default 2.5)")
    quality.add_argument("--fwhm-max", type=_positive, default=defaults.FWHM_MAX_PPM,
                         help="reject FWHM above, ppm (default 0.15)")
    quality.add_argument("--crlb-max", type=_positive, default=defaults.CRLB_MAX, help="reject %%SD above (default: off)")
    quality.add_argument("--min-valid-fraction", type=_number(float, 0.0, 1.0, what="a fraction in [0, 1]"),
                         default=None, help="keep slices whose valid voxels / (nx*ny) reach this (the paper's "
                         f"rule, {defaults.MIN_VALID_FRACTION:g} on its 7T slab; default: off, the relative rule below)")
    quality.add_argument("--min-slice-fraction", type=_number(float, 0.0, 1.0, what="a fraction in [0, 1]"),
                         default=None, help="keep slices whose valid voxels reach this fraction of the fullest "
                         f"slice's (default {defaults.MIN_SLICE_FRACTION:g}; off when only --min-valid-fraction "
                         "is given)")
    run = parser.add_argument_group("execution")
    run.add_argument("-w", "--work-dir", type=Path, help="Nipype working directory (default: ./work)")
    run.add_argument("--nprocs", "--n-cpus", type=_count, default=1, help="processes in parallel")
    run.add_argument("--omp-nthreads", type=_count, default=1, help="threads per process (PyTorch)")
    # MultiProc schedules nothing below 0.01 GB free (it waits for ever): refuse such limits here
    run.add_argument("--mem-gb", type=_number(float, 0.1, what="a memory size of at least 0.1 (GB)"),
                     help="memory limit for the scheduler (GB)")
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


def _check_options(args: argparse.Namespace) -> None:
    """Refusals that need only the options (64, 17)."""
    if args.analysis_level not in LEVELS:
        raise AppExit(EXIT["bad_level"], f"unknown analysis level {args.analysis_level!r}; expected one of {LEVELS}")
    if args.target_matrix % MATRIX_MULTIPLE:
        raise AppExit(EXIT["usage"], f"--target-matrix must be a multiple of {MATRIX_MULTIPLE} (the network halves "
                      f"the 3N MRI grid four times), got {args.target_matrix}")
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


def _check_directories(bids_dir: Path, output_dir: Path, work_dir: Path, lcmodel_dir: Path) -> None:
    """The output and working directories: apart from every input, writable, the working one private,
    and no other pipeline's dataset in the output (64)."""
    from mrsisr.bids_app.derivatives import foreign_dataset

    try:
        for path, what in ((output_dir, "output directory"), (work_dir, "working directory")):
            bidsq.check_output_dir(bids_dir, path, what=what)
            bidsq.check_apart(path, {"--lcmodel-dir": lcmodel_dir}, what=what)
            bidsq.check_writable_dir(path, what=what)
        bidsq.check_private_work_dir(work_dir, output_dir)
    except bidsq.InputError as error:
        raise AppExit(EXIT["usage"], str(error)) from error
    foreign = foreign_dataset(output_dir)
    if foreign:
        raise AppExit(EXIT["usage"], f"the output directory holds another dataset: {foreign}; "
                      "mrsisr never overwrites it: give another OUTPUT_DIR")


def _check_input_files(args: argparse.Namespace) -> dict:
    """The optional input files (66): they exist, and the plugin file and the filters are usable.
    Returns the BIDS filters."""
    from mrsisr.bids_app.execution import read_plugin_file

    for option, path in (("--weights", args.weights), ("--use-plugin", args.use_plugin),
                         ("--bids-filter-file", args.bids_filter_file)):
        if path is not None and not path.is_file():
            raise AppExit(EXIT["no_input"], f"{option} {path} does not exist")
    try:
        if args.use_plugin is not None:
            read_plugin_file(args.use_plugin)
        return bidsq.load_bids_filters(args.bids_filter_file)
    except ValueError as error:  # InputError included
        raise AppExit(EXIT["no_input"], str(error)) from error


def parse_args(argv: list[str] | None = None) -> RunConfig:
    """Parse and check the command line; raises :class:`AppExit` for every refusal (nothing is written)."""
    args = _build_parser().parse_args(argv)
    _check_options(args)
    try:  # a label given twice (01 and sub-01) is processed once
        participants = _unique(bidsq.clean_label(label, "sub") for label in args.participant_label)
        sessions = _unique(bidsq.clean_label(label, "ses") for label in args.session_label)
    except bidsq.LabelError as error:
        raise AppExit(EXIT["usage"], str(error)) from error
    try:
        acquisition = bidsq.clean_label(args.acquisition, "acq") if args.acquisition is not None else None
    except bidsq.LabelError as error:
        raise AppExit(EXIT["usage"], f"invalid --acquisition {args.acquisition!r}: letters and digits only") from error
    bids_dir = args.bids_dir.absolute()
    output_dir = args.output_dir.absolute()
    if not bids_dir.is_dir():
        raise AppExit(EXIT["no_input"], f"BIDS directory {bids_dir} does not exist")
    work_dir = (args.work_dir or Path.cwd() / "work").absolute()
    lcmodel_dir = (args.lcmodel_dir or bids_dir / "derivatives" / "lcmodel").absolute()
    _check_directories(bids_dir, output_dir, work_dir, lcmodel_dir)
    filters = _check_input_files(args)
    if args.spectrometer_frequency is not None:
        try:
            check_frequency(args.spectrometer_frequency, "--spectrometer-frequency")
        except MapLoadingError as error:
            raise AppExit(EXIT["usage"], str(error)) from error
    return RunConfig(
        bids_dir=bids_dir, output_dir=output_dir, analysis_level=args.analysis_level,
        work_dir=work_dir, lcmodel_dir=lcmodel_dir,
        participant_label=participants, session_label=sessions, bids_filters=filters,
        acquisition=acquisition, fsl_mrs_scaling=args.fsl_mrs_scaling,
        spectrometer_frequency=args.spectrometer_frequency,
        metabolites=_unique(args.metabolites), target_matrix=args.target_matrix,
        simulate_matrix=args.simulate_matrix, sharpness=_unique(args.sharpness),
        weights=args.weights.absolute() if args.weights else None,
        backend=args.backend, device=args.device, batch_size=args.batch_size,
        uncertainty_samples=args.uncertainty_samples, snr_min=args.snr_min,
        fwhm_max=args.fwhm_max, crlb_max=args.crlb_max, min_valid_fraction=args.min_valid_fraction,
        min_slice_fraction=_slice_fraction(args.min_valid_fraction, args.min_slice_fraction),
        nprocs=args.nprocs, omp_nthreads=args.omp_nthreads, mem_gb=args.mem_gb,
        use_plugin=args.use_plugin.absolute() if args.use_plugin else None,
        stop_on_first_crash=args.stop_on_first_crash, skip_bids_validation=args.skip_bids_validation,
        validate_only=args.validate_only, export_slices=args.export_slices,
        output_spaces=tuple(dict.fromkeys(args.output_spaces)), train=args.train,
        train_args=tuple(shlex.split(args.train_args)), reports=args.reports, verbosity=args.verbosity,
        run_uuid=time.strftime("%Y%m%d-%H%M%S") + "_" + uuid.uuid4().hex[:8])


def _slice_fraction(min_valid_fraction: float | None, min_slice_fraction: float | None) -> float | None:
    """The relative slice rule: as given; else the default, unless only ``--min-valid-fraction`` was given."""
    if min_slice_fraction is not None:
        return min_slice_fraction
    return None if min_valid_fraction is not None else defaults.MIN_SLICE_FRACTION


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
