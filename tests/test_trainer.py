"""The shared trainer: exact resume, atomic checkpoints, NaN handling, optimizers and schedules."""

import copy
import json
import math
import os

import pytest
import torch

from rnnkit.data.text import CharVocab
from rnnkit.errors import InputError
from rnnkit.tasks.lm import LanguageModelTask, LMData
from rnnkit.training import checkpoint
from rnnkit.training.optim import OPTIMIZERS, Schedule, build_optimizers
from rnnkit.training.trainer import LAST, TrainConfig, Trainer, TrainingDiverged
from tests.conftest import TINY_TEXT

MODEL = dict(cell="lstm", hidden_size=16, num_layers=2, dropout=0.3, embedding_dim=8)


def _task(seed=0, **model):
    data = LMData(data="tiny", batch_size=4, seq_len=12)
    return LanguageModelTask.from_text(TINY_TEXT, {**MODEL, **model}, data, seed=seed)


def _config(**overrides):
    base = dict(
        max_steps=20,
        eval_every=5,
        schedule="plateau",
        plateau_patience=0,
        lr=0.01,
        progress=False,
        tensorboard=False,
        seed=3,
        optimizer="adamw",
        weight_decay=0.01,
    )
    return TrainConfig(**{**base, **overrides})


def test_interrupted_and_resumed_run_ends_bit_for_bit_equal(tmp_path):
    torch.manual_seed(0)
    straight = _task()
    Trainer(straight, _config(), tmp_path / "a").fit()

    torch.manual_seed(0)
    first = _task()
    trainer = Trainer(first, _config(), tmp_path / "b")
    loss_fn = first.training_loss

    def stop_after_eleven(batch, carry):  # Ctrl-C arrives during step 11
        if trainer.progress.step == 10:
            trainer.request_stop()
        return loss_fn(batch, carry)

    first.training_loss = stop_after_eleven
    summary = trainer.fit()
    assert summary["stop_reason"] == "interrupted" and summary["steps"] == 11

    torch.manual_seed(123)  # a fresh process: nothing but the checkpoint carries over
    resumed = _task()
    Trainer(resumed, _config(), tmp_path / "b").fit(resume=True)
    for (name, a), (_, b) in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


def test_same_seed_same_run(tmp_path):
    results = []
    for name in ("a", "b"):
        torch.manual_seed(0)
        task = _task()
        Trainer(task, _config(max_steps=8), tmp_path / name).fit()
        results.append(task.model.state_dict())
    assert all(torch.equal(results[0][k], results[1][k]) for k in results[0])


