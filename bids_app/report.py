"""Visual reports: figures are derivatives (``sub-XX/figures/*.png``, named by ``desc``), the
HTML pages (``sub-XX.html``, ``group.html``) are assembled from them and from the tables.

Plotting (:func:`plot_*`) reads arrays and writes one PNG; :func:`write_subject_report` finds a
subject's derivatives by name, draws the figures and lays out the page.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from pathlib import Path

import nibabel as nib
import numpy as np

from mrsisr import METABOLITES
from mrsisr.interfaces.bids import LAMBDA_PREFIX, atomic_write_text, build_derivative_path, lambda_of_label

__all__ = ["write_subject_report", "write_group_report", "subject_files", "read_tsv"]

_MAX_PANEL_SLICES = 3


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    """Save a figure atomically (hidden temporary name, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}")
    fig.savefig(temporary, dpi=80, bbox_inches="tight", facecolor="black", format="png")
    _pyplot().close(fig)
    temporary.replace(path)
    return path


def _load(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    img = nib.load(str(path))
    return np.asanyarray(img.dataobj).astype(np.float32), img.affine


def _central_slices(mask: np.ndarray, count: int = 3) -> list[int]:
    """Axial slices through the mask's extent (quartiles), or through the middle."""
    occupied = np.flatnonzero(mask.reshape(-1, mask.shape[2]).any(axis=0)) if mask.any() else np.arange(mask.shape[2])
    return sorted({int(occupied[int(q * (len(occupied) - 1))]) for q in np.linspace(0.2, 0.8, count)})


def plot_overlay(background: np.ndarray, contour: np.ndarray, out_png: Path, title: str, threshold=0.5) -> Path:
    """Axial slices of ``background`` with the outline of ``contour > threshold`` in red."""
    plt = _pyplot()
    slices = _central_slices(contour > threshold)
    fig, axes = plt.subplots(1, len(slices), figsize=(3 * len(slices), 3))
    vmax = np.percentile(background[background > 0], 99) if np.any(background > 0) else 1.0
    for ax, k in zip(np.atleast_1d(axes), slices, strict=True):
        ax.imshow(background[:, :, k].T, origin="lower", cmap="gray", vmin=0, vmax=vmax)
        ax.contour(contour[:, :, k].T, levels=[threshold], colors="red", linewidths=0.8)
        ax.set_title(f"{title}, k={k}", color="white", fontsize=8)
        ax.axis("off")
    return _save(fig, out_png)


def plot_quality(masks: dict[str, np.ndarray], out_png: Path) -> Path:
    """The quality mask of each metabolite on its middle selected slice (white = kept)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(masks), figsize=(2.2 * len(masks), 2.4), squeeze=False)
    for ax, (name, mask) in zip(axes[0], masks.items(), strict=True):
        k = _central_slices(mask > 0, 1)[0]
        ax.imshow(mask[:, :, k].T, origin="lower", cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"{name} k={k}: {int(mask.sum())} kept", color="white", fontsize=7)
        ax.axis("off")
    return _save(fig, out_png)


def plot_metabolite_panel(columns: list[tuple[str, np.ndarray]], slices: list[int], out_png: Path) -> Path:
    """The paper's Fig. 3 layout: one row per slice; zero-filled, SR at each λ, FLAIR."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(slices), len(columns), figsize=(2.2 * len(columns), 2.2 * len(slices)),
                             squeeze=False)
    maps = [data for title, data in columns if title != "FLAIR"]
    vmax = max(float(np.percentile(m[m > 0], 99.5)) if np.any(m > 0) else 1.0 for m in maps)
    for row, k in enumerate(slices):
        for col, (title, data) in enumerate(columns):
            ax = axes[row, col]
            if title == "FLAIR":
                ax.imshow(data[:, :, k].T, origin="lower", cmap="gray")
            else:
                ax.imshow(data[:, :, k].T, origin="lower", cmap="inferno", vmin=0, vmax=vmax)
            if row == 0:
                ax.set_title(title, color="white", fontsize=8)
            ax.set_ylabel(f"k={k}", color="white")
            ax.set_xticks([])
            ax.set_yticks([])
    return _save(fig, out_png)


