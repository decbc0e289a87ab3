"""Forecaster: a recurrent encoder over the lookback window, then a multi-horizon output.

``forward(x (B, L, Cin)) -> (B, H, Cout)``: the next H values of the target columns.

- Encoder: rnnkit's RNN, LSTM or GRU (layers, hidden size, dropout, optionally bidirectional).
  Its summary ``s`` (B, D*Hd) is the last layer's final state of each direction, concatenated.
- ``decoder="direct"`` (default): one linear map ``y = W [s; c] + b`` gives all H steps at once.
  With attention, ``c`` is the attention context of ``s`` over the encoder outputs.
- ``decoder="autoregressive"``: a recurrent decoder of the same cell, started from the encoder's
  final state, is fed its own previous prediction (the last observed value at the first step) and
  predicts one step at a time (outside training, with preallocated buffers:
  :class:`rnnkit.stepper.LayerStepper`). With attention, each decoder state ``h_t`` attends over
  the encoder outputs and the prediction is made from ``tanh(W_c [c_t; h_t])`` (Luong et al.,
  2015).
- ``segment = S > 0`` (SegRNN, Lin et al., 2023): the window is cut into N = L/S segments and the
  recurrence runs over segments instead of steps, so it takes N steps instead of L::

      e_n   = ReLU(W_e [x_{(n-1)S+1}; ...; x_{nS}] + b_e)      (B, N, Hd): one segment, all columns
      h_N   = RNN(e_1..e_N)                                     the encoder's final state
      z_m   = RNN_step(p_m, h_N)      m = 1..M = ceil(H/S)     the same cell, once per output
                                                                segment, p_m learned (parallel)
      y     = W_o dropout(z_m) + b_o  -> (B, M*S, Cout)[:, :H]  S steps of every target per z_m

  The M output segments are predicted in parallel from the same state (SegRNN's PMF decoding),
  not fed back: no error accumulates over the horizon.
- ``window_norm``: ``last`` subtracts each window's last observed value from every input column and
  adds the target's back to the outputs (NLinear, Zeng et al., 2023), so the network forecasts the
  change from now and a level shift between training and test data costs nothing; ``mean`` does
  the same with the window's mean; ``revin`` also divides by the window's standard deviation and
  multiplies the outputs back (RevIN without its learned affine map, Kim et al., 2022):
  ``x' = (x - mu) / (sigma + eps)``, ``y = y' (sigma + eps) + mu`` per column; ``none`` leaves the
  window as it is.
- Regularisation (:mod:`rnnkit.regularise`): ``variational_dropout``, ``weight_dropout`` and
  ``zoneout`` act on the encoder. The autoregressive decoder runs one step per call, so a mask
  "per sequence" would be a mask per step there: it gets the cell (``lnlstm`` too) and
  ``dropout``, not these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rnnkit import attention as attention_lib
from rnnkit.config import option, validate
from rnnkit.errors import InputError
from rnnkit.models.choices import (
    ATTENTIONS,
    backend_option,
    cell_option,
    check_regularisation,
    nonlinearity_option,
    recurrent_layer,
    regularisation,
    variational_dropout_option,
    weight_dropout_option,
    zoneout_cell_option,
    zoneout_option,
)
from rnnkit.stepper import LayerStepper, unsupported

DECODERS = ("direct", "autoregressive")
WINDOW_NORMS = ("none", "last", "mean", "revin")
REVIN_EPS = 1e-5


@dataclass
class ForecasterConfig:
    """The model's shape (``rnnkit train forecast`` options); stored in the run's config.json.
    The sizes that come from the data (columns in and out, horizon) are passed to
    :class:`Forecaster` itself."""

    cell: str = cell_option("lstm")
    hidden_size: int = option(64, "hidden units per layer", flag="hidden", min=1)
    num_layers: int = option(1, "stacked recurrent layers", flag="layers", min=1)
    dropout: float = option(
        0.0, "dropout between recurrent layers and before the output layer", min=0, below=1
    )
    bidirectional: bool = option(
        False, "bidirectional encoder (it reads the past window both ways)"
    )
    decoder: str = option(
        "direct",
        "direct (one linear map to all H steps) or autoregressive (a recurrent decoder fed its "
        "own predictions)",
        choices=DECODERS,
    )
    attention: str = option(
        "none",
        "attention over the encoder's states: none, dot, general, additive, scaled-dot",
        choices=ATTENTIONS,
    )
    window_norm: str = option(
        "last",
        "last: forecast the change from each window's last value; mean: from its mean; revin: "
        "from its mean, in units of its standard deviation; none: the raw window",
        choices=WINDOW_NORMS,
    )
    segment: int = option(
        0,
        "segment length S: read the window and predict the horizon S steps at a time, each "
        "segment one recurrent step (SegRNN); 0: one recurrent step per time step",
        min=0,
    )
    variational_dropout: bool = variational_dropout_option("between encoder layers")
    weight_dropout: float = weight_dropout_option()
    zoneout: float = zoneout_option()
    zoneout_cell: float | None = zoneout_cell_option()
    nonlinearity: str = nonlinearity_option()
    backend: str = backend_option()

    def check(self) -> None:
        if self.segment and (
            self.decoder != "direct" or self.attention != "none" or self.bidirectional
        ):
            raise InputError(
                f"--segment {self.segment} predicts the horizon segment by segment from the "
                "encoder's final state: it needs --decoder direct, --attention none and no "
                "--bidirectional"
            )
        check_regularisation(self)
        if (
            self.attention in ("dot", "scaled-dot")
            and self.decoder == "autoregressive"
            and self.bidirectional
        ):
            raise InputError(
                f"--attention {self.attention} compares decoder states ({self.hidden_size}) with "
                f"bidirectional encoder states ({2 * self.hidden_size}); use general or additive"
            )


class Forecaster(nn.Module):
    """Recurrent encoder plus a direct or autoregressive multi-horizon output (module docstring)."""

    def __init__(
        self,
        config: ForecasterConfig,
        input_size: int,
        output_size: int,
        horizon: int,
        target_inputs: list[int] | None = None,
    ) -> None:
        """``target_inputs[j]`` is the input column holding output j (default: 0, 1, ...), used by
        ``window_norm`` and the autoregressive decoder's first input."""
        super().__init__()
        validate(config)
        target_inputs = list(range(output_size)) if target_inputs is None else list(target_inputs)
        if min(input_size, output_size, horizon) <= 0 or len(target_inputs) != output_size:
            raise ValueError(
                f"input_size, output_size and horizon must be positive and target_inputs name one "
                f"input column per output; got {input_size}, {output_size}, {horizon}, "
                f"{target_inputs}"
            )
        self.config = config
        self.input_size, self.output_size, self.horizon = input_size, output_size, horizon
        self.target_inputs = target_inputs
        hidden, directions = config.hidden_size, 2 if config.bidirectional else 1
        S = config.segment
        self.encoder = recurrent_layer(
            config.cell,
            hidden if S else input_size,
            hidden,
            config.nonlinearity,
            num_layers=config.num_layers,
            dropout=config.dropout,
            bidirectional=config.bidirectional,
            batch_first=True,
            backend=config.backend,
            **regularisation(config),
        )
        summary = directions * hidden  # D*Hd
        self.dropout = nn.Dropout(config.dropout)
        self.register_buffer(
            "target_index", torch.tensor(target_inputs, dtype=torch.long), persistent=False
        )
        if S:
            self.segment_embedding = nn.Linear(S * input_size, hidden)  # W_e
            self.positions = nn.Parameter(torch.randn(math.ceil(horizon / S), hidden))  # p_m
            self.attention = None
            self.head = nn.Linear(hidden, S * output_size)  # W_o
        elif config.decoder == "direct":
            if config.attention != "none":
                self.attention = attention_lib.build(config.attention, summary, summary)
                summary *= 2  # [s; c]
            else:
                self.attention = None
            self.head = nn.Linear(summary, horizon * output_size)
        else:
            self.decoder = recurrent_layer(
                config.cell,
                output_size,
                hidden,
                config.nonlinearity,
                num_layers=config.num_layers,
                dropout=config.dropout,
                batch_first=True,
                backend=config.backend,
            )
            # a bidirectional encoder's two final states per layer become one decoder state
            self.bridge = nn.Linear(summary, hidden) if directions == 2 else None
            if config.attention != "none":
                self.attention = attention_lib.build(config.attention, hidden, summary)
                self.combine = nn.Linear(hidden + summary, hidden)  # W_c
            else:
                self.attention = None
            self.head = nn.Linear(hidden, output_size)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, L, Cin) in the scaled units -> forecasts (B, H, Cout) in the same units."""
        shift, scale = self._normaliser(x)  # (B, 1, Cin) each
        x = (x - shift) / scale
        target_shift = shift[:, :, self.target_index]  # (B, 1, Cout)
        target_scale = scale[:, :, self.target_index]  # (B, 1, Cout)
        if self.config.segment:
            return self._segments(x) * target_scale + target_shift  # (B, H, Cout)
        outputs, state = self.encoder(x)  # (B, L, D*Hd), (layers*D, B, Hd) [x2 for LSTM]
        if self.config.decoder == "direct":
            y = self._direct(outputs, state)
        else:
            y = self._autoregressive(outputs, state, x[:, -1:, self.target_index])
        return y * target_scale + target_shift  # (B, H, Cout)

    def _normaliser(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Each window's (shift, scale) per column, (B, 1, Cin) each: ``window_norm``."""
        norm = self.config.window_norm
        scale = torch.ones_like(x[:, :1, :])
        if norm == "last":
            return x[:, -1:, :].detach(), scale
        if norm in ("mean", "revin"):
            mean = x.mean(dim=1, keepdim=True).detach()
            if norm == "revin":
                scale = x.std(dim=1, keepdim=True, unbiased=False).detach() + REVIN_EPS
            return mean, scale
        return torch.zeros_like(scale), scale

    def _segments(self, x: Tensor) -> Tensor:
        """SegRNN (module docstring): normalised x (B, L, Cin) -> (B, H, Cout)."""
        B, L, C = x.shape
        S = self.config.segment
        if L % S:
            raise ValueError(f"the window's {L} steps are not a whole number of {S}-step segments")
        segments = x.reshape(B, L // S, S * C)  # (B, N, S*Cin): consecutive steps side by side
        embedded = torch.relu(self.segment_embedding(segments))  # e_n (B, N, Hd)
        _, state = self.encoder(embedded)  # h_N (layers, B, Hd) [x2 for LSTM]
        M = self.positions.shape[0]
        state = (
            tuple(s.repeat_interleave(M, dim=1) for s in state)
            if isinstance(state, tuple)
            else state.repeat_interleave(M, dim=1)
        )  # (layers, B*M, Hd): row b*M + m decodes segment m of window b
        queries = self.positions.expand(B, M, -1).reshape(B * M, 1, -1)  # p_m (B*M, 1, Hd)
        z, _ = self.encoder(queries, state)  # (B*M, 1, Hd)
        y = self.head(self.dropout(z))  # (B*M, 1, S*Cout)
        y = y.view(B, M * S, self.output_size)  # (B, M*S, Cout): segment m's S steps in order
        return y[:, : self.horizon]

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
        return y.view(-1, self.horizon, self.output_size)  # (B, H, Cout)

    def _autoregressive(self, outputs: Tensor, state, last: Tensor) -> Tensor:
        final = self._final_states(state)  # (layers, B, D*Hd) [x2 for LSTM]
        if self.bridge is not None:
            final = (
                tuple(torch.tanh(self.bridge(s)) for s in final)
                if isinstance(final, tuple)
                else torch.tanh(self.bridge(final))
            )  # (layers, B, Hd)
        state, previous, steps = final, last, []
        stepper = None
        if (
            not torch.is_grad_enabled()
            and not torch.jit.is_tracing()
            and unsupported(self.decoder) is None
        ):
            # forecasting, not training or exporting: step with preallocated buffers
            stepper = LayerStepper(self.decoder, last.shape[0])
            stepper.set_state(state)
        for _ in range(self.horizon):
            if stepper is None:
                h, state = self.decoder(previous, state)  # (B, 1, Hd)
            else:
                h = stepper.step(previous[:, 0]).unsqueeze(1)  # (B, 1, Hd)
            if self.attention is not None:
                context, _ = self.attention(h, outputs)  # (B, 1, D*Hd)
                h = torch.tanh(self.combine(torch.cat([context, h], dim=-1)))  # (B, 1, Hd)
            previous = self.head(self.dropout(h))  # (B, 1, Cout)
            steps.append(previous)
        return torch.cat(steps, dim=1)  # (B, H, Cout)

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def sizes(self) -> dict:
        """The sizes that come from the data (stored in config.json beside the options)."""
        return {
            "input_size": self.input_size,
            "output_size": self.output_size,
            "horizon": self.horizon,
            "target_inputs": self.target_inputs,
        }
