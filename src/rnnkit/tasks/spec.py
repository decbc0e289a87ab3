"""What every task is: one :class:`TaskSpec` that owns its options, defaults, runs and artifacts.

A task spec names its option sections (``data``, ``model``, ``train`` and, for translation,
``decode``), each a dataclass of :func:`rnnkit.config.option` fields, and the training defaults
that differ from :class:`rnnkit.training.trainer.TrainConfig`'s. It builds what the trainer
trains (:meth:`TaskSpec.build`), loads a finished run (:meth:`TaskSpec.load`) and scores it
(:meth:`TaskSpec.score`, written by :meth:`TaskSpec.evaluate`). The CLI, the Python API
(:mod:`rnnkit.api`), studies and benchmarks all go through these methods.
:meth:`TaskSpec.diagnose` serves every task alike: it rebuilds the run's trainer task and measures
how its recurrent layer passes gradient back through time (:mod:`rnnkit.diagnostics`).

Files the user names (option fields declared with ``path=True``) are stored as absolute paths,
and those the run reads again are listed by :meth:`TaskSpec.data_files` so that config.json keeps
their sha256: a run never silently reads another or a changed file.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from rnnkit import config as options
from rnnkit import diagnostics
from rnnkit.errors import InputError
from rnnkit.io import write_json
from rnnkit.plots import plot_gate_histograms, plot_gradient_per_step
from rnnkit.training.run import CONFIG, check_sources, load_best_weights, load_run, read_metrics
from rnnkit.training.trainer import TrainConfig

DIAGNOSTICS = "diagnostics.json"

Sections = dict[str, Any]  # section name -> dataclass instance


@dataclass
class Built:
    """A run made ready to train: the trainer's task, and what a fresh run must store."""

    task: Any  # model, steps_per_epoch, batch(), training_loss(), evaluate()
    model: nn.Module
    describe: str  # one line for the user: parameters, data sizes
    record: dict = field(default_factory=dict)  # extra config.json sections (classes, series)
    save: Callable[[Path], None] = lambda run: None  # writes the artifacts (vocab, scaler)


@dataclass
class Scored:
    """An evaluation: the result (what eval.json holds) and the files that go beside it, each
    a function writing to the path it is given (figures, translations), keyed by file name."""

    result: dict
    files: dict[str, Callable[[Path], Any]] = field(default_factory=dict)


def evaluation_name(data: str | None) -> str:
    """``eval`` for a run's own data; ``eval-NAME`` for ``--data`` (NAME: the file's stem or the
    dataset's name), so scoring other data never overwrites the run's own eval.json."""
    if not data:
        return "eval"
    name = Path(str(data).rstrip("/\\")).name
    stem = Path(name).stem if Path(name).suffix not in ("", ".") else name
    return "eval-" + (re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "data")


