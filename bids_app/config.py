"""The run configuration: one frozen, typed dataclass built from the command line.

Nothing in :mod:`mrsisr` reads global state: the command line builds one
:class:`RunConfig`, hands it to :func:`mrsisr.workflows.base.init_mrsisr_wf`,
which passes plain values down to the builders. The configuration is written
as TOML (:func:`to_toml`) in each subject's log folder, so a run can be traced
and repeated.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from mrsisr import defaults
from mrsisr.defaults import OUTPUT_SPACES

__all__ = ["RunConfig", "to_toml"]


@dataclass(frozen=True)
class RunConfig:
    """Everything one ``mrsisr`` run needs; paths are absolute.

    Attributes mirror the command-line options (see ``mrsisr --help``).
    """

    bids_dir: Path
    output_dir: Path
    analysis_level: str
    work_dir: Path
    lcmodel_dir: Path
    participant_label: tuple[str, ...] = ()
    session_label: tuple[str, ...] = ()
    bids_filters: dict = field(default_factory=dict)
    acquisition: str | None = None
    fsl_mrs_scaling: str = "auto"
    spectrometer_frequency: float | None = None
    #: The metabolites the user named (each must be present); () by default: every one of the
    #: network's metabolites (:data:`mrsisr.METABOLITES`) that the fitting output has.
    metabolites: tuple[str, ...] = ()
    target_matrix: int = defaults.TARGET_MATRIX
    simulate_matrix: int | None = None
    sharpness: tuple[float, ...] = defaults.SHARPNESS
    weights: Path | None = None
    backend: str = "auto"
    device: str = "auto"
    batch_size: int = defaults.BATCH_SIZE
    uncertainty_samples: int = defaults.UNCERTAINTY_SAMPLES
    snr_min: float = defaults.SNR_MIN
    fwhm_max: float = defaults.FWHM_MAX_PPM
    crlb_max: float | None = defaults.CRLB_MAX
    min_valid_fraction: float | None = None
    min_slice_fraction: float | None = defaults.MIN_SLICE_FRACTION
    nprocs: int = 1
    omp_nthreads: int = 1
    mem_gb: float | None = None
    use_plugin: Path | None = None
    stop_on_first_crash: bool = False
    skip_bids_validation: bool = False
    validate_only: bool = False
    export_slices: bool = False
    output_spaces: tuple[str, ...] = OUTPUT_SPACES
    train: bool = False
    train_args: tuple[str, ...] = ()
    reports: bool = True
    verbosity: int = 0
    run_uuid: str = ""

    @property
    def mrsi_filters(self) -> dict | None:
        """The ``--bids-filter-file`` key ``mrsi``: pybids filters of the raw MRSI in ``mrs/``."""
        return self.bids_filters.get("mrsi") or None

    def as_dict(self) -> dict:
        """Plain JSON/TOML-friendly values (paths as strings, tuples as lists)."""
        out = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = [str(v) if isinstance(v, Path) else v for v in value]
            out[item.name] = value
        return out


def _toml_value(value) -> str:
    """One TOML value: strings JSON-quoted (a subset of TOML basic strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def _toml_table(name: str, table: dict, lines: list[str]) -> None:
    """Append ``[name]`` with its scalar keys, then its sub-tables (``None`` written as a comment)."""
    lines.append(f"[{name}]")
    nested = {}
    for key, value in table.items():
        quoted = json.dumps(str(key))
        if isinstance(value, dict):
            nested[key] = value
        elif value is None:
            lines.append(f"# {quoted} = (not set)")
        else:
            lines.append(f"{quoted} = {_toml_value(value)}")
    for key, value in nested.items():
        _toml_table(f"{name}.{json.dumps(str(key))}", value, lines)


def to_toml(config: RunConfig) -> str:
    """The configuration as TOML under ``[execution]`` (TOML has no null: ``None`` becomes a comment)."""
    lines = ["# mrsisr run configuration"]
    _toml_table("execution", config.as_dict(), lines)
    return "\n".join(lines) + "\n"
