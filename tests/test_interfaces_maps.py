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
