"""The participant level: checks, the Nipype run, reports and the summary table."""

from __future__ import annotations

import gc
import getpass
import json
import os
import sys
import time
import traceback
from pathlib import Path

from mrsisr.bids_app import bids as bidsq
from mrsisr.bids_app.cli import EXIT, AppExit
from mrsisr.bids_app.config import RunConfig, to_toml
from mrsisr.bids_app.derivatives import write_dataset_description
from mrsisr.bids_app.survey import missing_note
from mrsisr.defaults import FLAIR_SUBSTITUTE
from mrsisr.interfaces.bids import atomic_write_text
from mrsisr.bids_app.execution import (
    SubjectStatus, WorkDirBusy, collect_crashes, format_table, lock_work_dir, plugin_settings, settle_statuses,
    subject_nodes,
)

__all__ = ["run_participant", "check_inputs", "select_subjects"]


def _say(message: str) -> None:
    print(message, flush=True)


def check_inputs(config: RunConfig) -> None:
    """Refusals that need the dataset: not BIDS (16), validator errors (16), missing tools/weights (66)."""
    if not (config.bids_dir / "dataset_description.json").is_file():
        raise AppExit(EXIT["invalid_bids"], f"{config.bids_dir} is not a BIDS dataset (no dataset_description.json)")
    if not config.skip_bids_validation:
        from mrsisr.bids_app.validation import validate_dataset

        result = validate_dataset(config.bids_dir)
        if not result.available:
            print("mrsisr: warning: bids-validator-deno is not installed; BIDS validation was skipped "
                  "(pip install 'mrsisr[validator]')", file=sys.stderr)
        elif not result.valid:
            raise AppExit(EXIT["invalid_bids"], "the input is not valid BIDS:\n  " + "\n  ".join(result.errors)
                          + "\n(use --skip-bids-validation to run anyway)")
    if not config.lcmodel_dir.is_dir():
        raise AppExit(EXIT["no_input"], f"LCModel directory {config.lcmodel_dir} does not exist (--lcmodel-dir)")
    from mrsisr.inference import DEFAULT_WEIGHTS
    from mrsisr.models.weights import WeightsError, load_model, read_metadata

    weights = config.weights or DEFAULT_WEIGHTS
    if config.weights is None and not Path(DEFAULT_WEIGHTS).is_file():
        raise AppExit(EXIT["no_input"], f"the packaged default weights {DEFAULT_WEIGHTS} are missing; "
                      "pass --weights FILE.safetensors")
    try:  # a full load: every tensor read and its shape checked against the variant, before any work
        variant = read_metadata(weights)["variant"]
        load_model(weights)
    except WeightsError as error:
        raise AppExit(EXIT["no_input"], str(error)) from error
    about = _model_card_description(Path(weights).with_suffix(".json"))
    _say(f"mrsisr: model {weights} ({variant}{'; ' + about if about else ''})")
    if config.backend == "fsl":
        from mrsisr.interfaces.backend import fsl_available

        missing = [tool for tool in ("bet", "flirt") if not fsl_available(tool)]
        if missing:
            raise AppExit(EXIT["no_input"], f"--backend fsl: FSL is not usable (FSLDIR unset or {missing} not on PATH)")


