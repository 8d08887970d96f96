"""Hybrid fine-tuning (Rathi et al. 2020) of a rate-converted digits MLP at few time steps."""
import jax
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from probsnn.conversion import accuracy_vs_time, ann_accuracy, convert_rate, fine_tune_rate_snn, fit_classifier, init_mlp, run_rate_snn


def test_fine_tuning_closes_half_the_gap_at_two_steps():
    d = load_digits()
    xtr, xte, ytr, yte = train_test_split(d.data / 16.0, d.target, test_size=0.3, random_state=0, stratify=d.target)
    layers = fit_classifier(init_mlp(jax.random.PRNGKey(0), [64, 100, 10]), xtr, ytr, n_epochs=40, seed=0)
    analog = ann_accuracy(layers, xte, yte)
    snn = convert_rate(layers, xtr[:300])
    n_steps = 2
    before = accuracy_vs_time(run_rate_snn(snn, xte, n_steps, initial_membrane=0.0), yte)[-1]
    tuned = fine_tune_rate_snn(snn, xtr, ytr, n_steps=n_steps, n_epochs=3, initial_membrane=0.0, learning_rate=2e-4)
    after = accuracy_vs_time(run_rate_snn(tuned, xte, n_steps, initial_membrane=0.0), yte)[-1]
    assert analog - before >= 0.02
    assert analog - after <= 0.5 * (analog - before)


def test_refusals():
    with pytest.raises(ValueError, match="RateSNN"):
        fine_tune_rate_snn([], np.zeros((2, 2)), np.zeros(2, int))
