"""NIR interchange: probsnn -> NIR file -> probsnn round trips and an independent NumPy reference of NIR's equations."""
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

nir = pytest.importorskip("nir")

import probsnn.nir as pnir  # noqa: E402
from probsnn.conversion import Dense, convert_rate, init_cnn, init_mlp, run_rate_snn  # noqa: E402
from probsnn.hardware import PCMConfig, realise_weights  # noqa: E402
from probsnn.inference.bptt import run_network  # noqa: E402
from probsnn.neurons.layers import FeedForwardParams, init_feedforward, init_recurrent  # noqa: E402
from probsnn.neurons.lif import alif_neuron, alif_params, lif_neuron, lif_params  # noqa: E402

DT = 1e-3


@pytest.fixture(autouse=True)
def float32():
    """probsnn's default precision (the suite's conftest switches float64 on); round trips are checked in float32."""
    jax.config.update("jax_enable_x64", False)
    yield
    jax.config.update("jax_enable_x64", True)


def _spikes(key, shape, p=0.3):
    return (jax.random.uniform(key, shape) < p).astype(jnp.float32)


def _leaks(key, n, low=0.5, high=0.99):
    return jax.random.uniform(key, (n,), minval=low, maxval=high)


def _round_trip(network, tmp_path, **kwargs):
    path = tmp_path / "net.nir"
    nir.write(path, pnir.export(network, DT, **kwargs))
    return pnir.load(path)


# ------------------------------------------------------------------------------ NumPy reference of NIR's equations
def _np_conv(x, node):
    """Cross-correlation, channels-first, symmetric zero padding, groups = dilation = 1 (plain NumPy windows)."""
    w = np.asarray(node.weight, float)
    nd = w.ndim - 2
    pad = np.broadcast_to(np.atleast_1d(np.asarray(node.padding, int)), (nd,))
    stride = np.broadcast_to(np.atleast_1d(np.asarray(node.stride, int)), (nd,))
    x = np.pad(x, [(0, 0), (0, 0)] + [(int(p), int(p)) for p in pad])
    win = np.lib.stride_tricks.sliding_window_view(x, w.shape[2:], axis=tuple(range(2, 2 + nd)))
    win = win[(slice(None), slice(None)) + tuple(slice(None, None, int(s)) for s in stride)]
    if nd == 1:
        y = np.einsum("bcxk,ock->box", win, w)
    else:
        y = np.einsum("bcxykl,ockl->boxy", win, w)
    return y + np.asarray(node.bias, float).reshape((-1,) + (1,) * nd)


def _np_pool(x, node, mean):
    k, s = (tuple(int(v) for v in np.asarray(a)) for a in (node.kernel_size, node.stride))
    win = np.lib.stride_tricks.sliding_window_view(x, k, axis=(2, 3))[:, :, ::s[0], ::s[1]]
    return win.mean(axis=(-2, -1)) if mean else win.sum(axis=(-2, -1))


