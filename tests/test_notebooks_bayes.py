"""Execute notebooks/bayesian_study.ipynb with small parameters (the full run uses NUTS; see the README)."""
import re


def _outputs(nb):
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def test_bayesian_study_notebook(run_notebook):
    nb = run_notebook("bayesian_study.ipynb", {"POSTERIOR_METHOD": "laplace", "GRASSHOPPER_SECONDS": 2.0,
                                               "NUM_SAMPLES": 100, "N_TRIALS": 10, "N_PPC_DRAWS": 8,
                                               "N_DECODE_TRIALS": 60})
    text = _outputs(nb)
    # spike history is what a receptor needs (refractoriness): LOO prefers it, and only its replicates
    # reproduce the absence of ISIs < 3 ms
    assert "LOO prefers: stimulus + history" in text
    short = dict(re.findall(r"ISIs < 3 ms: observed [0-9.]+; (.+?) replicates ([0-9.]+)", text))
    assert float(short["stimulus + history"]) < 0.05 < float(short["stimulus only"])
    # the simulated network: both true couplings are credibly non-zero, the coupled model wins on LOO
    assert "true couplings found: 2/2" in text
    assert "LOO prefers: coupled" in text
    # the read-out's predictive probabilities are scored (ECE, NLL) and beat chance (1/3)
    accuracy = float(re.search(r"posterior-averaged\s+accuracy ([0-9.]+)", text).group(1))
    assert accuracy > 0.5
    assert re.search(r"posterior-averaged\s+accuracy [0-9.]+\s+ECE [0-9.]+\s+NLL [0-9.]+", text)
    # every plotting cell drew its figure
    assert int(re.search(r"figures drawn: ([0-9]+)", text).group(1)) == 11
