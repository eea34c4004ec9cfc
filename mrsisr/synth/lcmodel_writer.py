"""Write LCModel 6.3 CSI outputs: one ``.table`` per voxel and one CSV spreadsheet per slice.

Layouts copied from stock LCModel 6.3-1N output (``shared/fixtures/lcmodel``):

* ``.table`` concentration rows are fixed-width: a blank, the concentration in 8 characters,
  the %SD in 4 characters and ``%``, the ratio in 8 characters, a flag character (always blank
  here) and the name, padded to 75 characters. Concentrations use ``F8.3`` between 0.1 and
  1000 (and for an exact 0), ``1PE8.2`` otherwise; ratios use ``F8.3`` / ``1PE8.1`` alike.
  (The upper switch to E notation, 1000, is an assumption: the samples show none between.)
* ``$$MISC`` starts with ``FWHM = 0.084 ppm    S/N =  21``; the ``$$DIAG`` and ``$$INPU`` lines
  are padded to 74 characters, ``$$CONC``/``$$MISC`` lines to 75, as LCModel does.
* The CSV (``lcsv=11``) has the header ``Row, Col, <met>, <met> %SD, <met>/<ref>, …`` with names
  cut to 13 characters, and one row per analysed voxel in LCModel's centre-out order: by
  Chebyshev distance from the centre voxel, then row-major.
* Values are rounded to what the text shows (:func:`round_concentration`) before anything is
  written, so NIfTI maps, tables and spreadsheets carry the same numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

REFERENCE_NAME = "Cr+PCr"
CSV_NAME_WIDTH = 13


def _round_significant(values: np.ndarray, digits: int) -> np.ndarray:
    magnitude = np.abs(values)
    safe = np.where(magnitude > 0, magnitude, 1.0)
    scale = 10.0 ** (np.floor(np.log10(safe)) - (digits - 1))
    return np.round(values / scale) * scale


def _uses_fixed(values: np.ndarray) -> np.ndarray:
    magnitude = np.abs(values)
    return (magnitude == 0) | ((magnitude >= 0.1) & (magnitude < 1000.0))


def round_concentration(values: np.ndarray) -> np.ndarray:
    """Round like LCModel prints a concentration (3 decimals or 3 significant digits)."""
    values = np.asarray(values, np.float64)
    return np.where(_uses_fixed(values), np.round(values, 3), _round_significant(values, 3))


def round_ratio(values: np.ndarray) -> np.ndarray:
    """Round like LCModel prints a ratio (3 decimals or 2 significant digits)."""
    values = np.asarray(values, np.float64)
    return np.where(_uses_fixed(values), np.round(values, 3), _round_significant(values, 2))


def format_concentrations(values: np.ndarray) -> list[str]:
    """8-character LCModel concentration fields (``   0.446``, ``1.80E+11``)."""
    return [f"{v:8.3f}" if fixed else f"{v:8.2E}" for v, fixed in zip(values.tolist(), _uses_fixed(values))]


def format_ratios(values: np.ndarray) -> list[str]:
    """8-character LCModel ratio fields (``   0.446``, `` 7.4E-02``)."""
    return [f"{v:8.3f}" if fixed else f"{v:8.1E}" for v, fixed in zip(values.tolist(), _uses_fixed(values))]


def format_sds(values: np.ndarray) -> list[str]:
    """4-character %SD fields (integers, 999 for 'not found' or ≥ 999 %)."""
    return [f"{int(v):4d}" for v in values.tolist()]


def centre_out_order(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """LCModel's CSI analysis order of 1-based (row, col) voxels over the full ``shape`` grid."""
    centre_row = (1 + shape[0] + 1) // 2
    centre_col = (1 + shape[1] + 1) // 2
    ring = np.maximum(np.abs(rows - centre_row), np.abs(cols - centre_col))
    return np.lexsort((cols, rows, ring))


def _pad(line: str, width: int) -> str:
    return line.ljust(width)


def control_lines(*, slice_number: int, shape: tuple[int, int, int], csv_name: str) -> list[str]:
    """The ``$$INPU`` block: the CSI control namelist's settings, as LCModel lists them."""
    return [
        f"icolen={shape[1]}", "icolst=1", f"irowen={shape[0]}", "irowst=1", f"islice={slice_number}",
        f"ndcols={shape[1]}", f"ndrows={shape[0]}", f"ndslic={shape[2]}", f"filcsv='{csv_name}'",
        "lcsv=11", "ltable=7", "lps=0", "neach=99", "wconc=35880", "atth2o=0.7", "doecc=F", "dows=T",
        "filh2o='../mrsi.h2o'", "filraw='../mrsi.raw'", "filbas='../fid_7t_te1p3.basis'",
        "echot=1.30", "hzpppm=2.9719e+02", "deltat=1.667e-04", "nunfil=960", "ppmend=1.8", "ppmst=4.2",
    ]


