"""LCModel readers: exact reading of real output samples, round trips, and refusals.

The real samples live in ``shared/fixtures/lcmodel`` beside the clone (CI copies
``shared/`` there); tests that need them are skipped with a reason when absent.
The writers below follow LCModel's fixed-width formats exactly and are reused by
the loader and interface tests.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from mrsisr.io.errors import GeometryError, LCModelFitFailedError, LCModelFormatError, MapLoadingError
from mrsisr.io.lcmodel import read_control_file, read_csi, read_csi_volume, read_spreadsheet, read_table
from mrsisr.io.names import csv_name

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "lcmodel"
SVS = FIXTURES / "lcmodel-6.3-1N" / "svs_test_lcm"
FATAL = FIXTURES / "lcmodel-6.3-1N" / "svs_allzero_fatal"
CSI = FIXTURES / "lcmodel-6.3-1N" / "csi_2x5x10_slice2"
MODIFIED = FIXTURES / "real-csi-lcmodel-modified"
SUSPECT = FIXTURES / "real-svs-suspect"


# --------------------------------------------------------------------------- writers (LCModel formats)
def lcm_number(value: float, decimals: int) -> str:
    """An 8-wide LCModel number: fixed ``%.3f`` for 0 and 0.1 <= |x| < 1000, else E notation."""
    if value == 0 or 0.1 <= abs(value) < 1000:
        return f"{value:8.3f}"
    return f"{value:8.{decimals}E}"


def table_text(rows, fwhm=0.05, snr=10, location=None, reference="Cr+PCr", shift=0.008) -> str:
    """An LCModel ``.table``: rows are ``(name, conc, sd, ratio[, flag])``."""
    title = "Slice#{} Row#{} Col#{}  synthetic".format(*location) if location else "synthetic"
    lines = [" LCModel (Version 6.3-1N)", f" {title}", "",
             f"$$CONC {len(rows) + 1:2d} lines in following concentration table = NCONC+1",
             f"    Conc.  %SD /{reference:<7s}Metabolite"]
    for name, conc, sd, ratio, *flag in rows:
        lines.append(f" {lcm_number(conc, 2)}{sd:4d}%{lcm_number(ratio, 1)}{(flag or [' '])[0]}{name}")
    shift_text = f"{shift:6.3f}".strip()
    lines += ["", "$$MISC  2 lines in following misc. output table",
              f"  FWHM = {fwhm:5.3f} ppm    S/N = {snr:3d}", f"  Data shift ={'' if shift < 0 else ' '}{shift_text} ppm",
              "", "$$DIAG  0 lines in following diagnostic table:", ""]
    return "\n".join(lines) + "\n"


def write_table(path: Path, rows, **kwargs) -> Path:
    path.write_text(table_text(rows, **kwargs))
    return path


def write_spreadsheet(path: Path, voxels: dict, names, reference="Cr", width=3) -> Path:
    """An LCModel CSI ``.csv``: ``voxels`` maps ``(row, col)`` to ``{name: (conc, sd, ratio)}``."""
    header = ["Row", "Col"]
    for name in names:
        cut = csv_name(name)
        header += [cut, f"{cut} %SD", f"{cut}/{reference}"]
    lines = [", ".join(header)]
    for (row, col), values in voxels.items():
        fields = [f"{row:{width}d}", f"{col:{width}d}"]
        for name in names:
            conc, sd, ratio = values[name]
            fields += [lcm_number(conc, 2), f"{sd:4d}", lcm_number(ratio, 1)]
        lines.append(",".join(f" {f}" if i else f for i, f in enumerate(fields)))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip(f"real LCModel samples not found at {FIXTURES} (copy shared/ beside the clone)")
    return FIXTURES


# --------------------------------------------------------------------------- real samples, read exactly
def test_svs_table_is_read_exactly(fixtures_dir):
    table = read_table(SVS / "out.table")
    assert table.version == "6.3-1N" and table.ratio_reference == "Cr+PCr"
    assert len(table.names) == 35 and table.names[0] == "Ala" and table.names[-1] == "MM20+Lip20"
    assert (table.conc["Ala"], table.sd["Ala"], table.ratio["Ala"]) == (7.20e-08, 166, 3.9e-02)
    assert (table.conc["Glu"], table.sd["Glu"], table.ratio["Glu"]) == (2.14e-06, 8, 1.171)
    assert (table.conc["PCh"], table.sd["PCh"]) == (0.0, 999)
    assert table.conc["MM14+Lip13a+Lip13b+MM12"] == 2.85e-06
    assert table.flags["-CrCH2"] == "" and table.conc["-CrCH2"] == 0.0
    assert (table.fwhm, table.snr, table.data_shift) == (0.084, 21, 0.008)
    assert table.location is None and table.diagnostics == ()


def test_csi_tables_flags_e_notation_and_negative_shift(fixtures_dir):
    first = read_table(CSI / "run_sl2_2-4.table")
    assert first.location == (2, 2, 4) and first.ratio_reference == "Cr"
    assert first.conc["NAA"] == 1.80e11 and first.sd["NAA"] == 11
    assert first.flags["GSH"] == "+" and first.conc["GSH"] == 2.16e11 and first.ratio["GSH"] == 0.535
    assert (first.fwhm, first.snr) == (0.158, 19)
    assert "1 warning   MYBASI 41" in first.diagnostics
    other = read_table(CSI / "run_sl2_3-7.table")
    assert other.flags["Scyllo"] == "+" and other.ratio["Scyllo"] == 6.221
    assert (other.conc["Glu"], other.sd["Glu"]) == (5.01e-05, 404)
    assert (other.fwhm, other.snr, other.data_shift) == (0.119, 5, -0.050)


@pytest.mark.parametrize("folder", ["lcmodel-6.3-1N/svs_test_lcm", "lcmodel-6.3-1N/csi_2x5x10_slice2"])
def test_row_counts_match_the_conc_headers(fixtures_dir, folder):
    for path in sorted((FIXTURES / folder).glob("*.table")):
        declared = int(re.search(r"\$\$CONC\s+(\d+) lines", path.read_text())[1])
        assert len(read_table(path).names) == declared - 1, path.name


def test_coord_files_have_the_same_sections(fixtures_dir):
    coord = read_table(SVS / "out.coord")
    table = read_table(SVS / "out.table")
    assert coord.conc == table.conc and coord.sd == table.sd and (coord.fwhm, coord.snr) == (0.084, 21)
    suspect = read_table(SUSPECT / "svs_97.COORD")
    assert suspect.version == "6.3-1B" and len(suspect.names) == 37
    assert (suspect.fwhm, suspect.snr) == (0.043, 13)
    assert (suspect.conc["Cr"], suspect.sd["Cr"], suspect.conc["PCr"]) == (0.0, 999, 0.251)


def test_failed_run_is_reported_as_a_failed_fit(fixtures_dir):
    with pytest.raises(LCModelFitFailedError, match=r"out\.table: LCModel reported .*FATAL.*FTDATA.*failed fit"):
        read_table(FATAL / "out.table")
    with pytest.raises(LCModelFormatError, match=r"out\.csv is empty.*fit failed"):
        read_spreadsheet(FATAL / "out.csv")


def test_svs_spreadsheet_equals_its_table(fixtures_dir):
    sheet, table = read_spreadsheet(SVS / "out.csv"), read_table(SVS / "out.table")
    assert sheet.names == tuple(csv_name(n) for n in table.names)
    assert "MM14+Lip13a+L" in sheet.names and sheet.ratio_reference == "Cr+PCr"
    for name in table.names:
        assert sheet.conc[csv_name(name)][0] == table.conc[name]
        assert sheet.sd[csv_name(name)][0] == table.sd[name]


def test_suspect_spreadsheet_and_modified_build(fixtures_dir):
    suspect = read_spreadsheet(SUSPECT / "svs_97.CSV")
    assert suspect.names[0] == "2HG" and (suspect.conc["2HG"][0], suspect.sd["2HG"][0]) == (2.88e-02, 88)
    assert "MM14+Lip13a+L" in suspect.names
    wide = read_spreadsheet(MODIFIED / "multi-voxel-10.csv")  # Row/Col written 7 wide
    assert wide.rows.tolist() == [1] * 10 and sorted(wide.cols.tolist()) == list(range(1, 11))
    maps = read_csi(MODIFIED / "multi-voxel-10.csv", (1, 10))
    assert maps.conc["NAA"][0, 5] == 0.369 and maps.conc["NAA"][0, 0] == 0.480
    assert (maps.conc["NAAG"][0, 3], maps.sd["NAAG"][0, 3]) == (2.73e-03, 607)
    assert not maps.has_quality and np.isnan(maps.snr).all()


def test_csi_folder_maps_are_row_col_indexed(fixtures_dir):
    maps = read_csi(CSI, (5, 10))
    assert maps.has_quality and maps.present.sum() == 17
    assert maps.conc["NAA"][1, 3] == 1.80e11  # row 2, col 4
    assert np.isnan(maps.conc["NAA"][1, 2]) and not maps.present[1, 2]  # row 2, col 3: no data, no table
    assert (maps.snr[2, 6], maps.fwhm[2, 6]) == (5, 0.119)  # row 3, col 7
    sheet = read_csi(CSI / "run.csv", (5, 10))
    assert np.array_equal(sheet.present, maps.present)
    for name in maps.names:
        np.testing.assert_array_equal(sheet.conc[name], maps.conc[name])
        np.testing.assert_array_equal(sheet.sd[name], maps.sd[name])


def test_slices_are_chosen_and_stacked(fixtures_dir, tmp_path):
    for path in CSI.glob("*.table"):
        shutil.copy(path, tmp_path / path.name)
        shutil.copy(path, tmp_path / path.name.replace("_sl2_", "_sl1_"))
    for path in tmp_path.glob("run_sl1_*.table"):  # keep the titles consistent with the names
        path.write_text(path.read_text().replace("Slice#2", "Slice#1"))
    with pytest.raises(MapLoadingError, match=r"slices \[1, 2\]; choose one with slice="):
        read_csi(tmp_path, (5, 10))
    assert read_csi(tmp_path, (5, 10), slice=2).conc["NAA"][1, 3] == 1.80e11
    volume = read_csi_volume(tmp_path, (5, 10, 2))
    assert volume.conc["NAA"].shape == (5, 10, 2) and volume.present.sum() == 34
    np.testing.assert_array_equal(volume.conc["Cr"][..., 0], volume.conc["Cr"][..., 1])
    with pytest.raises(GeometryError, match=r"row 2, col 7 lies outside the stated grid of 3 rows x 6 cols"):
        read_csi(tmp_path, (3, 6), slice=2)
    with pytest.raises(MapLoadingError, match="no output for slice 3"):
        read_csi(tmp_path, (5, 10), slice=3)


def test_control_file(fixtures_dir):
    control = read_control_file(CSI / "control.file")
    assert (control["ndrows"], control["ndcols"], control["islice"], control["filtab"]) == ("5", "10", "2", "out/run.table")


def test_failed_voxel_in_a_csi_folder_is_invalid(fixtures_dir, tmp_path):
    shutil.copy(CSI / "run_sl2_2-4.table", tmp_path / "run_sl2_2-4.table")
    shutil.copy(FATAL / "out.table", tmp_path / "run_sl2_2-5.table")
    with pytest.warns(UserWarning, match="1 LCModel table"):
        maps = read_csi(tmp_path, (5, 10))
    assert maps.failed[1, 4] and maps.present[1, 4] and np.isnan(maps.conc["NAA"][1, 4])
    assert maps.conc["NAA"][1, 3] == 1.80e11


# --------------------------------------------------------------------------- round trips with written files
ROWS = [("NAA+NAAG", 12.5, 3, 1.25), ("Cr+PCr", 10.0, 4, 1.0), ("Glc", 0.0416, 150, 4.2e-3, "+"),
        ("-CrCH2", 7.2e-08, 999, 3.9e-09, "-"), ("GPC+PCh", 2.5e11, 2, 0.25), ("Ins", 0.0, 999, 0.0)]


def test_table_round_trip(tmp_path):
    table = read_table(write_table(tmp_path / "t.table", ROWS, fwhm=0.071, snr=-1, shift=-0.019, location=(1, 2, 3)))
    assert table.names == tuple(r[0] for r in ROWS) and table.location == (1, 2, 3)
    assert table.conc["Glc"] == 4.16e-02 and table.flags["Glc"] == "+" and table.flags["-CrCH2"] == "-"
    assert table.conc["-CrCH2"] == 7.2e-08 and table.conc["GPC+PCh"] == 2.5e11 and table.sd["Ins"] == 999
    assert (table.fwhm, table.snr, table.data_shift) == (0.071, -1, -0.019)


def test_spreadsheet_round_trip_cuts_names(tmp_path):
    names = ["NAA", "MM14+Lip13a+Lip13b+MM12"]
    voxels = {(2, 1): {"NAA": (1.5, 3, 1.0), "MM14+Lip13a+Lip13b+MM12": (2.85e-06, 17, 1.563)},
              (1, 2): {"NAA": (0.0, 999, 0.0), "MM14+Lip13a+Lip13b+MM12": (0.357, 17, 1.426)}}
    path = write_spreadsheet(tmp_path / "sl1.csv", voxels, names, width=7)
    sheet = read_spreadsheet(path)
    assert sheet.names == ("NAA", "MM14+Lip13a+L") and sheet.ratio_reference == "Cr"
    maps = read_csi(path, (2, 2))
    assert maps.conc["NAA"][1, 0] == 1.5 and maps.conc["MM14+Lip13a+L"][1, 0] == 2.85e-06
    assert maps.conc["NAA"][0, 1] == 0.0 and np.isnan(maps.conc["NAA"][0, 0])


# --------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    ("edit", "error", "message"),
    [
        (lambda t: t[: t.index("Cr+PCr\n") + 7], LCModelFormatError, "announces 6 metabolite rows but 2 follow"),
        (lambda t: t[: t.index("$$MISC")], LCModelFormatError, r"no misc section \(\$\$MISC"),
        (lambda t: t.replace("S/N =  10", "S/N = "), LCModelFormatError, "lacks 'FWHM"),
        (lambda t: t[: t.index("$$CONC")], LCModelFormatError, r"no concentration section \(\$\$CONC\)"),
        (lambda t: t.replace("  12.500", "********"), LCModelFormatError, "Fortran field overflow"),
        (lambda t: t.replace("  12.500", "     NaN"), LCModelFormatError, "expected a finite number"),
        (lambda t: t.replace("   3% ", "   3  "), LCModelFormatError, "is not a concentration row"),
        (lambda t: t.replace("%SD", "SD "), LCModelFormatError, "expected the column header"),
        (lambda t: "FSL-MRS fit results\n" + t, LCModelFormatError, "does not look like LCModel output"),
        (lambda t: "", LCModelFormatError, "is empty"),
    ],
)
def test_bad_tables_are_refused(tmp_path, edit, error, message):
    path = tmp_path / "bad.table"
    path.write_text(edit(table_text(ROWS)))
    with pytest.raises(error, match=message) as caught:
        read_table(path)
    assert "bad.table" in str(caught.value)


def test_bad_spreadsheets_are_refused(tmp_path):
    with pytest.raises(MapLoadingError, match="does not exist"):
        read_spreadsheet(tmp_path / "missing.csv")
    other = tmp_path / "other.csv"
    other.write_text("voxel,NAA,NAA_sd\n1,2,3\n")
    with pytest.raises(LCModelFormatError, match="not an LCModel CSI spreadsheet header"):
        read_spreadsheet(other)
    good = write_spreadsheet(tmp_path / "sl1.csv", {(1, 1): {"NAA": (1.0, 3, 1.0)}, (1, 2): {"NAA": (2.0, 3, 1.0)}},
                             ["NAA"])
    truncated = tmp_path / "cut.csv"
    truncated.write_text(good.read_text()[:-12])
    with pytest.raises(LCModelFormatError, match=r"cut\.csv, line 3: 4 fields but the header has 5"):
        read_spreadsheet(truncated)
    duplicate = tmp_path / "dup.csv"
    duplicate.write_text(good.read_text().replace("  1,   2,", "  1,   1,"))
    with pytest.raises(LCModelFormatError, match="row 1, col 1 appears twice"):
        read_csi(duplicate, (2, 2))


def test_folders_without_csi_output_or_with_several_runs(tmp_path):
    with pytest.raises(MapLoadingError, match="holds no LCModel CSI output"):
        read_csi(tmp_path, (2, 2))
    write_table(tmp_path / "a_sl1_1-1.table", ROWS)
    write_table(tmp_path / "b_sl1_1-1.table", ROWS)
    with pytest.raises(MapLoadingError, match=r"several runs \(stems \['a', 'b'\]\)"):
        read_csi(tmp_path, (2, 2))
    assert read_csi(tmp_path, (2, 2), stem="a").present.sum() == 1
    with pytest.raises(MapLoadingError, match="expected a folder of per-voxel .table files or a CSI .csv"):
        read_csi(tmp_path / "a_sl1_1-1.table", (2, 2))
