"""Weights on disk: safetensors with the variant and configuration in its metadata.

Never unpickles: a weights file is a safetensors file (optionally half precision) whose header
metadata holds ``variant``, ``config`` (JSON), ``metabolites`` (JSON: the order of the metabolite
embedding's index) and ``mrsisr_version``. A model card (JSON) may sit beside it with the same stem.
Files without ``metabolites`` predate it and used :data:`LEGACY_METABOLITES`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import mrsisr
from mrsisr import __version__
from mrsisr.models.registry import build, variant_spec

__all__ = ["LEGACY_METABOLITES", "WeightsError", "save_weights", "load_model", "read_metadata", "sha256"]

#: The embedding order of weights files written before the order was recorded (the packaged default).
LEGACY_METABOLITES: tuple[str, ...] = ("tCho", "tCr", "NAA", "Gly", "Gln", "Glu", "Ins")


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
                "metabolites": json.dumps(list(mrsisr.METABOLITES)), "mrsisr_version": __version__,
                "dtype": "float16" if half else "float32"}
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
    metadata = (header.get("__metadata__") if isinstance(header, dict) else None) or {}
    if "variant" not in metadata:
        raise WeightsError(f"{path} has no 'variant' in its safetensors metadata: not an mrsisr weights file")
    return metadata


def _check_metabolite_order(path: Path, metadata: dict[str, str]) -> None:
    """A network conditioned on the metabolite must index it as :data:`mrsisr.METABOLITES` does."""
    if metadata["variant"] == "discriminator" or "metabolite" not in variant_spec(metadata["variant"]).conditions:
        return
    try:
        order = tuple(json.loads(metadata["metabolites"])) if "metabolites" in metadata else LEGACY_METABOLITES
    except ValueError as error:
        raise WeightsError(f"{path}: its 'metabolites' metadata is not a JSON list: {error}") from error
    if order != tuple(mrsisr.METABOLITES):
        raise WeightsError(f"{path} embeds the metabolites in the order {list(order)}, but this mrsisr indexes "
                           f"{list(mrsisr.METABOLITES)}: retrain the network, or use an mrsisr with that order")


def load_model(path: str | Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Build the network described by a weights file and load its parameters (float32, eval mode).

    Raises :class:`WeightsError` when the file is not a usable mrsisr weights file, including when its
    metabolite order (metadata ``metabolites``) differs from :data:`mrsisr.METABOLITES`.
    """
    path = Path(path)
    metadata = read_metadata(path)
    try:
        config = json.loads(metadata.get("config", "{}"))
        model = build(metadata["variant"], **config)
    except (ValueError, TypeError) as error:
        raise WeightsError(f"{path}: cannot build the network its metadata describes: {error}") from error
    _check_metabolite_order(path, metadata)
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
