"""Write the text of a stock LCModel 6.3-1N CSI run in LCModel's own layout (used by ``real_inputs``).

The layout copies ``shared/fixtures/lcmodel/lcmodel-6.3-1N/csi_2x5x10_slice2`` (real output):
``control.file`` namelist; per-voxel ``<stem>_sl<z>_<row>-<col>.table`` with the title line
``Slice#z Row#r Col#c``, ``$$CONC`` in fixed columns (F8.3 / E-notation, ``999%`` for not
found), ``$$MISC``, ``$$DIAG`` and ``$$INPU`` (the control values, last first); a FATAL
voxel has only ``$$DIAG`` and ``$$INPU``; ``.coord`` files with the same sections without
``$$``; the spreadsheet (``lcsv=11``) ``Row, Col, <met>, <met> %SD, <met>/<ref>`` with
13-character names and rows in centre-out order.  Lines are padded to 75 characters as
LCModel pads them.  Voxels whose data are all zero (outside the brain) get nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: Singles of a 3T PRESS basis (no Gly), typical concentrations (institutional units).
TYPICAL = {"Ala": 0.5, "Asp": 2.0, "Cr": 4.5, "GABA": 1.2, "GPC": 1.0, "Glc": 1.0, "Gln": 3.0, "GSH": 1.5,
           "Glu": 8.0, "Ins": 5.5, "Lac": 0.4, "NAA": 9.0, "NAAG": 1.2, "PCh": 0.6, "PCr": 3.5, "Scyllo": 0.3,
           "Tau": 1.2, "-CrCH2": 1.0, "Lip13a": 0.5, "Lip13b": 0.8, "Lip09": 0.3, "MM09": 2.0, "Lip20": 0.4,
           "MM20": 3.0, "MM12": 0.8, "MM14": 2.0, "MM17": 1.5}
#: LCModel's sums, in the order it writes them after the singles.
SUMS = {"GPC+PCh": ("GPC", "PCh"), "NAA+NAAG": ("NAA", "NAAG"), "Cr+PCr": ("Cr", "PCr"), "Glu+Gln": ("Glu", "Gln"),
        "Lip13a+Lip13b": ("Lip13a", "Lip13b"), "MM14+Lip13a+Lip13b+MM12": ("MM14", "Lip13a", "Lip13b", "MM12"),
        "MM09+Lip09": ("MM09", "Lip09"), "MM20+Lip20": ("MM20", "Lip20")}
REFERENCE = "Cr+PCr"
WIDTH = 75


def _conc(value: float) -> str:
    """LCModel's 8-wide concentration: ``   0.000``, ``   8.123`` or ``1.80E+11``/``7.20E-08``."""
    if value == 0:
        return "   0.000"
    return f"{value:8.3f}" if 0.1 <= abs(value) < 1000 else f"{value:8.2E}"


def _ratio(value: float) -> str:
    if value == 0:
        return "   0.000"
    return f"{value:8.3f}" if 0.1 <= abs(value) < 1000 else f"{value:8.1E}"


def _pad(lines: list[str]) -> str:
    return "".join(f"{line:<{WIDTH}}\n" if line else "\n" for line in lines)


def control_values(title: str, stem: str, csv_name: str, shape: tuple[int, int, int], z: int,
                   rows: tuple[int, int], cols: tuple[int, int], hzpppm: float) -> list[tuple[str, str]]:
    """The namelist of one slice's run, in the order a lab's script writes it."""
    ndrows, ndcols, ndslic = shape
    return [("key", "210387309"), ("title", f"'{title}'"), ("ppmst", "4.0"), ("ppmend", "0.2"), ("nunfil", "512"),
            ("deltat", "8.333e-04"), ("hzpppm", f"{hzpppm:.4e}"), ("echot", "30.00"),
            ("filbas", "'/home/lcmodel/.lcmodel/basis-sets/3t/press_te30_3t_v3.basis'"),
            ("filraw", "'../raw/csi.raw'"), ("filh2o", "'../raw/csi.h2o'"), ("dows", "T"), ("doecc", "F"),
            ("atth2o", "0.7"), ("wconc", "35880"), ("neach", "99"), ("lps", "0"), ("ltable", "7"),
            ("filtab", f"'out/{stem}.table'"), ("lcoord", "9"), ("filcoo", f"'out/{stem}.coord'"), ("lcsv", "11"),
            ("filcsv", f"'out/{csv_name}'"), ("ndslic", str(ndslic)), ("ndrows", str(ndrows)),
            ("ndcols", str(ndcols)), ("islice", str(z)), ("irowst", str(rows[0])), ("irowen", str(rows[1])),
            ("icolst", str(cols[0])), ("icolen", str(cols[1]))]


