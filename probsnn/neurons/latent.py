r"""GLM networks of visible and latent (hidden) Bernoulli spiking neurons.

The network has ``N = N_v + N_h`` GLM neurons, the ``N_v`` visible ones first. Neuron :math:`i` has the
potential (Jang, Simeone, Gardner & Gruning 2019, eq. 3; Pillow et al. 2008)

.. math::
    u_{i,t} = \gamma_i + \sum_{d} \sum_b w^{\rm in}_{idb}\, \vec x_{d,t,b}
              + \sum_{j} \sum_b w_{ijb}\, \vec s_{j,t,b},
    \qquad \vec s_{j,t,b} = \sum_{\ell} \phi_b(\ell)\, s_{j,t-\ell},

where :math:`\vec s_{j,t,b}` is the *pre-synaptic trace* (spike history of neuron ``j`` filtered by history
basis function ``b``, lags ``>= 1``) and :math:`\vec x_{d,t,b}` the same for the exogenous input ``x``
(input basis, lag offset 0 allowed). Every neuron emits ``s_{i,t} ~ Bernoulli(sigmoid(u_{i,t} / temperature))``
(the :class:`~probsnn.neurons.glm.BernoulliObservation` of the GLM module). The topology is an arbitrary
directed graph given by ``coupling_mask[i, j]`` (recurrence and self-loops allowed) and ``input_mask[i, d]``.

The weights are a :class:`~probsnn.neurons.glm.GLMParams` pytree, the same parametrisation as
:class:`~probsnn.neurons.glm.GLMNetwork` (``stimulus_weights`` are the input weights), so MAP fitting,
NumPyro models and the three-factor rule all work on the same parameters.

Visible neurons are *clamped* to data during learning; latent neurons are sampled from their causal
conditional :math:`p(h_t \mid u_t)`, which is also the variational distribution of the three-factor rule
(:mod:`probsnn.inference.three_factor`). Time runs through :func:`jax.lax.scan` over the pure step function
:meth:`LatentGLMNetwork.step`; the state keeps only the last ``L`` bins of spikes and inputs, so memory is
constant in the length of the stream.

References
----------
Jang, Simeone, Gardner & Gruning (2019), "An introduction to probabilistic spiking neural networks",
IEEE Signal Processing Magazine 36(6):64-77. Rezende, Wierstra & Gerstner (2011), "Variational learning for
recurrent spiking networks", NeurIPS 24.
"""
from __future__ import annotations

from functools import cached_property
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ..basis import Basis
from .glm import BernoulliObservation, GLMParams

__all__ = ["LatentGLMNetwork", "LatentState", "StepInput", "StepOutput"]


class LatentState(NamedTuple):
    """Recurrent state of a :class:`LatentGLMNetwork`: the last bins of input and spikes.

    Attributes
    ----------
    input_history : array, shape (L_in + offset_in - 1, D)
        ``input_history[k]`` is the input ``x_{t-1-k}`` (most recent first).
    spike_history : array, shape (L_h + offset_h - 1, N)
        ``spike_history[k]`` is ``s_{t-1-k}``.
    """

    input_history: jax.Array
    spike_history: jax.Array


class StepInput(NamedTuple):
    """What one step consumes.

    Attributes
    ----------
    stimulus : array, shape (D,)
        Exogenous input ``x_t`` (e.g. encoded spikes).
    visible : array, shape (N_v,) or None
        Observed spikes of the visible neurons (clamped); ``None`` lets them run free (sampled).
    key : jax PRNG key
        Randomness for the latent (and free visible) spikes.
    """

    stimulus: jax.Array
    visible: Optional[jax.Array]
    key: jax.Array


class StepOutput(NamedTuple):
    """What one step returns.

    Attributes
    ----------
    spikes : (N,)  spikes of all neurons in this bin (visible clamped or sampled, latent sampled).
    potential : (N,)  membrane potentials ``u_t``.
    log_prob : (N,)  ``log p(s_{i,t} | u_{i,t})`` of each neuron's spike.
    input_trace : (D, B_in)  pre-synaptic input traces that fed ``u_t``.
    spike_trace : (N, B_h)  pre-synaptic spike traces that fed ``u_t``.
    """

    spikes: jax.Array
    potential: jax.Array
    log_prob: jax.Array
    input_trace: jax.Array
    spike_trace: jax.Array


