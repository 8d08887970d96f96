"""Shared test configuration.

* float64 everywhere: numerical checks against statsmodels / scikit-learn / analytic values need it.
* ``run_notebook``: executes a notebook in ``notebooks/`` with injected parameters (papermill-style:
  a cell assigning the parameters is inserted after the cell tagged ``parameters``, or first).
* ``rgc_path``: the shared Pillow RGC recordings; tests using it skip when it is absent.
"""
from __future__ import annotations

import os
from pathlib import Path

import jax
import pytest

jax.config.update("jax_enable_x64", True)

REPO_ROOT = Path(__file__).resolve().parents[1]
RGC_PATH = REPO_ROOT.parent / "shared" / "data" / "rgc" / "rgc_pillow.npz"


@pytest.fixture(scope="session")
def rgc_path() -> Path:
    if not RGC_PATH.exists():
        pytest.skip(f"shared RGC recordings not found at {RGC_PATH}")
    return RGC_PATH


def _execute_notebook(name: str, parameters: dict | None = None, timeout: int = 600):
    import nbformat
    from nbclient import NotebookClient

    path = REPO_ROOT / "notebooks" / name
    nb = nbformat.read(path, as_version=4)
    if parameters:
        source = "\n".join(f"{key} = {value!r}" for key, value in parameters.items())
        cell = nbformat.v4.new_code_cell(source=source, metadata={"tags": ["injected-parameters"]})
        index = next(
            (i + 1 for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])),
            0,
        )
        nb.cells.insert(index, cell)
    env_backup = dict(os.environ)
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(env_backup)
    return nb


@pytest.fixture(scope="session")
def run_notebook():
    """``run_notebook("name.ipynb", {"n_steps": 100})`` executes it and returns the executed notebook."""
    return _execute_notebook
