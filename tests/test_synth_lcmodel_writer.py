"""The LCModel writer reproduces stock LCModel 6.3-1N text layouts (checked against real files)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from mrsisr.synth.lcmodel_writer import (
    centre_out_order,
    csv_header,
    format_concentrations,
    format_ratios,
    format_sds,
    round_concentration,
    round_ratio,
    write_slice,
)

FIXTURES = Path("/work/shared/fixtures/lcmodel/lcmodel-6.3-1N")
CSI_RUN = FIXTURES / "csi_2x5x10_slice2"
MISC_PATTERN = re.compile(r"^  FWHM = (\d+\.\d{3}) ppm    S/N = +(-?\d+)\s*$")


def parse_table(text: str) -> dict:
    """Parse a .table the way the fixture README prescribes (fixed-width $$CONC columns)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("$$CONC"))
    count = int(lines[start].split()[1])
    rows = {}
    for line in lines[start + 2 : start + 1 + count]:
        rows[line[23:].strip()] = (float(line[1:9]), int(line[9:13]), line[13], float(line[14:22]), line[22])
    misc_start = next(i for i, line in enumerate(lines) if line.startswith("$$MISC"))
    fwhm, snr = MISC_PATTERN.match(lines[misc_start + 1]).groups()
    return {"rows": rows, "fwhm": float(fwhm), "snr": int(snr), "lines": lines, "conc_start": start}


def _needs_fixtures() -> None:
    if not CSI_RUN.is_dir():
        pytest.skip("LCModel fixtures not available")


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0, "   0.000"), (0.446, "   0.446"), (0.1, "   0.100"), (0.0288, "2.88E-02"), (1.8e11, "1.80E+11"),
     (7.2e-08, "7.20E-08"), (12.3456, "  12.346")],
)
def test_concentration_fields_follow_lcmodel(value: float, text: str) -> None:
    assert format_concentrations(np.array([value]))[0] == text


@pytest.mark.parametrize(
    ("value", "text"), [(0.0, "   0.000"), (1.0, "   1.000"), (0.074, " 7.4E-02"), (2.314, "   2.314")]
)
def test_ratio_fields_follow_lcmodel(value: float, text: str) -> None:
    assert format_ratios(np.array([value]))[0] == text


def test_rounding_matches_the_printed_text() -> None:
    values = np.array([0.0, 0.04567, 0.4567, 123.4567, 1.234e5, 9.87e-5])
    for rounded, text in zip(round_concentration(values), format_concentrations(round_concentration(values))):
        assert float(text) == pytest.approx(rounded, rel=1e-12, abs=0)
    for rounded, text in zip(round_ratio(values), format_ratios(round_ratio(values))):
        assert float(text) == pytest.approx(rounded, rel=1e-12, abs=0)
    assert format_sds(np.array([3.0, 999.0])) == ["   3", " 999"]


def test_centre_out_order_matches_a_real_csi_spreadsheet() -> None:
    _needs_fixtures()
    body = (CSI_RUN / "run.csv").read_text().splitlines()[1:]
    real = [tuple(int(v) for v in line.split(",")[:2]) for line in body]
    rows = np.array([r for r, _ in real])
    cols = np.array([c for _, c in real])
    shuffled = np.random.default_rng(0).permutation(len(real))
    # The fixture analysed rows 2-4 and columns 3-8: its centre is (3, 6).
    order = centre_out_order(rows[shuffled] - 1, cols[shuffled] - 2, (3, 6))
    assert [real[i] for i in shuffled[order]] == real