def nir_reference(graph, inputs, dt):
    """Run a NIR graph with NumPy in float64: forward Euler of each node's ODE with step ``dt``, the reset
    :math:`v \\leftarrow v_\\text{reset}` right after a spike, nodes evaluated breadth-first from the input in
    every step, each reading the value of a predecessor from this step when it is already computed, else from
    the last step (the delay that closes a cycle)."""
    order, frontier = [], [n for n, v in graph.nodes.items() if isinstance(v, nir.Input)]
    while frontier:
        n = frontier.pop(0)
        if n not in order:
            order.append(n)
            frontier += [b for a, b in graph.edges if a == n]
    x = np.asarray(inputs, float)
    last = {}
    state = {}
    out = {n: [] for n in order}
    for t in range(x.shape[0]):
        now = {}
        for name in order:
            node = graph.nodes[name]
            if isinstance(node, nir.Input):
                now[name] = x[t]
                out[name].append(now[name])
                continue
            terms = [now[a] if a in now else last.get(a, 0.0) for a, b in graph.edges if b == name]
            i = sum(terms)
            if isinstance(node, (nir.Linear, nir.Affine)):
                y = i.reshape(i.shape[0], -1) @ np.asarray(node.weight, float).T
                y = y + (np.asarray(node.bias, float) if isinstance(node, nir.Affine) else 0.0)
            elif isinstance(node, (nir.Conv1d, nir.Conv2d)):
                y = _np_conv(i, node)
            elif isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
                y = _np_pool(i, node, isinstance(node, nir.AvgPool2d))
            elif isinstance(node, nir.Flatten):
                y = i.reshape(i.shape[0], -1)
            elif isinstance(node, nir.Scale):
                y = i * node.scale
            elif isinstance(node, nir.Threshold):
                y = (i > node.threshold).astype(float)
            elif isinstance(node, nir.Output):
                y = i
            elif isinstance(node, (nir.LI, nir.LIF)):
                v = state.get(name, 0.0)
                v = v + dt / node.tau * (node.v_leak - v + node.r * i)
                if isinstance(node, nir.LIF):
                    y = (v > node.v_threshold).astype(float)
                    state[name] = np.where(y > 0, node.v_reset, v)
                else:
                    y = state[name] = v
            elif isinstance(node, (nir.I, nir.IF)):
                v = state.get(name, 0.0) + dt * node.r * i
                if isinstance(node, nir.IF):
                    y = (v > node.v_threshold).astype(float)
                    state[name] = np.where(y > 0, node.v_reset, v)
                else:
                    y = state[name] = v
            elif isinstance(node, nir.CubaLIF):
                syn, v = state.get(name, (0.0, 0.0))
                syn = syn + dt / node.tau_syn * (-syn + node.w_in * i)
                v = v + dt / node.tau_mem * (node.v_leak - v + node.r * syn)
                y = (v > node.v_threshold).astype(float)
                state[name] = (syn, np.where(y > 0, node.v_reset, v))
            else:
                raise NotImplementedError(type(node).__name__)
            now[name] = y
            out[name].append(y)
        last = now
    return {n: np.stack(v) for n, v in out.items()}


# ------------------------------------------------------------------------------ dense and recurrent LIF
@pytest.mark.parametrize("x64", [False, True], ids=["float32", "float64"])
@pytest.mark.parametrize("reset", ["zero", "subtract", "none"])
def test_dense_recurrent_lif_round_trip_is_bit_identical_and_matches_nir_equations(reset, x64, tmp_path):
    jax.config.update("jax_enable_x64", x64)
    dtype = jnp.result_type(float)
    keys = jax.random.split(jax.random.PRNGKey(1), 5)
    neurons = [lif_neuron(reset=reset), lif_neuron(reset=reset)]
    params = [init_recurrent(keys[0], 6, lif_params(12, leak=_leaks(keys[1], 12), threshold=0.7), weight_scale=2.5),
              init_feedforward(keys[2], 12, lif_params(5, leak=_leaks(keys[3], 5), threshold=0.5), weight_scale=2.5)]
    x = _spikes(keys[4], (40, 3, 6))
    loaded = _round_trip(list(zip(neurons, params)), tmp_path)
    assert loaded.dt == DT
    hidden, out = loaded.nodes["0.neurons"], loaded.nodes["1.neurons"]
    assert hidden.neuron.name == f"LIF(reset={reset})" and out.neuron.name == f"LIF(reset={reset})"
    for got, want in zip(hidden.params, params[0].neuron):
        assert got.dtype == dtype and np.array_equal(got, want)
    assert np.array_equal(loaded.nodes["0.recurrent"].weights, params[0].recurrent_weights)
    assert hidden.input_scale is None and hidden.bias is None

    outputs = pnir.run(loaded, x)
    states = run_network(neurons, params, x)
    assert 0.05 < float(states[0].spikes.mean()) < 0.6 and float(states[1].spikes.mean()) > 0.02
    np.testing.assert_array_equal(outputs["0.neurons"], states[0].spikes)
    np.testing.assert_array_equal(outputs["1.neurons"], states[1].spikes)

    reference = nir_reference(nir.read(tmp_path / "net.nir"), x, DT)
    np.testing.assert_array_equal(reference["0.neurons"], outputs["0.neurons"])
    np.testing.assert_array_equal(reference["1.neurons"], outputs["1.neurons"])


