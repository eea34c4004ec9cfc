"""Alias resolution of metabolite names (mrsisr.io.names)."""

from __future__ import annotations

import pytest

from mrsisr.io.errors import MetaboliteNotFoundError
from mrsisr.io.names import canonical_name, csv_name, names_match, resolve_metabolite, resolve_metabolites

LCMODEL_3T = ["Ala", "Cr", "GPC", "Ins", "NAA", "NAAG", "PCh", "PCr", "sIns", "GPC+PCh", "NAA+NAAG", "Cr+PCr", "Glu",
              "Gln", "Glu+Gln"]


@pytest.mark.parametrize(
    ("requested", "available", "expected"),
    [
        ("tCho", LCMODEL_3T, "GPC+PCh"),
        ("tCho", ["PCh+GPC"], "PCh+GPC"),
        ("tCho", ["Cho+GPC+PCh", "GPC"], "Cho+GPC+PCh"),
        ("tCho", ["Cho"], "Cho"),
        ("tCho", ["GPCPCh", "CrPCr"], "GPCPCh"),  # MRSIPrep met- labels
        ("tCr", LCMODEL_3T, "Cr+PCr"),
        ("tCr", ["PCr+Cr"], "PCr+Cr"),
        ("tCr", ["Cr", "GPC"], "Cr"),  # a basis without PCr fits total creatine as Cr
        ("NAA", LCMODEL_3T, "NAA+NAAG"),
        ("NAA", ["tNAA", "NAA"], "tNAA"),
        ("NAA", ["NAA", "NAAG"], "NAA"),
        ("Ins", LCMODEL_3T, "Ins"),
        ("Ins", ["mI", "Scyllo"], "mI"),
        ("Gly", ["Glyc", "Ins"], "Glyc"),
        ("Gly", ["gly"], "gly"),
        ("Glu", LCMODEL_3T, "Glu"),
        ("Gln", LCMODEL_3T, "Gln"),
        ("mI", ["Ins"], "Ins"),  # aliases are accepted as requests
        ("GPC+PCh", ["PCh+GPC"], "PCh+GPC"),
        ("Lac", ["Lac", "Ala"], "Lac"),  # any fitted name
    ],
)
def test_aliases_resolve(requested, available, expected):
    assert resolve_metabolite(requested, available)[1] == expected


def test_canonical_names():
    assert [canonical_name(n) for n in ("PCh+GPC", "Cho", "CrPCr", "tNAA", "NAA+NAAG", "mI", "Glyc", "Cr", "Lac")] == [
        "tCho", "tCho", "tCr", "NAA", "NAA", "Ins", "Gly", "Cr", "Lac"]


def test_cut_names_match_their_full_name():
    assert csv_name("MM14+Lip13a+Lip13b+MM12") == "MM14+Lip13a+L"
    assert names_match("MM14+Lip13a+L", "MM14+Lip13a+Lip13b+MM12")
    assert not names_match("MM14+Lip13a", "MM14+Lip13a+Lip13b+MM12")
    assert resolve_metabolite("MM14+Lip13a+Lip13b+MM12", ["MM14+Lip13a+L"])[1] == "MM14+Lip13a+L"


def test_scyllo_and_pcr_are_not_substitutes():
    with pytest.raises(MetaboliteNotFoundError, match=r"no 'Ins'.*present: sIns, Scyllo"):
        resolve_metabolite("Ins", ["sIns", "Scyllo"])
    with pytest.raises(MetaboliteNotFoundError, match=r"no 'tCr'.*present: Cr, PCr"):
        resolve_metabolite("tCr", ["Cr", "PCr"])  # Cr alone is not total creatine when PCr was fitted


@pytest.mark.parametrize("total", ["Ins+Glyc", "mI+Gly", "Gly+Ins"])
def test_glycine_inositol_sums_are_never_substituted(total):
    for requested in ("Ins", "Gly"):
        with pytest.raises(MetaboliteNotFoundError, match=rf"glycine\+inositol sum.*overrides=\{{'{requested}'"):
            resolve_metabolite(requested, [total, "NAA"], where="run.csv")
    assert resolve_metabolite("Ins", [total], overrides={"Ins": total}) == ("Ins", total)
    assert resolve_metabolite("Gly", [total, "Gly"])[1] == "Gly"


def test_all_missing_names_are_listed_at_once():
    with pytest.raises(MetaboliteNotFoundError) as caught:
        resolve_metabolites(["tCho", "Gly", "Glu"], ["Glu", "NAA"], where="sub-01/lcmodel")
    message = str(caught.value)
    assert "sub-01/lcmodel has no 'tCho'" in message and "no 'Gly'" in message and "present: Glu, NAA" in message
    with pytest.raises(MetaboliteNotFoundError, match="'Foo' given for 'Ins' is not present"):
        resolve_metabolite("Ins", ["Ins"], overrides={"Ins": "Foo"})
