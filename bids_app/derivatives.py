"""The output dataset's own files: ``dataset_description.json``, ``README`` and ``.bidsignore``.

The files of each subject are named and written by
:class:`mrsisr.interfaces.bids.DerivativesDataSink` (inside the workflows); this module
writes what the app adds once per run, with the same atomic writer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import mrsisr
from mrsisr.interfaces.bids import atomic_write_text

__all__ = ["BIDSIGNORE", "foreign_dataset", "in_container", "write_dataset_description"]

#: Files of the output dataset that the BIDS schema does not cover (gitignore syntax).
BIDSIGNORE = """\
# mrsisr outputs outside the BIDS specification (metabolite maps use the met-<label> entity)
*_met-*
*ratio*
*_xfm.*
*_counts.tsv
*_counts.json
*_slices.tsv
*_slices.json
*.html
figures
log
logs
group
training
"""


def in_container() -> str | None:
    """``docker``/``apptainer`` when running inside a container, else None."""
    if os.environ.get("APPTAINER_CONTAINER") or os.environ.get("SINGULARITY_CONTAINER"):
        return "apptainer"
    if Path("/.dockerenv").exists() or os.environ.get("MRSISR_CONTAINER") == "docker":
        return "docker"
    return None


def foreign_dataset(output_dir: Path) -> str | None:
    """Why ``output_dir`` belongs to another dataset (its ``dataset_description.json`` was not
    written by mrsisr, judged by ``GeneratedBy``), or None: such a description is never overwritten."""
    path = Path(output_dir) / "dataset_description.json"
    if not path.exists():
        return None
    try:
        description = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return f"{path} is not readable JSON ({error}); it is not mrsisr's"
    generated = description.get("GeneratedBy") if isinstance(description, dict) else None
    names = [g.get("Name") for g in generated if isinstance(g, dict)] if isinstance(generated, list) else []
    if "mrsisr" not in names:
        owner = ", ".join(str(n) for n in names if n) or "another dataset (no GeneratedBy)"
        return f"{path} was written by {owner}, not mrsisr"
    return None


def write_dataset_description(output_dir: Path, bids_dir: Path) -> Path:
    """``dataset_description.json``, ``README`` and ``.bidsignore`` of the output dataset (idempotent).

    Refuses (:class:`FileExistsError`) to replace a description that mrsisr did not write."""
    foreign = foreign_dataset(output_dir)
    if foreign:
        raise FileExistsError(f"{foreign}; refusing to overwrite it")
    output_dir.mkdir(parents=True, exist_ok=True)
    generated = {"Name": "mrsisr", "Version": mrsisr.__version__,
                 "CodeURL": "https://github.com/mrsisr/mrsisr",
                 "Description": "Super-resolution of MRSI metabolite maps (multi-encoder UNet with MCM)"}
    container = in_container()
    if container:
        generated["Container"] = {"Type": container, "Tag": f"mrsisr:{mrsisr.__version__}"}
    description = {
        "Name": "mrsisr derivatives: super-resolved MRSI metabolite maps",
        "BIDSVersion": "1.9.0",
        "DatasetType": "derivative",
        "GeneratedBy": [generated],
        "SourceDatasets": [{"URL": Path(bids_dir).resolve().as_uri()}],
        "DatasetLinks": {"raw": Path(bids_dir).resolve().as_uri()},
        "HowToAcknowledge": "Cite the mrsisr software and the multi-conditional super-resolution paper.",
    }
    atomic_write_text(output_dir / "dataset_description.json", json.dumps(description, indent=2) + "\n")
    atomic_write_text(output_dir / ".bidsignore", BIDSIGNORE)
    readme = output_dir / "README"
    if not readme.exists():
        atomic_write_text(readme, "Derivatives written by mrsisr; see docs/bids_app.md for the file naming scheme.\n")
    return output_dir / "dataset_description.json"