def _voxel_values(conc: dict[str, np.ndarray], at: tuple, rng) -> dict[str, tuple[float, int, float]]:
    """``{name: (conc, %SD, ratio)}`` of one voxel, singles then sums."""
    values = {name: float(conc[name][at]) for name in TYPICAL}
    values.update({name: sum(values[p] for p in parts) for name, parts in SUMS.items()})
    out = {}
    for name, value in values.items():
        if name in ("Lac", "Scyllo", "Ala") and rng.random() < 0.3:
            value = 0.0  # LCModel did not find it
        sd = 999 if value == 0 else int(min(999, round(25 / np.sqrt(max(value, 1e-6)) * rng.uniform(0.8, 1.25))))
        out[name] = (value, sd, value / values[REFERENCE])
    return out


def _header(tag: str, count: int, text: str, coord: bool, width: int = 4) -> str:
    """``$$CONC 21 lines in following ...`` in a ``.table``; `` 21 lines in following ...`` in a ``.coord``."""
    return f"{count:{width}d} lines in following {text}" if coord else f"$${tag} {count:2d} lines in following {text}"


def _table_lines(values, location: str, misc: tuple[float, int], inpu: list[tuple[str, str]], coord: bool) -> list[str]:
    """The lines of one voxel's ``.table`` (or ``.coord``: no ``$$``, no blank lines, a spectrum)."""
    gap = [] if coord else [""]
    lines = [" LCModel (Version 6.3-1N)" + (" Copyright: S.W. Provencher." if coord else ""), location, *gap]
    lines.append(_header("CONC", len(values) + 1, "concentration table = NCONC+1", coord, width=3))
    lines.append(f"    Conc.  %SD {('/' + REFERENCE).center(8)} Metabolite")
    for name, (conc, sd, ratio) in values.items():
        flag = "+" if name == "GSH" and sd > 30 else " "
        lines.append(f" {_conc(conc)}{sd:4d}%{_ratio(ratio)}{flag}{name}")
    fwhm, snr = misc
    lines += [*gap, _header("MISC", 6, "misc. output table", coord),
              f"  FWHM = {fwhm:.3f} ppm    S/N = {snr:3d}", "  Data shift = 0.012 ppm",
              "  Ph: -31 deg       4.2 deg/ppm", "  alphaB,S = 4.9E-02,   3.6E+02",
              "    8 spline knots.   Ns = 7(2)", "  ( 4) 2 infls.   ( 1) 1 extrs."]
    if coord:
        axis = np.linspace(4.0, 0.2, 20)
        lines += ["   20 points on ppm-axis = NY", *("".join(f"{v:13.6f}" for v in axis[i:i + 10]) for i in (0, 10)),
                  " NY phased data points follow",
                  *("".join(f"{1e3 * v:13.5E}" for v in axis[i:i + 10]) for i in (0, 10))]
    lines += [*gap, _header("DIAG", 1, "diagnostic table:", coord), "   1 info      STARTV 24", *gap]
    return lines + _inpu_lines(inpu, coord)


def _inpu_lines(inpu: list[tuple[str, str]], coord: bool = False) -> list[str]:
    """The input block: every value the control file set except ``key``, last first."""
    changed = [(k, v) for k, v in inpu if k != "key"][::-1]
    return [_header("INPU", len(changed), "table of input changes:", coord), *(f" {k}={v}" for k, v in changed)]