def test_crash_mid_write_leaves_previous_checkpoint_loadable(tmp_path, monkeypatch):
    import rnnkit.io

    path = tmp_path / "state.safetensors"
    checkpoint.save_state(path, {"w": torch.ones(3)}, {"step": 1})

    def crash(fd):
        os.ftruncate(fd, 10)  # half-written file, then the process dies
        raise KeyboardInterrupt

    monkeypatch.setattr(rnnkit.io.os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_state(path, {"w": torch.zeros(3)}, {"step": 2})
    monkeypatch.undo()
    tensors, meta = checkpoint.load_state(path)
    assert torch.equal(tensors["w"], torch.ones(3)) and meta == {"step": 1}
    assert os.listdir(tmp_path) == ["state.safetensors"]  # no temporary file left


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    task = _task()
    trainer = Trainer(task, _config(), tmp_path / "run")
    loss_fn = task.training_loss

    def poisoned(batch, carry):
        loss, carry, count = loss_fn(batch, carry)
        return (loss * math.nan if trainer.progress.step == 7 else loss), carry, count

    task.training_loss = poisoned
    with pytest.raises(TrainingDiverged, match="became nan at step 8"):
        trainer.fit()
    tensors, meta = checkpoint.load_state(tmp_path / "run" / LAST)
    assert meta["progress"]["step"] == 5
    assert all(torch.isfinite(t).all() for k, t in tensors.items() if k.startswith("model."))


def test_resume_without_a_checkpoint_is_refused(tmp_path):
    with pytest.raises(InputError, match="nothing to resume"):
        Trainer(_task(), _config(), tmp_path / "empty").fit(resume=True)


def test_early_stopping_after_patience_evaluations(tmp_path):
    trainer = Trainer(_task(), _config(lr=1e-9, early_stopping=2, max_steps=100), tmp_path / "r")
    trainer.progress.best_loss = -1.0  # nothing can improve on this
    summary = trainer.fit()
    assert summary["stop_reason"].startswith("early stopping") and summary["steps"] == 10


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_keep_last_saves_the_latest_evaluated_weights_and_best_the_lowest_loss(tmp_path, ema):
    """A run whose validation loss rises after the first evaluation: --keep best holds the
    first evaluation's weights, --keep last the final ones (with --ema, the average)."""
    kept = {}
    for keep in ("best", "last"):
        task = _task()
        losses = iter([1.0, 2.0, 3.0, 4.0])
        evaluate = task.evaluate
        task.evaluate = lambda: {**evaluate(), "loss": next(losses)}  # noqa: B023
        trainer = Trainer(task, _config(keep=keep, ema=ema), tmp_path / keep)
        trainer.fit()
        weights, meta = checkpoint.load_state(tmp_path / keep / "model.safetensors")
        kept[keep] = weights
        assert meta["step"] == {"best": 5, "last": 20}[keep]
        with trainer._evaluated_weights():  # what the last evaluation scored
            final = {k: v.clone() for k, v in task.model.state_dict().items()}
        assert all(torch.equal(weights[k], final[k]) for k in final) == (keep == "last")
    assert trainer.progress.best_step == 5  # the record of the best stays either way


def test_keep_is_an_option_of_rnnkit_train_stored_with_the_run(tmp_path, capsys):
    from rnnkit.cli import main
    from tests.conftest import TINY_LM

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TINY_TEXT)
    quick = [*TINY_LM, "--max-steps", "4", "--eval-every", "2", "--no-progress"]
    run = tmp_path / "run"
    assert (
        main(["train", "lm", "--data", str(corpus), *quick, "--keep", "last", "--out", str(run)])
        == 0
    )
    assert json.loads((run / "config.json").read_text())["train"]["keep"] == "last"
    assert checkpoint.load_state(run / "model.safetensors")[1]["step"] == 4
    capsys.readouterr()
    bad = ["train", "lm", "--data", str(corpus), "--keep", "first", "--out", str(tmp_path / "b")]
    assert main(bad) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--keep must be one of best, last" in error


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_takes_a_step(name, tmp_path):
    task = _task(sparse_embedding=name == "sparseadam")
    before = {k: v.clone() for k, v in task.model.state_dict().items()}
    Trainer(task, _config(optimizer=name, max_steps=2, weight_decay=0.0), tmp_path / name).fit()
    after = task.model.state_dict()
    assert all(not torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_uses_the_fused_kernel_and_makes_the_loops_update(name):
    """On the CPU, Adam and AdamW take PyTorch's fused kernel; five steps of it move every weight
    as the loop over parameters does."""
    fused = _task().model
    loop, start = copy.deepcopy(fused), copy.deepcopy(fused)
    (optimizer,) = build_optimizers(fused, name, 0.01, weight_decay=0.1).optimizers
    assert optimizer.defaults["fused"] is True
    reference = type(optimizer)(loop.parameters(), lr=0.01, weight_decay=0.1, foreach=False)
    gradients = torch.Generator().manual_seed(1)
    for _ in range(5):
        for a, b in zip(fused.parameters(), loop.parameters(), strict=True):
            a.grad = torch.randn(a.shape, generator=gradients)
            b.grad = a.grad.clone()
        optimizer.step()
        reference.step()
    for (key, a), b, c in zip(
        fused.named_parameters(), loop.parameters(), start.parameters(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=key)
        assert not torch.equal(a, c), key


def test_sparseadams_dense_half_is_fused():
    optimizers = build_optimizers(_task(sparse_embedding=True).model, "sparseadam", 0.01)
    sparse, dense = optimizers.optimizers
    assert isinstance(sparse, torch.optim.SparseAdam) and dense.defaults["fused"] is True


def test_sparseadam_without_sparse_embedding_is_refused():
    with pytest.raises(ValueError, match="needs a model with a sparse embedding"):
        build_optimizers(_task().model, "sparseadam", 0.01)


def test_cosine_schedule_warms_up_then_decays_to_min_factor():
    schedule = Schedule("cosine", warmup_steps=4, min_factor=0.1)
    assert schedule.factor(0, 0.0) == pytest.approx(0.25)
    assert schedule.factor(3, 0.0) == pytest.approx(1.0)
    assert schedule.factor(10, 0.5) == pytest.approx(0.1 + 0.9 * 0.5)
    assert schedule.factor(99, 1.0) == pytest.approx(0.1)


def test_step_and_plateau_schedules():
    assert Schedule("step", step_size=10, gamma=0.5).factor(25, 0) == pytest.approx(0.25)
    plateau = Schedule("plateau", gamma=0.1, patience=1)
    for loss in [1.0, 1.0, 1.0]:
        plateau.observe(loss)
    assert plateau.factor(0, 0) == pytest.approx(0.1)


def test_vocab_round_trip(tmp_path):
    vocab = CharVocab.from_text("héllo wörld")
    vocab.save(tmp_path / "vocab.json")
    again = CharVocab.load(tmp_path / "vocab.json")
    assert again.decode(again.encode("wörld")) == "wörld"


def _records(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(
    "clipping, clipped",
    [
        ({"clip_norm": 1e-3}, 1.0),
        ({"clip_norm": None}, 0.0),
        ({"clip_norm": None, "clip_value": 1e-6}, 1.0),
    ],
)
def test_each_record_holds_the_pre_clip_gradient_norm_and_whether_clipping_fired(
    tmp_path, clipping, clipped
):
    """The first step's gradient, recomputed by hand from the same weights and batch."""
    torch.manual_seed(0)
    task = _task(dropout=0.0)
    start = {k: v.clone() for k, v in task.model.state_dict().items()}
    config = _config(max_steps=1, eval_every=1, schedule="constant", **clipping)
    Trainer(task, config, tmp_path / "run").fit()

    torch.manual_seed(0)
    again = _task(dropout=0.0)
    again.model.load_state_dict(start)
    loss, _, _ = again.training_loss(again.batch(0, 0), None)
    loss.backward()
    norm = torch.cat([p.grad.reshape(-1) for p in again.model.parameters()]).norm()
    (record,) = _records(tmp_path / "run")
    assert record["grad_norm"] == pytest.approx(float(norm), rel=1e-5)  # before clipping
    assert record["grad_norm_max"] == record["grad_norm"] and record["clipped"] == clipped


def test_log_grad_flow_records_at_the_start_and_every_n_evaluations_without_changing_the_run(
    tmp_path,
):
    weights = []
    for name, every in (("plain", None), ("logged", 2)):
        torch.manual_seed(0)
        task = _task()
        Trainer(task, _config(log_grad_flow=every), tmp_path / name).fit()
        weights.append(task.model.state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])  # bit for bit
    assert not (tmp_path / "plain" / "grad_flow.jsonl").exists()
    lines = (tmp_path / "logged" / "grad_flow.jsonl").read_text().splitlines()
    flows = [json.loads(line) for line in lines]
    assert [f["step"] for f in flows] == [0, 10, 20]  # 4 evaluations, every 5 steps
    assert all(len(f["grad_norm_per_step"]) == 12 for f in flows)  # --seq-len 12
    assert flows[0]["grad_norm_per_step"] != flows[-1]["grad_norm_per_step"]
