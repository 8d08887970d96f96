"""Neuron models as pure step functions over NamedTuple parameters and state."""
