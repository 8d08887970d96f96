"""Execute notebooks/rewiring.ipynb with small parameters and check its claims with chain-level standard errors.

Claims: (1) the lesion lowers the held-out likelihood of the sampled networks; (2) continued synaptic sampling
recovers it (more than half of the drop at 3 standard errors; the full-size run recovers all of it); (3) higher
temperature means more exploration (turnover of synapses, at 3 standard errors of the difference).
"""
import re

import numpy as np

SMALL = {"N_NEURONS": 6, "N_TRUE": 8, "N_TRAIN": 1000, "N_TEST": 1000, "N_CHAINS": 8, "WARMUP_STEPS": 1000,
         "TRAIN_STEPS": 1000, "RECOVERY_STEPS": 2000, "T_STEPS": 1000, "T_VALUES": [0.5, 2.0]}
NUMBER = r"(-?[0-9.]+) \+- ([0-9.]+)"


def _outputs(nb):
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def _value(text, label):
    match = re.search(re.escape(label) + r"[^\n]*?" + NUMBER, text)
    assert match, f"{label!r} not found in the notebook output"
    return float(match.group(1)), float(match.group(2))


def test_rewiring_notebook(run_notebook):
    text = _outputs(run_notebook("rewiring.ipynb", SMALL))
    before = _value(text, "held-out log-likelihood before lesion:")
    lesioned = _value(text, "held-out log-likelihood right after lesion:")
    recovered_fraction = _value(text, "fraction of the lesion drop recovered:")
    # (1) the lesion hurts: drop larger than 3 standard errors of the difference
    assert before[0] - lesioned[0] > 3 * np.hypot(before[1], lesioned[1]), (before, lesioned)
    # (2) recovery: more than half of the drop regained, at the 3-SE level (0.88 +- 0.05 measured)
    assert recovered_fraction[0] - 3 * recovered_fraction[1] > 0.5, recovered_fraction
    # (3) more turnover at higher temperature
    turnover = {float(t): (float(m), float(s)) for t, m, s in
                re.findall(r"T = ([0-9.]+): turnover " + NUMBER, text)}
    assert sorted(turnover) == SMALL["T_VALUES"], turnover
    (low, se_low), (high, se_high) = turnover[0.5], turnover[2.0]
    assert high - low > 3 * np.hypot(se_low, se_high), turnover
