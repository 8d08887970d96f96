"""Execute the hardware notebooks with small parameters."""


def _outputs(nb):
    return "\n".join(
        out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
    )


def test_pcm_drift_notebook(run_notebook):
    nb = run_notebook(
        "pcm_drift.ipynb",
        {"N_STEPS": 40, "HIDDEN": 32, "N_SEEDS": 2, "TIMES": [1.0, 3600.0, 31557600.0]},
    )
    text = _outputs(nb)
    assert "hardware-aware" in text and "pJ per sample" in text