def read_tsv(path: str | Path) -> list[dict]:
    """Rows of a BIDS TSV as dicts of strings."""
    lines = Path(path).read_text().splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=False)) for line in lines[1:] if line]


def _entities(name: str) -> dict[str, str]:
    return dict(re.findall(r"([a-zA-Z]+)-([a-zA-Z0-9]+)_", name))


def subject_files(output_dir: Path, subject: str, session: str | None) -> dict:
    """The derivatives of one subject/session, grouped by what they are."""
    folder = output_dir / f"sub-{subject}" / (f"ses-{session}" if session else "")
    prefix = f"sub-{subject}" + (f"_ses-{session}" if session else "") + "_"
    found = {"quality": {}, "zerofilled": {}, "sr": {}, "srmask": {}}
    for path in sorted(folder.glob(f"*/{prefix}*")):
        name, entities = path.name, _entities(path.name)
        if session is None and "ses" in entities:
            continue
        desc, met = entities.get("desc"), entities.get("met")
        if name.endswith("_desc-brain_mask.nii.gz"):
            found["brain_mask"] = path
        elif name.endswith("_desc-coreg_FLAIR.nii.gz"):
            found["flair_t1w"] = path
        elif name.endswith("_counts.tsv"):
            found["counts"] = path
        elif name.endswith("_slices.tsv"):
            found["slices"] = path
        elif met and name.endswith(".nii.gz"):
            if desc == "quality":
                found["quality"][met] = path
            elif desc == "zerofilled":
                found["zerofilled"][met] = path
            elif desc == "sr" and name.endswith("_mask.nii.gz"):
                found["srmask"][met] = path
            elif desc and desc.startswith(LAMBDA_PREFIX):
                found["sr"].setdefault(met, {})[desc] = path
    order = {name: index for index, name in enumerate(METABOLITES)}
    for kind in ("quality", "zerofilled", "sr", "srmask"):  # the network's metabolite order
        found[kind] = dict(sorted(found[kind].items(), key=lambda item: (order.get(item[0], 99), item[0])))
    return found


def _figure_path(output_dir: Path, subject, session, acquisition, desc, suffix, metabolite=None) -> Path:
    entities = {"subject": subject, "session": session, "acquisition": acquisition, "metabolite": metabolite,
                "desc": desc, "suffix": suffix, "datatype": "figures", "extension": ".png"}
    return output_dir / build_derivative_path(entities)


def _table_html(rows: list[dict]) -> str:
    if not rows:
        return "<p>(empty)</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row.values()) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _make_figures(output_dir: Path, files: dict, t1w: str, subject, session) -> list[tuple[str, Path]]:
    """Draw every figure of the subject; returns (caption, path) pairs."""
    from mrsisr.grid import resample_to_grid

    figures = []
    acq = _entities(next(iter(files["zerofilled"].values())).name).get("acq") if files["zerofilled"] else None
    t1, t1_affine = _load(t1w)
    if "brain_mask" in files:
        mask, _ = _load(files["brain_mask"])
        out = _figure_path(output_dir, subject, session, None, "skullstrip", "T1w")
        figures.append(("Skull-strip: brain mask outline on the T1w", plot_overlay(t1, mask, out, "T1w")))
    if "flair_t1w" in files:
        flair, _ = _load(files["flair_t1w"])
        edges = t1 > np.percentile(t1[t1 > 0], 60) if np.any(t1 > 0) else t1 > 0
        out = _figure_path(output_dir, subject, session, None, "coreg", "FLAIR")
        figures.append(("Co-registration: FLAIR in T1w space, T1w outline in red",
                        plot_overlay(flair, edges.astype(np.float32), out, "FLAIR")))
    if files["quality"]:
        masks = {met: _load(path)[0] for met, path in files["quality"].items()}
        out = _figure_path(output_dir, subject, session, acq, "quality", "mask")
        figures.append(("Quality masks (acquired grid, white = kept)", plot_quality(masks, out)))
    selected = []
    if "slices" in files:
        selected = [int(r["slice"]) for r in read_tsv(files["slices"]) if r["selected"] == "true"]
    for met, zero_path in files["zerofilled"].items():
        zero_filled, grid_affine = _load(zero_path)
        columns = [("zero-filled", zero_filled)]
        for desc, path in sorted(files["sr"].get(met, {}).items(), key=lambda item: lambda_of_label(item[0])):
            columns.append((f"SR λ={lambda_of_label(desc):g}", _load(path)[0]))
        if "flair_t1w" in files:
            columns.append(("FLAIR", resample_to_grid(flair, t1_affine, zero_filled.shape[:3], grid_affine,
                                                      order=1, antialias=True)))
        picks = selected or list(range(zero_filled.shape[2]))
        picks = [picks[int(i)] for i in np.linspace(0, len(picks) - 1, min(_MAX_PANEL_SLICES, len(picks)))]
        out = _figure_path(output_dir, subject, session, acq, "panel", "mrsi", metabolite=met)
        caption = f"{met}: zero-filled, super-resolved at each λ, FLAIR"
        figures.append((caption, plot_metabolite_panel(columns, picks, out)))
    return figures