def test_subtractive_reset_is_exported_as_integrator_threshold_and_feedback_cycle():
    leak = jnp.array([0.9, 0.8, 0.95])
    layer = (lif_neuron(reset="subtract"), FeedForwardParams(jnp.eye(3), lif_params(3, leak=leak, threshold=0.6)))
    graph = pnir.export([layer], DT)
    kinds = {name: type(node).__name__ for name, node in graph.nodes.items()}
    assert "LIF" not in kinds.values() and "IF" not in kinds.values()
    assert (kinds["0.neurons.membrane"], kinds["0.neurons"], kinds["0.neurons.reset"]) == ("LI", "Threshold", "Scale")
    assert {("0.neurons.membrane", "0.neurons"), ("0.neurons", "0.neurons.reset"),
            ("0.neurons.reset", "0.neurons.membrane"), ("0_linear", "0.neurons.membrane")} <= set(graph.edges)
    np.testing.assert_array_equal(graph.nodes["0.neurons.reset"].scale, -np.full(3, np.float32(0.6)))
    li = graph.nodes["0.neurons.membrane"]
    np.testing.assert_allclose(li.tau, DT / (1 - np.asarray(leak, float)), rtol=1e-12)
    np.testing.assert_allclose(DT * li.r / li.tau, 1.0, rtol=1e-14)
    assert np.all(li.v_leak == 0)
    # one spike at threshold + 0.3: the membrane keeps 0.3 (minus the leak), unlike a reset to zero
    x = jnp.array([[[0.9, 0.0, 0.0]], [[0.0, 0.0, 0.0]]])
    _, states = pnir.run(pnir.load(graph), x, return_states=True)
    np.testing.assert_allclose(states["0.neurons"].membrane[1, 0, 0], 0.9 * 0.9 - 0.6, rtol=1e-6)


@pytest.mark.parametrize("reset", ["zero", "subtract", "none"])
def test_layers_mixing_leaky_neurons_and_neurons_without_leak_round_trip(reset, tmp_path):
    """Leaks learned up to their bound 1 beside leaks below 1 in one layer (as in a trained digits network): the
    neurons without leak get tau = 2**60 dt, whose decay 1 - dt/tau is exactly 1 in float32 and float64; the
    round trip is bit-identical and NumPy's forward Euler of the written graph gives the same spikes."""
    keys = jax.random.split(jax.random.PRNGKey(7), 3)
    leak = np.asarray(_leaks(keys[0], 12)).copy()
    leak[::3] = 1.0
    neurons = [lif_neuron(reset=reset), lif_neuron(reset=reset)]
    params = [init_feedforward(keys[1], 6, lif_params(12, leak=jnp.asarray(leak), threshold=0.7), weight_scale=2.5),
              init_feedforward(keys[2], 12, lif_params(4, leak=jnp.asarray([1.0, 0.9, 1.0, 0.7]), threshold=0.5),
                               weight_scale=2.5)]
    x = _spikes(jax.random.PRNGKey(8), (40, 3, 6))
    loaded = _round_trip(list(zip(neurons, params)), tmp_path)
    assert np.array_equal(loaded.nodes["0.neurons"].params.leak, params[0].neuron.leak)
    outputs = pnir.run(loaded, x)
    states = run_network(neurons, params, x)
    assert float(states[0].spikes.mean()) > 0.05
    np.testing.assert_array_equal(outputs["0.neurons"], states[0].spikes)
    np.testing.assert_array_equal(outputs["1.neurons"], states[1].spikes)
    reference = nir_reference(nir.read(tmp_path / "net.nir"), x, DT)
    np.testing.assert_array_equal(reference["0.neurons"], outputs["0.neurons"])