def misc_lines(fwhm: float, snr: float, shift: float, phase0: int, phase1: float, alpha_b: float,
               alpha_s: float, knots: int) -> list[str]:
    """The six ``$$MISC`` lines (FWHM in ppm, integer S/N, shift, phases, regularisation)."""
    return [
        f"  FWHM = {fwhm:5.3f} ppm    S/N = {int(snr):3d}",
        f"  Data shift ={shift:6.3f} ppm",
        f"  Ph:{phase0:4d} deg{phase1:10.1f} deg/ppm",
        f"  alphaB,S = {alpha_b:.1E},{alpha_s:10.1E}",
        f"{knots:5d} spline knots.   Ns = 7(1)",
        "  ( 4) 2 infls.   ( 1) 1 extrs.",
    ]


def csv_header(names: list[str]) -> str:
    """Header line of the CSI spreadsheet."""
    fields = ["Row", "Col"]
    for name in names:
        short = name[:CSV_NAME_WIDTH]
        fields += [short, f"{short} %SD", f"{short}/{REFERENCE_NAME}"]
    return ", ".join(fields)


def write_slice(
    folder: Path,
    *,
    slice_number: int,
    shape: tuple[int, int, int],
    rows: np.ndarray,
    cols: np.ndarray,
    names: list[str],
    concentrations: np.ndarray,
    sds: np.ndarray,
    ratios: np.ndarray,
    misc: dict[str, np.ndarray],
    title: str,
    write_tables: bool,
    write_csv: bool,
) -> None:
    """Write the tables and/or the spreadsheet of one slice.

    ``rows``/``cols`` (1-based, length V) list the analysed voxels; ``concentrations``,
    ``sds`` and ``ratios`` are ``(len(names), V)`` arrays already rounded; ``misc`` holds
    per-voxel ``fwhm``, ``snr``, ``shift``, ``phase0``, ``phase1``, ``alpha_b``, ``alpha_s``
    and ``knots``.
    """
    if rows.size == 0:
        return
    # One %-template per voxel (F or E fields chosen per value) keeps the text writing fast.
    fixed_conc = _uses_fixed(concentrations).T.tolist()
    fixed_ratio = _uses_fixed(ratios).T.tolist()
    values = np.stack([concentrations, sds, ratios], axis=-1).transpose(1, 0, 2).reshape(rows.size, -1).tolist()
    csv_name = f"sl{slice_number}.csv"
    if write_csv:
        fields = [[f"{c}, %4d, {r}" for r in ("%8.1E", "%8.3f")] for c in ("%8.2E", "%8.3f")]
        lines = [csv_header(names)]
        for v in centre_out_order(rows, cols, shape[:2]).tolist():
            template = ", ".join(fields[fc][fr] for fc, fr in zip(fixed_conc[v], fixed_ratio[v]))
            lines.append(f"{rows[v]:3d}, {cols[v]:3d}, " + template % tuple(values[v]))
        (folder / csv_name).write_text("\n".join(lines) + "\n")
    if write_tables:
        row_templates = [
            [[f" {c}%4d%%{r} {name}" + " " * max(0, 75 - 23 - len(name)) for r in ("%8.1E", "%8.3f")]
             for c in ("%8.2E", "%8.3f")]
            for name in names
        ]
        head = (f"$$CONC {len(names) + 1} lines in following concentration table = NCONC+1\n"
                + _pad(f"    Conc.  %SD /{REFERENCE_NAME}  Metabolite", 75) + "\n")
        inputs = control_lines(slice_number=slice_number, shape=shape, csv_name=csv_name)
        tail = "\n".join(["", "$$DIAG  0 lines in following diagnostic table:", "", "",
                          f"$$INPU {len(inputs)} lines in following table of input changes:"]
                         + [_pad(f" {line}", 74) for line in inputs]) + "\n"
        for v in range(rows.size):
            template = "\n".join(row_templates[m][fc][fr] for m, (fc, fr) in
                                 enumerate(zip(fixed_conc[v], fixed_ratio[v])))
            misc_v = misc_lines(
                float(misc["fwhm"][v]), float(misc["snr"][v]), float(misc["shift"][v]), int(misc["phase0"][v]),
                float(misc["phase1"][v]), float(misc["alpha_b"][v]), float(misc["alpha_s"][v]),
                int(misc["knots"][v]),
            )
            text = (f" LCModel (Version 6.3-1N)\n Slice#{slice_number} Row#{rows[v]} Col#{cols[v]}  {title}\n\n"
                    + head + template % tuple(values[v]) + "\n\n"
                    + f"$$MISC {len(misc_v):2d} lines in following misc. output table\n"
                    + "\n".join(_pad(line, 75) for line in misc_v) + "\n" + tail)
            with open(folder / f"sl{slice_number}_{rows[v]}-{cols[v]}.table", "w") as handle:
                handle.write(text)