_STYLE = ("body{font-family:sans-serif;margin:2em;max-width:1200px} table{border-collapse:collapse;font-size:0.85em}"
          "td,th{border:1px solid #aaa;padding:2px 6px} .warning{background:#fdd;border:2px solid #c00;padding:1em}"
          "img{max-width:100%;background:#000} h2{border-bottom:1px solid #ccc}")


def _fingerprint(output_dir: Path, subject: str, session: str | None, errors: list[str]) -> str:
    """Hash of the subject's derivatives (anat/, mrs/) and errors: the report's inputs."""
    folder = output_dir / f"sub-{subject}" / (f"ses-{session}" if session else "")
    digest = hashlib.sha256("\n".join(errors).encode())
    for path in sorted(p for sub in ("anat", "mrs") for p in (folder / sub).glob("*") if p.is_file()):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _up_to_date(page: Path, fingerprint: str, output_dir: Path) -> bool:
    """Whether ``page`` was made from the same derivatives and its figures are all there."""
    if not page.is_file():
        return False
    text = page.read_text()
    images = re.findall(r"<img src='([^']+)'", text)
    return f"<!-- mrsisr-fingerprint: {fingerprint} -->" in text and all((output_dir / i).is_file() for i in images)


def write_subject_report(output_dir: Path, subject: str, session: str | None, t1w: str,
                         errors: list[str] | None = None, force: bool = False) -> Path:
    """Draw the figures and write ``sub-XX[_ses-YY].html`` at the root of the output dataset.

    Skipped (unless ``force``) when the page was made from identical derivatives: a resumed run
    does not redraw its figures.
    """
    output_dir = Path(output_dir)
    key = f"sub-{subject}" + (f"_ses-{session}" if session else "")
    fingerprint = _fingerprint(output_dir, subject, session, list(errors or []))
    if not force and _up_to_date(output_dir / f"{key}.html", fingerprint, output_dir):
        return output_dir / f"{key}.html"
    files = subject_files(output_dir, subject, session)
    parts = [f"<html><head><meta charset='utf-8'><title>{key}</title><style>{_STYLE}</style></head><body>",
             f"<!-- mrsisr-fingerprint: {fingerprint} -->", f"<h1>mrsisr report: {html.escape(key)}</h1>"]
    sidecar = next(iter(files["sr"].values()), {})
    meta = json.loads(next(iter(sidecar.values())).with_suffix("").with_suffix(".json").read_text()) if sidecar else {}
    model = meta.get("Model", {})
    if model.get("Placeholder"):
        parts.append("<div class='warning'><b>Placeholder model.</b> The super-resolved maps come from an "
                     "untrained or quickly trained placeholder network: do not interpret them clinically.</div>")
    for error in errors or []:
        parts.append(f"<div class='warning'><b>Error:</b> {html.escape(error)}</div>")
    if meta:
        summary = [{"item": k, "value": json.dumps(meta.get(k))} for k in (
            "AcquiredMatrix", "TargetMatrix", "SimulatedAcquisition", "SkullStrippingBackend",
            "CoregistrationBackend", "QualityThresholds", "SelectedSlices")]
        summary += [{"item": f"Model {k}", "value": str(v)} for k, v in model.items()]
        parts += ["<h2>Processing summary</h2>", _table_html(summary)]
    for caption, path in _make_figures(output_dir, files, t1w, subject, session):
        parts += [f"<h2>{html.escape(caption)}</h2>",
                  f"<img src='{path.relative_to(output_dir).as_posix()}' alt='{html.escape(caption)}'>"]
    for title, name in (("Quality counts per metabolite", "counts"), ("Slice selection", "slices")):
        if name in files:
            parts += [f"<h2>{title}</h2>", _table_html(read_tsv(files[name]))]
    parts.append("</body></html>")
    return atomic_write_text(output_dir / f"{key}.html", "\n".join(parts) + "\n")