def _write_example(folder: Path, write_tables: bool = True) -> tuple[list[str], np.ndarray]:
    names = ["NAA", "NAAG", "Cr", "PCr", "Cr+PCr", "NAA+NAAG", "MM14+Lip13a+Lip13b+MM12"]
    rng = np.random.default_rng(1)
    concentrations = round_concentration(rng.uniform(0.0, 9.0, (len(names), 3)))
    concentrations[1, 0] = 0.0
    concentrations[0, 1] = 0.0512
    sds = np.where(concentrations > 0, 7.0, 999.0)
    ratios = round_ratio(concentrations / concentrations[4])
    misc = {"fwhm": np.array([0.084, 0.16, 0.05]), "snr": np.array([21, 2, 35]),
            "shift": np.array([0.008, -0.019, 0.0]), "phase0": np.array([9, -79, 3]),
            "phase1": np.array([2.2, -1.8, 0.0]), "alpha_b": np.array([0.17, 0.05, 0.1]),
            "alpha_s": np.array([0.37, 360.0, 3.0]), "knots": np.array([28, 8, 12])}
    write_slice(folder, slice_number=2, shape=(5, 10, 2), rows=np.array([2, 3, 4]), cols=np.array([4, 5, 6]),
                names=names, concentrations=concentrations, sds=sds, ratios=ratios, misc=misc, title="test",
                write_tables=write_tables, write_csv=True)
    return names, concentrations


def test_written_table_parses_like_a_real_one(tmp_path: Path) -> None:
    _needs_fixtures()
    names, concentrations = _write_example(tmp_path)
    ours = parse_table((tmp_path / "sl2_2-4.table").read_text())
    real = parse_table((CSI_RUN / "run_sl2_2-4.table").read_text())
    assert list(ours["rows"]) == names
    assert [v[0] for v in ours["rows"].values()] == pytest.approx(concentrations[:, 0].tolist())
    assert ours["rows"]["NAAG"][:2] == (0.0, 999)
    assert (ours["fwhm"], ours["snr"]) == (0.084, 21)
    assert {v[2] for v in ours["rows"].values()} == {v[2] for v in real["rows"].values()} == {"%"}
    for parsed in (ours, real):
        lines, start = parsed["lines"], parsed["conc_start"]
        assert lines[0] == " LCModel (Version 6.3-1N)"
        assert re.match(r"^ Slice#2 Row#2 Col#4  ", lines[1])
        assert re.match(r"^\$\$CONC \d+ lines in following concentration table = NCONC\+1$", lines[start])
        conc_lines = lines[start + 1 : start + 1 + int(lines[start].split()[1])]
        assert {len(line) for line in conc_lines} == {75}
        assert any(line.startswith("$$MISC  6 lines") for line in lines)
        assert any(line.startswith("$$INPU") for line in lines)
        assert any(line.startswith(" islice=2") for line in lines)
    # Same column header as a real run whose ratios are to Cr+PCr.
    assert ours["lines"][4] == (FIXTURES / "svs_test_lcm" / "out.table").read_text().splitlines()[4]


def test_second_row_misc_line_keeps_the_negative_shift_glued(tmp_path: Path) -> None:
    _write_example(tmp_path)
    text = (tmp_path / "sl2_3-5.table").read_text()
    assert "  FWHM = 0.160 ppm    S/N =   2" in text
    assert "  Data shift =-0.019 ppm" in text


def test_csv_layout_matches_lcmodel(tmp_path: Path) -> None:
    _needs_fixtures()
    names, concentrations = _write_example(tmp_path, write_tables=False)
    assert not list(tmp_path.glob("*.table"))
    lines = (tmp_path / "sl2.csv").read_text().splitlines()
    assert lines[0] == csv_header(names)
    assert lines[0].startswith("Row, Col, NAA, NAA %SD, NAA/Cr+PCr, NAAG")
    assert "MM14+Lip13a+L, MM14+Lip13a+L %SD, MM14+Lip13a+L/Cr+PCr" in lines[0]
    real_first = (CSI_RUN / "run.csv").read_text().splitlines()[1]
    real_widths = [len(f) for f in real_first.split(", ")[:5]]
    for line in lines[1:]:
        fields = line.split(", ")
        assert [len(f) for f in fields[:5]] == real_widths
        assert len(fields) == 2 + 3 * len(names)
    by_voxel = {tuple(int(v) for v in line.split(",")[:2]): line for line in lines[1:]}
    assert float(by_voxel[(3, 5)].split(",")[2]) == pytest.approx(concentrations[0, 1])