class TaskSpec:
    """A task: its option sections, training defaults, and how it builds, loads and scores runs."""

    name: str = ""
    help: str = ""
    description: str = ""
    sections: dict[str, type] = {}
    train_defaults: dict[str, Any] = {}
    unit: str = ""  # of the validation loss, for messages: "nats/char"

    @property
    def classes(self) -> dict[str, type]:
        return {**self.sections, "train": TrainConfig}

    def defaults(self, section: str) -> dict[str, Any]:
        """The values a section's options take when the user gives none."""
        cls = self.classes[section]
        values = {f.name: getattr(cls(), f.name) for f in options.options_of(cls)}
        if section == "train":
            values.update(self.train_defaults)
        return values

    def resolve(self, values: Mapping[str, Any], where: str = "") -> Sections:
        """Checked dataclass instances from option values (flag or field names, typed values);
        file paths made absolute."""
        given = options.normalise(self.classes, values, where)
        config = {
            section: options.build(cls, given[section], self.defaults(section))
            for section, cls in self.classes.items()
        }
        self.check(config)
        for instance in config.values():
            for option in options.options_of(type(instance)):
                value = getattr(instance, option.name)
                setattr(instance, option.name, self.absolute(option, value))
        return config

    def is_dataset(self, value: str) -> bool:
        """Whether a ``--data`` value names a registered dataset rather than a file."""
        return False

    def absolute(self, option: dataclasses.Field, value: Any) -> Any:
        """``value`` of ``option`` as stored in config.json: a file path (an option declared with
        ``path=True`` that does not name a dataset) made absolute, anything else as it is."""
        if not option.metadata.get("path") or not isinstance(value, str) or not value:
            return value
        if self.is_dataset(value):
            return value
        return os.path.abspath(os.path.expanduser(value))

    def data_files(self, config: Sections) -> dict[str, Path]:
        """The files the user named that the run reads again (at resume and evaluation), by
        option name: their sha256 is stored in config.json. Options declared with
        ``checksum=False`` (word vectors, read once) are left out, and so is a folder (a
        classifier's folder of audio clips): a folder has no single file checksum, so none is
        recorded for it and it is read again as it is then. (An audio manifest is a file and is
        checksummed, the clips it names are not.)"""
        files = {}
        for instance in config.values():
            for option in options.options_of(type(instance)):
                value = getattr(instance, option.name)
                if (
                    option.metadata.get("path")
                    and option.metadata.get("checksum", True)
                    and isinstance(value, str)
                    and value
                    and not self.is_dataset(value)
                    and not Path(value).is_dir()
                ):
                    files[options.flag_name(option)] = Path(value)
        return files

    def check(self, config: Sections) -> None:
        """Checks across sections (a task may add its own)."""
        sparse = getattr(config.get("model"), "sparse_embedding", False)
        optimizer = config["train"].optimizer
        if sparse and optimizer != "sparseadam":
            raise InputError(
                f"--sparse-embedding needs --optimizer sparseadam (got {optimizer}): the other "
                "optimizers cannot take sparse gradients"
            )
        if optimizer == "sparseadam" and not sparse:
            raise InputError("--optimizer sparseadam goes with --sparse-embedding")

    def from_stored(self, stored: Mapping[str, Any], where: str) -> Sections:
        """The sections of a run's config.json as dataclass instances, every value checked
        against its option's type and bounds (a damaged file is one InputError naming the key)."""
        config = {}
        for section, cls in self.classes.items():
            known = {f.name: f for f in dataclasses.fields(cls)}
            values = stored.get(section) if isinstance(stored, Mapping) else None
            if not isinstance(values, dict):
                raise InputError(f"{where}: has no {section!r} section")
            checked = {}
            for name, value in values.items():
                if name not in known:
                    continue
                if "help" not in known[name].metadata:  # not an option: kept as stored
                    checked[name] = value
                    continue
                try:
                    checked[name] = options.typed(cls, known[name], value, "")
                except InputError as error:
                    reason = str(error).partition(": ")[2]
                    raise InputError(f"{where}: key '{section}.{name}': {reason}") from None
            try:
                config[section] = options.validate(cls(**checked))
            except TypeError as error:
                raise InputError(f"{where}: section {section!r}: {error}") from None
            except InputError as error:
                raise InputError(f"{where}: section {section!r}: {error}") from None
        return config

    # --- what each task provides ----------------------------------------------------------------
    def build(self, config: Sections, run: Path, resume: bool) -> Built:
        """Read the data and build the model. A resumed run loads its stored artifacts (vocabulary,
        scaler, tokenizers, split) from ``run`` instead of deriving them again."""
        raise NotImplementedError

    def load(self, run: str | Path) -> Any:
        """A finished run with its best weights, ready to predict (``.model``, ``.config``)."""
        raise NotImplementedError

    def score(self, run: Path, data: str | None = None) -> Scored:
        """Score a run (its own test or validation data, or ``data``), writing nothing. The
        result's ``valid`` holds the validation metrics whenever the run's own data is used.
        Scoring the run's own data first checks its files against their stored sha256."""
        raise NotImplementedError

    def evaluate(
        self,
        run: str | Path,
        data: str | None = None,
        report: Callable[[dict], None] | None = None,
    ) -> dict:
        """Score a run, hand the result to ``report`` (the CLI prints it) before anything is
        written, then write ``RUN/eval.json`` (``RUN/eval-NAME.json`` for ``data``) and the
        files beside it; return the result."""
        run = Path(run)
        scored = self.score(run, data)
        if report is not None:
            report(scored.result)
        name = evaluation_name(data)
        write_json(run / f"{name}.json", scored.result)
        suffix = name.removeprefix("eval")
        for filename, write in scored.files.items():
            stem, dot, extension = filename.partition(".")
            write(run / f"{stem}{suffix}{dot}{extension}")
        return scored.result

    # --- what every task shares ----------------------------------------------------------------
    def diagnosis_task(self, run: str | Path, data: str | None = None) -> Any:
        """The run's trainer task (its training batches and loss) with the run's best weights:
        built as at ``--resume`` (the stored vocabulary, scaler or tokenizers) on the run's own
        data, checked against its stored sha256 first, or on ``data`` in place of the run's
        ``--data``."""
        run = Path(run)
        stored = load_run(run, self.name)
        config = self.from_stored(stored, str(run / CONFIG))
        if data is not None:
            if not hasattr(config["data"], "data"):
                raise InputError(
                    f"{run}: a {self.name} run generates its own data; --data does not apply"
                )
            config["data"] = dataclasses.replace(config["data"], data=data)
        else:
            check_sources(run, stored)
        built = self.build(config, run, resume=True)
        load_best_weights(run, built.model)
        return built.task

    def diagnose(
        self,
        run: str | Path,
        data: str | None = None,
        batches: int = 4,
        report: Callable[[dict], None] | None = None,
    ) -> dict:
        """Measure a run's best weights on its first ``batches`` training batches: ||dL/dh_t||
        per step and gate saturation of its first recurrent layer's last layer, the spectra of
        every W_hh, and how often clipping fired in training. Hands the result to ``report``
        (the CLI prints it) before anything is written, then writes ``RUN/diagnostics.json``,
        ``grad_norm_per_step.png`` and (LSTM, GRU) ``gate_saturation.png``; returns the JSON."""
        run = Path(run)
        task = self.diagnosis_task(run, data)
        diagnostics.find_recurrent_layer(task.model, f"{run}: the {self.name} model")
        chosen = (task.batch(*divmod(i, task.steps_per_epoch)) for i in range(batches))
        flow = diagnostics.gradient_per_step(
            task.model, lambda batch: task.training_loss(batch, None)[0], chosen
        )
        train = self.from_stored(load_run(run, self.name), str(run / CONFIG))["train"]
        result = {
            "run": str(run),
            "task": self.name,
            "data": data or "the run's own training data",
            **flow,
            "recurrent_weights": diagnostics.recurrent_spectra(task.model),
            "clipping": {
                "clip_norm": train.clip_norm,
                "clip_value": train.clip_value,
                "fired": diagnostics.clip_share(read_metrics(run)),
            },
        }
        if report is not None:
            report(result)
        write_json(run / DIAGNOSTICS, result)
        title = f"{run.name}: {flow['cell'].upper()} layer {flow['layer']!r}, last layer"
        plot_gradient_per_step(
            {flow["cell"]: flow["grad_norm_per_step"]}, run / "grad_norm_per_step.png", title
        )
        histograms = {gate: s["histogram"] for gate, s in flow["gate_saturation"].items()}
        thresholds = (diagnostics.SATURATION_LOW, diagnostics.SATURATION_HIGH)
        plot_gate_histograms(histograms, run / "gate_saturation.png", thresholds, title)
        return result