def _fatal_lines(location: str, inpu) -> list[str]:
    return [" LCModel (Version 6.3-1N)", location, "", _header("DIAG", 1, "diagnostic table:", False),
            "   1 FATAL     FTDATA  1", "", *_inpu_lines(inpu)]


def _centre_out(voxels: list[tuple[int, int]], rows: tuple[int, int], cols: tuple[int, int]) -> list[tuple[int, int]]:
    """LCModel's spreadsheet order: the centre voxel, then rings around it, each ring in raster order."""
    centre = ((rows[0] + rows[1] + 1) // 2, (cols[0] + cols[1] + 1) // 2)
    return sorted(voxels, key=lambda rc: (max(abs(rc[0] - centre[0]), abs(rc[1] - centre[1])), rc))


def write_csi_slice(out: Path, ndrows: int, ndcols: int, ndslic: int, z: int, conc: dict[str, np.ndarray],
                    brain: np.ndarray, *, stem: str, control_name: str, csv_name: str, hzpppm: float) -> dict:
    """One LCModel run (slice ``z``): control file, tables, coords, spreadsheet; ``brain`` is ``[row-1, col-1]``."""
    out = Path(out)
    rng = np.random.default_rng(z)
    voxels = [(r + 1, c + 1) for r, c in zip(*np.nonzero(brain))]
    if not voxels:
        raise ValueError(f"slice {z} holds no brain voxel on this grid; choose another slice")
    rows = (min(v[0] for v in voxels), max(v[0] for v in voxels))
    cols = (min(v[1] for v in voxels), max(v[1] for v in voxels))
    title = f"3T PRESS-CSI TE30 slice {z}"
    inpu = control_values(title, stem, csv_name, (ndrows, ndcols, ndslic), z, rows, cols, hzpppm)
    control = out / control_name
    control.write_text(" $LCMODL\n" + "".join(f" {k}={v}\n" for k, v in inpu) + " $END\n")
    order = _centre_out(voxels, rows, cols)
    fatal = order[len(order) // 2]
    coords = {order[0], order[1]}
    written = {"controls": [control], "spreadsheets": [], "tables": [], "coords": [], "fatal": []}
    csv_rows = []
    for row, col in sorted(voxels):
        location = f" Slice#{z} Row#{row} Col#{col}  {title}"
        name = f"{stem}_sl{z}_{row}-{col}"
        table = out / f"{name}.table"
        if (row, col) == fatal:
            table.write_text(_pad(_fatal_lines(location, inpu)))
            written["fatal"].append(table)
            written["tables"].append(table)
            continue
        at = (row - 1, col - 1, z - 1)
        values = _voxel_values(conc, at, rng)
        misc = (float(np.clip(rng.normal(0.065, 0.01), 0.03, 0.2)), int(rng.integers(6, 30)))
        table.write_text(_pad(_table_lines(values, location, misc, inpu, coord=False)))
        written["tables"].append(table)
        if (row, col) in coords:
            coord = out / f"{name}.coord"
            coord.write_text(_pad(_table_lines(values, location, misc, inpu, coord=True)))
            written["coords"].append(coord)
        csv_rows.append(((row, col), values))
    by_voxel = dict(csv_rows)
    names = list(csv_rows[0][1])
    header = ["Row", "Col"] + [f"{n[:13]}{s}" for n in names for s in ("", " %SD", f"/{REFERENCE}")]
    lines = [", ".join(header)]
    for row, col in (v for v in order if v in by_voxel):
        cells = [f"{row:3d}", f"{col:3d}"]
        for name in names:
            value, sd, ratio = by_voxel[(row, col)][name]
            cells += [_conc(value), f"{sd:4d}", _ratio(ratio)]
        lines.append(", ".join(cells))
    csv = out / csv_name
    csv.write_text("\n".join(lines) + "\n")
    written["spreadsheets"].append(csv)
    return written
