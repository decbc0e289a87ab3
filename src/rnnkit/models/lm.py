"""Language model over characters or words: embedding -> recurrent layers -> (causal attention) ->
head.

The tokens are characters or words (the task's vocabulary decides); the model sees only ids.
Regularisation (Zaremba et al. 2014; Gal & Ghahramani 2016; Press & Wolf 2017):

- ``embedding_dropout`` on the embedded input, ``dropout`` between recurrent layers and before the
  output layer. With ``variational_dropout`` each of them draws one mask per sequence (B, 1, F)
  and applies it at every time step, ``x_t * m / (1 - p)``, instead of a fresh mask per step (the
  layer does the same between its layers).
- ``weight_dropout`` (DropConnect on W_hh, AWD-LSTM) and ``zoneout``: options of the recurrent
  layer (:mod:`rnnkit.regularise`).
- ``tie_weights``: the output layer's weight is the embedding matrix (V, E), so E = H.

Optional attention is over the recurrent layer's own past hidden states, causally: the output at
position t attends to the states at t-W+1 .. t (W = ``attention_window``), never to later ones.
Past states are kept in the carried state as a memory of the last W states, so a chunk of
truncated BPTT attends across the chunk border and sampling one character at a time attends to
exactly what training attended to. The attended context is combined with the state as in Luong et
al. (2015): ``h~ = tanh(W_c [context; h])``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit import attention as attention_lib
from rnnkit import stepper as stepper_lib
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
from rnnkit.regularise import sequence_dropout
from rnnkit.stepper import LayerStepper, Projection


@dataclass
class LMConfig:
    """The model's shape (``rnnkit train lm`` options); stored in the run's config.json. The
    vocabulary size comes from the data and is passed to :class:`CharLM` itself."""

    cell: str = cell_option("lstm")
    hidden_size: int = option(512, "hidden units per layer", flag="hidden", min=1)
    num_layers: int = option(2, "stacked recurrent layers", flag="layers", min=1)
    dropout: float = option(
        0.2, "dropout between layers and before the output layer", min=0, below=1
    )
    embedding_dropout: float = option(0.0, "dropout on the embedded input", min=0, below=1)
    variational_dropout: bool = variational_dropout_option(
        "for the input, between layers and before the output layer"
    )
    weight_dropout: float = weight_dropout_option()
    zoneout: float = zoneout_option()
    zoneout_cell: float | None = zoneout_cell_option()
    embedding_dim: int | None = option(
        None,
        "embedding size; 0 feeds one-hot tokens (as the seed does for characters)",
        min=0,
        none="0 (one-hot) at --tokenizer char, --hidden at --tokenizer word",
    )
    sparse_embedding: bool = option(
        False, "sparse embedding gradients (use with --optimizer sparseadam)"
    )
    attention: str = option(
        "none",
        "causal attention over the layer's own past states: none, dot, general, additive, "
        "scaled-dot",
        choices=ATTENTIONS,
    )
    attention_window: int = option(
        64, "how many past states (including the current one) attention sees", min=1
    )
    tie_weights: bool = option(
        False, "share the embedding and output weights (needs --embedding-dim = --hidden)"
    )
    bidirectional: bool = option(
        False,
        "bidirectional layers (refused for language models, which must not see the future)",
    )
    nonlinearity: str = nonlinearity_option()
    backend: str = backend_option()

    def check(self) -> None:
        check_regularisation(self)
        if self.bidirectional:
            raise InputError(
                "a language model cannot be bidirectional: the backward direction reads the text "
                "from its end, so at position t it has already seen character t+1, the one the "
                "model must predict; drop --bidirectional"
            )
        if self.embedding_dim is None:
            return  # the task decides it by tokenizer (resolved), then checks again
        if self.tie_weights and self.embedding_dim != self.hidden_size:
            raise InputError(
                f"--tie-weights needs --embedding-dim equal to --hidden ({self.hidden_size}), "
                f"got {self.embedding_dim}"
            )
        if self.sparse_embedding and self.embedding_dim <= 0:
            raise InputError("--sparse-embedding needs an embedding (--embedding-dim > 0)")

    def resolved(self, word_level: bool) -> LMConfig:
        """A checked copy with ``embedding_dim`` decided: as given, else ``hidden_size`` for
        words (a one-hot vector per word would be as wide as the vocabulary) and 0 for
        characters."""
        if self.embedding_dim is not None:
            return validate(self)
        size = self.hidden_size if word_level else 0
        return validate(dataclasses.replace(self, embedding_dim=size))


class CharLM(nn.Module):
    """``forward(ids (B, T), state) -> logits (B, T, V), state``; ids of characters or words.

    ``state`` is ``(rnn_state, memory)``: the recurrent state (``h`` or ``(h, c)``) and, with
    attention, the last W hidden states (B, M, H); ``None`` starts fresh. An ``embedding_dim`` of
    0 or None feeds one-hot tokens (the task resolves None first: :meth:`LMConfig.resolved`).
    """

    def __init__(self, config: LMConfig, vocab_size: int) -> None:
        super().__init__()
        validate(config)
        if vocab_size <= 0:
            raise ValueError(f"vocab_size must be positive, got {vocab_size}")
        self.config = config
        self.vocab_size = vocab_size
        vocab, hidden = vocab_size, config.hidden_size
        if config.embedding_dim:
            self.embedding = nn.Embedding(
                vocab, config.embedding_dim, sparse=config.sparse_embedding
            )
            input_size = config.embedding_dim
        else:
            self.embedding = None
            input_size = vocab
        self.rnn = recurrent_layer(
            config.cell,
            input_size,
            hidden,
            config.nonlinearity,
            num_layers=config.num_layers,
            dropout=config.dropout,
            batch_first=True,
            backend=config.backend,
            **regularisation(config),
        )
        self.register_load_state_dict_pre_hook(_stacked_layer_names)
        if config.attention != "none":
            self.attention = attention_lib.build(config.attention, hidden, hidden)
            self.combine = nn.Linear(2 * hidden, hidden)  # W_c
        else:
            self.attention = None
        self.head = nn.Linear(hidden, vocab)
        if config.tie_weights:
            self.head.weight = self.embedding.weight

    def embed(self, ids: Tensor) -> Tensor:
        if self.embedding is None:
            return F.one_hot(ids, self.vocab_size).float()  # (B, T, V)
        return self.embedding(ids)  # (B, T, E)

    def drop(self, x: Tensor, p: float) -> Tensor:
        """Dropout on (B, T, F): one mask per sequence with ``variational_dropout``."""
        return sequence_dropout(x, p, self.training, self.config.variational_dropout)

    def forward(self, ids: Tensor, state=None) -> tuple[Tensor, tuple]:
        rnn_state, memory = (None, None) if state is None else state
        inputs = self.drop(self.embed(ids), self.config.embedding_dropout)  # (B, T, E)
        outputs, rnn_state = self.rnn(inputs, rnn_state)  # (B, T, H)
        if self.attention is not None:
            outputs, memory = self.attend(outputs, memory)
        logits = self.head(self.drop(outputs, self.config.dropout))  # (B, T, V)
        return logits, (rnn_state, memory)

    def attend(self, outputs: Tensor, memory: Tensor | None) -> tuple[Tensor, Tensor]:
        """Causal, windowed attention of each state over the last W states including itself."""
        window = self.config.attention_window
        keys = outputs if memory is None else torch.cat([memory, outputs], dim=1)  # (B, M+T, H)
        steps, past = outputs.shape[1], keys.shape[1] - outputs.shape[1]
        rows = torch.arange(steps, device=keys.device).unsqueeze(1) + past  # query positions
        cols = torch.arange(keys.shape[1], device=keys.device).unsqueeze(0)
        keep = (cols <= rows) & (cols > rows - window)  # (T, M+T): causal and within the window
        mask = keep.unsqueeze(0).expand(outputs.shape[0], -1, -1)
        context, _ = self.attention(outputs, keys, mask=mask)  # (B, T, H)
        combined = torch.tanh(self.combine(torch.cat([context, outputs], dim=-1)))  # (B, T, H)
        return combined, keys[:, -(window - 1) :] if window > 1 else keys[:, :0]

    @torch.inference_mode()
    def input_table(self) -> Tensor:
        """Layer 0's input projection of every character (V, G*H): a lookup replaces a matmul."""
        ids = torch.arange(self.vocab_size, device=self.head.weight.device)
        return self.rnn.project_input(self.embed(ids.unsqueeze(0))[0])

    def step(self, ids: Tensor, state=None, table: Tensor | None = None) -> tuple[Tensor, tuple]:
        """One character per row, ids (B,) -> logits (B, V): the same function as ``forward``
        on a length-1 sequence, through the cells' equations without the time loop."""
        rnn_state, memory = (None, None) if state is None else state
        if table is not None:
            output, rnn_state = self.rnn.step(table[ids], rnn_state, projected=True)  # (B, H)
        else:
            output, rnn_state = self.rnn.step(self.embed(ids.unsqueeze(1))[:, 0], rnn_state)
        if self.attention is not None:
            combined, memory = self.attend(output.unsqueeze(1), memory)
            output = combined[:, 0]
        return self.head(output), (rnn_state, memory)

    def stepper(self, batch: int = 1, precision: str = "fp32") -> LMStepper:
        """Generation's inner loop for ``batch`` rows (:class:`LMStepper`)."""
        return LMStepper(self, batch, precision)

    @staticmethod
    def detach_state(state):
        """Cut the graph between truncated-BPTT chunks."""
        if state is None:
            return None
        rnn_state, memory = state
        rnn_state = (
            tuple(s.detach() for s in rnn_state)
            if isinstance(rnn_state, tuple)
            else rnn_state.detach()
        )
        return rnn_state, None if memory is None else memory.detach()

    @property
    def sizes(self) -> dict[str, int]:
        """The sizes that come from the data (stored in config.json beside the options)."""
        return {"vocab_size": self.vocab_size}


