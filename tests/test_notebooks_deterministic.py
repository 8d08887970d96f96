"""Execute the deterministic-SNN notebooks with small parameters and check what they report."""
import re


def _text(nb):
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if "text" in o:
                out.append(o["text"])
            elif "data" in o and "text/plain" in o["data"]:
                out.append(o["data"]["text/plain"])
    return "\n".join(out)


def test_deterministic_digits_notebook(run_notebook):
    nb = run_notebook(
        "deterministic_digits.ipynb",
        {"n_steps": 8, "n_hidden": 32, "n_epochs": 5, "n_train": 320, "batch_size": 32, "max_rate": 0.5,
         "learning_rate": 2e-2},
    )
    text = _text(nb)
    rows = dict(
        (name, (float(acc), float(spikes)))
        for name, acc, spikes in re.findall(
            r"(LI-SNU|SNU|LIF)\s+test accuracy ([\d.]+)\s+hidden spikes/sample ([\d.]+)", text
        )
    )
    assert set(rows) == {"LIF", "SNU", "LI-SNU"}
    for name, (acc, spikes) in rows.items():
        assert acc > 0.3, f"{name} did not learn (chance is 0.1): {acc}"
        assert spikes > 0
    assert "fewer hidden spikes" in text
    assert "spikes and membranes identical: True" in text  # the LIF network's NIR round trip


def test_online_temporal_notebook(run_notebook):
    nb = run_notebook("online_temporal.ipynb",
                      {"n_steps": 60, "n_hidden": 16, "n_iterations": 40, "learning_rate": 2e-2})
    text = _text(nb)
    match = re.search(r"OSTL final MSE/2 ([\d.]+)\s+BPTT ([\d.]+)\s+\(initial ([\d.]+)\)", text)
    assert match, text
    ostl, bptt, initial = map(float, match.groups())
    assert ostl < 0.5 * initial and bptt < 0.5 * initial
    match = re.search(r"e-prop symmetric ([\d.]+)\s+e-prop random ([\d.]+)\s+BPTT ([\d.]+)\s+\(initial ([\d.]+)\)",
                      text)
    assert match, text
    sym, rnd, bptt_rec, initial = map(float, match.groups())
    assert sym < 0.5 * initial and bptt_rec < 0.5 * initial and rnd < initial
