"""The BIDS validator (``bids-validator-deno``, offline), run on the input and the output datasets."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ValidationResult", "find_validator", "validate_dataset"]

_EXECUTABLES = ("bids-validator-deno", "bids-validator")


@dataclass(frozen=True)
class ValidationResult:
    """``errors``/``warnings``: one line per issue code with its first locations."""

    available: bool
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.errors


def find_validator() -> str | None:
    """Path of the validator executable, or None when it is not installed."""
    for name in _EXECUTABLES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _summarise(issues: list[dict], severity: str) -> tuple[str, ...]:
    grouped: dict[str, list[str]] = {}
    for issue in issues:
        if issue.get("severity") == severity:
            grouped.setdefault(issue.get("code", "?"), []).append(str(issue.get("location", "")))
    return tuple(f"{code}: {', '.join(sorted(set(where))[:5])}" for code, where in sorted(grouped.items()))


def validate_dataset(path: Path, timeout: float = 600) -> ValidationResult:
    """Run the validator on ``path`` (JSON output); ``available=False`` when it is not installed."""
    executable = find_validator()
    if executable is None:
        return ValidationResult(available=False)
    completed = subprocess.run([executable, str(path), "--format", "json", "--ignoreWarnings"],
                               capture_output=True, text=True, timeout=timeout, check=False)
    try:
        report = json.loads(completed.stdout)
    except json.JSONDecodeError:
        message = (completed.stderr or completed.stdout).strip().splitlines()
        return ValidationResult(available=True, errors=(f"validator failed: {message[-1] if message else '?'}",))
    issues = report.get("issues", {}).get("issues", [])
    return ValidationResult(available=True, errors=_summarise(issues, "error"), warnings=_summarise(issues, "warning"))