def cohort_rows(output_dir: Path) -> list[dict]:
    """One row per subject/session/metabolite of the participant outputs (the group TSV)."""
    rows = []
    for counts in sorted(Path(output_dir).glob("sub-*/**/mrs/*_counts.tsv")):
        entities = _entities(counts.name)
        slices = counts.with_name(counts.name.replace("_desc-quality_counts.tsv", "_desc-selected_slices.tsv"))
        selected = [r for r in read_tsv(slices) if r["selected"] == "true"] if slices.exists() else []
        prefix = counts.name.split("_space-")[0].split("_desc-")[0]
        sidecars = sorted(counts.parent.glob(f"{prefix}_*_desc-{LAMBDA_PREFIX}*.json"))
        model = json.loads(sidecars[0].read_text()).get("Model", {}) if sidecars else {}
        for row in read_tsv(counts):
            total = int(row["total"]) or 1
            rows.append({
                "participant_id": f"sub-{entities.get('sub')}", "session_id": entities.get("ses", "n/a"),
                "acquisition": entities.get("acq", "n/a"), "metabolite": row["metabolite"],
                "voxels_total": row["total"], "voxels_kept": row["kept"],
                "kept_fraction": f"{int(row['kept']) / total:.4f}", "low_snr": row["low_snr"],
                "wide_fwhm": row["wide_fwhm"], "outside_brain": row["outside_brain"],
                "selected_slices": len(selected), "model_sha256": model.get("Sha256", "n/a"),
                "placeholder_model": str(model.get("Placeholder", "n/a")).lower(),
            })
    return rows


def write_group_report(output_dir: Path) -> tuple[Path, Path]:
    """``group/cohort.tsv`` (+ JSON) and ``group.html`` from the participant-level outputs."""
    output_dir = Path(output_dir)
    rows = cohort_rows(output_dir)
    if not rows:
        raise FileNotFoundError(f"{output_dir} holds no participant-level outputs (run the participant level first)")
    columns = list(rows[0])
    lines = ["\t".join(columns)] + ["\t".join(str(r[c]) for c in columns) for r in rows]
    tsv = atomic_write_text(output_dir / "group" / "cohort.tsv", "\n".join(lines) + "\n")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3))
    metabolites = sorted({r["metabolite"] for r in rows})
    for index, met in enumerate(metabolites):
        values = [float(r["kept_fraction"]) for r in rows if r["metabolite"] == met]
        ax.scatter([index] * len(values), values, color="orange")
    ax.set_xticks(range(len(metabolites)), metabolites, color="white")
    ax.set_ylabel("kept voxel fraction", color="white")
    ax.tick_params(colors="white")
    figure = _save(fig, output_dir / "group" / "figures" / "group_desc-quality_plot.png")
    reports = sorted(p.name for p in output_dir.glob("sub-*.html"))
    links = "".join(f"<li><a href='{name}'>{name}</a></li>" for name in reports)
    page = (f"<html><head><meta charset='utf-8'><title>mrsisr group report</title><style>{_STYLE}</style></head><body>"
            f"<h1>mrsisr group report</h1><h2>Participants</h2><ul>{links}</ul>"
            f"<h2>Kept voxel fraction per metabolite</h2><img src='{figure.relative_to(output_dir).as_posix()}'>"
            f"<h2>Cohort table</h2>{_table_html(rows)}</body></html>\n")
    return tsv, atomic_write_text(output_dir / "group.html", page)