def test_lif_time_constants_follow_forward_euler_mapping(tmp_path):
    leak = jnp.array([0.5, 0.9, 0.99], jnp.float32)
    graph = pnir.export([(lif_neuron(reset="zero"), FeedForwardParams(jnp.ones((2, 3)), lif_params(3, leak, 1.2)))],
                        dt=0.5)
    lif = graph.nodes["0.neurons"]
    assert isinstance(lif, nir.LIF) and graph.metadata["dt"] == 0.5
    np.testing.assert_allclose(lif.tau, 0.5 / (1 - np.asarray(leak, float)), rtol=1e-15)
    np.testing.assert_allclose(lif.r, lif.tau / 0.5, rtol=1e-15)
    np.testing.assert_array_equal(lif.v_reset, 0.0)
    np.testing.assert_array_equal(lif.v_threshold, np.float32(1.2))
    np.testing.assert_array_equal(graph.nodes["0_linear"].weight, np.ones((3, 2)))


# ------------------------------------------------------------------------------ LI, IF and CubaLIF
def test_li_if_cubalif_round_trip_and_nir_equations(tmp_path):
    keys = jax.random.split(jax.random.PRNGKey(2), 6)
    w = lambda k, a, b: 1.5 * jax.random.normal(k, (a, b)) / np.sqrt(a)
    layers = [
        (lif_neuron(reset="zero"), FeedForwardParams(w(keys[0], 6, 10), lif_params(10, leak=1.0, threshold=0.8))),
        (pnir.cuba_lif_neuron(),
         FeedForwardParams(w(keys[1], 10, 8), pnir.cuba_lif_params(8, _leaks(keys[2], 8), _leaks(keys[3], 8), 0.4))),
        (pnir.li_neuron(), FeedForwardParams(w(keys[4], 8, 3), pnir.li_params(3, leak=0.95))),
    ]
    graph = pnir.export(layers, DT)
    assert [type(graph.nodes[f"{k}.neurons"]).__name__ for k in range(3)] == ["IF", "CubaLIF", "LI"]
    network = pnir.network_from_layers(layers)
    loaded = _round_trip(network, tmp_path)
    for name in ("0.neurons", "1.neurons", "2.neurons"):
        assert loaded.nodes[name].neuron.name == network.nodes[name].neuron.name
        for got, want in zip(loaded.nodes[name].params, network.nodes[name].params):
            np.testing.assert_array_equal(got, want)
    x = _spikes(keys[5], (50, 4, 6), 0.4)
    want, got = pnir.run(network, x), pnir.run(loaded, x)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])
    assert 0.02 < float(got["1.neurons"].mean()) < 0.7
    reference = nir_reference(nir.read(tmp_path / "net.nir"), x, DT)
    np.testing.assert_array_equal(reference["0.neurons"], got["0.neurons"])
    np.testing.assert_array_equal(reference["1.neurons"], got["1.neurons"])
    np.testing.assert_allclose(reference["2.neurons"], got["2.neurons"], rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------ convolutional networks
def _conv_layers(key):
    keys = jax.random.split(key, 6)
    conv1 = pnir.Conv(jax.random.normal(keys[0], (4, 2, 3, 3)) * 0.6, jnp.full((4,), 0.05), (1, 1), (1, 1), (1, 1), 1,
                      (8, 8))
    conv2 = pnir.Conv(jax.random.normal(keys[1], (6, 4, 3, 3)) * 0.5, None, (2, 2), (0, 0), (1, 1), 1, (4, 4))
    return [
        conv1,
        (lif_neuron(reset="zero"), lif_params(4 * 8 * 8, leak=_leaks(keys[2], 256), threshold=0.5)),
        pnir.Pool("sum", (2, 2), (2, 2), (0, 0)),
        conv2,
        (lif_neuron(reset="subtract"), lif_params(6, leak=0.9, threshold=0.5)),
        pnir.Pool("avg", (1, 1), (1, 1), (0, 0)),
        pnir.Flatten((6, 1, 1)),
        (pnir.li_neuron(), FeedForwardParams(jax.random.normal(keys[3], (6, 3)), pnir.li_params(3, 0.9))),
    ]


def test_conv2d_network_round_trip_and_nir_equations(tmp_path):
    key = jax.random.PRNGKey(3)
    network = pnir.network_from_layers(_conv_layers(key))
    assert pnir.run(network, jnp.zeros((1, 1, 2, 8, 8)))["output"].shape == (1, 1, 3)
    loaded = _round_trip(network, tmp_path)
    x = _spikes(jax.random.PRNGKey(4), (25, 2, 2, 8, 8), 0.3)
    want, got = pnir.run(network, x), pnir.run(loaded, x)
    assert set(want) == set(got)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])
    assert 0.02 < float(got["1.neurons"].mean()) < 0.7 and float(got["4.neurons"].mean()) > 0.01
    reference = nir_reference(nir.read(tmp_path / "net.nir"), x, DT)
    np.testing.assert_allclose(reference["0_conv"], got["0_conv"], rtol=1e-5, atol=1e-5)
    for name in ("1.neurons", "2_pool", "4.neurons"):
        np.testing.assert_array_equal(reference[name], got[name])
    np.testing.assert_allclose(reference["output"], got["output"], rtol=1e-4, atol=1e-5)


