"""The one sampler: temperature, top-k and top-p (nucleus) over a distribution's logits.

Every generator in rnnkit (the language model, the translation decoder) draws its next token here.

- temperature T: ``p ∝ exp(logit / T)``; T -> 0 is greedy (argmax), T = 1 the model's distribution;
- top-k: keep the k most likely tokens;
- top-p: keep the smallest set of most likely tokens whose probability sums to at least p
  (the most likely token is always kept).

Filters apply in that order (temperature, then top-k, then top-p) and the rest is renormalised.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def check_options(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """Raise ValueError for an impossible option."""
    if not math.isfinite(temperature) or temperature < 0:
        raise ValueError(
            f"--temperature must be a finite number >= 0 (0 is greedy), got {temperature}"
        )
    if top_k is not None and top_k < 1:
        raise ValueError(f"--top-k must be >= 1, got {top_k}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"--top-p must be in (0, 1], got {top_p}")


def filter_logits(
    logits: Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> Tensor:
    """Logits (..., V) after temperature, top-k and top-p; removed tokens are -inf."""
    logits = logits.float() / max(temperature, 1e-8)
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]  # (..., 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
        # drop a token when the tokens before it already reach top_p
        drop_sorted = (cumulative - torch.softmax(sorted_logits, dim=-1)) >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw one token id per row of ``logits`` (..., V) -> (...)."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(filter_logits(logits, temperature, top_k, top_p), dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])
