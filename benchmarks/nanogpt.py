"""nanoGPT's character-level tiny Shakespeare baseline in one file, trained on a wall-clock budget.

    # the baby GPT of config/train_shakespeare_char.py: 10 minutes of training on 2 threads
    .venv/bin/python benchmarks/nanogpt.py --time-budget 600 --out benchmarks/results/nanogpt.json

    # the README's CPU command (4 layers, 4 heads, 128 channels, context 64, batch 12, no dropout)
    .venv/bin/python benchmarks/nanogpt.py --config cpu --time-budget 600 \\
        --out benchmarks/results/nanogpt_cpu.json

    # nanoGPT's own iteration-scheduled run (no time budget)
    .venv/bin/python benchmarks/nanogpt.py --max-iters 5000

    # any hyperparameter can be overridden
    .venv/bin/python benchmarks/nanogpt.py --n-layer 4 --batch-size 32 --eval-iters 50

The text is found at ``--data``, else ``$RNNKIT_DATA/tinyshakespeare/input.txt``, else
``../shared/data/tinyshakespeare/input.txt`` beside the repository.

Source and licence
------------------
A port of Andrej Karpathy's nanoGPT, https://github.com/karpathy/nanoGPT (``model.py``,
``train.py``, ``config/train_shakespeare_char.py``, ``data/shakespeare_char/prepare.py``),
MIT licence, Copyright (c) 2022 Andrej Karpathy; the licence text is at the end of this file.
It exists so that rnnkit's LSTM can be compared with nanoGPT's own training at equal wall-clock
on the same CPU.

What is the same as nanoGPT
---------------------------
- The model: token and position embeddings, pre-LayerNorm blocks of causal self-attention
  (``F.scaled_dot_product_attention``, ``is_causal=True``, attention dropout inside it) and a
  GELU MLP, a final LayerNorm, LayerNorm and Linear biases optional (off, as in ``train.py``),
  ``lm_head`` tied to ``wte``; N(0, 0.02) init with the residual projections (``c_proj``) at
  0.02 / sqrt(2 n_layer).
- The optimiser: AdamW, weight decay on every parameter of 2 or more dimensions and none on the
  others, betas (0.9, 0.99), gradient norm clipped at 1.0; warmup then cosine decay to ``min_lr``
  (``get_lr``, with its ``(it + 1) / (warmup_iters + 1)`` warmup).
- The data (``prepare.py``): the vocabulary is the sorted set of characters of the whole text,
  the first 90% is the training split and the last 10% the validation split; batches are
  ``batch_size`` blocks at random offsets (``get_batch``); ``estimate_loss`` averages the mean loss
  of ``eval_iters`` random batches of each split, train then validation, in eval mode.
- The loop: the first batch is fetched before the loop, the next one right after the forward
  pass; torch's global generator, seeded once with ``--seed`` (1337), drives the init, the
  batches and dropout, as there.
- The presets: ``shakespeare_char`` is ``config/train_shakespeare_char.py``; ``cpu`` adds the
  README's CPU command.

The one change: the learning-rate schedule at equal wall-clock
--------------------------------------------------------------
nanoGPT schedules the learning rate by iteration: warmup over ``warmup_iters``, then cosine to
``min_lr`` at ``lr_decay_iters``. Under ``--time-budget`` (the default, 600 s) the number of
iterations is not known in advance, so the same function is evaluated at the fractional
iteration ``max_iters * train_seconds / time_budget``: the warmup takes the same share of the run
(100 / 5000 = 2% of the budget for the baby GPT) and the cosine reaches ``min_lr`` when the
budget is spent (``lr_decay_iters == max_iters`` in both presets). ``train_seconds`` is the
training clock: the time of the training steps only (forward, next batch, backward, clipping,
optimiser step). Evaluation time is excluded from it, so the budget buys the same training in any
evaluation cadence. Training stops after the first step that brings the clock to the budget
(overshooting it by less than one step), and a final evaluation follows. ``--max-iters N`` (or
``--time-budget 0``) trains by iteration instead, with nanoGPT's schedule unchanged; as there,
``--max-iters`` does not move ``--lr-decay-iters`` (the README's CPU command passes both).

Evaluation
----------
Every ``--eval-interval`` iterations (or every ``--eval-every-seconds`` of training clock),
counting iteration 0, and once at the end, one record goes into the curve: ``iteration``,
``train_seconds``, ``wall_seconds`` (since the loop started, earlier evaluations included, read
when the evaluation starts), ``train_loss`` and ``val_loss`` (``estimate_loss``'s means), ``lr``
and ``eval_seconds``. The JSON (``--out``) is rewritten atomically after every evaluation, so an
interrupted run keeps its curve. nanoGPT evaluates every 250 iterations on a GPU; the defaults
here (3 iterations for the baby GPT, 500 for ``cpu``) aim at about a dozen points in 10 minutes on
2 CPU cores, from steps measured on one busy core: roughly 30-45 s per baby-GPT iteration
(64 x 256 characters) and 0.1 s per ``cpu`` iteration. So 10 minutes on this CPU train the baby
GPT for only a few dozen of nanoGPT's 5000 iterations (about 3 minutes on an A100), and the
``cpu`` preset for several thousand.

Mind the cost of ``estimate_loss`` on a CPU: a forward pass of the baby GPT takes about a third
of a training step, so nanoGPT's ``eval_iters = 200`` (400 batches per evaluation) costs as much
as some 130 training steps, more than a 10-minute budget trains. The evaluations do not eat into
the training clock, but they do into the wall clock: pass ``--eval-iters`` (or a larger
``--eval-interval``) to keep the run short; the ``cpu`` preset's 20 are cheap.

At the end, ``val_loss_full`` scores the whole validation split once, for comparison with
rnnkit's models: the split is cut into consecutive, non-overlapping blocks of ``block_size``
inputs (the last one shorter), and every character after the first is predicted exactly once.
Within a block the model sees only that block, so the target at position ``j`` has ``j + 1``
characters of context: the first target of each block has one, and the average is about
``block_size / 2``. It is therefore a little pessimistic next to a model that carries its state
across the whole split. All losses are cross-entropies in nats per character.

What is left out
----------------
None of it changes what is computed on a CPU: DDP and gradient accumulation (1 in the
preset), ``torch.compile`` (off in the README's CPU command), autocast and the GradScaler (fp32
on CPU in nanoGPT too), checkpointing, resuming and GPT-2 weights, ``generate`` and MFU, wandb, the
slow attention path for PyTorch < 2.0, and the extra training step nanoGPT takes after its last
evaluation (``iter_num > max_iters``): here the run stops at ``max_iters`` and evaluates there.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch
import torch.nn as nn
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "nanogpt.json"
DEFAULT_TIME_BUDGET = 600.0


# ----------------------------------------------------------------------------------------------
# The model (nanoGPT model.py)


@dataclass
class GPTConfig:
    """The shape of a GPT, as nanoGPT's ``GPTConfig``."""

    block_size: int = 1024
    vocab_size: int = 50304
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True  # bias in the Linears and LayerNorms, like GPT-2


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (``nn.LayerNorm`` cannot drop the bias alone)."""

    def __init__(self, ndim: int, bias: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention, all heads in one projection."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        if config.n_embd % config.n_head != 0:
            raise ValueError(f"n_embd {config.n_embd} must be a multiple of n_head {config.n_head}")
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.size()  # batch, time, channels (n_embd)
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)  # 3 x (B, T, C)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=None, dropout_p=self.dropout if self.training else 0, is_causal=True
        )  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # heads side by side: (B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """Linear to 4 n_embd, GELU, Linear back, dropout."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.gelu(self.c_fc(x))  # (B, T, 4C)
        return self.dropout(self.c_proj(x))  # (B, T, C)


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """nanoGPT's GPT: embeddings, ``n_layer`` blocks, final LayerNorm, tied output head."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                wpe=nn.Embedding(config.block_size, config.n_embd),
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
                ln_f=LayerNorm(config.n_embd, bias=config.bias),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying
        self.apply(self._init_weights)
        # GPT-2's scaled init of the projections that write into the residual stream
        for name, parameter in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(parameter, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def get_num_params(self, non_embedding: bool = True) -> int:
        """Parameters counted once (``wte`` is ``lm_head``); nanoGPT's report leaves out ``wpe``."""
        n_params = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n_params -= self.transformer.wpe.weight.numel()
        return n_params

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (B, T, vocab) and the mean cross-entropy when ``targets`` (B, T) are given;
        without targets, the logits of the last position only, (B, 1, vocab)."""
        b, t = idx.size()
        if t > self.config.block_size:
            raise ValueError(f"sequence of length {t} > block_size {self.config.block_size}")
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device)  # (t,)
        tok_emb = self.transformer.wte(idx)  # (b, t, n_embd)
        pos_emb = self.transformer.wpe(pos)  # (t, n_embd)
        x = self.transformer.drop(tok_emb + pos_emb)  # (b, t, n_embd)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        if targets is None:
            return self.lm_head(x[:, [-1], :]), None  # (b, 1, vocab)
        logits = self.lm_head(x)  # (b, t, vocab)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss

    def configure_optimizers(
        self, weight_decay: float, learning_rate: float, betas: tuple[float, float]
    ) -> torch.optim.AdamW:
        """AdamW with weight decay on the matrices and embeddings, none on biases and norms."""
        params = [p for p in self.parameters() if p.requires_grad]
        decay = [p for p in params if p.dim() >= 2]
        no_decay = [p for p in params if p.dim() < 2]
        groups = [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        # nanoGPT asks for the fused kernel on CUDA only; on a CPU it is the plain AdamW
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas)


# ----------------------------------------------------------------------------------------------
# The data (nanoGPT data/shakespeare_char/prepare.py and train.py's get_batch)


@dataclass
class CharData:
    """The two splits as character ids, and the vocabulary."""

    train: torch.Tensor  # (N_train,) int64
    val: torch.Tensor  # (N_val,) int64
    chars: list[str]


def prepare(path: Path) -> CharData:
    """Vocabulary from the whole text; first 90% training, last 10% validation."""
    text = path.read_text(encoding="utf-8")
    chars = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(chars)}
    ids = torch.tensor([stoi[ch] for ch in text], dtype=torch.long)  # (N,)
    split = int(len(text) * 0.9)
    return CharData(train=ids[:split], val=ids[split:], chars=chars)


def get_batch(data: torch.Tensor, block_size: int, batch_size: int) -> tuple[torch.Tensor, ...]:
    """``batch_size`` blocks at random offsets, and the same blocks shifted by one character."""
    ix = torch.randint(len(data) - block_size, (batch_size,))
    x = torch.stack([data[i : i + block_size] for i in ix.tolist()])  # (B, T)
    y = torch.stack([data[i + 1 : i + 1 + block_size] for i in ix.tolist()])  # (B, T)
    return x, y


# ----------------------------------------------------------------------------------------------
# Training configuration and presets (nanoGPT train.py defaults + config/train_shakespeare_char.py)


@dataclass
class TrainConfig:
    """Every hyperparameter of a run; each is a command-line override ``--field-name``."""

    block_size: int
    batch_size: int
    n_layer: int
    n_head: int
    n_embd: int
    dropout: float
    bias: bool
    learning_rate: float
    max_iters: int
    lr_decay_iters: int
    min_lr: float
    warmup_iters: int
    decay_lr: bool
    beta1: float
    beta2: float
    weight_decay: float
    grad_clip: float
    eval_iters: int
    eval_interval: int


PRESETS = {
    # config/train_shakespeare_char.py over train.py's defaults (bias False, beta1 0.9,
    # weight_decay 0.1, grad_clip 1.0, decay_lr True); nanoGPT's eval_interval is 250 on a GPU,
    # here 3 iterations (about 15-20 s each on 2 CPU cores) give about 12 points in 10 minutes.
    "shakespeare_char": TrainConfig(
        block_size=256,
        batch_size=64,
        n_layer=6,
        n_head=6,
        n_embd=384,
        dropout=0.2,
        bias=False,
        learning_rate=1e-3,
        max_iters=5000,
        lr_decay_iters=5000,
        min_lr=1e-4,
        warmup_iters=100,
        decay_lr=True,
        beta1=0.9,
        beta2=0.99,
        weight_decay=0.1,
        grad_clip=1.0,
        eval_iters=200,
        eval_interval=3,
    ),
}
# the README's CPU command: --eval_iters=20 --block_size=64 --batch_size=12 --n_layer=4
# --n_head=4 --n_embd=128 --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0
PRESETS["cpu"] = replace(
    PRESETS["shakespeare_char"],
    block_size=64,
    batch_size=12,
    n_layer=4,
    n_head=4,
    n_embd=128,
    max_iters=2000,
    lr_decay_iters=2000,
    dropout=0.0,
    eval_iters=20,
    eval_interval=500,  # about 0.05-0.1 s per iteration on 2 CPU cores
)


def check(config: TrainConfig, data: CharData) -> None:
    """Raise ValueError naming the first hyperparameter that cannot train."""
    for name in ("block_size", "batch_size", "n_layer", "n_head", "n_embd", "max_iters"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be at least 1, got {getattr(config, name)}")
    for name in ("eval_iters", "eval_interval", "lr_decay_iters"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be at least 1, got {getattr(config, name)}")
    if config.n_embd % config.n_head:
        raise ValueError(f"n_embd {config.n_embd} must be a multiple of n_head {config.n_head}")
    if not 0.0 <= config.dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {config.dropout}")
    if config.warmup_iters < 0:
        raise ValueError(f"warmup_iters must be 0 or more, got {config.warmup_iters}")
    if config.block_size >= len(data.val):
        raise ValueError(
            f"block_size {config.block_size} must be below the validation split's "
            f"{len(data.val)} characters"
        )


# ----------------------------------------------------------------------------------------------
# Learning rate, evaluation, the training loop


def get_lr(it: float, config: TrainConfig) -> float:
    """nanoGPT's schedule at (possibly fractional) iteration ``it``: linear warmup, cosine decay
    to ``min_lr`` at ``lr_decay_iters``, then ``min_lr``."""
    if it < config.warmup_iters:
        return config.learning_rate * (it + 1) / (config.warmup_iters + 1)
    if it >= config.lr_decay_iters:  # nanoGPT: >, the same value without a 0 / 0 at the edge
        return config.min_lr
    decay_ratio = (it - config.warmup_iters) / (config.lr_decay_iters - config.warmup_iters)
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))  # 1 -> 0
    return config.min_lr + coeff * (config.learning_rate - config.min_lr)


def schedule_position(iteration: int, train_seconds: float, run: RunSettings) -> float:
    """The iteration at which to read the schedule: the real one, or under a time budget the
    same share of ``max_iters`` as the share of the budget spent."""
    if run.time_budget is None:
        return float(iteration)
    return run.config.max_iters * min(train_seconds / run.time_budget, 1.0)


def current_lr(iteration: int, train_seconds: float, run: RunSettings) -> float:
    """The learning rate of the next step."""
    if not run.config.decay_lr:
        return run.config.learning_rate
    return get_lr(schedule_position(iteration, train_seconds, run), run.config)


@torch.no_grad()
def estimate_loss(model: GPT, data: CharData, config: TrainConfig) -> dict[str, float]:
    """Mean loss over ``eval_iters`` random batches of each split (train, then val)."""
    out = {}
    model.eval()
    for split, tokens in (("train", data.train), ("val", data.val)):
        losses = torch.zeros(config.eval_iters)
        for k in range(config.eval_iters):
            x, y = get_batch(tokens, config.block_size, config.batch_size)
            _, loss = model(x, y)
            losses[k] = loss.item()
        out[split] = losses.mean().item()
    model.train()
    return out


@torch.no_grad()
def full_val_loss(
    model: GPT, val: torch.Tensor, block_size: int, batch_size: int
) -> tuple[float, int]:
    """(mean loss, characters scored) over the whole split in consecutive blocks of
    ``block_size``: each character after the first is predicted once, with the context of its
    own block only."""
    inputs, targets = val[:-1], val[1:]  # (N - 1,) each
    n_blocks = len(targets) // block_size
    whole = n_blocks * block_size
    x_all = inputs[:whole].view(n_blocks, block_size)  # (n_blocks, T)
    y_all = targets[:whole].view(n_blocks, block_size)  # (n_blocks, T)
    pieces = [
        (x_all[i : i + batch_size], y_all[i : i + batch_size])
        for i in range(0, n_blocks, batch_size)
    ]
    if whole < len(targets):
        pieces.append((inputs[whole:][None], targets[whole:][None]))  # (1, T_last)
    model.eval()
    total = 0.0
    for x, y in pieces:
        logits, _ = model(x, y)  # (b, t, vocab)
        total += F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").item()
    model.train()
    return total / len(targets), len(targets)


@dataclass
class RunSettings:
    """What a run needs besides the hyperparameters."""

    config: TrainConfig
    time_budget: float | None  # seconds of training clock; None: stop at max_iters
    eval_every_seconds: float | None  # None: every eval_interval iterations
    out: Path
    report: dict  # written to ``out`` after every evaluation


def write_json(path: Path, report: dict) -> None:
    """Write ``report`` to ``path`` through a temporary file, so a reader never sees half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(temporary, path)