def _stacked_layer_names(module, state_dict, prefix, *args) -> None:
    """Rename the weights of runs saved when variational dropout ran a stack of one-layer
    layers (``rnn.layers.K.weight_hh_l0``) to the one layer's names (``rnn.weight_hh_lK``)."""
    pattern = re.compile(rf"^{re.escape(prefix)}rnn\.layers\.(\d+)\.(\w+)_l0(_reverse)?$")
    for key in [k for k in state_dict if pattern.match(k)]:
        layer, name, reverse = pattern.match(key).groups()
        state_dict[f"{prefix}rnn.{name}_l{layer}{reverse or ''}"] = state_dict.pop(key)


class LMStepper:
    """Generation's inner loop: ``read(ids (B, T))`` takes a prompt and ``step(ids (B,))`` one
    character per row, each returning the next logits (B, V) in a buffer that the next call
    overwrites.

    Without attention the layer steps through :class:`rnnkit.stepper.LayerStepper` (preallocated
    buffers, layer 0's input projection looked up by character, weights in ``precision``) and the
    head writes into one logits buffer; with attention, or a layer that stepper cannot step
    (:func:`rnnkit.stepper.unsupported`), each step is :meth:`CharLM.step`."""

    def __init__(self, model: CharLM, batch: int, precision: str = "fp32") -> None:
        self.model = model.eval()
        slow = "attention" if model.attention is not None else stepper_lib.unsupported(model.rnn)
        self.fast = slow is None
        self.state = None
        if self.fast:
            ids = torch.arange(model.vocab_size, device=model.head.weight.device)
            with torch.no_grad():
                inputs = model.embed(ids.unsqueeze(0))[0]  # (V, I): each character's input
            self.layer = LayerStepper(model.rnn, batch, precision, inputs=inputs)
            self.head = Projection(model.head.weight, model.head.bias, batch, precision)
            self.logits = torch.zeros(batch, model.vocab_size)
        elif precision != "fp32":
            raise InputError(f"--precision {precision} needs a preallocated stepper, not: {slow}")

    @torch.no_grad()
    def read(self, ids: Tensor) -> Tensor:
        """Run the prompt ids (B, T) through the model; the logits (B, V) after its last one."""
        logits, state = self.model(ids)  # (B, T, V)
        if not self.fast:
            self.state = state
            return logits[:, -1]
        self.layer.set_state(state[0])
        return self.logits.copy_(logits[:, -1])

    @torch.no_grad()
    def step(self, ids: Tensor) -> Tensor:
        """The logits (B, V) after one more character per row, ``ids`` (B,)."""
        if not self.fast:
            logits, self.state = self.model.step(ids, self.state)
            return logits
        return self.head.into(self.logits, self.layer.step(ids=ids))
