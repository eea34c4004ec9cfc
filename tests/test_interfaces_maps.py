"""The Nipype node LoadMetaboliteMaps: standalone, inside a workflow, and its spec."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from nipype import Node, Workflow
from nipype.interfaces.utility import Function
from test_io_loader import AFFINE, NZ, N, expected_conc, make_lcmodel_tree

from mrsisr import METABOLITES
from mrsisr.interfaces.maps import LoadMetaboliteMaps
from mrsisr.io.errors import MetaboliteNotFoundError


def test_every_trait_is_documented():
    for spec in (LoadMetaboliteMaps.input_spec(), LoadMetaboliteMaps.output_spec()):
        for name, trait in spec.traits(transient=None).items():
            if name in ("trait_added", "trait_modified") or trait.type == "event":
                continue
            assert trait.desc, f"{type(spec).__name__}.{name} has no desc"


def test_defaults_and_mutually_exclusive_geometry(tmp_path):
    node = LoadMetaboliteMaps()
    assert node.inputs.metabolites == list(METABOLITES) and node.inputs.source_format == "auto"
    geometry = tmp_path / "geometry.json"
    geometry.write_text("{}")
    reference = tmp_path / "ref.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 1)), np.eye(4)), str(reference))
    with pytest.raises(OSError, match='"geometry_file" is mutually exclusive with input "reference"'):
        LoadMetaboliteMaps(source=str(tmp_path), reference=str(reference), geometry_file=str(geometry))


def test_standalone_run(tmp_path):
    derivatives = make_lcmodel_tree(tmp_path / "bids")
    node = LoadMetaboliteMaps(source=str(derivatives), subject="01", metabolites=["NAA", "Ins"])
    (tmp_path / "work").mkdir()
    result = node.run(cwd=str(tmp_path / "work"))
    out = result.outputs
    assert out.metabolites == ["NAA", "Ins"] and out.source_names == ["NAA+NAAG", "mI"]
    assert out.acquired_matrix == N and out.quality_available and out.source_format == "table"
    conc = nib.load(out.conc_file)
    assert conc.shape == (N, N, NZ, 2) and np.allclose(conc.affine, AFFINE)
    np.testing.assert_array_equal(np.asarray(conc.dataobj)[..., 1], expected_conc(6).astype(np.float32))
    assert nib.load(out.fwhm_file).shape == (N, N, NZ) and nib.load(out.valid_file).shape == (N, N, NZ, 2)
    assert json.loads(open(out.metadata_file).read())["SourceFormat"] == "table"


def test_bad_input_surfaces_the_specific_error(tmp_path):
    derivatives = make_lcmodel_tree(tmp_path / "bids")
    node = LoadMetaboliteMaps(source=str(derivatives), subject="01", metabolites=["Lac"])
    with pytest.raises(MetaboliteNotFoundError, match="no 'Lac'.*present: GPC\\+PCh"):
        node.run(cwd=str(tmp_path))


def _count_valid(valid_file, metabolites):
    import nibabel as nib
    import numpy as np

    data = np.asarray(nib.load(valid_file).dataobj)
    return {name: int(data[..., m].sum()) for m, name in enumerate(metabolites)}


def test_inside_a_workflow(tmp_path):
    derivatives = make_lcmodel_tree(tmp_path / "bids")
    workflow = Workflow(name="load_wf", base_dir=str(tmp_path / "work"))
    load = Node(LoadMetaboliteMaps(source=str(derivatives), subject="01", metabolites=["tCr", "Gln"]), name="load")
    count = Node(Function(input_names=["valid_file", "metabolites"], output_names=["counts"], function=_count_valid),
                 name="count")
    workflow.connect([(load, count, [("valid_file", "valid_file"), ("metabolites", "metabolites")])])
    graph = workflow.run()
    node = next(n for n in graph.nodes() if n.name == "count")
    assert node.result.outputs.counts == {"tCr": N * N * NZ - 1, "Gln": N * N * NZ - 2}


def test_docstring_examples_run():
    import doctest

    import mrsisr.interfaces.maps
    import mrsisr.io.names

    for module in (mrsisr.interfaces.maps, mrsisr.io.names):
        result = doctest.testmod(module)
        assert result.attempted and not result.failed, module.__name__


def _naa_sum(conc_file):
    import nibabel as nib
    import numpy as np

    return float(np.nansum(np.asarray(nib.load(conc_file).dataobj)[..., 0]))


def test_a_refit_subject_reruns_with_the_same_work_dir(tmp_path):
    """Issue 13.1: LCModel outputs rewritten in place (concentrations doubled) must not be served from the cache."""
    from test_io_lcmodel import write_table
    from test_io_loader import voxel_rows

    derivatives = make_lcmodel_tree(tmp_path / "bids")
    folder = derivatives / "sub-01" / "lcmodel_acq-4"

    def run():
        workflow = Workflow(name="load_wf", base_dir=str(tmp_path / "work"))
        load = Node(LoadMetaboliteMaps(source=str(derivatives), subject="01", metabolites=["NAA"]), name="load")
        total = Node(Function(input_names=["conc_file"], output_names=["total"], function=_naa_sum), name="total")
        workflow.connect([(load, total, [("conc_file", "conc_file")])])
        graph = workflow.run()
        return next(n for n in graph.nodes() if n.name == "total").result.outputs.total

    first = run()
    result_file = tmp_path / "work" / "load_wf" / "load" / "result_load.pklz"
    stamp = result_file.stat().st_mtime_ns
    assert run() == first and result_file.stat().st_mtime_ns == stamp  # nothing changed: resumed from the cache
    for table in sorted(folder.glob("sl*_*-*.table")):
        sl, row, col = (int(v) for v in table.stem[2:].replace("_", "-").split("-"))
        rows = [(name, 2 * conc, sd, ratio) for name, conc, sd, ratio in voxel_rows(row, col, sl)]
        write_table(table, rows, location=(sl, row, col))
    assert run() == pytest.approx(2 * first)


def test_the_hash_follows_the_located_files(tmp_path):
    derivatives = make_lcmodel_tree(tmp_path / "bids")
    node = LoadMetaboliteMaps(source=str(derivatives), subject="01", metabolites=["NAA"])
    listed, before = node.inputs.get_hashval()
    files = dict(listed)["source_files"]
    assert any(str(f[0]).endswith("sl2_4-4.table") for f in files) and any("geometry.json" in f[0] for f in files)
    by_content = node.inputs.get_hashval(hash_method="content")[1]
    (derivatives / "sub-01" / "lcmodel_acq-4" / "sl1_2-2.table").write_text("changed")
    assert node.inputs.get_hashval()[1] != before
    assert node.inputs.get_hashval(hash_method="content")[1] != by_content
