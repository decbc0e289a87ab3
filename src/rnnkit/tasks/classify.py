"""The classification task, over texts or audio clips: its data, batches, loss, metrics and
predictions.

Texts come from a named dataset (``sst2``: its own train/dev/test files, and with ``--train-on
phrases`` GLUE's 67,349 labelled phrases of the training trees in place of the 6,920 training
sentences, validation and test staying sentence level; ``sms_spam``: one file, split 80/10/10 by
class with a fixed seed) or from TSV/CSV files. The parts that are not given
(validation, test) are carved from the training file by a stratified split whose line numbers are
stored with the run (``split.json``), so evaluation later scores exactly the held-out rows.

Audio clips (:mod:`rnnkit.data.audio`) come from ``fsdd`` (the Free Spoken Digit Dataset: takes
0-4 are the test set, its official split; ``fsdd:SPEAKER`` holds that speaker's clips out as the
test set instead), a folder with one subfolder of clips per label, or a TSV/CSV manifest of paths
and labels. Missing parts are split off by class as for texts, stored by clip name. Each clip is
read as mono at ``--sample-rate`` and becomes frames of log-mel or MFCC features, normalised per
clip (:mod:`rnnkit.data.features`; the ``audio`` options), which the model reads in place of
word embeddings. ``--freq-mask`` / ``--time-mask`` mask bands and frames of each training batch
(SpecAugment, :mod:`rnnkit.data.augment`), ``--speed-perturb 0.9,1.1`` adds the training
clips again at those speeds and ``--vtlp 0.9,1.1`` with their frequency axis warped by those
factors (:func:`rnnkit.data.features.vtlp_warp`); validation, test and prediction see the clips
as they are, or with ``--test-speeds 0.8,0.9,1,1.1,1.2`` a copy of each clip at each speed, their
class probabilities averaged (test-time augmentation, :func:`predict_views`).

With ``--adversarial EPSILON`` each training batch is learned twice, as it is and with its
embedded words (or frames) moved by ``EPSILON`` along the gradient of its loss
(:func:`adversarial_shift`); the training loss logged is the sum of the two.

With ``--pretrain-epochs N`` a new text run first trains its embedding and recurrent layer as a
language model on the training sentences (each direction predicts the word beyond it,
:mod:`rnnkit.tasks.pretrain`), then learns the labels from there; config.json records it.

Batches are random (an epoch-seeded permutation, so ``batch(epoch, index)`` is a pure function),
padded (``<pad>`` = 0, or zero frames) and carry each sequence's length; the model's
variable-length layers and masked pooling make the padding invisible.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.config import option
from rnnkit.data import epoch_generator
from rnnkit.data.audio import (
    LabeledClips,
    fsdd_split,
    looks_like_manifest,
    read_audio,
    read_folder,
    read_fsdd,
    read_manifest,
)
from rnnkit.data.augment import augment_generator, change_speed, spec_augment
from rnnkit.data.features import FeatureConfig, extract
from rnnkit.data.labeled import (
    LabeledTexts,
    classes_of,
    encode_labels,
    read_labeled,
    stratified_split,
)
from rnnkit.data.ngrams import with_ngrams
from rnnkit.data.tokenize import KINDS as TOKENIZERS
from rnnkit.data.tokenize import Tokenizer, Vocab
from rnnkit.errors import InputError
from rnnkit.io import file_sha256, read_json, write_json
from rnnkit.models.classifier import ClassifierConfig, TextClassifier
from rnnkit.plots import plot_confusion
from rnnkit.tasks.pretrain import PretrainConfig, check_pretrainable, pretrain
from rnnkit.tasks.spec import Built, Scored, TaskSpec
from rnnkit.training.distributed import launched
from rnnkit.training.run import check_sources, load_best_weights, load_run, stored, stored_size

EVAL_BATCH = 256  # texts per forward pass when predicting
TRAIN_ON = ("sentences", "phrases")

# Registered datasets: which file is which part, and readable names for their labels.
NAMED = {
    "sst2": {
        "files": {"train": "train.tsv", "valid": "dev.tsv", "test": "test.tsv"},
        "phrases": "train_phrases.tsv",  # the training part with --train-on phrases
        "label_names": {"0": "negative", "1": "positive"},
    },
    "sms_spam": {"files": {"train": None}, "label_names": {}},
}


@dataclass
class ClassifyData:
    """Where the labelled texts come from and how they become batches; stored in config.json."""

    data: str = option(
        "sst2",
        "sst2, sms_spam, or a TSV/CSV training file with a label and a text column; audio: fsdd "
        "(fsdd:SPEAKER tests on that speaker), a folder with a subfolder of clips per label, or a "
        "TSV/CSV manifest of audio paths and labels",
        path=True,
    )
    valid: str | None = option(
        None,
        "validation file or folder (same format as --data)",
        none="a stratified share of --data",
        path=True,
    )
    test: str | None = option(
        None,
        "test file or folder for rnnkit evaluate",
        none="a stratified share of --data",
        path=True,
    )
    text_column: str | None = option(
        None,
        "the text column (the audio path column of a manifest): 0-based index or header name",
        none="guessed",
    )
    label_column: str | None = option(
        None, "the label column: 0-based index or header name", none="guessed"
    )
    header: str = option(
        "auto", "whether the first row is a header: auto, yes or no", choices=("auto", "yes", "no")
    )
    delimiter: str = option(
        "auto", "field separator: auto (by extension), tab, comma, semicolon, pipe or a character"
    )
    tokenizer: str = option(
        "word",
        "word (lowercased words and punctuation; SST's -lrb-/-rrb- undone) or char",
        choices=TOKENIZERS,
    )
    lowercase: bool = option(True, "lowercase the text before tokenizing")
    min_freq: int = option(1, "words seen fewer times in training become <unk>", min=1)
    max_vocab: int | None = option(
        None, "keep at most this many of the most frequent words", min=1, none="all"
    )
    valid_fraction: float = option(
        0.1,
        "share of each class held out for validation when --valid is not given",
        above=0,
        below=0.5,
    )
    test_fraction: float = option(
        0.1,
        "share of each class held out for testing when --test is not given",
        above=0,
        below=0.5,
    )
    split_seed: int = option(0, "seed of the stratified split (kept fixed across training seeds)")
    train_on: str = option(
        "sentences",
        "sentences, or phrases: train on the dataset's labelled phrases (sst2: GLUE's 67,349 "
        "phrases of the training trees); validation and test stay sentences",
        choices=TRAIN_ON,
    )
    batch_size: int = option(32, "texts per batch", min=1)
    embeddings: str | None = option(
        None,
        "a GloVe-format text file of word vectors to start the embedding from",
        path=True,
        checksum=False,  # read once, when the run is created
    )

    def check(self) -> None:
        """Raise InputError for contradictory options."""
        if (self.data in NAMED or is_fsdd(self.data)) and (self.valid or self.test):
            raise InputError(
                f"--data {self.data} is a named dataset with its own split; --valid and --test "
                "go with a training file (--data PATH)"
            )
        if self.train_on == "phrases" and "phrases" not in NAMED.get(self.data, {}):
            having = [name for name, named in NAMED.items() if "phrases" in named]
            raise InputError(
                f"--train-on phrases: --data {self.data} has no phrase-level training file "
                f"(datasets with one: {', '.join(having)})"
            )
        if self.embeddings and is_audio(self.data):
            raise InputError(f"--embeddings are word vectors; --data {self.data} is audio")


def is_fsdd(data: str) -> bool:
    """``fsdd`` or ``fsdd:SPEAKER``."""
    return data == "fsdd" or data.startswith("fsdd:")


def is_audio(data: str) -> bool:
    """Whether ``--data`` names audio: fsdd, a folder, or a manifest whose rows name audio
    files."""
    if data in NAMED:
        return False
    return is_fsdd(data) or Path(data).is_dir() or looks_like_manifest(data)


Examples = LabeledTexts | LabeledClips
Inputs = list[list[int]] | list[Tensor]  # token ids of each text, or (T, F) frames of each clip


@dataclass
class Prepared:
    """Everything the task and the commands need: examples, tokenizer and vocabulary (texts) or
    feature options (audio), classes."""

    train: Examples
    valid: Examples
    test: Examples
    tokenizer: Tokenizer | None
    vocab: Vocab | None
    classes: list[str]
    split: dict | None = None  # the stored split, when one was made
    label_names: dict[str, str] = field(default_factory=dict)
    audio: FeatureConfig | None = None  # set for audio data
    char_ngrams: int = 0  # the model's n-gram buckets: each token also carries its n-grams

    def encode(self, part: Examples) -> tuple[Inputs, list[int]]:
        """The model's input for each example and the class id of each label (unknown labels
        raise)."""
        return encode_inputs(part, self), encode_labels(part, self.classes)


def encode_inputs(part: Examples, source) -> Inputs:
    """Token ids of each text, or feature frames of each clip; ``source`` has the ``audio``
    options, or the ``tokenizer`` and ``vocab``."""
    if source.audio is not None:
        return encode_clips(part, source.audio)
    return encode_texts(part, source.tokenizer, source.vocab, source.char_ngrams)


def encode_clips(part: LabeledClips, audio: FeatureConfig) -> list[Tensor]:
    """Feature frames (T, F) of every clip."""
    return [extract(read_audio(path, audio.sample_rate), audio) for path in part.paths]


def encode_views(part: Examples, source) -> list[Inputs]:
    """The model's inputs for ``part``, once per view: audio, the clips' frames at each
    ``--test-speeds`` factor (:func:`clip_views`); texts, one view (:func:`encode_inputs`)."""
    audio = source.audio
    if audio is None:
        return [encode_inputs(part, source)]
    return clip_views([read_audio(path, audio.sample_rate) for path in part.paths], audio)


def clip_views(waveforms: list[Tensor], audio: FeatureConfig) -> list[list[Tensor]]:
    """Feature frames (T, F) of every clip, once per ``--test-speeds`` factor (once, as they are,
    without it)."""
    rate = audio.sample_rate
    return [
        [extract(change_speed(w, factor, rate), audio) for w in waveforms]
        for factor in audio.test_speeds or [1.0]
    ]


def perturbed(prepared: Prepared) -> tuple[Inputs, list[int]]:
    """The training clips' inputs and class ids, followed by a copy of them at each of
    ``--speed-perturb``'s factors, then at each of ``--vtlp``'s warps (audio; texts and runs
    without these options: the training part as it is)."""
    inputs, labels = prepared.encode(prepared.train)
    audio = prepared.audio
    speeds, warps = (audio.speed_perturb or [], audio.vtlp or []) if audio else ([], [])
    if not speeds and not warps:
        return inputs, labels
    rate = audio.sample_rate
    waveforms = [read_audio(path, rate) for path in prepared.train.paths]
    for factor in speeds:  # an epoch then passes over every copy
        inputs = inputs + [extract(change_speed(w, factor, rate), audio) for w in waveforms]
    for warp in warps:
        inputs = inputs + [extract(w, audio, warp) for w in waveforms]
    return inputs, labels * (1 + len(speeds) + len(warps))


def _read(path: str | Path, data: ClassifyData) -> LabeledTexts:
    return read_labeled(path, data.text_column, data.label_column, data.header, data.delimiter)


def dataset_files(data: ClassifyData) -> dict[str, Path | None]:
    """The files of train/valid/test (None: carved from the training file by a split)."""
    if data.data in NAMED:
        from rnnkit.data import registry

        files = dict(NAMED[data.data]["files"])
        if data.train_on == "phrases":
            files["train"] = NAMED[data.data]["phrases"]
        return {
            part: registry.locate(data.data, files[part]) if part in files else None
            for part in ("train", "valid", "test")
        }
    if not Path(data.data).exists():
        from rnnkit.data import registry

        named = [*NAMED, "fsdd"]
        raise InputError(
            f"{data.data}: file not found, and not a dataset ({', '.join(named)})"
            + registry.did_you_mean(Path(data.data).name, named)
        )
    return {
        "train": Path(data.data),
        "valid": Path(data.valid) if data.valid else None,
        "test": Path(data.test) if data.test else None,
    }


def load_parts(
    data: ClassifyData, stored_split: dict | None = None
) -> tuple[dict[str, LabeledTexts], dict | None]:
    """Read train/valid/test; split off the missing parts (or re-apply a stored split)."""
    files = dataset_files(data)
    parts = {name: _read(path, data) for name, path in files.items() if path is not None}
    missing = [name for name in ("valid", "test") if files[name] is None]
    if not missing:
        return parts, None
    sha256 = file_sha256(files["train"])
    if stored_split is not None and stored_split.get("sha256") != sha256:
        raise InputError(
            f"{files['train']}: the file changed since the run was trained (its sha256 "
            "differs from the one in split.json), so the stored split no longer applies; "
            "evaluate with --data FILE instead"
        )
    train = parts["train"]
    carved, split = carve(train, train.lines, missing, data, stored_split, "line")
    return {**parts, **carved}, {"source": str(files["train"]), "sha256": sha256, **split}


def carve(
    train: Examples,
    keys: list,
    missing: list[str],
    data: ClassifyData,
    stored_split: dict | None,
    what: str,
) -> tuple[dict[str, Examples], dict]:
    """Train and the ``missing`` parts (valid, test) split off ``train`` by class, or the stored
    split re-applied. split.json names each row by its key (``keys[i]``: a line number of the
    file, a clip's name), so the split never depends on the order rows are read in."""
    parts: dict[str, Examples] = {}
    if stored_split is not None:
        row_of = {key: row for row, key in enumerate(keys)}
        for name in ("train", *missing):
            if name not in stored_split:
                raise InputError(f"the run's {SPLIT} has no key {name!r}; the file is damaged")
            try:
                parts[name] = train.subset([row_of[key] for key in stored_split[name]])
            except KeyError as error:
                raise InputError(
                    f"{train.source}: {what} {error.args[0]} of the stored split is not in the data"
                ) from None
        return parts, stored_split
    fractions = {"valid": data.valid_fraction, "test": data.test_fraction}
    indices = stratified_split(train.labels, [fractions[m] for m in missing], data.split_seed)
    split: dict = {"seed": data.split_seed, "fractions": {m: fractions[m] for m in missing}}
    for name, rows in zip(("train", *missing), indices):
        parts[name] = train.subset(rows)
        split[name] = [keys[i] for i in rows]
    return parts, split


def read_clips(source: str, data: ClassifyData) -> LabeledClips:
    """A folder of labelled subfolders, or a manifest read with the column options."""
    if Path(source).is_dir():
        return read_folder(source)
    return read_manifest(source, data.text_column, data.label_column, data.header, data.delimiter)


def load_clip_parts(
    data: ClassifyData, stored_split: dict | None = None
) -> tuple[dict[str, LabeledClips], dict | None]:
    """Audio's train/valid/test; the missing parts split off by class (or a stored split
    re-applied by clip name)."""
    if is_fsdd(data.data):
        from rnnkit.data import registry

        clips, speakers, takes = read_fsdd(registry.locate_folder("fsdd"))
        rest, test = fsdd_split(speakers, takes, data.data.partition(":")[2] or None)
        parts = {"train": clips.subset(rest), "test": clips.subset(test)}
    else:
        parts = {"train": read_clips(data.data, data)}
        parts.update(
            {p: read_clips(getattr(data, p), data) for p in ("valid", "test") if getattr(data, p)}
        )
    missing = [name for name in ("valid", "test") if name not in parts]
    if not missing:
        return parts, None
    train = parts["train"]
    carved, split = carve(train, train.names(), missing, data, stored_split, "clip")
    return {**parts, **carved}, {"source": train.source, **split}


def prepare(
    data: ClassifyData,
    stored_split: dict | None = None,
    vocab: Vocab | None = None,
    classes: list[str] | None = None,
    audio: FeatureConfig | None = None,
) -> Prepared:
    """Read the data and build (or reuse) the tokenizer, vocabulary and class list; for audio
    data (``audio`` given), the clips and class list."""
    data.check()
    if audio is not None:
        parts, split = load_clip_parts(data, stored_split)
        classes = classes if classes is not None else classes_of(parts["train"])
        trio = (parts["train"], parts["valid"], parts["test"])
        return Prepared(*trio, None, None, classes, split, audio=audio)
    parts, split = load_parts(data, stored_split)
    tokenizer = Tokenizer(data.tokenizer, data.lowercase)
    classes = classes if classes is not None else classes_of(parts["train"])
    if vocab is None:
        tokens = (tokenizer(text) for text in parts["train"].texts)
        vocab = Vocab.build(tokens, data.min_freq, data.max_vocab)
    label_names = NAMED[data.data]["label_names"] if data.data in NAMED else {}
    return Prepared(
        parts["train"],
        parts["valid"],
        parts["test"],
        tokenizer,
        vocab,
        classes,
        split,
        dict(label_names),
    )


def pretraining_texts(data: ClassifyData, prepared: Prepared) -> LabeledTexts:
    """The texts language-model pretraining reads: the training part, or with ``--train-on
    phrases`` the training sentences the phrases were cut from (the same words, a tenth of
    the tokens)."""
    if data.train_on != "phrases":
        return prepared.train
    return _read(dataset_files(replace(data, train_on="sentences"))["train"], data)


def token_inputs(tokens: list[str], vocab: Vocab, char_ngrams: int = 0) -> list:
    """A text's input: the ids of its tokens or, for a ``--char-ngrams`` model, each token's
    id followed by its n-grams' buckets (:func:`rnnkit.data.ngrams.with_ngrams`)."""
    ids = vocab.encode(tokens)
    return with_ngrams(tokens, ids, char_ngrams) if char_ngrams else ids


def encode_texts(
    part: LabeledTexts, tokenizer: Tokenizer, vocab: Vocab, char_ngrams: int = 0
) -> list[list]:
    """:func:`token_inputs` of every text; a text with no tokens raises InputError at its line."""
    encoded = []
    for row, text in enumerate(part.texts):
        tokens = tokenizer(text)
        if not tokens:
            raise InputError(f"{part.where(row)}: empty text (no tokens)")
        encoded.append(token_inputs(tokens, vocab, char_ngrams))
    return encoded


def pad_batch(sequences: Inputs) -> tuple[Tensor, Tensor]:
    """Ids (B, T) padded with 0 to the longest sequence (or frames (B, T, F) padded with zero
    frames; or, for tokens with their n-grams, (B, T, 1 + G) padded with 0 in both), and the
    lengths (B,)."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    if isinstance(sequences[0], Tensor):
        return torch.nn.utils.rnn.pad_sequence(list(sequences), batch_first=True), lengths
    if isinstance(sequences[0][0], list):  # [word id, bucket, ...] per token
        width = max(len(token) for sequence in sequences for token in sequence)
        steps = int(lengths.max())
        padded = [
            [token + [0] * (width - len(token)) for token in sequence]
            + [[0] * width] * (steps - len(sequence))
            for sequence in sequences
        ]
        return torch.tensor(padded, dtype=torch.long), lengths  # (B, T, 1 + G)
    ids = torch.zeros(len(sequences), int(lengths.max()), dtype=torch.long)  # (B, T)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
    return ids, lengths


class ClassificationTask:
    """Cross-entropy on random padded batches; validation loss, accuracy and macro-F1."""

    def __init__(
        self,
        model: TextClassifier,
        train: tuple[Inputs, list[int]],
        valid: tuple[list[Inputs], list[int]],
        batch_size: int = 32,
        seed: int = 0,
        augment: Callable[..., Tensor] | None = None,
        adversarial: float = 0.0,
    ) -> None:
        self.model = model
        # epsilon of adversarial training (0: off); a task's own value, because under torchrun
        # self.model is DistributedDataParallel's wrapper while the loss is computed
        self.adversarial = adversarial
        self.augment = augment  # (frames (B, T, F), lengths (B,), generator=) -> masked frames
        self.train_ids, self.train_labels = train
        self.valid_views, self.valid_labels = valid  # the inputs once per view (predict_views)
        self.batch_size = batch_size
        self.seed = seed
        self.steps_per_epoch = math.ceil(len(self.train_ids) / batch_size)

    @classmethod
    def from_prepared(
        cls,
        model: TextClassifier,
        prepared: Prepared,
        batch_size: int = 32,
        seed: int = 0,
        adversarial: float = 0.0,
    ) -> ClassificationTask:
        audio = prepared.audio
        augment = None
        if audio is not None and (audio.freq_mask or audio.time_mask):
            augment = partial(
                spec_augment,
                freq_width=audio.freq_mask,
                time_width=audio.time_mask,
                masks=audio.mask_count,
            )
        return cls(
            model,
            perturbed(prepared),
            (
                encode_views(prepared.valid, prepared),
                encode_labels(prepared.valid, prepared.classes),
            ),
            batch_size,
            seed,
            augment,
            adversarial,
        )

    def batch(self, epoch: int, index: int) -> tuple[Tensor, Tensor, Tensor]:
        order = torch.randperm(len(self.train_ids), generator=epoch_generator(self.seed, epoch))
        rows = order[index * self.batch_size : (index + 1) * self.batch_size].tolist()
        ids, lengths = pad_batch([self.train_ids[r] for r in rows])  # (B, T) or (B, T, F), (B,)
        if self.augment is not None:  # audio frames, training only
            ids = self.augment(ids, lengths, generator=augment_generator(self.seed, epoch, index))
        labels = torch.tensor([self.train_labels[r] for r in rows], dtype=torch.long)  # (B,)
        return ids, lengths, labels

    def training_loss(self, batch, carry) -> tuple[Tensor, None, int]:
        ids, lengths, labels = batch
        epsilon = self.adversarial
        if not epsilon:
            logits = self.model(ids, lengths)  # (B, C)
            return F.cross_entropy(logits.float(), labels), None, len(labels)
        model = self.model
        x = model.inputs(ids)  # (B, T, E): word vectors (word dropout drawn once) or frames
        if not x.requires_grad:  # audio frames, or a frozen embedding
            x = x.detach().requires_grad_()
        loss = F.cross_entropy(model.classify(x, lengths).float(), labels)
        # one backward pass of L(x) gives dL/dx for the shift and the gradients of the weights
        # after x (those before it, the embedding's, get theirs through x); handing them on in
        # `carried`, whose gradient they are, leaves the trainer one backward pass, through
        # L(x + r): two a step, not three
        before = {id(w) for w in model.embedding_parameters()}
        weights = [w for w in model.parameters() if w.requires_grad and id(w) not in before]
        gradient, *grads = torch.autograd.grad(loss, [x, *weights], allow_unused=True)
        shifted = x + adversarial_shift(gradient, epsilon)
        adversarial = F.cross_entropy(model.classify(shifted, lengths).float(), labels)
        carried = (x * gradient).sum()
        for weight, grad in zip(weights, grads):
            if grad is not None:
                carried = carried + (weight * grad).sum()
        # the value L(x) + L(x + r); its gradient dL + dL(x + r)
        return loss.detach() + adversarial + (carried - carried.detach()), None, len(labels)

    def evaluate(self) -> dict[str, float]:
        probabilities = predict_views(self.model, self.valid_views).mean(dim=0)  # (N, C)
        metrics = scores(probabilities, self.valid_labels)
        return {k: metrics[k] for k in ("loss", "accuracy", "macro_f1")}


def adversarial_shift(gradient: Tensor, epsilon: float) -> Tensor:
    """The fast-gradient perturbation of adversarial training (Goodfellow et al. 2015; Miyato et
    al. 2017): ``r = epsilon * g / ||g||_2`` from ``g = dL/dx`` (B, T, E) for the inputs x, the
    norm taken over each text's (T, E) entries (padding has no gradient), held constant (B, T, E).
    The training loss is then ``L(x) + L(x + r)``: the model also learns from each text moved in
    the direction that hurts it most, within a ball of radius epsilon."""
    norms = gradient.flatten(1).norm(dim=1).clamp_min(1e-12)  # (B,)
    return (epsilon * gradient / norms[:, None, None]).detach()


@torch.no_grad()
def predict(
    model: TextClassifier,
    sequences: list[list[int]],
    batch_size: int = EVAL_BATCH,
    attention: bool = False,
) -> tuple[Tensor, list[list[float]] | None]:
    """Class probabilities (N, C) and, with ``attention``, each text's attention weights.

    Texts are batched in order of length (less padding, same results) and returned in input order.
    """
    was_training = model.training
    model.eval()
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    probabilities = torch.empty(len(sequences), model.num_classes)
    weights: list[list[float]] = [[] for _ in sequences]
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        ids, lengths = pad_batch([sequences[r] for r in rows])
        if attention:
            pooled, attended = model.encode(ids, lengths)
            logits = model.head(pooled)
        else:
            logits, attended = model(ids, lengths), None
        probabilities[rows] = torch.softmax(logits.float(), dim=-1)  # (B, C)
        if attended is not None:
            for k, r in enumerate(rows):
                weights[r] = attended[k, : int(lengths[k])].tolist()
    model.train(was_training)
    return probabilities, (weights if attention else None)


def predict_views(model: TextClassifier, views: list[Inputs]) -> Tensor:
    """Class probabilities (V, N, C) of each of V views of the same N examples (a copy of each
    clip per ``--test-speeds`` factor; one view: :func:`predict`'s). The prediction is their mean
    over views (test-time augmentation)::

        p(c | x) = (1/V) Σ_v softmax(model(x_v))_c
    """
    return torch.stack([predict(model, view)[0] for view in views])


def scores(
    probabilities: Tensor, labels: list[int], classes: list[str] | None = None
) -> dict[str, object]:
    """Loss (mean cross-entropy, nats), accuracy, macro-F1, per-class precision/recall/F1 and the
    confusion matrix (rows: true class, columns: predicted class)."""
    num_classes = probabilities.shape[1]
    classes = classes or [str(k) for k in range(num_classes)]
    truth = torch.tensor(labels, dtype=torch.long)
    predicted = probabilities.argmax(dim=1)
    picked = probabilities[torch.arange(len(labels)), truth].clamp_min(1e-12)
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    confusion.index_put_((truth, predicted), torch.ones_like(truth), accumulate=True)
    per_class = {}
    for k, name in enumerate(classes):
        true_positive = int(confusion[k, k])
        predicted_k, actual_k = int(confusion[:, k].sum()), int(confusion[k].sum())
        precision = true_positive / predicted_k if predicted_k else 0.0
        recall = true_positive / actual_k if actual_k else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": actual_k}
    return {
        "loss": float(-picked.log().mean()),
        "accuracy": float((predicted == truth).float().mean()),
        "macro_f1": sum(c["f1"] for c in per_class.values()) / num_classes,
        "per_class": per_class,
        "confusion": confusion.tolist(),
    }


VOCAB, SPLIT = "vocab.json", "split.json"


@dataclass
class LoadedClassifier:
    """A trained classifier with its tokenizer and vocabulary (texts) or its feature options
    (audio), and its configuration."""

    model: TextClassifier
    vocab: Vocab | None
    tokenizer: Tokenizer | None
    config: dict
    audio: FeatureConfig | None = None
    char_ngrams: int = 0  # the model's n-gram buckets (0: its tokens are ids alone)

    def display(self, label: str) -> str:
        """A class as the user knows it (``positive`` for SST-2's ``1``)."""
        names = self.config.get("label_names")
        return names.get(label, label) if isinstance(names, dict) else label


class ClassifySpec(TaskSpec):
    """``rnnkit train classify``: labelled texts or audio clips, a (bidirectional) recurrent
    classifier."""

    name = "classify"
    help = "text or audio classifier (sentiment, spam, spoken digits, any labels)"
    description = (
        "Train a (bidirectional) RNN, LSTM or GRU classifier on labelled texts or audio clips."
    )
    sections = {
        "data": ClassifyData,
        "audio": FeatureConfig,
        "model": ClassifierConfig,
        "pretrain": PretrainConfig,
    }
    train_defaults = {"epochs": 10.0, "eval_every": 100, "lr": 1e-3}
    unit = "nats"

    def from_stored(self, stored, where: str):
        # runs trained before audio input have no audio section
        if isinstance(stored, dict):
            stored = {"audio": {}, "pretrain": {}, **stored}
        return super().from_stored(stored, where)

    def is_dataset(self, value: str) -> bool:
        return value in NAMED or is_fsdd(value)

    def build(self, config, run: Path, resume: bool) -> Built:
        from rnnkit.data.tokenize import read_word_vectors

        data, model_config = config["data"], config["model"]
        config_json = load_run(run, self.name) if resume else None
        if resume:  # what the run was trained on is frozen with it, whatever the data is now
            audio = config["audio"] if stored_inputs(run, config_json) == "audio" else None
        else:
            audio = config["audio"] if is_audio(data.data) else None
        vectors, note = None, ""
        if resume:
            vocab = None if audio else Vocab.load(run / VOCAB)[0]
            # a stored split holds lines of the run's own file, not of another (diagnose --data)
            own = data.data == stored(run, config_json, "data", "data", kind=str)
            split = read_split(run, config_json) if own else None
            prepared = prepare(data, split, vocab, stored_classes(run, config_json), audio)
        else:
            prepared = prepare(data, audio=audio)
            if data.embeddings:
                vectors, found = read_word_vectors(data.embeddings, prepared.vocab)
                # the default size gives way to the vectors' own; another explicit one is an error
                default = ClassifierConfig().embedding_dim
                if model_config.embedding_dim not in (vectors.shape[1], default):
                    raise InputError(
                        f"{data.embeddings}: the vectors have {vectors.shape[1]} dimensions but "
                        f"--embedding-dim is {model_config.embedding_dim}; drop --embedding-dim"
                    )
                model_config.embedding_dim = vectors.shape[1]
                note = (
                    f"; {data.embeddings}: vectors for {int(found.sum()):,} of "
                    f"{len(prepared.vocab) - 2:,} words, the others start random"
                )
        if model_config.adversarial and launched():
            raise InputError(
                "--adversarial is not supported under torchrun (its two passes per batch would "
                "reach DistributedDataParallel's gradient averaging twice); train in one process"
            )
        if audio and model_config.char_ngrams:
            raise InputError("--char-ngrams builds word vectors; audio runs have no words")
        prepared.char_ngrams = model_config.char_ngrams
        model = TextClassifier(
            model_config,
            len(prepared.vocab) if prepared.vocab else 0,
            len(prepared.classes),
            audio.size if audio else None,
        )
        if vectors is not None:
            model.load_word_vectors(vectors, found)
        pretraining = config["pretrain"]
        record = {}
        if pretraining.pretrain_epochs and not resume:  # a resumed run has its weights
            check_pretrainable(model)
            record["pretrained"] = pretrain(
                model,
                encode_texts(pretraining_texts(data, prepared), prepared.tokenizer, prepared.vocab),
                pretraining,
                data.batch_size,
                config["train"].seed,
                config["train"].clip_norm,
            )
            note += (
                f"; pretrained as a language model for {record['pretrained']['steps']:,} steps "
                f"({record['pretrained']['seconds']:.0f} s)"
            )
        task = ClassificationTask.from_prepared(
            model, prepared, data.batch_size, config["train"].seed, model_config.adversarial
        )

        def save(out: Path) -> None:
            if prepared.vocab is not None:
                prepared.vocab.save(out / VOCAB, prepared.tokenizer)
            if prepared.split is not None:
                write_json(out / SPLIT, prepared.split)

        params = sum(p.numel() for p in model.parameters())
        sizes = f"{len(prepared.train)}/{len(prepared.valid)}/{len(prepared.test)}"
        inputs = (
            f"{audio.size} {audio.features} features per frame"
            if audio
            else f"vocabulary {len(prepared.vocab):,}"
        )
        return Built(
            task,
            model,
            f"{params:,} parameters, {inputs}, "
            f"{len(prepared.classes)} classes, train/valid/test {sizes}, "
            f"{task.steps_per_epoch} steps per epoch{note}",
            record={
                "inputs": "audio" if audio else "text",
                "classes": prepared.classes,
                "label_names": prepared.label_names,
                "split": prepared.split is not None,
                **record,
            },
            save=save,
        )

    def load(self, run) -> LoadedClassifier:
        run = Path(run)
        config = load_run(run, self.name)
        sections = self.from_stored(config, str(run / "config.json"))
        classes = stored_classes(run, config)
        if stored_size(run, config, "num_classes", len(classes)) != len(classes):
            raise InputError(
                f"{run / 'config.json'}: 'classes' has {len(classes)} entries but "
                "'sizes.num_classes' differs; the file is damaged"
            )
        if stored_inputs(run, config) == "audio":
            audio = sections["audio"]
            size = stored(run, config, "sizes", "feature_size", kind=int)
            if size != audio.size:
                raise InputError(
                    f"{run / 'config.json'}: 'sizes.feature_size' is {size} but the 'audio' "
                    f"section gives {audio.size} features per frame; the file is damaged"
                )
            model = TextClassifier(sections["model"], 0, len(classes), size)
            load_best_weights(run, model)
            return LoadedClassifier(model.eval(), None, None, config, audio)
        vocab, tokenizer = Vocab.load(run / VOCAB)
        if tokenizer is None:
            tokenizer = Tokenizer(sections["data"].tokenizer, sections["data"].lowercase)
        size = stored_size(run, config, "vocab_size", len(vocab))
        if size != len(vocab):
            raise InputError(
                f"{run / VOCAB}: has {len(vocab)} tokens, but the model was trained with {size} "
                "(config.json 'sizes.vocab_size'); the file is damaged"
            )
        model = TextClassifier(sections["model"], len(vocab), len(classes))
        load_best_weights(run, model)
        model.eval()
        return LoadedClassifier(
            model, vocab, tokenizer, config, char_ngrams=sections["model"].char_ngrams
        )

    def score(self, run: Path, data: str | None = None) -> Scored:
        from rnnkit.data import registry

        loaded = self.load(run)
        config = loaded.config
        classes = stored_classes(run, config)
        stored_data = self.from_stored(config, str(run / "config.json"))["data"]
        audio = loaded.audio
        result: dict = {}
        if data and not (registry.is_registered(data) or is_fsdd(data)):
            reader = read_clips if audio else _read
            parts = {"test": reader(data, stored_data)}
        else:
            split = None
            if data:
                stored_data = ClassifyData(
                    **{**asdict(stored_data), "data": data, "valid": None, "test": None}
                )
            else:
                check_sources(run, config)
                split = read_split(run, config)
            prepared = prepare(stored_data, split, loaded.vocab, classes, audio)
            parts = {"test": prepared.test, "valid": prepared.valid}
        for name, part in parts.items():
            each = predict_views(loaded.model, encode_views(part, loaded))  # (V, N, C)
            labels = encode_labels(part, classes)
            metrics = scores(each.mean(dim=0), labels, classes)
            if name == "valid":
                result["valid"] = {"examples": len(part)}
                result["valid"].update({k: metrics[k] for k in ("loss", "accuracy", "macro_f1")})
                continue
            if len(each) > 1:  # what each speed alone would score
                speeds = [f"{factor:g}" for factor in audio.test_speeds]
                metrics["accuracy_by_speed"] = {
                    speed: scores(p, labels)["accuracy"] for speed, p in zip(speeds, each)
                }
            result = {
                "data": data or stored_data.data,
                "part": "all rows of --data" if len(parts) == 1 else "test",
                "examples": len(part),
                **metrics,
                "classes": classes,
                "label_names": config.get("label_names") or {},
                **result,
            }
        names = [loaded.display(c) for c in classes]
        title = f"{result['data']}: {result['part']}"
        return Scored(
            result,
            {"confusion.png": lambda path: plot_confusion(result["confusion"], names, path, title)},
        )


def stored_classes(run: Path, config: dict) -> list[str]:
    """The class names a run was trained on (config.json's ``classes``), checked."""
    classes = stored(run, config, "classes", kind=list)
    if len(classes) < 2 or not all(isinstance(c, str) for c in classes):
        raise InputError(
            f"{Path(run) / 'config.json'}: key 'classes' must list at least two class names; "
            "the file is damaged"
        )
    return classes


def stored_inputs(run: Path, config: dict) -> str:
    """``"text"`` or ``"audio"``: what a run was trained on (runs made before audio input have
    no ``inputs`` key and are text runs)."""
    if "inputs" not in config:
        return "text"
    inputs = stored(run, config, "inputs", kind=str)
    if inputs not in ("text", "audio"):
        raise InputError(
            f"{Path(run) / 'config.json'}: key 'inputs' must be 'text' or 'audio', got "
            f"{inputs!r}; the file is damaged"
        )
    return inputs


def read_split(run: Path, config: dict) -> dict | None:
    """The split stored with a run (split.json), checked; None when the run made none. A text
    run's split names rows by line number and holds its file's sha256; an audio run's names
    clips by their path (its folder has no single checksum)."""
    if not stored(run, config, "split", kind=bool):
        return None
    audio = stored_inputs(run, config) == "audio"
    path = Path(run) / SPLIT
    split = read_json(path, "stored split")
    if not isinstance(split, dict):
        raise InputError(f"{path}: not a stored split (expected a JSON object)")
    kinds = {"source": str, "sha256": str, "seed": int, "fractions": dict}
    key_kind, what = (str, "clip names") if audio else (int, "line numbers")
    for key, value in split.items():
        if key in ("train", "valid", "test") and not (
            isinstance(value, list)
            and all(isinstance(v, key_kind) and not isinstance(v, bool) for v in value)
        ):
            raise InputError(f"{path}: key {key!r} must be a list of {what}")
        if key in kinds and not isinstance(value, kinds[key]):
            raise InputError(f"{path}: key {key!r} should be {kinds[key].__name__}; damaged")
    fractions = split.get("fractions", {}).values()
    if not all(isinstance(f, (int, float)) and not isinstance(f, bool) for f in fractions):
        raise InputError(f"{path}: key 'fractions' must hold numbers; the file is damaged")
    for key in ("train",) if audio else ("train", "sha256"):
        if key not in split:
            raise InputError(f"{path}: has no key {key!r}; the file is damaged")
    return split


SPEC = ClassifySpec()
