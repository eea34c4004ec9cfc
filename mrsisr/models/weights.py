"""Weights on disk: safetensors with the variant and configuration in its metadata.

Never unpickles: a weights file is a safetensors file (optionally half precision) whose header
metadata holds ``variant``, ``config`` (JSON) and ``mrsisr_version``. A model card (JSON) may sit
beside it with the same stem.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from mrsisr import __version__
from mrsisr.models.registry import build

__all__ = ["WeightsError", "save_weights", "load_model", "read_metadata", "sha256"]


class WeightsError(ValueError):
    """A weights file that cannot be used, with the file and the reason in the message."""


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file (its identity in sidecars and model cards)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_weights(model: torch.nn.Module, path: str | Path, half: bool = False,
                 extra: dict[str, Any] | None = None) -> Path:
    """Write ``model``'s parameters as safetensors (float16 with ``half``), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {key: (value.half() if half and value.is_floating_point() else value).detach().cpu().contiguous()
               for key, value in model.state_dict().items()}
    metadata = {"variant": getattr(model, "variant", "discriminator"),
                "config": json.dumps(model.config.to_dict() if hasattr(model, "config") else {}),
                "mrsisr_version": __version__, "dtype": "float16" if half else "float32"}
    metadata.update({key: str(value) for key, value in (extra or {}).items()})
    partial = path.with_name(path.name + ".part")
    save_file(tensors, str(partial), metadata=metadata)
    partial.replace(path)
    return path


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata block of a safetensors weights file, or a :class:`WeightsError` saying why not."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    try:
        with open(path, "rb") as stream:
            header_size = int.from_bytes(stream.read(8), "little")
            if not 0 < header_size < 100_000_000:
                raise ValueError("implausible header size")
            header = json.loads(stream.read(header_size))
    except (ValueError, UnicodeDecodeError) as error:
        raise WeightsError(f"{path} is not a safetensors file ({error}); mrsisr reads only safetensors weights") from error
    metadata = header.get("__metadata__") or {}
    if "variant" not in metadata:
        raise WeightsError(f"{path} has no 'variant' in its safetensors metadata: not an mrsisr weights file")
    return metadata


def load_model(path: str | Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Build the network described by a weights file and load its parameters (float32, eval mode)."""
    path = Path(path)
    metadata = read_metadata(path)
    try:
        config = json.loads(metadata.get("config", "{}"))
        model = build(metadata["variant"], **config)
    except (ValueError, TypeError) as error:
        raise WeightsError(f"{path}: cannot build the network its metadata describes: {error}") from error
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise WeightsError(f"{path} is corrupt or truncated: {error}") from error
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = [key for key in set(expected) & set(tensors) if expected[key].shape != tensors[key].shape]
    if missing or unexpected or wrong:
        details = "; ".join(part for part in (
            f"missing {missing[:3]}{'…' if len(missing) > 3 else ''}" if missing else "",
            f"unexpected {unexpected[:3]}{'…' if len(unexpected) > 3 else ''}" if unexpected else "",
            f"shape mismatch {sorted(wrong)[:3]}" if wrong else "") if part)
        raise WeightsError(f"{path} does not match a {metadata['variant']!r} network with config {config}: {details}")
    model.load_state_dict({key: value.to(expected[key].dtype) for key, value in tensors.items()})
    model.weights_path = str(path)
    return model.to(device).eval()