class LatentGLMNetwork:
    """Visible + latent Bernoulli GLM network with basis-expanded kernels and arbitrary topology.

    Parameters
    ----------
    n_visible, n_latent : int
        Numbers of visible (first) and latent neurons; either may be 0 but not both.
    history_basis : Basis
        Basis of the coupling / self-history kernels (``lag_offset >= 1``).
    n_inputs : int
        Number of exogenous input channels ``D`` (0 for none).
    input_basis : Basis, optional
        Basis of the input filters (``lag_offset`` 0 lets ``x_t`` act on ``u_t``); defaults to
        ``history_basis``. Required when ``n_inputs > 0``.
    temperature : float
        Bernoulli temperature: ``P(s = 1 | u) = sigmoid(u / temperature)``.
    coupling_mask : array_like of bool, shape (N, N), optional
        ``[i, j]`` True where ``j -> i`` exists (diagonal: self-history). Default: all-to-all with self-loops.
    input_mask : array_like of bool, shape (N, n_inputs), optional
        ``[i, d]`` True where input ``d`` feeds neuron ``i``. Default: all.
    """

    def __init__(
        self,
        n_visible: int,
        n_latent: int,
        history_basis: Basis,
        n_inputs: int = 0,
        input_basis: Basis | None = None,
        temperature: float = 1.0,
        coupling_mask=None,
        input_mask=None,
    ):
        for name, value in (("n_visible", n_visible), ("n_latent", n_latent), ("n_inputs", n_inputs)):
            if int(value) != value or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}.")
        if n_visible + n_latent < 1:
            raise ValueError("the network needs at least one neuron (n_visible + n_latent >= 1).")
        if not isinstance(history_basis, Basis):
            raise TypeError(f"history_basis must be a probsnn.basis.Basis, got {type(history_basis).__name__}.")
        if history_basis.lag_offset < 1:
            raise ValueError("history_basis.lag_offset must be >= 1 (a spike cannot feed its own bin).")
        if input_basis is None:
            input_basis = history_basis
        if not isinstance(input_basis, Basis):
            raise TypeError(f"input_basis must be a probsnn.basis.Basis, got {type(input_basis).__name__}.")
        self.n_visible, self.n_latent, self.n_inputs = int(n_visible), int(n_latent), int(n_inputs)
        self.n_neurons = self.n_visible + self.n_latent
        self.history_basis, self.input_basis = history_basis, input_basis
        self.observation = BernoulliObservation(temperature=temperature)
        self.temperature = float(temperature)
        n, d = self.n_neurons, self.n_inputs
        if coupling_mask is None:
            coupling_mask = np.ones((n, n), bool)
        coupling_mask = np.asarray(coupling_mask, dtype=bool)
        if coupling_mask.shape != (n, n):
            raise ValueError(f"coupling_mask must have shape ({n}, {n}) (post, pre), got {coupling_mask.shape}.")
        if input_mask is None:
            input_mask = np.ones((n, d), bool)
        input_mask = np.asarray(input_mask, dtype=bool)
        if input_mask.shape != (n, d):
            raise ValueError(f"input_mask must have shape ({n}, {d}) (neuron, input), got {input_mask.shape}.")
        self.coupling_mask, self.input_mask = coupling_mask, input_mask

    # ------------------------------------------------------------------ layout
    @property
    def n_history_basis(self) -> int:
        return self.history_basis.n_basis

    @property
    def n_input_basis(self) -> int:
        return self.input_basis.n_basis

    @property
    def visible_mask(self) -> np.ndarray:
        """Bool ``[N]``: True for visible neurons."""
        return np.arange(self.n_neurons) < self.n_visible

    @cached_property
    def param_mask(self) -> GLMParams:
        """0/1 arrays in the shape of the parameters: which weights exist."""
        return GLMParams(
            stimulus_weights=np.repeat(self.input_mask[:, :, None], self.n_input_basis, axis=2).astype(float),
            coupling_weights=np.repeat(self.coupling_mask[:, :, None], self.n_history_basis, axis=2).astype(float),
            bias=np.ones(self.n_neurons),
        )

    def __repr__(self) -> str:
        return (f"LatentGLMNetwork(n_visible={self.n_visible}, n_latent={self.n_latent}, n_inputs={self.n_inputs}, "
                f"history_basis={self.history_basis}, input_basis={self.input_basis}, temperature={self.temperature})")

    # ------------------------------------------------------------------ parameters and state
    def init_params(self, key=None, scale: float = 0.1, bias: float = 0.0, dtype=None) -> GLMParams:
        """Weights ``N(0, scale^2)`` (zero where masked; all zero when ``key`` is None) and a constant bias."""
        dtype = dtype or jnp.result_type(float)
        n, d = self.n_neurons, self.n_inputs
        shapes = ((n, d, self.n_input_basis), (n, n, self.n_history_basis))
        if key is None:
            w_in, w_c = (jnp.zeros(s, dtype) for s in shapes)
        else:
            k1, k2 = jax.random.split(key)
            w_in = scale * jax.random.normal(k1, shapes[0], dtype)
            w_c = scale * jax.random.normal(k2, shapes[1], dtype)
        mask = self.param_mask
        return GLMParams(w_in * jnp.asarray(mask.stimulus_weights, dtype), w_c * jnp.asarray(mask.coupling_weights, dtype),
                         jnp.full((n,), bias, dtype))

    def check_params(self, params: GLMParams) -> GLMParams:
        """Validate shapes and finiteness (raises ValueError)."""
        if not isinstance(params, GLMParams):
            raise TypeError(f"params must be GLMParams, got {type(params).__name__}.")
        for field, value, ref in zip(GLMParams._fields, params, self.param_mask):
            if jnp.shape(value) != ref.shape:
                raise ValueError(f"params.{field} has shape {jnp.shape(value)}, expected {ref.shape} for this network.")
            if not bool(jnp.all(jnp.isfinite(value))):
                raise ValueError(f"params.{field} contains non-finite values.")
        return params

    def init_state(self, dtype=None) -> LatentState:
        """Silent past: no spikes and zero input before the first bin."""
        dtype = dtype or jnp.result_type(float)
        n_in = self.input_basis.n_lags + self.input_basis.lag_offset - 1
        n_h = self.history_basis.n_lags + self.history_basis.lag_offset - 1
        return LatentState(jnp.zeros((n_in, self.n_inputs), dtype), jnp.zeros((n_h, self.n_neurons), dtype))

    # ------------------------------------------------------------------ the pure step
    def traces(self, state: LatentState, stimulus):
        r"""Pre-synaptic traces feeding ``u_t``: ``(input_trace [D, B_in], spike_trace [N, B_h])``.

        :math:`\vec x_{d,b} = \sum_l \phi^{\rm in}_b(l)\, x_{d, t - l - o_{\rm in}}`,
        :math:`\vec s_{j,b} = \sum_l \phi_b(l)\, s_{j, t - l - o_h}`.
        """
        dtype = state.spike_history.dtype
        full_input = jnp.concatenate([jnp.asarray(stimulus, dtype)[None], state.input_history], axis=0)
        o_in, l_in = self.input_basis.lag_offset, self.input_basis.n_lags
        o_h, l_h = self.history_basis.lag_offset, self.history_basis.n_lags
        m_in = jnp.asarray(self.input_basis.matrix, dtype)
        m_h = jnp.asarray(self.history_basis.matrix, dtype)
        input_trace = jnp.einsum("lb,ld->db", m_in, full_input[o_in : o_in + l_in])
        spike_trace = jnp.einsum("lb,lj->jb", m_h, state.spike_history[o_h - 1 : o_h - 1 + l_h])
        return input_trace, spike_trace, full_input

    def potential_from_traces(self, params: GLMParams, input_trace, spike_trace):
        """``u = bias + sum_db w_in[i,d,b] x_trace[d,b] + sum_jb w[i,j,b] s_trace[j,b]`` (masked weights)."""
        dtype = spike_trace.dtype
        mask = self.param_mask
        w_in = params.stimulus_weights * jnp.asarray(mask.stimulus_weights, dtype)
        w_c = params.coupling_weights * jnp.asarray(mask.coupling_weights, dtype)
        return (params.bias + jnp.einsum("idb,db->i", w_in, input_trace)
                + jnp.einsum("ijb,jb->i", w_c, spike_trace))

    def step(self, params: GLMParams, state: LatentState, inputs: StepInput):
        """One time bin: ``(state, inputs) -> (new_state, StepOutput)``; pure, jit/vmap/grad friendly.

        Visible neurons take ``inputs.visible`` (when given), latent neurons are sampled from
        ``Bernoulli(sigmoid(u / temperature))``.
        """
        input_trace, spike_trace, full_input = self.traces(state, inputs.stimulus)
        u = self.potential_from_traces(params, input_trace, spike_trace)
        sampled = self.observation.sample(inputs.key, u)
        if inputs.visible is not None and self.n_visible > 0:
            visible = jnp.asarray(inputs.visible, u.dtype)
            spikes = jnp.concatenate([visible, sampled[self.n_visible:]])
        else:
            spikes = sampled
        spikes = jax.lax.stop_gradient(spikes)
        log_prob = self.observation.log_prob(spikes, u)
        n_in = state.input_history.shape[0]
        new_state = LatentState(full_input[:n_in], jnp.concatenate([spikes[None], state.spike_history[:-1]], axis=0))
        return new_state, StepOutput(spikes, u, log_prob, input_trace, spike_trace)

    def forced_step(self, params: GLMParams, state: LatentState, stimulus, spikes):
        """One bin with *all* spikes given (teacher forcing): ``(new_state, StepOutput)``; differentiable in params."""
        input_trace, spike_trace, full_input = self.traces(state, stimulus)
        u = self.potential_from_traces(params, input_trace, spike_trace)
        spikes = jnp.asarray(spikes, u.dtype)
        log_prob = self.observation.log_prob(spikes, u)
        n_in = state.input_history.shape[0]
        new_state = LatentState(full_input[:n_in], jnp.concatenate([spikes[None], state.spike_history[:-1]], axis=0))
        return new_state, StepOutput(spikes, u, log_prob, input_trace, spike_trace)

    # ------------------------------------------------------------------ sequences (lax.scan)
    def _check_sequence(self, stimulus, visible, n_steps):
        if stimulus is None:
            if n_steps is None:
                raise ValueError("give stimulus [T, n_inputs] or n_steps.")
            stimulus = np.zeros((int(n_steps), self.n_inputs))
        stimulus = np.asarray(stimulus) if not isinstance(stimulus, jax.Array) else stimulus
        if stimulus.ndim != 2 or stimulus.shape[1] != self.n_inputs:
            raise ValueError(f"stimulus must have shape (T, {self.n_inputs}), got {stimulus.shape}.")
        if visible is not None:
            visible = np.asarray(visible) if not isinstance(visible, jax.Array) else visible
            if visible.shape != (stimulus.shape[0], self.n_visible):
                raise ValueError(f"visible spikes must have shape ({stimulus.shape[0]}, {self.n_visible}), got {visible.shape}.")
        return stimulus, visible

    def sample(self, params: GLMParams, key, stimulus=None, visible=None, n_steps=None, state=None):
        """Run the network over ``T`` bins with ``lax.scan``.

        Parameters
        ----------
        stimulus : array (T, n_inputs), optional (zeros of length ``n_steps`` when omitted)
        visible : array (T, n_visible), optional
            Clamp the visible neurons to these spikes (posterior-causal sampling of the latents, the
            variational distribution); ``None`` samples every neuron (the generative model).
        state : LatentState, optional (silent past by default)

        Returns
        -------
        final_state, StepOutput with a leading time axis (``spikes [T, N]``, ``potential``, ``log_prob``, ...)
        """
        stimulus, visible = self._check_sequence(stimulus, visible, n_steps)
        return self._sample_jit(params, key, jnp.asarray(stimulus), None if visible is None else jnp.asarray(visible),
                                self.init_state() if state is None else state)

    @cached_property
    def _sample_jit(self):
        def run(params, key, stimulus, visible, state):
            keys = jax.random.split(key, stimulus.shape[0])

            def body(carry, xs):
                if visible is None:
                    stim, k = xs
                    vis = None
                else:
                    stim, vis, k = xs
                return self.step(params, carry, StepInput(stim, vis, k))

            xs = (stimulus, keys) if visible is None else (stimulus, visible, keys)
            return jax.lax.scan(body, state, xs)

        return jax.jit(run)

    def log_prob_sequence(self, params: GLMParams, stimulus, spikes, state=None):
        r"""``log p(s_{i,t} | u_{i,t})`` for every bin and neuron, ``[T, N]``, all spikes given (``lax.scan``).

        The joint log-probability of a path is the total; the visible rows give :math:`\log p(x \mid h)`
        and the latent rows :math:`\log q(h)` (the causal conditional). Differentiable in ``params``.
        """
        stimulus, _ = self._check_sequence(stimulus, None, None)
        spikes = jnp.asarray(spikes)
        if spikes.shape != (stimulus.shape[0], self.n_neurons):
            raise ValueError(f"spikes must have shape ({stimulus.shape[0]}, {self.n_neurons}), got {spikes.shape}.")
        return self._log_prob_jit(params, jnp.asarray(stimulus), spikes, self.init_state() if state is None else state)

    @cached_property
    def _log_prob_jit(self):
        def run(params, stimulus, spikes, state):
            def body(carry, xs):
                carry, out = self.forced_step(params, carry, *xs)
                return carry, out.log_prob

            return jax.lax.scan(body, state, (stimulus, spikes))[1]

        return jax.jit(run)

    def log_joint(self, params: GLMParams, stimulus, spikes):
        """Total ``log p(s_{1:T})`` of a full spike path given the input (visible and latent)."""
        return jnp.sum(self.log_prob_sequence(params, stimulus, spikes))
