"""The group level: cohort table and report; with ``--train``, a dataset-specific model."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from mrsisr.bids_app.cli import EXIT, AppExit
from mrsisr.bids_app.config import RunConfig
from mrsisr.bids_app.derivatives import write_dataset_description

__all__ = ["run_group", "training_slices_dir"]


def training_slices_dir(output_dir: Path) -> Path:
    """Where the participant level exports prepared slices (``--export-slices``)."""
    return Path(output_dir) / "training" / "slices"


def _train(config: RunConfig) -> int:
    """Run ``mrsisr-train`` on the exported slices (k-fold by participant); model + card in ``training/model``."""
    from mrsisr.training.cli import main as train_main

    slices = sorted(training_slices_dir(config.output_dir).glob("*_slices.npz"))
    if not slices:
        raise AppExit(EXIT["no_input"], f"--train: no exported slices in {training_slices_dir(config.output_dir)}; "
                      "run the participant level with --export-slices (on N×N maps) first")
    selected = [p for p in slices if not config.participant_label
                or any(p.name.removeprefix("sub-").startswith(f"{label}_") for label in config.participant_label)]
    model_dir = config.output_dir / "training" / "model"
    with tempfile.TemporaryDirectory(dir=config.work_dir if config.work_dir.is_dir() else None) as staging:
        for path in selected:
            shutil.copyfile(path, Path(staging) / path.name)
        print(f"mrsisr: training on {len(selected)} participant(s) → {model_dir}", flush=True)
        code = train_main([staging, str(model_dir), *config.train_args])
    return EXIT["ok"] if code == 0 else EXIT["subject_failed"]


def run_group(config: RunConfig) -> int:
    """Group level; returns the exit code."""
    from mrsisr.bids_app.report import write_group_report

    if not config.output_dir.is_dir():
        raise AppExit(EXIT["no_input"], f"{config.output_dir} does not exist: run the participant level first")
    try:
        tsv, page = write_group_report(config.output_dir)
    except FileNotFoundError as error:
        raise AppExit(EXIT["no_input"], str(error)) from error
    finally:
        write_dataset_description(config.output_dir, config.bids_dir)
    print(f"mrsisr: cohort table {tsv}\nmrsisr: group report {page}", flush=True)
    return _train(config) if config.train else EXIT["ok"]
