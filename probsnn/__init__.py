"""probsnn: probabilistic programming for spiking neural networks on JAX and NumPyro.

The public API is re-exported here; see README.md for the list.
"""

__version__ = "0.1.0"

# --- GLM foundation (issue 2) ---

# --- deterministic limits (issue 7) ---

# --- stochastic hardware (issue 9) ---

# --- other issues ---
