"""Encoder-decoder with attention (Bahdanau et al. 2015; Luong et al. 2015), greedy and beam search.

Encoder: source embedding -> bidirectional rnnkit layer (``hidden_size // 2`` units per direction,
variable lengths), giving states ``m_1..m_S`` (B, S, H) and a summary ``s = [h_fwd; h_bwd]``
(B, H) of the last layer's final states.

Decoder: one rnnkit cell run step by step, with input feeding (Luong): the attentional vector of
the previous step is part of the next input, so the decoder knows what it attended to::

    h_0       = tanh(W_b s)                             (the bridge; also c_0 for an LSTM)
    h_t       = cell([E y_{t-1}; h~_{t-1}], h_{t-1})     h~_0 = 0
    c_t, a_t  = attention(query=h_t, keys=values=m, mask = source positions < length)
    h~_t      = tanh(W_c [c_t; h_t])
    p(y_t)    = softmax(W_o h~_t)

Regularisation (:mod:`rnnkit.regularise`): ``variational_dropout`` makes the dropout of the source
embeddings, of the encoder states and between encoder layers one mask per sentence;
``weight_dropout`` is the encoder's; ``zoneout`` acts on the encoder and on the decoder cell's
state (its expectation when decoding). ``--cell lnlstm`` is the encoder's and the decoder's cell.

With ``attention = "none"`` the context is the fixed summary, ``c_t = s`` at every step (the
encoder-decoder of Cho et al. 2014): the same parameters minus the attention, as a baseline.

Decoding (:func:`greedy`, :func:`beam_search`) runs a whole batch of sentences at once; a
sentence stops at ``</s>`` or at ``max_length_ratio * source_length + max_length_offset`` tokens.
Greedy decoding draws every token with :func:`rnnkit.sampling.sample` (temperature 0 is argmax),
so temperature, top-k and top-p sampling come from the one sampler.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rnnkit import attention as attention_lib
from rnnkit import sampling
from rnnkit.config import option, validate
from rnnkit.errors import InputError
from rnnkit.models.choices import (
    ATTENTIONS,
    CELLS,
    LAYERS,
    backend_option,
    cell_option,
    check_regularisation,
    regularisation,
    variational_dropout_option,
    weight_dropout_option,
    zoneout_cell_option,
    zoneout_option,
)
from rnnkit.regularise import sequence_dropout, zoneout_states
from rnnkit.stepper import LayerStepper, Projection, unsupported
from rnnkit.tokens import BOS_ID, EOS_ID, PAD_ID


@dataclass
class Seq2SeqConfig:
    """The model's shape (``rnnkit train translate`` options); stored in the run's config.json.
    The vocabulary sizes come from the tokenizers and are passed to :class:`Seq2Seq` itself."""

    cell: str = cell_option("gru")
    attention: str = option(
        "additive",
        "decoder attention over the encoder states: none (final encoder state only, a "
        "baseline), dot, general, additive (Bahdanau), scaled-dot",
        choices=ATTENTIONS,
    )
    embedding_dim: int = option(256, "source and target embedding size", min=1)
    hidden_size: int = option(
        512,
        "decoder units; each direction of the bidirectional encoder has half (positive and even)",
        flag="hidden",
    )
    num_layers: int = option(
        1, "stacked encoder layers (the decoder has one)", flag="layers", min=1
    )
    dropout: float = option(
        0.3,
        "dropout on embeddings, encoder states and before the output layer",
        min=0,
        below=1,
    )
    variational_dropout: bool = variational_dropout_option(
        "for the source embeddings, the encoder states and between encoder layers"
    )
    weight_dropout: float = weight_dropout_option()
    zoneout: float = zoneout_option()
    zoneout_cell: float | None = zoneout_cell_option()
    backend: str = backend_option()

    def check(self) -> None:
        check_regularisation(self)
        if self.hidden_size < 2 or self.hidden_size % 2:
            raise InputError(
                "--hidden must be positive and even (each encoder direction gets half), "
                f"got {self.hidden_size}"
            )


@dataclass
class Memory:
    """What the decoder reads from the encoder, for a batch of B rows."""

    states: Tensor  # (B, S, H): m_1..m_S, zero past each source's length
    mask: Tensor  # (B, S) bool: True at real source positions
    summary: Tensor  # (B, H): [h_fwd; h_bwd] of the last encoder layer
    keys: Tensor | None = None  # (B, S, D'): the attention's projection of the states, done once

    def repeat(self, times: int) -> Memory:
        """Each row repeated ``times`` times in place (row b -> rows b*times .. b*times+times-1)."""
        return Memory(
            self.states.repeat_interleave(times, dim=0),
            self.mask.repeat_interleave(times, dim=0),
            self.summary.repeat_interleave(times, dim=0),
            None if self.keys is None else self.keys.repeat_interleave(times, dim=0),
        )


def select_rows(state, index: Tensor):
    """Rows ``index`` of a decoder state (a tensor or nested tuples of (B, ...) tensors)."""
    if isinstance(state, tuple):
        return tuple(select_rows(s, index) for s in state)
    return state.index_select(0, index)


class Seq2Seq(nn.Module):
    """``forward(source (B, S), source_lengths (B,), target_in (B, T)) -> logits (B, T, V)``."""

    def __init__(self, config: Seq2SeqConfig, src_vocab_size: int, tgt_vocab_size: int) -> None:
        super().__init__()
        validate(config)
        self.config = config
        self.src_vocab_size, self.tgt_vocab_size = src_vocab_size, tgt_vocab_size
        embedding, hidden = config.embedding_dim, config.hidden_size
        self.source_embedding = nn.Embedding(src_vocab_size, embedding, padding_idx=PAD_ID)
        self.target_embedding = nn.Embedding(tgt_vocab_size, embedding, padding_idx=PAD_ID)
        self.encoder = LAYERS[config.cell](
            embedding,
            hidden // 2,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            bidirectional=True,
            batch_first=True,
            backend=config.backend,
            **regularisation(config),
        )
        self.num_states = self.encoder.num_states
        self.decoder_zoneout = self.encoder.zoneout_rates()  # (h,) or (h, c): the encoder's
        self.bridge = nn.Linear(hidden, hidden * self.num_states)  # W_b: h_0 (and c_0)
        self.cell = CELLS[config.cell](embedding + hidden, hidden)  # input feeding: [E y; h~]
        self.attention = (
            None
            if config.attention == "none"
            else attention_lib.build(config.attention, hidden, hidden)
        )
        self.combine = nn.Linear(2 * hidden, hidden)  # W_c
        self.output = nn.Linear(hidden, tgt_vocab_size)  # W_o
        self.dropout = nn.Dropout(config.dropout)

    @property
    def sizes(self) -> dict[str, int]:
        """The sizes that come from the data (stored in config.json beside the options)."""
        return {"src_vocab_size": self.src_vocab_size, "tgt_vocab_size": self.tgt_vocab_size}

    # --- encoder ---------------------------------------------------------------------------------
    def encode(self, source: Tensor, source_lengths: Tensor) -> Memory:
        """Source ids (B, S) and lengths (B,) -> :class:`Memory`."""
        embedded = self.drop_sequence(self.source_embedding(source))  # (B, S, E)
        states, final = self.encoder(embedded, lengths=source_lengths)  # (B, S, H), (2L, B, H/2)
        h_n = final[0] if isinstance(final, tuple) else final
        summary = torch.cat([h_n[-2], h_n[-1]], dim=-1)  # (B, H): last layer, both directions
        mask = attention_lib.lengths_to_mask(source_lengths, source.shape[1])  # (B, S)
        states = self.drop_sequence(states)
        keys = None if self.attention is None else self.attention.project_keys(states)
        return Memory(states, mask, summary, keys)

    def drop_sequence(self, x: Tensor) -> Tensor:
        """``dropout`` on (B, S, F): one mask per sentence with variational dropout."""
        config = self.config
        return sequence_dropout(x, config.dropout, self.training, config.variational_dropout)

    def initial_state(self, memory: Memory):
        """Decoder state before the first step: (rnn state, h~_0 = 0)."""
        bridged = torch.tanh(self.bridge(memory.summary))  # (B, H * num_states)
        rnn_state = bridged.chunk(2, dim=-1) if self.num_states == 2 else bridged
        return rnn_state, torch.zeros_like(memory.summary)

    # --- decoder ---------------------------------------------------------------------------------
    def step(self, tokens: Tensor, state, memory: Memory) -> tuple[Tensor, tuple, Tensor | None]:
        """One decoder step: previous tokens (B,) -> (h~_t (B, H), new state, weights (B, S))."""
        rnn_state, feed = state
        embedded = self.dropout(self.target_embedding(tokens))  # (B, E)
        new = self.cell(torch.cat([embedded, feed], dim=-1), rnn_state)
        rnn_state = self.zone(new, rnn_state)
        h = rnn_state[0] if isinstance(rnn_state, tuple) else rnn_state  # (B, H)
        context, weights = self.attend(h, memory)
        attentional = torch.tanh(self.combine(torch.cat([context, h], dim=-1)))  # h~_t (B, H)
        return attentional, (rnn_state, attentional), weights

    def zone(self, new, old):
        """Zoneout of the decoder cell's new state (h, or (h, c)) against the old one."""
        rates = self.decoder_zoneout
        if self.num_states == 2:
            return zoneout_states(new, old, rates, self.training)
        return zoneout_states((new,), (old,), rates, self.training)[0]

    def attend(self, h: Tensor, memory: Memory) -> tuple[Tensor, Tensor | None]:
        """The context c_t (B, H) of decoder state h (B, H) and its weights (B, S) (None without
        attention: the context is the summary)."""
        if self.attention is None:
            return memory.summary, None
        context, weights = self.attention(
            h.unsqueeze(1), memory.states, mask=memory.mask, projected_keys=memory.keys
        )
        return context.squeeze(1), weights.squeeze(1)  # (B, H), (B, S)

    def logits(self, attentional: Tensor) -> Tensor:
        """h~ (..., H) -> next-token logits (..., V)."""
        return self.output(self.dropout(attentional))

    def decoder_stepper(self, memory: Memory) -> DecoderStepper:
        """Greedy decoding's inner loop over ``memory``'s rows: :class:`DecoderStepper`, or
        :class:`PlainDecoderStepper` for a decoder it cannot step (zoneout, ``lnlstm``)."""
        if unsupported(self.cell) or any(self.decoder_zoneout):
            return PlainDecoderStepper(self, memory)
        return DecoderStepper(self, memory)

    def forward(
        self,
        source: Tensor,
        source_lengths: Tensor,
        target_in: Tensor,
        teacher_forcing: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Logits (B, T, V) for each position of ``target_in`` (B, T) (which starts with <s>).

        With ``teacher_forcing`` < 1 each row feeds, at each step, its own previous argmax instead
        of the reference token with probability ``1 - teacher_forcing``.
        """
        memory = self.encode(source, source_lengths)
        state = self.initial_state(memory)
        steps = target_in.shape[1]
        if teacher_forcing >= 1.0:
            outputs = []
            for t in range(steps):
                attentional, state, _ = self.step(target_in[:, t], state, memory)
                outputs.append(attentional)
            return self.logits(torch.stack(outputs, dim=1))  # (B, T, V): one projection
        logits, tokens = [], target_in[:, 0]
        for t in range(steps):
            attentional, state, _ = self.step(tokens, state, memory)
            logits.append(self.logits(attentional))  # (B, V)
            if t + 1 < steps:
                coin = torch.rand(tokens.shape, generator=generator, device=tokens.device)
                predicted = logits[-1].detach().argmax(dim=-1)
                tokens = torch.where(coin < teacher_forcing, target_in[:, t + 1], predicted)
        return torch.stack(logits, dim=1)


class DecoderStepper:
    """:meth:`Seq2Seq.step` and :meth:`Seq2Seq.logits` for decoding (eval mode), the cell stepped
    with preallocated buffers (:class:`rnnkit.stepper.LayerStepper`): the input ``[E y; h~]`` is
    assembled in one buffer, and the combination and output layers write into their own.
    ``step(tokens (B,))`` returns the logits (B, V) (a buffer the next step overwrites) and the
    attention weights (B, S) or None."""

    def __init__(self, model: Seq2Seq, memory: Memory) -> None:
        self.model, self.memory = model, memory
        batch, hidden = memory.summary.shape[0], model.config.hidden_size
        self.embedding_dim = model.config.embedding_dim
        self.cell = LayerStepper(model.cell, batch)
        with torch.no_grad():
            rnn_state, feed = model.initial_state(memory)
        self.cell.set_state(
            tuple(s.unsqueeze(0) for s in rnn_state)
            if isinstance(rnn_state, tuple)
            else rnn_state.unsqueeze(0)
        )
        self.embedded = torch.zeros(batch, self.embedding_dim)
        self.x = torch.cat([self.embedded, feed], dim=1)  # (B, E + H): [E y; h~]
        self.context_h = torch.zeros(batch, 2 * hidden)  # [c_t; h_t]
        self.feed = torch.zeros(batch, hidden)  # h~_t
        self.combine = Projection(model.combine.weight, model.combine.bias, batch, "fp32")
        self.output = Projection(model.output.weight, model.output.bias, batch, "fp32")
        self.logits = torch.zeros(batch, model.tgt_vocab_size)

    @torch.no_grad()
    def step(self, tokens: Tensor) -> tuple[Tensor, Tensor | None]:
        model, hidden = self.model, self.feed.shape[1]
        torch.index_select(model.target_embedding.weight, 0, tokens, out=self.embedded)
        self.x[:, : self.embedding_dim].copy_(self.embedded)
        h = self.cell.step(self.x)  # (B, H)
        context, weights = model.attend(h, self.memory)  # (B, H), (B, S) or None
        self.context_h[:, :hidden].copy_(context)
        self.context_h[:, hidden:].copy_(h)
        self.combine.into(self.feed, self.context_h).tanh_()  # h~_t = tanh(W_c [c_t; h_t])
        self.x[:, self.embedding_dim :].copy_(self.feed)
        return self.output.into(self.logits, self.feed), weights


class PlainDecoderStepper:
    """:class:`DecoderStepper`'s interface over :meth:`Seq2Seq.step` itself (eval mode)."""

    def __init__(self, model: Seq2Seq, memory: Memory) -> None:
        self.model, self.memory = model, memory
        with torch.no_grad():
            self.state = model.initial_state(memory)

    @torch.no_grad()
    def step(self, tokens: Tensor) -> tuple[Tensor, Tensor | None]:
        attentional, self.state, weights = self.model.step(tokens, self.state, self.memory)
        return self.model.logits(attentional), weights


# --- decoding ------------------------------------------------------------------------------------
@dataclass
class Hypothesis:
    """One decoded sentence: ids without <s> (ending in </s> unless cut), total log-probability,
    and attention weights (len(ids), source length) or None without attention."""

    ids: list[int]
    score: float
    attention: Tensor | None


def max_lengths(source_lengths: Tensor, ratio: float, offset: int) -> Tensor:
    """Most target tokens (with </s>) allowed for each source: floor(ratio * S + offset), >= 1."""
    if ratio < 0 or offset < 0 or (ratio == 0 and offset == 0):
        raise InputError(
            f"--max-length-ratio and --max-length-offset must be >= 0 and not both 0, got "
            f"{ratio} and {offset}"
        )
    return (source_lengths.double() * ratio + offset).floor().long().clamp(min=1)


def _strip(ids: list[int]) -> list[int]:
    return ids[: ids.index(EOS_ID) + 1] if EOS_ID in ids else ids


@torch.no_grad()
def greedy(
    model: Seq2Seq,
    source: Tensor,
    source_lengths: Tensor,
    max_length_ratio: float = 1.5,
    max_length_offset: int = 10,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> list[Hypothesis]:
    """Decode a batch one token at a time, each drawn by :func:`rnnkit.sampling.sample`
    (temperature 0: the most likely token)."""
    sampling.check_options(temperature, top_k, top_p)
    model.eval()
    batch = source.shape[0]
    limits = max_lengths(source_lengths, max_length_ratio, max_length_offset)  # (B,)
    decoder = model.decoder_stepper(model.encode(source, source_lengths))
    tokens = torch.full((batch,), BOS_ID, dtype=torch.long)
    finished = torch.zeros(batch, dtype=torch.bool)
    scores = torch.zeros(batch)
    history, weights_history = [], []
    for t in range(int(limits.max())):
        logits, weights = decoder.step(tokens)  # (B, V), (B, S) or None
        logits = logits.float()
        logits[t + 1 >= limits] = _only(EOS_ID, logits.shape[-1])  # out of room: end here
        tokens = sampling.sample(logits, temperature, top_k, top_p, generator)  # (B,)
        tokens = torch.where(finished, torch.full_like(tokens, PAD_ID), tokens)
        step_scores = torch.log_softmax(logits, dim=-1).gather(1, tokens.unsqueeze(1)).squeeze(1)
        scores += torch.where(finished, torch.zeros_like(scores), step_scores)
        history.append(tokens)
        if weights is not None:
            weights_history.append(weights)
        finished |= tokens == EOS_ID
        if bool(finished.all()):
            break
    ids = torch.stack(history, dim=1).tolist()  # (B, T_out)
    attention = torch.stack(weights_history, dim=1) if weights_history else None  # (B, T, S)
    return _hypotheses(ids, scores.tolist(), attention, source_lengths)


def _only(token: int, vocab: int) -> Tensor:
    """Logits (V,) that allow only ``token``."""
    row = torch.full((vocab,), float("-inf"))
    row[token] = 0.0
    return row


def _hypotheses(ids, scores, attention, source_lengths) -> list[Hypothesis]:
    results = []
    for row, (sequence, score) in enumerate(zip(ids, scores, strict=True)):
        sequence = _strip(sequence)
        weights = None
        if attention is not None:
            weights = attention[row, : len(sequence), : int(source_lengths[row])].clone()
        results.append(Hypothesis(sequence, float(score), weights))
    return results


def length_penalty(lengths: Tensor, alpha: float) -> Tensor:
    """Wu et al. (2016): lp(Y) = ((5 + |Y|) / 6) ** alpha; scores are divided by it."""
    return ((5.0 + lengths.double()) / 6.0) ** alpha


@torch.no_grad()
def beam_search(
    model: Seq2Seq,
    source: Tensor,
    source_lengths: Tensor,
    beam_size: int = 5,
    alpha: float = 1.0,
    max_length_ratio: float = 1.5,
    max_length_offset: int = 10,
) -> list[Hypothesis]:
    """Beam search over a batch: K beams per sentence, all B*K rows in one decoder step.

    Hypotheses are ranked by log-probability divided by :func:`length_penalty` (``alpha`` = 0:
    plain log-probability). A finished beam (it produced </s>) stays in the beam with its score
    frozen, so it competes with the open ones until the best K are all finished or the length
    limit forces </s>. The result for each sentence is the top-ranked beam.
    """
    if beam_size < 1:
        raise InputError(f"--beam must be >= 1, got {beam_size}")
    model.eval()
    batch, beams = source.shape[0], beam_size
    vocab = model.tgt_vocab_size
    limits = max_lengths(source_lengths, max_length_ratio, max_length_offset)  # (B,)
    memory = model.encode(source, source_lengths).repeat(beams)  # rows b*K + k
    state = model.initial_state(memory)
    tokens = torch.full((batch * beams,), BOS_ID, dtype=torch.long)
    scores = torch.full((batch, beams), float("-inf"), dtype=torch.float64)
    scores[:, 0] = 0.0  # the K beams start identical: expand only the first
    lengths = torch.zeros(batch, beams, dtype=torch.long)
    finished = torch.zeros(batch, beams, dtype=torch.bool)
    history = torch.zeros(batch, beams, 0, dtype=torch.long)
    weights_history = None
    eos_only, pad_only = _only(EOS_ID, vocab).double(), _only(PAD_ID, vocab).double()
    offsets = (torch.arange(batch) * beams).unsqueeze(1)  # (B, 1)
    for t in range(int(limits.max())):
        attentional, state, weights = model.step(tokens, state, memory)
        log_probs = torch.log_softmax(model.logits(attentional).double(), dim=-1)
        log_probs = log_probs.view(batch, beams, vocab)  # (B, K, V)
        out_of_room = (t + 1 >= limits).view(batch, 1, 1)
        log_probs = torch.where(out_of_room, eos_only, log_probs)
        log_probs = torch.where(finished.unsqueeze(-1), pad_only, log_probs)  # frozen score
        candidates = scores.unsqueeze(-1) + log_probs  # (B, K, V)
        new_lengths = (lengths + (~finished).long()).unsqueeze(-1)  # (B, K, 1)
        ranked = candidates / length_penalty(new_lengths, alpha)  # (B, K, V)
        top = ranked.view(batch, -1).topk(beams, dim=-1).indices  # (B, K), best first
        origin, token = top // vocab, top % vocab  # beam each came from, token it adds
        scores = candidates.view(batch, -1).gather(1, top)
        lengths = new_lengths.squeeze(-1).gather(1, origin)
        finished = finished.gather(1, origin) | (token == EOS_ID)
        history = torch.cat([_gather_beams(history, origin), token.unsqueeze(-1)], dim=-1)
        rows = (offsets + origin).view(-1)  # (B*K,) rows of the previous step to continue
        state = select_rows(state, rows)
        tokens = token.view(-1)
        if weights is not None:
            step_weights = weights.view(batch, beams, 1, -1)  # (B, K, 1, S)
            weights_history = (
                step_weights
                if weights_history is None
                else torch.cat([weights_history, step_weights], 2)
            )
            weights_history = _gather_beams(weights_history, origin)
        if bool(finished.all()):
            break
    best = history[:, 0].tolist()  # (B, T_out): topk puts the best-ranked beam first
    attention = None if weights_history is None else weights_history[:, 0]  # (B, T_out, S)
    return _hypotheses(best, scores[:, 0].tolist(), attention, source_lengths)


def _gather_beams(tensor: Tensor, origin: Tensor) -> Tensor:
    """Reorder (B, K, ...) along the beam dimension by ``origin`` (B, K)."""
    index = origin.view(*origin.shape, *([1] * (tensor.dim() - 2))).expand(
        -1, -1, *tensor.shape[2:]
    )
    return tensor.gather(1, index)
