"""--ema: the moving average of the weights against a direct computation, evaluation and the kept
weights use it, training steps the raw weights, and a resumed run continues it exactly."""

import json
import subprocess

import pytest
import torch
from torch import nn

from rnnkit.training.averaging import WeightAverage
from rnnkit.training.checkpoint import load_model
from rnnkit.training.run import BEST
from rnnkit.training.trainer import Trainer
from tests.test_cli_truth import RNNKIT
from tests.test_trainer import _config, _task


def test_the_average_follows_its_equation_with_the_ramp():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    average = WeightAverage(model, decay=0.9)
    expected = {n: p.detach().clone() for n, p in model.named_parameters()}
    for step in range(30):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        average.update(step)
        d = min(0.9, (1 + step) / (10 + step))
        for name, p in model.named_parameters():
            expected[name] = d * expected[name] + (1 - d) * p.detach()
    assert average.decay_at(0) == pytest.approx(0.1) and average.decay_at(10_000) == 0.9
    for name, value in expected.items():
        torch.testing.assert_close(average.average[name], value)


def test_swapped_in_holds_the_average_inside_and_the_weights_after():
    model = nn.Linear(2, 2)
    average = WeightAverage(model, decay=0.5)
    with torch.no_grad():
        model.weight.add_(1.0)
    trained = model.weight.detach().clone()
    with average.swapped_in():
        assert torch.equal(model.weight, average.average["weight"])
        assert not torch.equal(model.weight, trained)
    assert torch.equal(model.weight, trained)


def test_tied_weights_are_averaged_once():
    model = nn.Sequential(nn.Embedding(5, 4), nn.Linear(4, 5, bias=False))
    model[1].weight = model[0].weight
    average = WeightAverage(model, decay=0.9)
    assert list(average.average) == ["0.weight"]


def test_a_run_evaluates_and_keeps_the_average_and_trains_the_raw_weights(tmp_path):
    torch.manual_seed(0)
    task = _task()
    trainer = Trainer(task, _config(max_steps=10, eval_every=10, ema=0.8), tmp_path)
    trainer.fit()
    kept = _task().model
    load_model(tmp_path / BEST, kept)
    for name, p in kept.named_parameters():
        assert torch.equal(p, trainer.average.average[name]), name
    raw = dict(task.model.named_parameters())
    assert any(not torch.equal(raw[n], p) for n, p in kept.named_parameters())
    task.model.load_state_dict(kept.state_dict())
    task.model.eval()
    with torch.no_grad():
        loss = task.evaluate()["loss"]
    record = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["val_loss"] == pytest.approx(loss, rel=1e-6)


def test_an_interrupted_run_with_ema_resumes_bit_for_bit(tmp_path):
    torch.manual_seed(0)
    straight = _task()
    a = Trainer(straight, _config(ema=0.9), tmp_path / "a")
    a.fit()

    torch.manual_seed(0)
    first = _task()
    trainer = Trainer(first, _config(ema=0.9), tmp_path / "b")
    loss_fn = first.training_loss

    def stop_after_seven(batch, carry):
        if trainer.progress.step == 6:
            trainer.request_stop()
        return loss_fn(batch, carry)

    first.training_loss = stop_after_seven
    assert trainer.fit()["steps"] == 7
    torch.manual_seed(123)
    resumed = _task()
    b = Trainer(resumed, _config(ema=0.9), tmp_path / "b")
    b.fit(resume=True)
    for name, value in a.average.average.items():
        assert torch.equal(value, b.average.average[name]), name
    for (name, x), (_, y) in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().items(), strict=True
    ):
        assert torch.equal(x, y), name


def test_an_ema_outside_0_1_is_one_line_and_exit_2(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("abcdefgh " * 50)
    command = [*RNNKIT, "train", "lm", "--data", str(text)]
    command += ["--max-steps", "2", "--ema", "1.5", "--out", str(tmp_path / "run")]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "--ema" in done.stderr