def evaluate(
    model: GPT, data: CharData, run: RunSettings, iteration: int, train_seconds: float, wall: float
) -> dict:
    """Run ``estimate_loss``, add the point to the curve, rewrite the JSON and print one line."""
    started = time.perf_counter()
    losses = estimate_loss(model, data, run.config)
    point = {
        "iteration": iteration,
        "train_seconds": round(train_seconds, 3),
        "wall_seconds": round(wall, 3),
        "train_loss": losses["train"],
        "val_loss": losses["val"],
        "lr": current_lr(iteration, train_seconds, run),
        "eval_seconds": round(time.perf_counter() - started, 3),
    }
    run.report["curve"].append(point)
    write_json(run.out, run.report)
    print(
        f"iter {iteration:6d} | train {train_seconds:8.1f} s | wall {wall:8.1f} s | "
        f"train loss {losses['train']:.4f} | val loss {losses['val']:.4f} | "
        f"lr {point['lr']:.2e} | eval {point['eval_seconds']:.1f} s",
        flush=True,
    )
    return point


def is_eval_due(iteration: int, train_seconds: float, next_eval_s: float, run: RunSettings) -> bool:
    if run.eval_every_seconds is None:
        return iteration % run.config.eval_interval == 0
    return iteration == 0 or train_seconds >= next_eval_s


