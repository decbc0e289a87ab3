"""Scalers: fitted on the given rows per column, saved and restored, for arrays and tensors."""

import math

import numpy as np
import pytest
import torch

from rnnkit.data.scalers import MinMaxScaler, StandardScaler, scaler_from_dict


def test_standard_scaler_round_trips_and_uses_population_std():
    values = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    scaler = StandardScaler().fit(values)
    assert scaler.mean.tolist() == [3.0, 5.0]
    assert scaler.std[0] == pytest.approx(math.sqrt(8 / 3), rel=1e-12)
    assert scaler.std[1] == 1.0  # a constant column is centred, not divided by zero
    restored = scaler_from_dict(scaler.to_dict())
    np.testing.assert_allclose(restored.inverse_transform(scaler.transform(values)), values)


def test_minmax_scaler_maps_training_rows_onto_zero_one():
    values = np.array([[2.0], [4.0], [6.0]])
    scaler = scaler_from_dict(MinMaxScaler().fit(values).to_dict())
    assert scaler.transform(values)[:, 0].tolist() == [0.0, 0.5, 1.0]
    assert scaler.transform(torch.tensor([[10.0]])).item() == pytest.approx(2.0)
