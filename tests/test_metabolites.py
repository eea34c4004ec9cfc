"""The metabolite table (mrsisr.metabolites) and what reads it."""

from __future__ import annotations

import pytest

import mrsisr
from mrsisr.io.errors import MetaboliteNotFoundError
from mrsisr.io.names import canonical_name, resolve_metabolite, resolve_metabolites
from mrsisr.metabolites import METABOLITES, TABLE, TOTALS


def test_table_feeds_the_package_order_and_totals():
    assert mrsisr.METABOLITES == METABOLITES == ("tCho", "tCr", "NAA", "Gly", "Gln", "Glu", "Ins")
    assert [TABLE[m].index for m in METABOLITES] == list(range(7))
    assert TOTALS == {"tCho": "GPC+PCh", "tCr": "Cr+PCr", "NAA": "NAA+NAAG", "Gly": "Gly", "Gln": "Gln",
                      "Glu": "Glu", "Ins": "Ins"}
    assert "Glx" in TABLE and TABLE["Glx"].index is None and "Glx" not in METABOLITES


@pytest.mark.parametrize(
    ("requested", "available", "expected"),
    [
        ("tCr", ["CrPCr", "NAANAAG", "GPCPCh"], "CrPCr"),  # MRSIPrep labels
        ("NAA", ["tNAA", "Ins"], "tNAA"),
        ("tCho", ["GPCPCh"], "GPCPCh"),
        ("Glx", ["GluGln", "NAA"], "GluGln"),  # the combined quantity itself can be asked for
        ("Glx", ["Glu+Gln"], "Glu+Gln"),
    ],
)
def test_mrsiprep_labels_resolve(requested, available, expected):
    assert resolve_metabolite(requested, available)[1] == expected


@pytest.mark.parametrize("combined", ["Glx", "GluGln", "Glu+Gln", "Gln+Glu"])
def test_combined_glu_gln_is_never_glu_or_gln(combined):
    assert canonical_name(combined) == "Glx"
    for requested in ("Glu", "Gln"):
        with pytest.raises(MetaboliteNotFoundError) as caught:
            resolve_metabolite(requested, [combined, "NAA"], where="sub-01/mrsi")
        message = str(caught.value)
        assert f"sub-01/mrsi has no {requested!r}" in message
        assert ("present only as a combined Glu+Gln (Glx), which the packaged model cannot super-resolve "
                "(it knows Glu and Gln separately)") in message
    # both missing at once: both explained
    with pytest.raises(MetaboliteNotFoundError, match=r"(?s)no 'Glu'.*combined Glu\+Gln.*no 'Gln'.*combined"):
        resolve_metabolites(["Glu", "Gln"], [combined])
    # with Glu and Gln fitted separately as well, the separate maps are used
    assert resolve_metabolite("Glu", [combined, "Glu", "Gln"])[1] == "Glu"


@pytest.mark.parametrize(
    ("requested", "available", "expected"),
    [
        ("tCho", ["PCho+GPC", "Cr+PCr", "NAA+NAAG"], "PCho+GPC"),  # fsl_mrsi --combine PCho GPC
        ("tCho", ["GPC+PCho"], "GPC+PCho"),
        ("tCho", ["PCho", "Cr", "NAA"], "PCho"),  # a basis with one choline compound
        ("tCho", ["GPC", "NAA"], "GPC"),
        ("tCr", ["Cr+PCr", "PCho+GPC"], "Cr+PCr"),
        ("NAA", ["NAA+NAAG", "NAA", "NAAG"], "NAA+NAAG"),
    ],
)
def test_fsl_mrs_names_resolve(requested, available, expected):
    assert resolve_metabolite(requested, available)[1] == expected


def test_one_choline_component_is_not_the_total_when_the_other_was_fitted():
    with pytest.raises(MetaboliteNotFoundError, match=r"no 'tCho'.*present: PCho, GPC"):
        resolve_metabolite("tCho", ["PCho", "GPC"])
    assert canonical_name("PCho+GPC") == "tCho" and canonical_name("PCho") == "PCho"