def test_conv1d_network_round_trip(tmp_path):
    keys = jax.random.split(jax.random.PRNGKey(5), 3)
    conv = pnir.Conv(jax.random.normal(keys[0], (3, 2, 5)), jnp.zeros(3), (2,), (2,), (1,), 1, (16,))
    dense = FeedForwardParams(jax.random.normal(keys[1], (24, 4)), lif_params(4, 0.9, 1.0))
    layers = [conv, (lif_neuron(reset="zero"), lif_params(3 * 8, leak=0.8, threshold=0.6)), pnir.Flatten((3, 8)),
              (lif_neuron(reset="zero"), dense)]
    network = pnir.network_from_layers(layers)
    loaded = _round_trip(network, tmp_path)
    x = _spikes(keys[2], (30, 3, 2, 16))
    want, got = pnir.run(network, x), pnir.run(loaded, x)
    np.testing.assert_array_equal(got["1.neurons"], want["1.neurons"])
    np.testing.assert_array_equal(got["3.neurons"], want["3.neurons"])
    assert float(got["1.neurons"].mean()) > 0.02
    reference = nir_reference(nir.read(tmp_path / "net.nir"), x, DT)
    np.testing.assert_array_equal(reference["3.neurons"], got["3.neurons"])


# ------------------------------------------------------------------------------ converted and crossbar networks
@pytest.mark.parametrize("architecture", ["mlp", "cnn"])
def test_rate_converted_network_matches_run_rate_snn(architecture, tmp_path):
    keys = jax.random.split(jax.random.PRNGKey(6), 2)
    if architecture == "mlp":
        layers, shape = init_mlp(keys[0], [5, 16, 3]), (5,)
    else:
        layers, shape = init_cnn(keys[0], (6, 6, 2), channels=3, n_hidden=8, n_classes=3), (6, 6, 2)
    x = np.asarray(jax.random.uniform(keys[1], (8,) + shape))
    snn = convert_rate(layers, x)
    assert isinstance(snn.layers[-1], Dense)
    loaded = _round_trip(snn, tmp_path, initial_membrane=0.5)
    n_steps = 60
    run = run_rate_snn(snn, x, n_steps, initial_membrane=0.5)
    x_nir = np.moveaxis(x, -1, 1) if x.ndim == 4 else x  # channels-first
    inputs = np.broadcast_to(x_nir.astype(np.float32), (n_steps,) + x_nir.shape)
    currents = pnir.run(loaded, inputs)["output"]
    scores = np.cumsum(np.asarray(currents, float), axis=0) / np.arange(1, n_steps + 1)[:, None, None]
    assert np.std(run.scores[-1]) > 0.05
    np.testing.assert_allclose(scores, run.scores, rtol=1e-4, atol=1e-4)
    reference = nir_reference(nir.read(tmp_path / "net.nir"), inputs, DT)
    np.testing.assert_allclose(reference["output"], currents, rtol=1e-4, atol=1e-4)


