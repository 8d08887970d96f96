"""Execute the online-learning notebooks with small parameters (the full runs are reported in the README)."""


def _outputs(nb):
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def test_digits_online_notebook(run_notebook):
    nb = run_notebook("digits_online.ipynb", {"EPOCHS": 3, "T_VALUES": [4], "K_VALUES": [1], "T_MAIN": 4,
                                              "N_TRAIN": 256, "N_TEST": 200, "LEARNING_RATE": 0.03})
    text = _outputs(nb)
    accuracy = float(text.split("test accuracy ")[-1].split()[0])
    assert accuracy > 0.3  # 10 classes: chance is 0.1; the full run (40 epochs, all data) reaches >= 0.9


def test_sunspots_online_notebook(run_notebook):
    nb = run_notebook("sunspots_online.ipynb", {"WARMUP_PASSES": 1, "N_SAMPLES": 2, "N_LATENT": 4})
    text = _outputs(nb)
    assert "persistence - SNN (one pass)" in text
    online = float(text.split("SNN, one online pass")[1].split("log-loss")[1].split()[0])
    persistence = float(text.split("persistence ")[1].split("log-loss")[1].split()[0])
    assert online < persistence


def test_pattern_latent_notebook(run_notebook):
    nb = run_notebook("pattern_latent.ipynb", {"EPISODES": 64, "T": 8, "N_LATENT": 3, "K": 2, "EVAL_SAMPLES": 16})
    assert "free-running samples reproduce" in _outputs(nb)
