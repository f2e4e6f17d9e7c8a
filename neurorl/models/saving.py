"""Save a trained Q-AGREL or backprop network to one ``.npz`` file and load it back.

The file holds the constructor settings (as JSON), every feedforward weight matrix, the feedback weights where
they are separate arrays (``random`` and ``fixed`` feedback) and the biases where the network has them, in the
network's dtype, so a loaded network gives exactly the same predictions.

Examples
--------
>>> import tempfile, pathlib, numpy as np
>>> from neurorl.models.qagrel import QAGREL
>>> net = QAGREL((4, 8, 3), feedback="random", seed=0)
>>> path = pathlib.Path(tempfile.mkdtemp()) / "model.npz"
>>> _ = save_model(net, path)
>>> x = np.random.default_rng(1).random((5, 4), dtype="float32")
>>> bool((load_model(path).q_values(x) == net.q_values(x)).all())
True
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import InvalidArgumentError, InvalidRecordingError
from ..io._atomic import atomic_path
from .backprop import BackpropMLP
from .qagrel import QAGREL

__all__ = ["save_model", "load_model", "model_arrays", "set_model_arrays"]

#: Constructor arguments stored per rule (everything else is state).
_SETTINGS = {"qagrel": ("layer_sizes", "feedback", "learning_rate", "epsilon", "temperature", "bias", "init_scale",
                        "dtype", "optimistic_q", "recency_bonus", "recency_window"),
             "backprop": ("layer_sizes", "learning_rate", "loss", "bias", "init_scale", "dtype", "feedback")}


def model_arrays(model) -> dict[str, np.ndarray]:
    """The network's learned arrays by name (``weights_<l>``, ``feedback_<l>``, ``biases_<l>``, ``q_offset`` and
    ``action_age`` where the network has them); no copies."""
    arrays = {f"weights_{index}": w for index, w in enumerate(model.weights)}
    feedback = getattr(model, "feedback_weights", None)
    if feedback is not None and getattr(model, "feedback", "symmetric") != "symmetric":
        arrays.update({f"feedback_{index}": f for index, f in enumerate(feedback) if f is not None})
    if model.biases is not None:
        arrays.update({f"biases_{index}": b for index, b in enumerate(model.biases)})
    for name in ("q_offset", "action_age"):
        if getattr(model, name, None) is not None:
            arrays[name] = getattr(model, name)
    return arrays


def set_model_arrays(model, arrays: dict[str, np.ndarray]) -> None:
    """Copy stored arrays into the network in place (keeps shared feedback arrays shared)."""
    targets = model_arrays(model)
    missing = set(targets) - set(arrays)
    if missing:
        raise InvalidArgumentError(f"stored network lacks arrays {sorted(missing)}")
    for name, target in targets.items():
        value = np.asarray(arrays[name])
        if value.shape != target.shape:
            raise InvalidArgumentError(f"stored {name} has shape {value.shape}, the network needs {target.shape}")
        target[...] = value


def save_model(model, path: str | os.PathLike) -> Path:
    """Write ``model`` (:class:`QAGREL` or :class:`BackpropMLP`) to ``path`` (``.npz``, written atomically)."""
    params = model.get_params()
    rule = params.get("rule")
    if rule not in _SETTINGS:
        raise InvalidArgumentError(f"cannot save a network of rule {rule!r}")
    settings = {key: params[key] for key in _SETTINGS[rule] if key in params}
    settings["layer_sizes"] = [int(n) for n in settings["layer_sizes"]]
    header = json.dumps({"rule": rule, "settings": settings, "format": 1})
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, header=np.array(header), **model_arrays(model))
    return path


def load_model(path: str | os.PathLike, seed: int | np.random.Generator | None = None):
    """Read a network written by :func:`save_model`.

    Parameters
    ----------
    path
        The ``.npz`` file.
    seed
        Seed of the loaded network's generator (it draws Q-AGREL's exploratory actions if trained further).

    Returns
    -------
    QAGREL or BackpropMLP
        The network with the stored weights; its greedy predictions equal the saved network's exactly.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as stored:
            header = json.loads(str(stored["header"]))
            arrays = {name: stored[name] for name in stored.files if name != "header"}
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise InvalidRecordingError(f"not a saved neurorl network ({exc})", path) from exc
    settings = dict(header["settings"])
    sizes = settings.pop("layer_sizes")
    cls = QAGREL if header["rule"] == "qagrel" else BackpropMLP
    model = cls(sizes, seed=seed, **settings)
    set_model_arrays(model, arrays)
    return model
