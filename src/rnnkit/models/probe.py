"""ProbeModel: a recurrent layer and a linear read-out, the smallest model that can carry
information over T steps (the long-range probes of :mod:`rnnkit.tasks.probe`).

``forward(x (B, T, I))`` runs rnnkit's RNN, LSTM or GRU over the sequence, h_1..h_T (B, T, H)
from the last layer, then

- ``per_step=False`` (adding): one output from the final state, ``y = W h_T + b`` -> (B, O);
- ``per_step=True`` (copy): one output per step, ``y_t = W h_t + b`` -> (B, T, O).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from rnnkit.config import option, validate
from rnnkit.errors import InputError
from rnnkit.init import chrono_init_
from rnnkit.models.choices import backend_option, cell_option, nonlinearity_option, recurrent_layer


@dataclass
class ProbeModelConfig:
    """The model's shape (``rnnkit train probe`` options); stored in the run's config.json."""

    cell: str = cell_option("lstm")
    hidden_size: int = option(128, "hidden units per layer", flag="hidden", min=1)
    num_layers: int = option(1, "stacked recurrent layers", flag="layers", min=1)
    nonlinearity: str = nonlinearity_option()
    backend: str = backend_option()
    chrono: int = option(
        0,
        "chrono initialisation of the gate biases for dependencies up to this many steps "
        "(Tallec & Ollivier 2018; LSTM and GRU; 0: torch.nn's uniform initialisation)",
        min=0,
    )


class ProbeModel(nn.Module):
    """A recurrent layer and a linear read-out of its final state or of every state."""

    def __init__(
        self, config: ProbeModelConfig, input_size: int, output_size: int, per_step: bool
    ) -> None:
        super().__init__()
        validate(config)
        if input_size <= 0 or output_size <= 0:
            raise ValueError(
                f"input_size and output_size must be positive, got {input_size} and {output_size}"
            )
        self.config = config
        self.input_size, self.output_size, self.per_step = input_size, output_size, per_step
        self.rnn = recurrent_layer(
            config.cell,
            input_size,
            config.hidden_size,
            config.nonlinearity,
            num_layers=config.num_layers,
            batch_first=True,
            backend=config.backend,
        )
        self.head = nn.Linear(config.hidden_size, output_size)
        if config.chrono:
            if config.cell == "rnn" or config.chrono <= 2:
                raise InputError(
                    f"--chrono {config.chrono} needs gates and more than 2 steps "
                    f"(--cell lstm, lnlstm or gru and --chrono > 2), got --cell {config.cell}"
                )
            chrono_init_(self.rnn, config.chrono)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, T, I) -> (B, T, O) with ``per_step``, else (B, O)."""
        outputs, _ = self.rnn(x)  # (B, T, H)
        if self.per_step:
            return self.head(outputs)  # (B, T, O)
        return self.head(outputs[:, -1])  # (B, O): from h_T

    @property
    def sizes(self) -> dict:
        """The sizes that come from the task (stored in config.json beside the options)."""
        return {
            "input_size": self.input_size,
            "output_size": self.output_size,
            "per_step": self.per_step,
        }
