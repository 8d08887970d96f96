"""Executes notebooks/conversion_digits.ipynb with small parameters."""


def test_conversion_digits_notebook(run_notebook):
    nb = run_notebook("conversion_digits.ipynb", {"n_seeds": 1, "n_epochs": 10, "max_steps": 16,
                                                  "fs_iterations": 200, "finetune_epochs": 1, "finetune_seeds": 1,
                                                  "finetune_folds": 2, "finetune_steps": (4,)})
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "mean gap at T=16" in text and "FS accuracy" in text
    assert "equal at every step: True" in text  # the converted network's NIR round trip
    assert "T=4: analog" in text and "fine-tuned" in text and "paired SE" in text
