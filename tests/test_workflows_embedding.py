"""The embedding example of ``docs/bids_app.md``, run as written: the participant workflow and a
single node inside a user-written Nipype workflow."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from bids_fixtures import copy_dataset, install_fsl_standins, tiny_weights

DOCS = Path(__file__).resolve().parents[1] / "docs" / "bids_app.md"


def _embedding_code() -> str:
    section = DOCS.read_text().split("## Embedding mrsisr in your own Nipype workflow", 1)[1]
    return re.findall(r"```python\n(.*?)```", section, re.DOTALL)[0]


@pytest.mark.slow
def test_docs_embedding_example_runs(tmp_path, monkeypatch):
    bids_dir = copy_dataset(tmp_path / "bids")
    weights = tiny_weights(tmp_path / "tiny.safetensors")
    for key, value in install_fsl_standins(tmp_path / "fsl").items():  # FSL code path, stand-in tools
        monkeypatch.setenv(key, value)
    module_file = tmp_path / "docs_embedding_example.py"  # a real module: Nipype reads function sources
    module_file.write_text(_embedding_code())
    spec = importlib.util.spec_from_file_location("docs_embedding_example", module_file)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    workflow = example.build_my_workflow(bids_dir, tmp_path / "work", weights)
    graph = workflow.run(plugin="Linear")
    results = {node.name: node.result.outputs for node in graph.nodes()}
    means = results["analysis"].means
    assert len(means) == 2 and all(m > 0 for m in means)
    assert results["strict_slices"].slices and not (tmp_path / "bids" / "derivatives" / "mrsisr").exists()
