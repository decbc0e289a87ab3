"""The one sampler: temperature, top-k and top-p (nucleus) over a distribution's logits.

Every generator in rnnkit (the language model, the translation decoder) draws its next token here.

- temperature T: ``p ∝ exp(logit / T)``; T -> 0 is greedy (argmax), T = 1 the model's distribution;
- top-k: keep the k most likely tokens;
- top-p: keep the smallest set of most likely tokens whose probability sums to at least p
  (the most likely token is always kept).

Filters apply in that order (temperature, then top-k, then top-p) and the rest is renormalised.
A token is drawn by inverting the cumulative distribution at a uniform number from the row's
generator, so a seeded draw depends only on that row's logits and its own generator
(:class:`Sampler` keeps one generator per row for batched generation).
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
    flat = filter_logits(logits, temperature, top_k, top_p).reshape(-1, logits.shape[-1])
    weights = (flat - flat.amax(dim=-1, keepdim=True)).exp_()  # (N, V) ∝ p
    uniforms = torch.rand(flat.shape[0], 1, generator=generator)
    return _inverse_cdf(weights, uniforms, torch.empty(flat.shape[0], 1, dtype=torch.long)).reshape(
        logits.shape[:-1]
    )


def _inverse_cdf(weights: Tensor, uniforms: Tensor, out: Tensor) -> Tensor:
    """Row b's token is the first whose cumulative weight reaches ``(1 - u_b) * total_b``.

    ``weights`` (B, V) >= 0, unnormalised (overwritten by their cumulative sums); ``uniforms``
    (B, 1) in [0, 1) (overwritten); ``out`` (B, 1) int64. ``1 - u`` lies in (0, 1], so a token
    of weight 0 is never drawn: the cumulative sum only rises at tokens that have weight."""
    cumulative = weights.cumsum_(dim=-1)  # (B, V)
    uniforms.neg_().add_(1.0).mul_(cumulative[:, -1:])  # (B, 1) in (0, total]
    torch.searchsorted(cumulative, uniforms, out=out)
    return out.clamp_(max=weights.shape[-1] - 1)  # rounding at the top end


class Sampler:
    """The same draw as :func:`sample` for generation's loop: B rows of (B, V) logits, buffers
    allocated once, and one generator per row.

    Row b draws its uniform from ``torch.Generator().manual_seed(seeds[b])`` (the global
    generator when ``seeds[b]`` is None), so a row draws the same tokens from the same logits
    inside a batch as alone with its seed. ``banned`` ids are never drawn (their logits are
    -inf). Top-k and top-p filter through :func:`filter_logits`, and banned ids are removed, on
    fresh tensors; temperature alone allocates nothing."""

    def __init__(
        self,
        rows: int,
        vocab: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seeds: list[int | None] | None = None,
        banned: tuple[int, ...] = (),
    ) -> None:
        check_options(temperature, top_k, top_p)
        seeds = [None] * rows if seeds is None else list(seeds)
        if len(seeds) != rows:
            raise ValueError(f"expected {rows} seeds, got {len(seeds)}")
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p
        self.generators = [None if s is None else torch.Generator().manual_seed(s) for s in seeds]
        self.weights = torch.empty(rows, vocab)
        self.maxima = torch.empty(rows, 1)
        self.uniforms = torch.empty(rows, 1)
        self.tokens = torch.zeros(rows, 1, dtype=torch.long)
        self.banned = torch.tensor(banned, dtype=torch.long) if banned else None

    def __call__(self, logits: Tensor) -> Tensor:
        """Token ids (B,) drawn from ``logits`` (B, V); a buffer the next call overwrites."""
        if self.temperature == 0:
            torch.argmax(logits, dim=-1, keepdim=True, out=self.tokens)
            return self.tokens[:, 0]
        if self.banned is not None:
            logits = logits.index_fill(-1, self.banned, float("-inf"))
        if self.top_k is not None or self.top_p is not None:
            self.weights.copy_(filter_logits(logits, self.temperature, self.top_k, self.top_p))
        else:
            torch.div(logits, max(self.temperature, 1e-8), out=self.weights)
        torch.amax(self.weights, dim=-1, keepdim=True, out=self.maxima)
        self.weights.sub_(self.maxima).exp_()
        for row, generator in enumerate(self.generators):
            torch.rand(1, generator=generator, out=self.uniforms[row])
        return _inverse_cdf(self.weights, self.uniforms, self.tokens)[:, 0]
