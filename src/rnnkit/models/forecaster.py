"""Forecaster: a recurrent encoder over the lookback window, then a multi-horizon output.

``forward(x (B, L, Cin)) -> (B, H, Cout)``: the next H values of the target columns.

- Encoder: rnnkit's RNN, LSTM or GRU (layers, hidden size, dropout, optionally bidirectional).
  Its summary ``s`` (B, D*Hd) is the last layer's final state of each direction, concatenated.
- ``decoder="direct"`` (default): one linear map ``y = W [s; c] + b`` gives all H steps at once.
  With attention, ``c`` is the attention context of ``s`` over the encoder outputs.
- ``decoder="autoregressive"``: a recurrent decoder of the same cell, started from the encoder's
  final state, is fed its own previous prediction (the last observed value at the first step) and
  predicts one step at a time. With attention, each decoder state ``h_t`` attends over the encoder
  outputs and the prediction is made from ``tanh(W_c [c_t; h_t])`` (Luong et al., 2015).
- ``window_norm``: ``last`` subtracts each window's last observed value from every input column and
  adds the target's back to the outputs (NLinear, Zeng et al., 2023), so the network forecasts the
  change from now and a level shift between training and test data costs nothing; ``mean`` does
  the same with the window's mean (RevIN without its scale, Kim et al., 2022); ``none`` leaves the
  window as it is.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn

from rnnkit import attention as attention_lib
from rnnkit.errors import InputError
from rnnkit.layers import GRU, LSTM, RNN

CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
DECODERS = ("direct", "autoregressive")
WINDOW_NORMS = ("none", "last", "mean")


@dataclass
class ForecasterConfig:
    """The model's shape; stored in the run's config.json.

    ``input_size``, ``output_size`` and ``horizon`` come from the data; ``target_inputs[j]`` is the
    input column holding output j (used by ``window_norm`` and the autoregressive decoder's first
    input).
    """

    input_size: int
    output_size: int
    horizon: int
    target_inputs: list[int] = field(default_factory=lambda: [0])
    cell: str = "lstm"
    hidden_size: int = 64
    num_layers: int = 1
    dropout: float = 0.0
    bidirectional: bool = False
    decoder: str = "direct"
    attention: str = "none"
    window_norm: str = "last"
    nonlinearity: str = "tanh"
    backend: str = "auto"

    def check(self) -> None:
        if self.cell not in CELLS:
            raise InputError(f"--cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if self.decoder not in DECODERS:
            raise InputError(
                f"--decoder must be one of {', '.join(DECODERS)}, got {self.decoder!r}"
            )
        if self.window_norm not in WINDOW_NORMS:
            raise InputError(
                f"--window-norm must be one of {', '.join(WINDOW_NORMS)}, got {self.window_norm!r}"
            )
        if self.attention != "none" and self.attention not in attention_lib.KINDS:
            kinds = ", ".join(["none", *attention_lib.KINDS])
            raise InputError(f"--attention must be one of {kinds}, got {self.attention!r}")
        if (
            self.attention in ("dot", "scaled-dot")
            and self.decoder == "autoregressive"
            and self.bidirectional
        ):
            raise InputError(
                f"--attention {self.attention} compares decoder states ({self.hidden_size}) with "
                f"bidirectional encoder states ({2 * self.hidden_size}); use general or additive"
            )
        for name in ("input_size", "output_size", "horizon", "hidden_size", "num_layers"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"--dropout must be in [0, 1), got {self.dropout}")
        if len(self.target_inputs) != self.output_size:
            raise InputError("target_inputs must name one input column per output")


class Forecaster(nn.Module):
    """Recurrent encoder plus a direct or autoregressive multi-horizon output (module docstring)."""

    def __init__(self, config: ForecasterConfig) -> None:
        super().__init__()
        config.check()
        self.config = config
        hidden, directions = config.hidden_size, 2 if config.bidirectional else 1
        extra = {"nonlinearity": config.nonlinearity} if config.cell == "rnn" else {}
        self.encoder = CELLS[config.cell](
            config.input_size,
            hidden,
            num_layers=config.num_layers,
            dropout=config.dropout,
            bidirectional=config.bidirectional,
            batch_first=True,
            backend=config.backend,
            **extra,
        )
        summary = directions * hidden  # D*Hd
        self.dropout = nn.Dropout(config.dropout)
        self.register_buffer(
            "target_index", torch.tensor(config.target_inputs, dtype=torch.long), persistent=False
        )
        if config.decoder == "direct":
            if config.attention != "none":
                self.attention = attention_lib.build(config.attention, summary, summary)
                summary *= 2  # [s; c]
            else:
                self.attention = None
            self.head = nn.Linear(summary, config.horizon * config.output_size)
        else:
            self.decoder = CELLS[config.cell](
                config.output_size,
                hidden,
                num_layers=config.num_layers,
                dropout=config.dropout,
                batch_first=True,
                backend=config.backend,
                **extra,
            )
            # a bidirectional encoder's two final states per layer become one decoder state
            self.bridge = nn.Linear(summary, hidden) if directions == 2 else None
            if config.attention != "none":
                self.attention = attention_lib.build(config.attention, hidden, summary)
                self.combine = nn.Linear(hidden + summary, hidden)  # W_c
            else:
                self.attention = None
            self.head = nn.Linear(hidden, config.output_size)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, L, Cin) in the scaled units -> forecasts (B, H, Cout) in the same units."""
        shift = self._shift(x)  # (B, 1, Cin)
        outputs, state = self.encoder(x - shift)  # (B, L, D*Hd), (layers*D, B, Hd) [x2 for LSTM]
        target_shift = shift[:, :, self.target_index]  # (B, 1, Cout)
        if self.config.decoder == "direct":
            y = self._direct(outputs, state)
        else:
            last = x[:, -1:, self.target_index] - target_shift  # (B, 1, Cout)
            y = self._autoregressive(outputs, state, last)
        return y + target_shift  # (B, H, Cout)

    def _shift(self, x: Tensor) -> Tensor:
        if self.config.window_norm == "last":
            return x[:, -1:, :].detach()  # (B, 1, Cin)
        if self.config.window_norm == "mean":
            return x.mean(dim=1, keepdim=True).detach()  # (B, 1, Cin)
        return torch.zeros_like(x[:, :1, :])

    def _final_states(self, state) -> Tensor | tuple[Tensor, Tensor]:
        """(layers*D, B, Hd) -> (layers, B, D*Hd): each layer's directions side by side."""

        def merge(h: Tensor) -> Tensor:
            layers, directions = self.config.num_layers, 2 if self.config.bidirectional else 1
            h = h.view(layers, directions, h.shape[1], h.shape[2])  # (layers, D, B, Hd)
            return torch.cat(list(h.unbind(1)), dim=-1)  # (layers, B, D*Hd)

        return tuple(merge(s) for s in state) if isinstance(state, tuple) else merge(state)

    def _direct(self, outputs: Tensor, state) -> Tensor:
        final = self._final_states(state)
        summary = (final[0] if isinstance(final, tuple) else final)[-1]  # (B, D*Hd): h of top layer
        if self.attention is not None:
            context, _ = self.attention(summary.unsqueeze(1), outputs)  # (B, 1, D*Hd)
            summary = torch.cat([summary, context.squeeze(1)], dim=-1)  # (B, 2*D*Hd)
        y = self.head(self.dropout(summary))  # (B, H*Cout)
        return y.view(-1, self.config.horizon, self.config.output_size)  # (B, H, Cout)

    def _autoregressive(self, outputs: Tensor, state, last: Tensor) -> Tensor:
        final = self._final_states(state)  # (layers, B, D*Hd) [x2 for LSTM]
        if self.bridge is not None:
            final = (
                tuple(torch.tanh(self.bridge(s)) for s in final)
                if isinstance(final, tuple)
                else torch.tanh(self.bridge(final))
            )  # (layers, B, Hd)
        state, previous, steps = final, last, []
        for _ in range(self.config.horizon):
            h, state = self.decoder(previous, state)  # (B, 1, Hd)
            if self.attention is not None:
                context, _ = self.attention(h, outputs)  # (B, 1, D*Hd)
                h = torch.tanh(self.combine(torch.cat([context, h], dim=-1)))  # (B, 1, Hd)
            previous = self.head(self.dropout(h))  # (B, 1, Cout)
            steps.append(previous)
        return torch.cat(steps, dim=1)  # (B, H, Cout)

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def config_dict(self) -> dict:
        return asdict(self.config)