def is_finished(iteration: int, train_seconds: float, run: RunSettings) -> bool:
    if run.time_budget is None:
        return iteration >= run.config.max_iters
    return train_seconds >= run.time_budget


def train(model: GPT, optimizer: torch.optim.Optimizer, data: CharData, run: RunSettings) -> dict:
    """nanoGPT's training loop on the training clock; returns the final evaluation point."""
    config = run.config
    x, y = get_batch(data.train, config.block_size, config.batch_size)  # the very first batch
    iteration, train_seconds, next_eval_s = 0, 0.0, 0.0
    loop_start = time.perf_counter()
    while True:
        if is_eval_due(iteration, train_seconds, next_eval_s, run):
            evaluate(model, data, run, iteration, train_seconds, time.perf_counter() - loop_start)
            while run.eval_every_seconds is not None and next_eval_s <= train_seconds:
                next_eval_s += run.eval_every_seconds

        step_start = time.perf_counter()
        lr = current_lr(iteration, train_seconds, run)
        for group in optimizer.param_groups:
            group["lr"] = lr
        _, loss = model(x, y)
        x, y = get_batch(data.train, config.block_size, config.batch_size)  # next batch
        loss.backward()
        if config.grad_clip != 0.0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        train_seconds += time.perf_counter() - step_start
        iteration += 1

        if is_finished(iteration, train_seconds, run):
            break
    return evaluate(model, data, run, iteration, train_seconds, time.perf_counter() - loop_start)


