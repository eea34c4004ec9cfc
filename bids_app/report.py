"""Visual reports: figures are derivatives (``sub-XX/figures/*.png``, named by ``desc``), the
HTML pages (``sub-XX.html``, ``group.html``) are assembled from them and from the tables.

Plotting (:mod:`mrsisr.bids_app.report_figures`) reads arrays and writes one PNG;
:func:`write_subject_report` finds a subject's derivatives by name, draws the figures and lays out
the page (acquisition, notes, the methods paragraph of :mod:`mrsisr.bids_app.boilerplate`);
:func:`write_run_citation` writes ``logs/CITATION.md``.
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
from mrsisr.bids_app.report_facts import (PROTON_MHZ_PER_T, acquired_grid as _acquired_grid, acquisition_rows,
                                          field_strength, read_sidecar as _sidecar, report_notes)
from mrsisr.bids_app.report_figures import (plot_metabolite_panel, plot_overlay, plot_quality, plot_ratio_panel,
                                            plot_uncertainty_row, pyplot, save_figure)
from mrsisr.workflows.outputs import UNCERTAINTY_SUFFIX

__all__ = ["write_subject_report", "write_group_report", "write_run_citation", "subject_files", "read_tsv",
           "acquisition_rows", "report_notes", "field_strength", "PROTON_MHZ_PER_T"]

_MAX_PANEL_SLICES = 3


def _load(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    img = nib.load(str(path))
    return np.asanyarray(img.dataobj).astype(np.float32), img.affine


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
    found = {"quality": {}, "zerofilled": {}, "sr": {}, "srmask": {}, "sd": {}, "ratio": {}, "t1w": []}
    for path in sorted(folder.glob(f"*/{prefix}*")):
        name, entities = path.name, _entities(path.name)
        if session is None and "ses" in entities:
            continue
        desc, met = entities.get("desc"), entities.get("met")
        if entities.get("space") == "T1w" and path.parent.name == "mrs":
            if name.endswith(".nii.gz"):
                found["t1w"].append(path)  # the maps in T1w space: listed, not drawn
            continue
        if name.endswith("_desc-brain_mask.nii.gz"):
            found["brain_mask"] = path
        elif name.endswith("_desc-coreg_FLAIR.nii.gz"):
            found["flair_t1w"] = path
        elif name.endswith("_counts.tsv"):
            found["counts"] = path
        elif name.endswith("_slices.tsv"):
            found["slices"] = path
        elif desc and "ratio" in desc and name.endswith("_mrsi.nii.gz"):
            lam, label = desc.split("ratio", 1)
            found["ratio"].setdefault(lam, {})[label] = path
        elif met and name.endswith(".nii.gz"):
            if desc == "quality":
                found["quality"][met] = path
            elif desc == "zerofilled":
                found["zerofilled"][met] = path
            elif desc == "sr" and name.endswith("_mask.nii.gz"):
                found["srmask"][met] = path
            elif desc and desc.startswith(LAMBDA_PREFIX) and desc.endswith(UNCERTAINTY_SUFFIX):
                found["sd"].setdefault(met, {})[desc.removesuffix(UNCERTAINTY_SUFFIX)] = path  # keyed by the SR label
            elif desc and desc.startswith(LAMBDA_PREFIX):
                found["sr"].setdefault(met, {})[desc] = path
    order = {name: index for index, name in enumerate(METABOLITES)}
    for kind in ("quality", "zerofilled", "sr", "srmask", "sd"):  # the network's metabolite order
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
        units = _sidecar(next(iter(files["sr"].get(met, {}).values()), zero_path)).get("Units", "institutional units")
        caption = f"{met}: zero-filled, super-resolved at each λ, FLAIR (colour bar in {units})"
        figures.append((caption, plot_metabolite_panel(columns, picks, out, units=f"{met} ({units})")))
        if files["sd"].get(met):
            figures.append(_uncertainty_figure(output_dir, files["sd"][met], picks, units, met,
                                               (subject, session, acq)))
    if files["ratio"]:
        desc = min(files["ratio"], key=lambda_of_label)
        ratios = [(label.replace(den, f"/{den}", 1) if (den := _denominator(label)) else label,
                   _load(path)[0], _load(str(path).replace("_mrsi.nii.gz", "_mask.nii.gz"))[0])
                  for label, path in sorted(files["ratio"][desc].items(), key=lambda item: _ratio_order(item[0]))]
        k = (selected or [ratios[0][1].shape[2] // 2])[len(selected) // 2 if selected else 0]
        out = _figure_path(output_dir, subject, session, acq, f"{desc}ratios", "mrsi")
        figures.append((f"Ratio maps of the super-resolved maps, λ={lambda_of_label(desc):g} (black: outside the "
                        "ratio's mask)", plot_ratio_panel(ratios, k, out)))
    return figures


def _uncertainty_figure(output_dir: Path, sd_files: dict, picks: list[int], units: str, met: str,
                        names: tuple) -> tuple[str, Path]:
    """A row of uncertainty panels (one per λ, the middle shown slice), captioned with the transforms' count."""
    ordered = sorted(sd_files.items(), key=lambda item: lambda_of_label(item[0]))
    columns = [(f"SD λ={lambda_of_label(desc):g}", _load(path)[0]) for desc, path in ordered]
    samples = _sidecar(ordered[0][1]).get("UncertaintySamples", "?")
    out = _figure_path(output_dir, *names, "uncertainty", "mrsi", metabolite=met)
    caption = (f"{met}: uncertainty, the standard deviation of the super-resolved map under {samples} test-time "
               f"transformations (flips, 90° turns, sub-voxel shifts), at each λ (colour bar in {units})")
    return caption, plot_uncertainty_row(columns, picks[len(picks) // 2], out, units=f"{met} SD ({units})")


def _ratio_order(label: str) -> tuple[int, str]:
    """Sort key: the order of :data:`mrsisr.ratios.RATIOS` (tCho/NAA, tCho/tCr, NAA/tCr), others after."""
    from mrsisr.ratios import RATIOS, ratio_label

    known = [ratio_label(num, den) for num, den in RATIOS]
    return (known.index(label) if label in known else len(known), label)


def _denominator(label: str) -> str | None:
    """The denominator of a ratio label such as ``tChoNAA`` (a metabolite name that ends it)."""
    return next((met for met in sorted(METABOLITES, key=len, reverse=True)
                 if label.endswith(met) and label != met), None)


_STYLE = ("body{font-family:sans-serif;margin:2em;max-width:1200px} table{border-collapse:collapse;font-size:0.85em}"
          "td,th{border:1px solid #aaa;padding:2px 6px} .warning{background:#fdd;border:2px solid #c00;padding:1em}"
          "img{max-width:100%;background:#000} h2{border-bottom:1px solid #ccc}"
          ".note{background:#fff6d5;border:1px solid #d9a400;padding:0.5em 1em;margin:0.4em 0}"
          ".methods{background:#f4f4f4;padding:0.5em 1em;font-size:0.9em}")


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


def _first_sr_sidecar(files: dict) -> dict:
    sidecar = next(iter(files["sr"].values()), {})
    return _sidecar(next(iter(sidecar.values()))) if sidecar else {}


def _methods_facts(files: dict, meta: dict, field, *, missing_metabolites, flair, flair_substitute, fitting_tool,
                   acquired_matrix=None):
    from mrsisr.bids_app.boilerplate import facts_from_sidecar

    lambdas = sorted({lambda_of_label(desc) for by_desc in files["sr"].values() for desc in by_desc})
    labels = sorted({label for by_label in files["ratio"].values() for label in by_label}, key=_ratio_order)
    grid = _acquired_grid(files)
    return facts_from_sidecar(
        meta, metabolites=list(files["sr"]), sharpness=lambdas,
        ratios=[label.replace(den, f"/{den}", 1) if (den := _denominator(label)) else label for label in labels],
        output_spaces=("orig", "T1w") if files["t1w"] else ("orig",), missing_metabolites=missing_metabolites,
        flair=flair, flair_substitute=flair_substitute, fitting_tool=fitting_tool, field_strength_t=field[0],
        voxel_size_mm=tuple(float(v) for v in grid[1]) if grid else None, acquired_matrix=acquired_matrix)


def write_subject_report(output_dir: Path, subject: str, session: str | None, t1w: str,
                         errors: list[str] | None = None, force: bool = False, *,
                         missing_metabolites: list[str] | None = None, flair: bool = True,
                         flair_substitute: str | None = None, fitting_tool: str | None = None,
                         field_strength_t: float | None = None,
                         spectrometer_frequency_mhz: float | None = None) -> Path:
    """Draw the figures and write ``sub-XX[_ses-YY].html`` at the root of the output dataset.

    The notes (``missing_metabolites``, ``flair``) and the acquisition facts come from the caller;
    ``missing_metabolites`` None falls back on the sidecars' ``MissingMetabolites``. Skipped (unless
    ``force``) when the page was made from identical derivatives and notes: a resumed run does not
    redraw its figures.
    """
    output_dir = Path(output_dir)
    key = f"sub-{subject}" + (f"_ses-{session}" if session else "")
    options = json.dumps([missing_metabolites, flair, flair_substitute, fitting_tool, field_strength_t,
                          spectrometer_frequency_mhz])
    fingerprint = _fingerprint(output_dir, subject, session, list(errors or []) + [options])
    if not force and _up_to_date(output_dir / f"{key}.html", fingerprint, output_dir):
        return output_dir / f"{key}.html"
    files = subject_files(output_dir, subject, session)
    parts = [f"<html><head><meta charset='utf-8'><title>{key}</title><style>{_STYLE}</style></head><body>",
             f"<!-- mrsisr-fingerprint: {fingerprint} -->", f"<h1>mrsisr report: {html.escape(key)}</h1>"]
    meta = _first_sr_sidecar(files)
    if missing_metabolites is None:
        missing_metabolites = meta.get("MissingMetabolites", [])
    model = meta.get("Model", {})
    if model.get("Placeholder"):
        parts.append("<div class='warning'><b>Placeholder model.</b> The super-resolved maps come from an "
                     "untrained or quickly trained placeholder network: do not interpret them clinically.</div>")
    for error in errors or []:
        parts.append(f"<div class='warning'><b>Error:</b> {html.escape(error)}</div>")
    for note in report_notes(meta, missing_metabolites=missing_metabolites, flair=flair,
                             flair_substitute=flair_substitute):
        parts.append(f"<div class='note'><b>Note:</b> {html.escape(note)}</div>")
    field = field_strength(t1w, field_strength_t, spectrometer_frequency_mhz)
    parts += ["<h2>Acquisition</h2>", _table_html(acquisition_rows(files, meta, field))]
    if meta:
        summary = [{"item": k, "value": json.dumps(meta.get(k))} for k in (
            "AcquiredMatrix", "TargetMatrix", "SimulatedAcquisition", "SkullStrippingBackend",
            "CoregistrationBackend", "QualityThresholds", "SelectedSlices")]
        summary += [{"item": f"Model {k}", "value": str(v)} for k, v in model.items()]
        summary.append({"item": "Maps in T1w space", "value": f"{len(files['t1w'])} files (space-T1w)"})
        parts += ["<h2>Processing summary</h2>", _table_html(summary)]
    for caption, path in _make_figures(output_dir, files, t1w, subject, session):
        parts += [f"<h2>{html.escape(caption)}</h2>",
                  f"<img src='{path.relative_to(output_dir).as_posix()}' alt='{html.escape(caption)}'>"]
    for title, name in (("Quality counts per metabolite", "counts"), ("Slice selection", "slices")):
        if name in files:
            parts += [f"<h2>{title}</h2>", _table_html(read_tsv(files[name]))]
    if meta:
        from mrsisr.bids_app.boilerplate import methods_html

        facts = _methods_facts(files, meta, field, missing_metabolites=missing_metabolites, flair=flair,
                               flair_substitute=flair_substitute, fitting_tool=fitting_tool)
        parts += ["<h2>Methods (to paste into a paper)</h2>", methods_html(facts)]
    parts.append("</body></html>")
    return atomic_write_text(output_dir / f"{key}.html", "\n".join(parts) + "\n")


def write_run_citation(output_dir: Path, subjects: list[tuple[str, str | None, str]], *,
                       missing_metabolites: list[str] | None = None, flair: bool = True,
                       fitting_tool: str | None = None) -> Path | None:
    """``OUTPUT_DIR/logs/CITATION.md``: the methods paragraph of the run, from the first subject with
    super-resolved maps, listing the acquired matrices of all (``subjects``: subject, session, T1w)."""
    from mrsisr.bids_app.boilerplate import write_citation

    done = []
    for subject, session, t1w in subjects:
        files = subject_files(Path(output_dir), subject, session)
        meta = _first_sr_sidecar(files)
        if meta:
            done.append((files, meta, t1w))
    if not done:
        return None
    files, meta, t1w = done[0]
    if missing_metabolites is None:
        missing_metabolites = sorted({m for _, other, _ in done for m in other.get("MissingMetabolites", [])})
    facts = _methods_facts(files, meta, field_strength(t1w), missing_metabolites=missing_metabolites, flair=flair,
                           flair_substitute=None, fitting_tool=fitting_tool,
                           acquired_matrix=[other.get("AcquiredMatrix") for _, other, _ in done])
    return write_citation(output_dir, facts)


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
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3))
    metabolites = sorted({r["metabolite"] for r in rows})
    for index, met in enumerate(metabolites):
        values = [float(r["kept_fraction"]) for r in rows if r["metabolite"] == met]
        ax.scatter([index] * len(values), values, color="orange")
    ax.set_xticks(range(len(metabolites)), metabolites, color="white")
    ax.set_ylabel("kept voxel fraction", color="white")
    ax.tick_params(colors="white")
    figure = save_figure(fig, output_dir / "group" / "figures" / "group_desc-quality_plot.png")
    reports = sorted(p.name for p in output_dir.glob("sub-*.html"))
    links = "".join(f"<li><a href='{name}'>{name}</a></li>" for name in reports)
    page = (f"<html><head><meta charset='utf-8'><title>mrsisr group report</title><style>{_STYLE}</style></head><body>"
            f"<h1>mrsisr group report</h1><h2>Participants</h2><ul>{links}</ul>"
            f"<h2>Kept voxel fraction per metabolite</h2><img src='{figure.relative_to(output_dir).as_posix()}'>"
            f"<h2>Cohort table</h2>{_table_html(rows)}</body></html>\n")
    return tsv, atomic_write_text(output_dir / "group.html", page)
