"""Seconds per MNIST-sized epoch of Q-AGREL and its backprop baseline vs PyTorch (CPU) doing the same steps.

Network 784-300-100-10, batch 100, float32, 60,000 MNIST trials per epoch. Each step is: forward pass, action
selection, reward, learning update. The PyTorch reference runs the identical Q-AGREL step with tensor
operations (no autograd), and the baseline as ``nn.Sequential`` + squared error + ``SGD`` with autograd. Both
sides use the same number of CPU threads (1 by default: on shared cores multithreaded BLAS on these small
matrices slows down erratically), alternate within one run, and the table reports medians.

neurorl's first layer skips the inputs that are zero on every image of a batch (about a third of MNIST's pixels,
exact up to rounding); the PyTorch reference computes the full products. The row "dense first layer" switches
the shortcut off (``sparse_inputs = False``) for a like-for-like comparison of the arithmetic.

Usage::

    python benchmarks/bench_qagrel.py           # 5 repeats of 200 batches, plus a full 10-epoch run on MNIST
    python benchmarks/bench_qagrel.py --quick   # 3 repeats of 60 batches

Timings are scaled to a 600-batch epoch. torch is imported only here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from neurorl.models.backprop import BackpropMLP
from neurorl.models.qagrel import QAGREL

SIZES = (784, 300, 100, 10)
BATCH = 100
BATCHES_PER_EPOCH = 600
EPSILON = 0.02


def _data(n_batches: int, seed: int = 0):
    """MNIST training images in a random order, or MNIST-like noise (blank border) when MNIST is absent."""
    from neurorl.errors import MissingDataError
    from neurorl.io.mnist import load_mnist

    rng = np.random.default_rng(seed)
    n = n_batches * BATCH
    try:
        images, labels = load_mnist("train")
        order = rng.permutation(len(labels))[:n]
        return np.ascontiguousarray(images[order].reshape(n, -1)), labels[order].astype(np.int64)
    except MissingDataError:
        x = rng.random((n, 28, 28), dtype=np.float32)
        x[x < 0.7] = 0.0
        x[:, :4] = x[:, -4:] = x[:, :, :4] = x[:, :, -4:] = 0.0
        return x.reshape(n, -1), rng.integers(0, SIZES[-1], size=n)


def _dense(model):
    model.sparse_inputs = False
    return model


def _time_neurorl(model, x, y) -> float:
    start = time.perf_counter()
    for i in range(0, len(x), BATCH):
        xb, yb = x[i:i + BATCH], y[i:i + BATCH]
        q = model.forward(xb)
        actions = model.select(q)
        rewards = (actions == yb).astype(np.float32)
        model.learn(actions, rewards, yb)
    return time.perf_counter() - start


def _torch_qagrel(torch, x, y, lr=0.5, seed=0):
    """The Q-AGREL step (symmetric feedback) written with torch tensors."""
    gen = torch.Generator().manual_seed(seed)
    weights = [(torch.rand(n_in, n_out, generator=gen) * 0.1 - 0.05) for n_in, n_out in zip(SIZES[:-1], SIZES[1:], strict=True)]
    biases = [torch.zeros(n) for n in SIZES[1:]]
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    rows = torch.arange(BATCH)
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(x), BATCH):
            xb, yb = xt[i:i + BATCH], yt[i:i + BATCH]
            acts = [xb]
            h = xb
            for index, (w, b) in enumerate(zip(weights, biases, strict=True)):
                h = torch.addmm(b, h, w)
                if index < len(weights) - 1:
                    h.clamp_(min=0)
                acts.append(h)
            q = h
            actions = q.argmax(dim=1)
            explore = torch.rand(BATCH, generator=gen) < EPSILON
            if bool(explore.any()):
                drawn = torch.multinomial(torch.softmax(q[explore], dim=1), 1, generator=gen).squeeze(1)
                actions[explore] = drawn
            rewards = (actions == yb).float()
            delta = rewards - q[rows, actions]
            g = torch.zeros_like(q)
            g[rows, actions] = delta
            signals = [g]
            for index in range(len(weights) - 1, 0, -1):
                g = (g @ weights[index].T) * (acts[index] > 0)
                signals.append(g)
            signals.reverse()
            step = lr / BATCH
            for index, g in enumerate(signals):
                weights[index].addmm_(acts[index].T, g, alpha=step)
                biases[index].add_(g.sum(dim=0), alpha=step)
    return time.perf_counter() - start


def _torch_backprop(torch, x, y, lr=0.5, seed=0):
    torch.manual_seed(seed)
    layers = []
    for index, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True)):
        linear = torch.nn.Linear(n_in, n_out)
        torch.nn.init.uniform_(linear.weight, -0.05, 0.05)
        torch.nn.init.zeros_(linear.bias)
        layers.append(linear)
        if index < len(SIZES) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    eye = torch.eye(SIZES[-1])
    start = time.perf_counter()
    for i in range(0, len(x), BATCH):
        xb, yb = xt[i:i + BATCH], yt[i:i + BATCH]
        q = net(xb)
        loss = 0.5 * ((q - eye[yb]) ** 2).sum(dim=1).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def _full_run_seconds(epochs: int = 10) -> float | None:
    """Wall seconds of ``epochs`` epochs of the real training loop on MNIST (evaluation included)."""
    from neurorl.errors import MissingDataError
    from neurorl.io.mnist import load_mnist
    from neurorl.models.training import train
    from neurorl.tasks.classification import ClassificationTask
    # $NEURORL_MNIST_DIR or the user cache, else the shared data folder beside the repository (as the tests)
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
    directory = shared if "NEURORL_MNIST_DIR" not in os.environ and shared.is_dir() else None
    try:
        train_set, test_set = load_mnist("train", directory=directory), load_mnist("test", directory=directory)
    except MissingDataError:
        return None
    model = QAGREL(SIZES, learning_rate=0.5, seed=0)
    start = time.perf_counter()
    train(model, ClassificationTask(*train_set), ClassificationTask(*test_set), epochs=epochs, seed=0, desc=None)
    return time.perf_counter() - start


def run(quick: bool = False, threads: int = 1) -> list[dict]:
    """Benchmark rows ``{"benchmark", "neurorl_s", "reference", "reference_s", "ratio"}`` (medians, s/epoch).

    ``ratio`` is reference time / neurorl time (above 1: neurorl is faster), as in ``benchmarks/run.py``.
    """
    import torch
    from threadpoolctl import threadpool_limits

    threads = threads if threads > 0 else (os.cpu_count() or 1)
    torch.set_num_threads(threads)
    with threadpool_limits(limits=threads, user_api="blas"):
        return _run(torch, quick, threads)


def _run(torch, quick: bool, threads: int) -> list[dict]:
    n_batches = 60 if quick else 200
    repeats = 3 if quick else 5
    x, y = _data(n_batches)
    scale = BATCHES_PER_EPOCH / n_batches
    y_torch = y.astype(np.int64)
    timings: dict[str, list[float]] = {"qagrel": [], "qagrel_dense": [], "torch_qagrel": [], "backprop": [],
                                       "torch_backprop": []}
    # warm-up (BLAS thread pools, torch kernels)
    _time_neurorl(QAGREL(SIZES, seed=0), x[:1000], y[:1000])
    _torch_qagrel(torch, x[:1000], y_torch[:1000])
    _torch_backprop(torch, x[:1000], y_torch[:1000])
    for repeat in range(repeats):
        timings["qagrel"].append(_time_neurorl(QAGREL(SIZES, learning_rate=0.5, seed=repeat), x, y) * scale)
        timings["qagrel_dense"].append(
            _time_neurorl(_dense(QAGREL(SIZES, learning_rate=0.5, seed=repeat)), x, y) * scale)
        timings["torch_qagrel"].append(_torch_qagrel(torch, x, y_torch, seed=repeat) * scale)
        timings["backprop"].append(_time_neurorl(BackpropMLP(SIZES, learning_rate=0.5, seed=repeat), x, y) * scale)
        timings["torch_backprop"].append(_torch_backprop(torch, x, y_torch, seed=repeat) * scale)
    med = {key: statistics.median(values) for key, values in timings.items()}
    ref = f"PyTorch {torch.__version__} CPU, {threads} thread{'s' if threads > 1 else ''}"
    rows = [
        {"benchmark": "qagrel epoch 784-300-100-10 b100 f32", "neurorl_s": med["qagrel"],
         "reference": ref + " (same Q-AGREL step)", "reference_s": med["torch_qagrel"],
         "ratio": med["torch_qagrel"] / med["qagrel"], "target": "no slower than PyTorch (ratio >= 1)",
         "meets_target": bool(med["qagrel"] <= med["torch_qagrel"])},
        {"benchmark": "qagrel epoch, dense first layer", "neurorl_s": med["qagrel_dense"],
         "reference": ref + " (same Q-AGREL step)", "reference_s": med["torch_qagrel"],
         "ratio": med["torch_qagrel"] / med["qagrel_dense"]},
        {"benchmark": "backprop epoch 784-300-100-10 b100 f32", "neurorl_s": med["backprop"],
         "reference": ref + " (autograd + SGD, MSE)", "reference_s": med["torch_backprop"],
         "ratio": med["torch_backprop"] / med["backprop"], "target": "no slower than PyTorch (ratio >= 1)",
         "meets_target": bool(med["backprop"] <= med["torch_backprop"])},
    ]
    if not quick:
        full = _full_run_seconds(10)
        if full is not None:
            rows.append({"benchmark": "qagrel 10 MNIST epochs incl. evaluation", "neurorl_s": full,
                         "reference": "target (issue): 30 s", "reference_s": 30.0, "ratio": 30.0 / full,
                         "target": "< 30 s", "meets_target": bool(full < 30.0)})
        else:
            rows.append({"benchmark": "qagrel 10 MNIST epochs incl. evaluation", "neurorl_s": float("nan"),
                         "reference": "not run: no MNIST copy found (set NEURORL_MNIST_DIR)",
                         "reference_s": float("nan"), "ratio": float("nan"), "target": "< 30 s",
                         "meets_target": ""})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for both sides (0: all cores)")
    args = parser.parse_args(argv)
    from run import print_table

    print_table(run(quick=args.quick, threads=args.threads), quick=args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
