"""Attention over a sequence of keys: dot, general (Luong), additive (Bahdanau), scaled dot-product.

One interface for all four::

    context, weights = attn(query, keys, values=None, mask=None, causal=False)

- ``query`` (B, Tq, Dq), ``keys`` (B, Tk, Dk), ``values`` (B, Tk, Dv) (default: the keys).
- ``mask``: bool, True where a key may be attended; (B, Tk) (per key) or (B, Tq, Tk).
- ``causal``: query i may attend keys j <= i + (Tk - Tq) (the queries are the last Tq positions
  of the key sequence, so with Tq == Tk this is j <= i).
- Returns ``context`` (B, Tq, Dv) and ``weights`` (B, Tq, Tk): each row sums to 1 and masked keys
  get weight exactly 0. A query row with no key left to attend raises ``ValueError``.

Scores ``e`` (B, Tq, Tk) and weights ``a = softmax(e)`` over keys; ``context = a @ values``.
The last weights are also kept in ``attn.last_weights`` (detached) for inspection.

Each score is split in two: ``project_keys(keys)``, the part that depends on the keys alone, and
``compare(query, projected)``. A decoder that attends to the same keys at every step projects them
once and passes ``projected_keys=`` to each call.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = [
    "Attention",
    "DotAttention",
    "GeneralAttention",
    "AdditiveAttention",
    "ScaledDotProductAttention",
    "lengths_to_mask",
    "build",
]


def lengths_to_mask(lengths: Tensor, max_length: int) -> Tensor:
    """(B,) lengths -> (B, max_length) bool mask, True inside each sequence."""
    return torch.arange(max_length, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


class Attention(nn.Module):
    """Base class: subclasses define ``score(query, keys) -> (B, Tq, Tk)``."""

    def __init__(self) -> None:
        super().__init__()
        self.last_weights: Tensor | None = None

    def project_keys(self, keys: Tensor) -> Tensor:
        """The keys' part of the score, (B, Tk, D'); the keys themselves unless overridden."""
        return keys

    def compare(self, query: Tensor, projected: Tensor) -> Tensor:
        """Scores (B, Tq, Tk) from the query and the projected keys."""
        raise NotImplementedError

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        return self.compare(query, self.project_keys(keys))

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor | None = None,
        mask: Tensor | None = None,
        causal: bool = False,
        projected_keys: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        name = type(self).__name__
        if query.dim() != 3 or keys.dim() != 3 or query.shape[0] != keys.shape[0]:
            raise ValueError(
                f"{name}: expected query (B, Tq, Dq) and keys (B, Tk, Dk) with the same B, "
                f"got {tuple(query.shape)} and {tuple(keys.shape)}"
            )
        values = keys if values is None else values
        if values.dim() != 3 or values.shape[:2] != keys.shape[:2]:
            raise ValueError(
                f"{name}: expected values of shape ({keys.shape[0]}, {keys.shape[1]}, Dv), "
                f"got {tuple(values.shape)}"
            )
        batch, query_steps, key_steps = query.shape[0], query.shape[1], keys.shape[1]
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        scores = self.compare(query, projected_keys)  # (B, Tq, Tk)
        keep = self._keep(mask, causal, batch, query_steps, key_steps, query.device)
        if keep is not None:
            if not bool(keep.any(dim=-1).all()):
                raise ValueError(
                    f"{name}: a query row has every key masked; nothing to attend to "
                    "(check the mask and lengths: every sequence needs at least one valid key)"
                )
            scores = scores.masked_fill(~keep, float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (B, Tq, Tk); exp(-inf) = 0 exactly
        context = torch.bmm(weights, values)  # (B, Tq, Dv)
        self.last_weights = weights.detach()
        return context, weights

    @staticmethod
    def _keep(mask, causal, batch, query_steps, key_steps, device) -> Tensor | None:
        """Combine the padding mask and the causal mask into (B, Tq, Tk) or (1, Tq, Tk) bools."""
        keep = None
        if mask is not None:
            if mask.dtype != torch.bool:
                raise ValueError(f"attention mask must be bool (True = attend), got {mask.dtype}")
            if mask.dim() == 2 and tuple(mask.shape) == (batch, key_steps):
                keep = mask.unsqueeze(1)  # (B, 1, Tk)
            elif mask.dim() == 3 and tuple(mask.shape) == (batch, query_steps, key_steps):
                keep = mask
            else:
                raise ValueError(
                    f"attention mask: expected shape ({batch}, {key_steps}) or "
                    f"({batch}, {query_steps}, {key_steps}), got {tuple(mask.shape)}"
                )
        if causal:
            offset = key_steps - query_steps
            rows = torch.arange(query_steps, device=device).unsqueeze(1)
            cols = torch.arange(key_steps, device=device).unsqueeze(0)
            triangle = (cols <= rows + offset).unsqueeze(0)  # (1, Tq, Tk)
            keep = triangle if keep is None else keep & triangle
        return keep


def _check_size(name: str, what: str, tensor: Tensor, size: int) -> None:
    if tensor.shape[-1] != size:
        raise ValueError(f"{name}: expected {what} size {size}, got {tensor.shape[-1]}")


class DotAttention(Attention):
    r"""Luong's dot score: :math:`e_{ij} = q_i^T k_j` (needs Dq == Dk)."""

    def compare(self, query: Tensor, projected: Tensor) -> Tensor:
        if query.shape[-1] != projected.shape[-1]:
            raise ValueError(
                f"{type(self).__name__}: query and key sizes must match, "
                f"got {query.shape[-1]} and {projected.shape[-1]}"
            )
        return torch.bmm(query, projected.transpose(1, 2))  # (B, Tq, Tk)