def test_crossbar_weights_export_with_hardware_metadata(tmp_path):
    keys = jax.random.split(jax.random.PRNGKey(7), 3)
    params = [init_feedforward(keys[0], 6, lif_params(8, 0.9, 0.5), weight_scale=2.0)]
    realised = realise_weights(keys[1], params, t=3600.0)
    neurons = [lif_neuron(reset="zero")]
    meta = pnir.crossbar_metadata(PCMConfig(), t=3600.0)
    path = tmp_path / "pcm.nir"
    nir.write(path, pnir.export(list(zip(neurons, realised)), DT, weight_metadata=meta))
    graph = nir.read(path)
    assert graph.nodes["0_linear"].metadata["read_time_s"] == 3600.0
    assert graph.nodes["0_linear"].metadata["pcm.g_max"] == PCMConfig().g_max
    x = _spikes(keys[2], (20, 2, 6), 0.5)
    np.testing.assert_array_equal(pnir.run(pnir.load(graph), x)["0.neurons"],
                                  run_network(neurons, realised, x)[0].spikes)


# ------------------------------------------------------------------------------ refusals and the optional extra
def test_refusals_name_the_fix():
    with pytest.raises(ValueError, match="ALIF.*no NIR node"):
        pnir.export([(alif_neuron(), FeedForwardParams(jnp.ones((2, 3)), alif_params(3)))], DT)
    layer = (lif_neuron(reset="zero"), FeedForwardParams(jnp.ones((2, 3)), lif_params(3)))
    with pytest.raises(ValueError, match="dt"):
        pnir.export([layer], None)
    graph = pnir.export([layer], DT)
    graph.nodes["0.neurons"].v_reset = np.full(3, 0.1)
    with pytest.raises(ValueError, match="v_reset"):
        pnir.load(graph)
    graph.metadata = {}
    with pytest.raises(ValueError, match="metadata\\['dt'\\]"):
        pnir.load(graph)


def test_missing_extra_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "nir", None)
    layer = (lif_neuron(reset="zero"), FeedForwardParams(jnp.ones((2, 3)), lif_params(3)))
    with pytest.raises(ImportError, match=r"pip install 'probsnn\[nir\]'"):
        pnir.export([layer], DT)


