"""What every task is: one :class:`TaskSpec` that owns its options, defaults, runs and artifacts.

A task spec names its option sections (``data``, ``model``, ``train`` and, for translation,
``decode``), each a dataclass of :func:`rnnkit.config.option` fields, and the training defaults
that differ from :class:`rnnkit.training.trainer.TrainConfig`'s. It builds what the trainer
trains (:meth:`TaskSpec.build`), loads a finished run (:meth:`TaskSpec.load`) and scores it
(:meth:`TaskSpec.evaluate`). The CLI, the Python API (:mod:`rnnkit.api`), studies and benchmarks
all go through these methods. :meth:`TaskSpec.diagnose` serves every task alike: it rebuilds the
run's trainer task and measures how its recurrent layer passes gradient back through time
(:mod:`rnnkit.diagnostics`).
"""

from __future__ import annotations

import dataclasses
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
from rnnkit.training.run import CONFIG, load_best_weights, load_run, read_metrics
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
        """Checked dataclass instances from option values (flag or field names, typed values)."""
        given = options.normalise(self.classes, values, where)
        config = {
            section: options.build(cls, given[section], self.defaults(section))
            for section, cls in self.classes.items()
        }
        self.check(config)
        return config

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
        """The sections of a run's config.json as dataclass instances."""
        config = {}
        for section, cls in self.classes.items():
            known = {f.name for f in dataclasses.fields(cls)}
            values = stored.get(section)
            if not isinstance(values, dict):
                raise InputError(f"{where}: has no {section!r} section")
            try:
                config[section] = cls(**{k: v for k, v in values.items() if k in known})
            except TypeError as error:
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

    def evaluate(self, run: str | Path, data: str | None = None) -> dict:
        """Score a run (its own test or validation data, or ``data``) and write eval.json. The
        result's ``valid`` holds the validation metrics whenever the run's own data is used."""
        raise NotImplementedError

    # --- what every task shares ----------------------------------------------------------------
    def diagnosis_task(self, run: str | Path, data: str | None = None) -> Any:
        """The run's trainer task (its training batches and loss) with the run's best weights:
        built as at ``--resume`` (the stored vocabulary, scaler or tokenizers) on the run's own
        data, or on ``data`` in place of the run's ``--data``."""
        run = Path(run)
        config = self.from_stored(load_run(run, self.name), str(run / CONFIG))
        if data is not None:
            if not hasattr(config["data"], "data"):
                raise InputError(
                    f"{run}: a {self.name} run generates its own data; --data does not apply"
                )
            config["data"] = dataclasses.replace(config["data"], data=data)
        built = self.build(config, run, resume=True)
        load_best_weights(run, built.model)
        return built.task

    def diagnose(self, run: str | Path, data: str | None = None, batches: int = 4) -> dict:
        """Measure a run's best weights on its first ``batches`` training batches: ||dL/dh_t||
        per step and gate saturation of its first recurrent layer's last layer, the spectra of
        every W_hh, and how often clipping fired in training. Writes ``RUN/diagnostics.json``,
        ``grad_norm_per_step.png`` and (LSTM, GRU) ``gate_saturation.png``; returns the JSON."""
        run = Path(run)
        task = self.diagnosis_task(run, data)
        diagnostics.find_recurrent_layer(task.model, f"{run}: the {self.name} model")
        chosen = (task.batch(*divmod(i, task.steps_per_epoch)) for i in range(batches))
        flow = diagnostics.gradient_per_step(
            task.model, lambda batch: task.training_loss(batch, None)[0], chosen
        )
        train = load_run(run)["train"]
        result = {
            "run": str(run),
            "task": self.name,
            "data": data or "the run's own training data",
            **flow,
            "recurrent_weights": diagnostics.recurrent_spectra(task.model),
            "clipping": {
                "clip_norm": train.get("clip_norm"),
                "clip_value": train.get("clip_value"),
                "fired": diagnostics.clip_share(read_metrics(run)),
            },
        }
        write_json(run / DIAGNOSTICS, result)
        title = f"{run.name}: {flow['cell'].upper()} layer {flow['layer']!r}, last layer"
        plot_gradient_per_step(
            {flow["cell"]: flow["grad_norm_per_step"]}, run / "grad_norm_per_step.png", title
        )
        histograms = {gate: s["histogram"] for gate, s in flow["gate_saturation"].items()}
        thresholds = (diagnostics.SATURATION_LOW, diagnostics.SATURATION_HIGH)
        plot_gate_histograms(histograms, run / "gate_saturation.png", thresholds, title)
        return result