class ScaledDotProductAttention(DotAttention):
    r"""Vaswani et al.'s score: :math:`e_{ij} = q_i^T k_j / \sqrt{D_k}`."""

    def compare(self, query: Tensor, projected: Tensor) -> Tensor:
        return super().compare(query, projected) / math.sqrt(projected.shape[-1])


class GeneralAttention(Attention):
    r"""Luong's general score: :math:`e_{ij} = q_i^T W k_j`, ``W`` (Dq, Dk)."""

    def __init__(self, query_size: int, key_size: int) -> None:
        super().__init__()
        self.query_size, self.key_size = query_size, key_size
        self.weight = nn.Parameter(torch.empty(query_size, key_size))
        nn.init.xavier_uniform_(self.weight)

    def project_keys(self, keys: Tensor) -> Tensor:
        _check_size(type(self).__name__, "key", keys, self.key_size)
        return torch.matmul(keys, self.weight.t())  # (B, Tk, Dq) = (W k_j)^T

    def compare(self, query: Tensor, projected: Tensor) -> Tensor:
        _check_size(type(self).__name__, "query", query, self.query_size)
        return torch.bmm(query, projected.transpose(1, 2))  # (B, Tq, Tk)


class AdditiveAttention(Attention):
    r"""Bahdanau's score: :math:`e_{ij} = v^T \tanh(W q_i + U k_j + b)`.

    ``W`` (A, Dq), ``U`` (A, Dk), ``b`` (A), ``v`` (A) with A = ``attention_size``.
    """

    def __init__(self, query_size: int, key_size: int, attention_size: int | None = None) -> None:
        super().__init__()
        attention_size = attention_size or key_size
        self.query_size, self.key_size = query_size, key_size
        self.query_proj = nn.Linear(query_size, attention_size, bias=False)  # W
        self.key_proj = nn.Linear(key_size, attention_size, bias=True)  # U, b
        self.v = nn.Parameter(torch.empty(attention_size))
        bound = 1.0 / math.sqrt(attention_size)
        nn.init.uniform_(self.v, -bound, bound)

    def project_keys(self, keys: Tensor) -> Tensor:
        _check_size(type(self).__name__, "key", keys, self.key_size)
        return self.key_proj(keys)  # (B, Tk, A): U k_j + b

    def compare(self, query: Tensor, projected: Tensor) -> Tensor:
        _check_size(type(self).__name__, "query", query, self.query_size)
        q = self.query_proj(query).unsqueeze(2)  # (B, Tq, 1, A)
        return torch.tanh(q + projected.unsqueeze(1)) @ self.v  # (B, Tq, Tk)


KINDS = {
    "dot": DotAttention,
    "scaled-dot": ScaledDotProductAttention,
    "general": GeneralAttention,
    "additive": AdditiveAttention,
}


def build(kind: str, query_size: int, key_size: int) -> Attention:
    """Attention by name: ``dot``, ``scaled-dot``, ``general`` or ``additive``."""
    if kind not in KINDS:
        raise ValueError(f"unknown attention {kind!r}; expected one of {', '.join(KINDS)}")
    if kind in ("dot", "scaled-dot"):
        if query_size != key_size:
            raise ValueError(
                f"{kind} attention needs equal query and key sizes, got {query_size} and {key_size}"
            )
        return KINDS[kind]()
    return KINDS[kind](query_size, key_size)
