"""The fitting-output registry (mrsisr.io.formats): discovery and loading go through it."""

from __future__ import annotations

import json

import numpy as np

from mrsisr.interfaces.maps import LoadMetaboliteMaps
from mrsisr.io import formats
from mrsisr.io.discovery import locate_source
from mrsisr.io.loader import load_metabolite_maps


def test_the_node_offers_the_registry_formats():
    assert list(formats.FORMATS) == ["fsl-mrs", "table", "csv", "nifti"]
    trait = LoadMetaboliteMaps().inputs.trait("source_format")
    assert list(trait.trait_type.values) == ["auto", *formats.FORMATS]


def test_a_new_reader_is_one_registry_entry(tmp_path, monkeypatch):
    """A toy format (one JSON file of per-metabolite 2x2x1 grids) is found and read by the loader."""
    (tmp_path / "fit.json").write_text(json.dumps({"NAA+NAAG": [[[1.0], [2.0]], [[3.0], [0.0]]]}))
    (tmp_path / "geometry.json").write_text(json.dumps({"shape": [2, 2, 1], "affine": np.eye(4).tolist()}))

    def read(located, geometry, request):
        data = json.loads((located.path / "fit.json").read_text())
        conc = {name: np.asarray(values, float) for name, values in data.items()}
        resolved = formats.resolve_metabolites(request.metabolites, conc, request.overrides, where=str(located.path))
        return formats.RawMaps(conc=conc, sd={n: np.full(geometry.shape, 5.0) for n in conc},
                               present=np.ones(geometry.shape, bool), snr=np.full(geometry.shape, 10.0),
                               fwhm=np.full(geometry.shape, 0.05), quality_source="fit.json", resolved=resolved)

    toy = formats.SourceFormat(detect=lambda base, acq, explicit: base if (base / "fit.json").is_file() else None,
                               read=read, expected="fit.json", geometry_beside=True)
    monkeypatch.setitem(formats.FORMATS, "toy", toy)
    assert locate_source(tmp_path).format == "toy"
    maps = load_metabolite_maps(tmp_path, metabolites=["NAA"])
    assert maps.source_format == "toy" and maps.source_names == ["NAA+NAAG"]
    assert maps.valid[..., 0].sum() == 3 and maps.conc[1, 0, 0, 0] == 3.0