# ----------------------------------------------------------------------------------------------
# Command line


def default_data() -> Path:
    """``$RNNKIT_DATA/tinyshakespeare/input.txt``, else the shared data folder beside the repo."""
    home = os.environ.get("RNNKIT_DATA", "")
    root = Path(home).expanduser() if home else ROOT.parent / "shared" / "data"
    return root / "tinyshakespeare" / "input.txt"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", choices=sorted(PRESETS), default="shakespeare_char")
    parser.add_argument(
        "--time-budget",
        type=float,
        default=None,
        help=f"seconds of training clock (default {DEFAULT_TIME_BUDGET:g}; 0: iteration mode)",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (2)")
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument(
        "--eval-every-seconds",
        type=float,
        default=None,
        help="evaluate every this many seconds of training clock instead of --eval-interval",
    )
    parser.add_argument("--data", type=Path, default=None, help="the tiny Shakespeare text")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    overrides = parser.add_argument_group("hyperparameters (default: the --config preset)")
    for field in fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        if field.type == "bool":
            overrides.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        else:
            kind = {"int": int, "float": float}[field.type]
            overrides.add_argument(flag, type=kind, default=None)
    return parser


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    """The preset with every hyperparameter given on the command line replaced."""
    given = {
        field.name: getattr(args, field.name)
        for field in fields(TrainConfig)
        if getattr(args, field.name) is not None
    }
    return replace(PRESETS[args.config], **given)


def resolve_budget(args: argparse.Namespace) -> float | None:
    """Seconds of training clock, or None for iteration mode (``--max-iters`` or budget 0)."""
    if args.time_budget is not None and args.time_budget < 0:
        raise ValueError(f"--time-budget must be 0 or more seconds, got {args.time_budget}")
    if args.max_iters is not None:
        if args.time_budget:
            raise ValueError(
                "give --max-iters (iteration mode) or --time-budget (wall-clock mode), not both"
            )
        return None
    if args.time_budget is None:
        return DEFAULT_TIME_BUDGET
    return args.time_budget or None


def new_report(
    args: argparse.Namespace,
    config: TrainConfig,
    budget: float | None,
    model: GPT,
    data: CharData,
    data_path: Path,
) -> dict:
    """The JSON written after every evaluation; ``curve`` and ``final`` are filled in later."""
    return {
        "benchmark": "nanogpt",
        "source": "https://github.com/karpathy/nanoGPT (MIT licence, (c) 2022 Andrej Karpathy)",
        "command": shlex.join([sys.executable, *sys.argv]),
        "status": "running",
        "preset": args.config,
        "config": asdict(config),
        "mode": "iterations" if budget is None else "time",
        "time_budget_s": budget,
        "eval_every_seconds": args.eval_every_seconds,
        "seed": args.seed,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "data": {
            "path": str(data_path),
            "vocab_size": len(data.chars),
            "train_chars": len(data.train),
            "val_chars": len(data.val),
        },
        "parameters": model.get_num_params(),  # nanoGPT's count: without wpe
        "parameters_total": model.get_num_params(non_embedding=False),
        "loss_unit": "nats per character",
        "curve": [],
        "final": None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    if args.eval_every_seconds is not None and args.eval_every_seconds <= 0:
        parser.error(f"--eval-every-seconds must be positive, got {args.eval_every_seconds}")
    data_path = args.data or default_data()
    if not data_path.is_file():
        parser.error(f"no text at {data_path}: pass --data or set $RNNKIT_DATA")
    data = prepare(data_path)
    try:
        config = resolve_config(args)
        budget = resolve_budget(args)
        check(config, data)
    except ValueError as error:
        parser.error(str(error))

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model_config = GPTConfig(
        block_size=config.block_size,
        vocab_size=len(data.chars),
        n_layer=config.n_layer,
        n_head=config.n_head,
        n_embd=config.n_embd,
        dropout=config.dropout,
        bias=config.bias,
    )
    model = GPT(model_config)
    optimizer = model.configure_optimizers(
        config.weight_decay, config.learning_rate, (config.beta1, config.beta2)
    )
    report = new_report(args, config, budget, model, data, data_path)
    run = RunSettings(config, budget, args.eval_every_seconds, args.out, report)
    mode = f"{budget:g} s of training" if budget else f"{config.max_iters} iterations"
    print(
        f"nanoGPT {args.config}: {report['parameters'] / 1e6:.2f}M parameters, "
        f"vocab {len(data.chars)}, {mode}, {torch.get_num_threads()} threads",
        flush=True,
    )

    last = train(model, optimizer, data, run)
    loss_full, scored = full_val_loss(model, data.val, config.block_size, config.batch_size)
    report["final"] = {
        **last,
        "iterations": last["iteration"],
        "seconds_per_iteration": last["train_seconds"] / max(last["iteration"], 1),
        "eval_seconds_total": round(sum(p["eval_seconds"] for p in report["curve"]), 3),
        "val_loss_full": loss_full,
        "val_full_chars_scored": scored,
    }
    report["status"] = "finished"
    write_json(args.out, report)
    print(f"val_loss_full {loss_full:.4f} over {scored} characters; wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())


# ----------------------------------------------------------------------------------------------
# nanoGPT's licence, which covers the parts of this file ported from it:
#
# MIT License
#
# Copyright (c) 2022 Andrej Karpathy
#
# Permission is hereby granted, free of charge, to any person obtaining a copy
# of this software and associated documentation files (the "Software"), to deal
# in the Software without restriction, including without limitation the rights
# to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
# copies of the Software, and to permit persons to whom the Software is
# furnished to do so, subject to the following conditions:
#
# The above copyright notice and this permission notice shall be included in all
# copies or substantial portions of the Software.
#
# THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
# IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
# FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
# AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
# LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
# OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
# SOFTWARE.
