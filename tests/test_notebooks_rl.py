"""Executes notebooks/first_to_spike_rl.ipynb with small parameters."""


def test_first_to_spike_notebook_runs(run_notebook):
    nb = run_notebook("first_to_spike_rl.ipynb", {"n_iterations": 20, "n_seeds": 1, "cartpole_iterations": 0,
                                                  "T_values": [5], "penalties": [0.0]})
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "optimal episode length: 15" in text
    assert "spikes/decision" in text and "greedy episode lengths" in text
