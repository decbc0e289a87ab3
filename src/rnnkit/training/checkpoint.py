"""The one checkpoint format: safetensors for tensors, JSON for everything else. Never pickle.

A state file is a single safetensors file whose metadata holds a JSON document, so a checkpoint is
one file and one atomic rename: write to a temporary file in the same folder, fsync, then
``os.replace``. A crash at any point leaves the previous file intact.

Nested Python state (an optimizer's ``state_dict``, RNG states, a carried hidden state) is stored
with :func:`flatten`: every tensor goes to the safetensors table under a generated key and is
replaced in the JSON tree by ``{"__tensor__": key}``; dicts become lists of ``[key, value]`` pairs
so that integer keys survive JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rnnkit.errors import InputError
from rnnkit.io import write_bytes

META_KEY = "rnnkit"


def flatten(obj: Any, tensors: dict[str, Tensor], prefix: str = "t") -> Any:
    """Replace every tensor in a nested structure by a reference into ``tensors``."""
    if isinstance(obj, Tensor):
        key = f"{prefix}.{len(tensors)}"
        tensors[key] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        return {
            "__dict__": [
                [flatten(k, tensors, prefix), flatten(v, tensors, prefix)] for k, v in obj.items()
            ]
        }
    if isinstance(obj, tuple):
        return {"__tuple__": [flatten(v, tensors, prefix) for v in obj]}
    if isinstance(obj, list):
        return [flatten(v, tensors, prefix) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a checkpoint")


def unflatten(obj: Any, tensors: dict[str, Tensor]) -> Any:
    """Inverse of :func:`flatten`."""
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__tuple__" in obj:
            return tuple(unflatten(v, tensors) for v in obj["__tuple__"])
        return {unflatten(k, tensors): unflatten(v, tensors) for k, v in obj["__dict__"]}
    if isinstance(obj, list):
        return [unflatten(v, tensors) for v in obj]
    return obj


def save_state(path: str | Path, tensors: dict[str, Tensor], meta: Any = None) -> None:
    """Write named tensors plus a JSON-able ``meta`` to one safetensors file, atomically."""
    from safetensors.torch import save

    table = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    # serialised here and written by Python, so that a full disk is an OSError with its errno
    write_bytes(path, save(table, metadata={META_KEY: json.dumps(meta)}))


def load_state(path: str | Path) -> tuple[dict[str, Tensor], Any]:
    """Read a file written by :func:`save_state`: (tensors, meta)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint not found")
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError) as error:
        raise InputError(f"{path}: not a readable safetensors checkpoint ({error})") from None
    try:
        return tensors, json.loads(metadata.get(META_KEY, "null"))
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: metadata {META_KEY!r} is not valid JSON ({error})") from None


def save_model(path: str | Path, model: torch.nn.Module, meta: Any = None) -> None:
    """Save a model's ``state_dict`` (tied weights are stored once per name)."""
    save_state(path, dict(model.state_dict()), meta)


def load_model(path: str | Path, model: torch.nn.Module) -> Any:
    """Load weights saved by :func:`save_model` into ``model``; returns the stored meta. Weights
    that are NaN or infinite are refused, naming the tensor."""
    tensors, meta = load_state(path)
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise InputError(
                f"{path}: tensor {name!r} holds NaN or infinite weights; the file is damaged "
                "or was saved from a diverged run"
            )
    try:
        model.load_state_dict(tensors)
    except RuntimeError as error:
        first = str(error).strip().splitlines()
        raise InputError(f"{path}: weights do not fit the model ({' '.join(first[:2])})") from None
    return meta