def _model_card_description(card: Path) -> str:
    """The ``description`` of the model card beside the weights ('' when there is none);
    a card that is not a JSON object is refused (66), as the weights would be."""
    if not card.is_file():
        return ""
    try:
        content = json.loads(card.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise AppExit(EXIT["no_input"], f"model card {card} (beside the weights) is not readable JSON: {error}") from error
    if not isinstance(content, dict):
        raise AppExit(EXIT["no_input"], f"model card {card} (beside the weights) must be a JSON object, "
                      f"got {type(content).__name__}")
    return str(content.get("description", ""))


def select_subjects(config: RunConfig) -> list[bidsq.SubjectInputs]:
    """Query the dataset; unknown labels or an empty selection give exit code 18."""
    layout = bidsq.make_layout(config.bids_dir)
    try:
        subjects = bidsq.collect_subjects(
            layout, lcmodel_dir=config.lcmodel_dir, participant_label=config.participant_label,
            session_label=config.session_label, filters=config.bids_filters, acquisition=config.acquisition,
            simulate_matrix=config.simulate_matrix, target_matrix=config.target_matrix,
            metabolites=tuple(config.metabolites), fsl_scaling=config.fsl_mrs_scaling,
            spectrometer_frequency=config.spectrometer_frequency)
    except bidsq.LabelError as error:
        raise AppExit(EXIT["no_selection"], str(error)) from error
    if not subjects:
        raise AppExit(EXIT["no_selection"], f"no subject selected in {config.bids_dir}")
    return subjects


def _flair_cell(item: bidsq.SubjectInputs) -> str:
    return Path(item.flair).name if item.flair else f"none (optional; substitute: {FLAIR_SUBSTITUTE})"


def _quality_cell(config: RunConfig, item: bidsq.SubjectInputs) -> str:
    """The voxel criteria the subject's fitting output allows (S/N and FWHM need their maps)."""
    if not item.metabolites:
        return "-"
    crlb = [f"%SD<={config.crlb_max:g}"] if config.crlb_max is not None else []
    if not item.quality_maps:
        return ", ".join(["no S/N, FWHM maps"] + crlb)
    return ", ".join([f"S/N>={config.snr_min:g}", f"FWHM<={config.fwhm_max:g} ppm"] + crlb)


def _inputs_table(subjects: list[bidsq.SubjectInputs], config: RunConfig) -> str:
    """What each subject will get: anatomy (FLAIR optional), acquisition and grid, metabolites found and
    missing, where the grid comes from, the quality criteria, and its status."""
    rows = [{"subject": s.key, "T1w": Path(s.t1w).name or "-", "FLAIR": _flair_cell(s),
             "acquisition": s.acquisition or "-", "available": ",".join(s.acquisitions) or "-",
             "n": str(s.acquired_matrix or "-"), "metabolites": ",".join(s.metabolites) or "-",
             "missing": missing_note(s.missing_metabolites) or "-", "geometry": s.geometry_source or "-",
             "quality criteria": _quality_cell(config, s),
             "status": "; ".join(s.problems) or "ok"} for s in subjects]
    return format_table(rows)


def _say_missing(subjects: list[bidsq.SubjectInputs]) -> None:
    """One log line per subject whose fitting output lacks some of the network's metabolites."""
    for item in subjects:
        if item.missing_metabolites and not item.problems:
            _say(f"[{item.key}] not super-resolved: {missing_note(item.missing_metabolites)}")


def _write_logs(config: RunConfig, subjects) -> None:
    """The configuration as TOML in each subject's log folder."""
    text = to_toml(config)
    for item in subjects:
        folder = config.output_dir / f"sub-{item.subject}" / "log" / config.run_uuid
        name = "mrsisr.toml" if not item.session else f"mrsisr_ses-{item.session}.toml"
        atomic_write_text(folder / name, text)


def _run_workflow(config: RunConfig, subjects, crash_dir: Path, statuses: dict[str, SubjectStatus]) -> None:
    """Run the graph, then give each subject the status of its own nodes (:func:`settle_statuses`):
    a failure elsewhere leaves a subject whose every step finished ``ok``."""
    from mrsisr.workflows.base import init_mrsisr_wf

    workflow = init_mrsisr_wf(config, subjects)
    workflow.config["execution"].update({
        "crashdump_dir": str(crash_dir), "crashfile_format": "txt", "remove_unnecessary_outputs": False,
        "stop_on_first_crash": config.stop_on_first_crash})
    plugin, plugin_args = plugin_settings(config.use_plugin, config.nprocs, config.mem_gb)
    progress = plugin_args["status_callback"]
    if plugin not in ("Linear", "MultiProc"):
        os.environ.setdefault("LOGNAME", getpass.getuser())  # Nipype's batch plugins read it
    poll = plugin_args.pop("poll_sleep_duration", None)
    if poll is not None:
        workflow.config["execution"]["poll_sleep_duration"] = float(poll)
    nodes = subject_nodes(workflow)
    _say(f"mrsisr: running {len(subjects)} subject(s) with {plugin} (work dir {config.work_dir})")
    gc.collect()
    gc.freeze()  # MultiProc calls gc.collect() in its loop: skip the (large, long-lived) imported modules
    try:
        workflow.run(plugin=plugin, plugin_args=plugin_args)
    except Exception as error:  # nipype raises after the other subjects finished
        if config.verbosity:
            traceback.print_exc()
        _say(f"mrsisr: some steps failed ({type(error).__name__}); see the summary below")
        first_line = (str(error).strip().splitlines() or [""])[0]
        why = ("--stop-on-first-crash stopped the run at another subject's error" if config.stop_on_first_crash
               else f"the {plugin} run stopped ({type(error).__name__}: {first_line})")
        collect_crashes(crash_dir, statuses)
        settle_statuses(statuses, nodes, progress.outcomes, config.work_dir, why)
    finally:
        gc.unfreeze()


def _reports(config: RunConfig, subjects, statuses: dict[str, SubjectStatus]) -> None:
    from mrsisr.bids_app.report import write_subject_report

    for item in subjects:
        status = statuses[item.key]
        try:
            path = write_subject_report(config.output_dir, item.subject, item.session, item.t1w, status.errors,
                                        missing_metabolites=list(item.missing_metabolites), flair=bool(item.flair),
                                        flair_substitute=None if item.flair else f"the skull-stripped {FLAIR_SUBSTITUTE} (in both encoders)")
            _say(f"[{item.key}] report                           done ({path.name})")
        except Exception as error:  # a report must not hide the processing result
            status.errors.append(f"report: {type(error).__name__}: {error}")
            if status.status == "ok":
                status.status = "report failed"


def _citation(config: RunConfig, subjects) -> None:
    """``OUTPUT_DIR/logs/CITATION.md``, the methods paragraph of the run (a failure only warns)."""
    from mrsisr.bids_app.report import write_run_citation

    try:
        path = write_run_citation(config.output_dir, [(s.subject, s.session, s.t1w) for s in subjects],
                                  flair=all(bool(s.flair) for s in subjects))
        if path:
            _say(f"mrsisr: methods paragraph with references in {path}")
    except Exception as error:  # the boilerplate must not hide the processing result
        print(f"mrsisr: warning: could not write logs/CITATION.md ({type(error).__name__}: {error})", file=sys.stderr)


def run_participant(config: RunConfig) -> int:
    """Participant level; returns the exit code."""
    check_inputs(config)
    subjects = select_subjects(config)
    if config.validate_only:
        _say(_inputs_table(subjects, config))
        return EXIT["no_input"] if any(s.problems for s in subjects) else EXIT["ok"]
    broken = [s for s in subjects if s.problems]
    if broken:
        raise AppExit(EXIT["no_input"],
                      "inputs are missing or unusable (nothing was run):\n" + _inputs_table(subjects, config))
    _say_missing(subjects)
    started = time.time()
    crash_dir = config.work_dir / "crash" / config.run_uuid
    statuses = {s.key: SubjectStatus(s.key) for s in subjects}
    try:
        with lock_work_dir(config.work_dir):
            try:
                _write_logs(config, subjects)
                _run_workflow(config, subjects, crash_dir, statuses)
                if config.reports:
                    _reports(config, subjects, statuses)
                _citation(config, subjects)
            finally:
                write_dataset_description(config.output_dir, config.bids_dir)
    except WorkDirBusy as busy:
        raise AppExit(EXIT["busy"], str(busy)) from busy
    elapsed = time.time() - started
    missing = {s.key: missing_note(s.missing_metabolites) or "-" for s in subjects}
    rows = [{"subject": key, "status": s.status, "error": " ".join("; ".join(s.errors).split())[:200] or "-",
             "crash files": len(s.crash_files), "not super-resolved": missing[key]} for key, s in statuses.items()]
    _say(f"\nmrsisr summary ({elapsed:.0f} s, outputs in {config.output_dir}):\n" + format_table(rows))
    for status in statuses.values():
        for crash in status.crash_files:
            _say(f"  {status.key}: crash file {crash}")
    failed = any(s.status in ("FAILED", "INCOMPLETE") for s in statuses.values())
    return EXIT["subject_failed"] if failed else EXIT["ok"]