# ------------------------------------------------------------------------------ foreign graphs
def test_foreign_graph_with_general_parameters_and_nested_subgraph_matches_nir_equations():
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(0)
    n_in, n, m = 4, 6, 3
    dt = 1e-3
    tau = rng.uniform(2e-3, 2e-2, n)
    cell = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([n])),
            "lif": nir.LIF(tau=tau, r=rng.uniform(0.5, 3.0, n) * tau / dt, v_leak=rng.uniform(-0.2, 0.3, n),
                           v_threshold=rng.uniform(0.5, 1.0, n), v_reset=np.zeros(n)),
            "w_rec": nir.Linear(weight=0.3 * rng.normal(size=(n, n))),
            "output": nir.Output(output_type=np.array([n])),
        },
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
    )
    tau_syn, tau_mem = rng.uniform(2e-3, 1e-2, m), rng.uniform(2e-3, 2e-2, m)
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([n_in])),
            "fc1": nir.Affine(weight=rng.normal(size=(n, n_in)), bias=rng.normal(size=n) * 0.1),
            "rnn": cell,
            "fc2": nir.Linear(weight=rng.normal(0.5, 1.0, size=(m, n))),
            "cuba": nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=rng.uniform(0.5, 2.0, m) * tau_mem / dt,
                                v_leak=np.zeros(m), v_threshold=np.full(m, 0.3),
                                w_in=rng.uniform(0.5, 2.0, m) * tau_syn / dt),
            "fc3": nir.Linear(weight=rng.normal(size=(2, m))),
            "li": nir.LI(tau=np.full(2, 5e-3), r=np.full(2, 7.0), v_leak=np.array([0.1, -0.1])),
            "output": nir.Output(output_type=np.array([2])),
        },
        edges=[("input", "fc1"), ("fc1", "rnn"), ("rnn", "fc2"), ("fc2", "cuba"), ("cuba", "fc3"), ("fc3", "li"),
               ("li", "output")],
        metadata={"dt": dt},
        type_check=False,
    )
    network = pnir.load(graph, dtype=jnp.float64)
    assert network.nodes["rnn.lif"].input_scale is not None and network.nodes["rnn.lif"].bias is not None
    x = (rng.uniform(size=(60, 3, n_in)) < 0.4).astype(float)
    got = pnir.run(network, x)
    flat = nir.NIRGraph(nodes={**{k: v for k, v in graph.nodes.items() if k != "rnn"},
                               **{f"rnn.{k}": v for k, v in cell.nodes.items() if k in ("lif", "w_rec")}},
                        edges=[("input", "fc1"), ("fc1", "rnn.lif"), ("rnn.lif", "rnn.w_rec"), ("rnn.w_rec", "rnn.lif"),
                               ("rnn.lif", "fc2"), ("fc2", "cuba"), ("cuba", "fc3"), ("fc3", "li"), ("li", "output")],
                        type_check=False)
    reference = nir_reference(flat, x, dt)
    assert 0.05 < reference["rnn.lif"].mean() < 0.7 and reference["cuba"].mean() > 0.02
    np.testing.assert_array_equal(got["rnn.lif"], reference["rnn.lif"])
    np.testing.assert_array_equal(got["cuba"], reference["cuba"])
    np.testing.assert_allclose(got["li"], reference["li"], rtol=1e-9, atol=1e-12)
    # and back: export -> load keeps the dynamics
    again = pnir.run(pnir.load(pnir.export(network)), x)
    np.testing.assert_allclose(again["li"], got["li"], rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------------------ the stochastic (GLM) limit
def test_escape_noise_fires_with_the_sigmoid_of_the_membrane_and_tends_to_the_deterministic_network(tmp_path):
    keys = jax.random.split(jax.random.PRNGKey(8), 3)
    layer = init_feedforward(keys[0], 5, lif_params(4, leak=0.8, threshold=1.0), weight_scale=2.0)
    path = tmp_path / "net.nir"
    nir.write(path, pnir.export([(lif_neuron(reset="none"), layer)], DT))
    n_batch, temperature = 4000, 0.4
    x = jnp.broadcast_to(_spikes(keys[1], (12, 1, 5), 0.5), (12, n_batch, 5))  # one input train, many trials
    _, states = pnir.run(pnir.load(path), x, return_states=True)
    membrane = np.asarray(states["0.neurons"].membrane[:, 0])  # reset="none": the membrane ignores the spikes
    noisy = pnir.run(pnir.load(path, temperature=temperature, key=keys[2]), x)["0.neurons"]
    p = 1.0 / (1.0 + np.exp(-(membrane - 1.0) / temperature))
    rate = np.asarray(noisy).mean(axis=1)
    informative = p * (1 - p) * n_batch > 10  # cells where the binomial standard error is a fair yardstick
    z = (rate - p)[informative] / np.sqrt(p * (1 - p) / n_batch)[informative]
    assert informative.sum() >= 15 and np.max(np.abs(z)) < 4.5
    assert np.all(rate[p < 1e-4] < 0.01) and np.all(rate[p > 1 - 1e-4] > 0.99)
    cold = pnir.run(pnir.load(path, temperature=1e-7, key=keys[2]), x)["0.neurons"]
    np.testing.assert_array_equal(cold, pnir.run(pnir.load(path), x)["0.neurons"])
    with pytest.raises(ValueError, match="temperature"):
        pnir.load(path, key=keys[2])
