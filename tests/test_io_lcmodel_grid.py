"""LCModel's own grid (control files, ``$$INPU``), its checks, and spreadsheets found by content."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mrsisr.io.errors import GeometryError, LCModelFormatError, MapLoadingError
from mrsisr.io.geometry import MRSIGeometry
from mrsisr.io.lcmodel_grid import (
    check_grid,
    check_voxels,
    find_control_files,
    find_lcmodel_grid,
    find_spreadsheets,
    is_lcmodel_spreadsheet,
    read_lcmodel_grid,
    spreadsheet_slice,
)

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "lcmodel"
CSI = FIXTURES / "lcmodel-6.3-1N" / "csi_2x5x10_slice2"
needs_fixtures = pytest.mark.skipif(not CSI.is_dir(), reason="shared/fixtures/lcmodel is not on this machine")


@needs_fixtures
def test_the_real_control_file_and_table_agree():
    from_control = read_lcmodel_grid(CSI / "control.file")
    from_table = read_lcmodel_grid(CSI / "run_sl2_3-5.table")
    from_coord = read_lcmodel_grid(CSI / "run_sl2_3-5.coord")
    for grid in (from_control, from_table, from_coord):
        assert grid.shape == (5, 10, 2)
        assert (grid.slice, grid.row_range, grid.col_range) == (2, (2, 4), (3, 8))
        assert grid.filcsv == "out/run.csv"


@needs_fixtures
def test_grid_defaults_and_the_modified_build():
    modified = read_lcmodel_grid(FIXTURES / "real-csi-lcmodel-modified" / "multi-voxel-10.control")
    assert modified.shape == (1, 10, 1) and modified.col_range == (1, 10) and modified.slice == 1
    svs = read_lcmodel_grid(FIXTURES / "lcmodel-6.3-1N" / "svs_test_lcm" / "out.table")
    assert svs.shape == (1, 1, 1)
    with pytest.raises(LCModelFormatError, match="neither an LCModel control file"):
        read_lcmodel_grid(CSI / "run.csv")


@needs_fixtures
def test_find_grid_in_a_folder_prefers_the_control_file(tmp_path):
    assert find_control_files(CSI) == [CSI / "control.file"]
    assert find_lcmodel_grid(CSI).source == CSI / "control.file"
    for table in CSI.glob("*.table"):
        shutil.copy(table, tmp_path)
    grid = find_lcmodel_grid(tmp_path)
    assert grid.shape == (5, 10, 2) and grid.source.suffix == ".table"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert find_lcmodel_grid(empty) is None


def test_control_files_that_disagree_are_refused(tmp_path):
    (tmp_path / "control_sl1.file").write_text(" $LCMODL\n ndrows=32\n ndcols=32\n ndslic=8\n islice=1\n $END\n")
    (tmp_path / "control_sl2.file").write_text(" $LCMODL\n ndrows=24\n ndcols=32\n ndslic=8\n islice=2\n $END\n")
    with pytest.raises(GeometryError, match=r"control_sl1\.file says ndrows=32.*control_sl2\.file says ndrows=24"):
        find_lcmodel_grid(tmp_path)
    (tmp_path / "bad.control").write_text(" $LCMODL\n ndrows=4\n irowen=9\n $END\n")
    with pytest.raises(LCModelFormatError, match=r"irowst..irowen = 1..9 lies outside the grid"):
        read_lcmodel_grid(tmp_path / "bad.control")


def _geometry(shape, origin="sub-01_mrsi.nii.gz"):
    return MRSIGeometry(shape, np.diag([7.5, 7.5, 10.0, 1.0]), origin=origin)


@needs_fixtures
def test_check_grid_uses_the_row_column_convention():
    grid = read_lcmodel_grid(CSI / "control.file")
    check_grid(grid, _geometry((10, 5, 2)))  # nx = ndcols, ny = ndrows
    with pytest.raises(GeometryError) as error:
        check_grid(grid, _geometry((5, 10, 2)))
    message = str(error.value)
    assert "sub-01_mrsi.nii.gz" in message and "control.file" in message
    assert "5x10x2" in message and "ndrows=5, ndcols=10, ndslic=2" in message


@needs_fixtures
def test_check_voxels_names_the_maps_and_the_grid():
    grid = read_lcmodel_grid(CSI / "control.file")
    check_voxels(grid, [(2, 4, 8), (1, 5, 10)], CSI)
    check_voxels(grid, [], CSI)
    with pytest.raises(GeometryError, match=r"reach slice 2, row 6, col 8, outside LCModel's grid in .*control\.file"):
        check_voxels(grid, [(2, 6, 8)], "the tables")


@needs_fixtures
def test_spreadsheets_are_told_by_content():
    assert is_lcmodel_spreadsheet(CSI / "run.csv")
    assert is_lcmodel_spreadsheet(FIXTURES / "real-csi-lcmodel-modified" / "multi-voxel-10.csv")
    assert is_lcmodel_spreadsheet(FIXTURES / "real-svs-suspect" / "svs_97.CSV")
    assert not is_lcmodel_spreadsheet(FIXTURES / "lcmodel-6.3-1N" / "svs_allzero_fatal" / "out.csv")  # empty
    assert not is_lcmodel_spreadsheet(CSI / "run_sl2_3-5.table")
    assert find_spreadsheets(CSI) == {2: CSI / "run.csv"}


def test_other_csvs_are_not_spreadsheets(tmp_path):
    (tmp_path / "participants.csv").write_text("participant_id,age\nsub-01,34\n")
    (tmp_path / "sl3.csv").write_text("Row, Col, NAA, NAA SD, NAA/Cr\n1, 1, 2, 3, 4\n")
    assert not is_lcmodel_spreadsheet(tmp_path / "participants.csv")
    assert not is_lcmodel_spreadsheet(tmp_path / "sl3.csv")
    assert not is_lcmodel_spreadsheet(tmp_path / "absent.csv")
    assert find_spreadsheets(tmp_path) == {}


@needs_fixtures
def test_the_slice_comes_from_islice_or_the_name(tmp_path):
    header = (CSI / "run.csv").read_text()
    (tmp_path / "spreadsheet.csv").write_text(header)
    with pytest.raises(MapLoadingError, match=r"cannot tell which slice.*control file \(islice, filcsv\)"):
        find_spreadsheets(tmp_path)
    control = (CSI / "control.file").read_text().replace("out/run.csv", "out/spreadsheet.csv")
    (tmp_path / "control.file").write_text(control)
    assert find_spreadsheets(tmp_path) == {2: tmp_path / "spreadsheet.csv"}
    (tmp_path / "sl1.csv").write_text(header)
    assert find_spreadsheets(tmp_path) == {1: tmp_path / "sl1.csv", 2: tmp_path / "spreadsheet.csv"}
    (tmp_path / "run_sl2.csv").write_text(header)
    with pytest.raises(MapLoadingError, match="both hold slice 2"):
        find_spreadsheets(tmp_path)
    grid = read_lcmodel_grid(tmp_path / "control.file")
    with pytest.raises(GeometryError, match="its name says slice 3 but .*control.file"):
        spreadsheet_slice(tmp_path / "sl3.csv", [grid.__class__(**{**grid.__dict__, "filcsv": "sl3.csv"})])
