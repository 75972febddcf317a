"""The peers of `cargo xtask bench train`: the same training done by PyTorch and scikit-learn on
the very data Cairn's trainer gets (written by `bench_train gen DIR`), so Cairn's throughput can be
stated as a ratio measured in the same run.

    python train_peers.py torch-mlp DIR --threads N [--epochs 4] [--batch-size 128]
    python train_peers.py torch-logistic DIR --threads N [--epochs 5] [--batch-size 512]
    python train_peers.py sklearn-logistic DIR --threads N
    python train_peers.py torch-mlp-profile DIR --threads N [--epochs 3] [--batch-size 128]

Prints one JSON object on stdout. The data: DIR/NAME.x.f32 (row-major float32), NAME.y.u8 (the
class of each row), NAME.split.u8 (0 = training row, 1 = test row, Cairn's seeded split).

What each run mirrors from Cairn's trainer (crates/cairn-train/src/trainer.rs):
- features standardised with the training rows' mean and (population) standard deviation;
- every epoch a fresh random order of the training rows, mini-batches gathered by index from the
  full training tensor, forward, mean cross-entropy (log-softmax + pick), backward, an Adam step
  (PyTorch's defaults: betas 0.9/0.999, eps 1e-8), and per step the batch loss and the count of
  correct predictions read back as Python numbers, as the trainer does for its step reports;
- weights start uniform in ±1/sqrt(fan_in) (PyTorch's own default init draws from the same range
  for biases and a slightly narrower one for weights; it does not change the cost of a step).

Versions are pinned by the harness (xtask/src/bench/train.rs), which installs them.
"""

import argparse
import json
import os
import sys
import time


def load(data_dir, name):
    import numpy as np

    with open(os.path.join(data_dir, name + ".json")) as f:
        meta = json.load(f)
    base = os.path.join(data_dir, name)
    x = np.fromfile(base + ".x.f32", dtype="<f4").reshape(meta["rows"], meta["cols"])
    y = np.fromfile(base + ".y.u8", dtype=np.uint8).astype(np.int64)
    split = np.fromfile(base + ".split.u8", dtype=np.uint8)
    train, test = split == 0, split == 1
    return meta, x[train], y[train], x[test], y[test]


def standardise(x_train, x_test):
    import numpy as np

    mean = x_train.mean(axis=0, dtype=np.float64)
    std = x_train.std(axis=0, dtype=np.float64)
    std[std == 0] = 1.0
    f = lambda a: ((a - mean) / std).astype(np.float32)
    return f(x_train), f(x_test)


def median(v):
    v = sorted(v)
    n = len(v)
    if n == 0:
        return float("nan")
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def run_torch(args, name, hidden, lr):
    import numpy as np
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    t0 = time.perf_counter()
    meta, x_train, y_train, x_test, y_test = load(args.data, name)
    load_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    x_train, x_test = standardise(x_train, x_test)
    xt = torch.from_numpy(x_train)
    yt = torch.from_numpy(y_train)
    widths = [meta["cols"], *hidden, meta["classes"]]
    layers = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = xt.shape[0]
    gen = torch.Generator().manual_seed(42)
    setup_s = time.perf_counter() - t0

    epoch_s = []
    loss_sum = correct = 0.0
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        order = torch.randperm(n, generator=gen)
        loss_sum = correct = 0.0
        for start in range(0, n, args.batch_size):
            idx = order[start : start + args.batch_size]
            xb = xt.index_select(0, idx)
            yb = yt.index_select(0, idx)
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += (out.argmax(dim=1) == yb).sum().item()
        epoch_s.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    with torch.no_grad():
        pred = model(torch.from_numpy(x_test)).argmax(dim=1).numpy()
    test_accuracy = float((pred == y_test).mean())
    predict_s = time.perf_counter() - t0
    steady = median(epoch_s[1:]) if len(epoch_s) > 1 else epoch_s[0]
    return {
        "tool": "pytorch",
        "version": torch.__version__,
        "numpy": np.__version__,
        "threads": torch.get_num_threads(),
        "n_train": int(n),
        "n_test": int(len(y_test)),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "load_s": load_s,
        "setup_s": setup_s,
        "epoch_s": epoch_s,
        "steady_epoch_s": steady,
        "samples_per_s": n / steady,
        "predict_s": predict_s,
        "wall_s": setup_s + sum(epoch_s) + predict_s,
        "train_loss": loss_sum / n,
        "train_accuracy": correct / n,
        "test_accuracy": test_accuracy,
    }


def profile_torch(args):
    """The MLP step of `run_torch`, phase by phase (milliseconds per step, epochs 2..N), with
    the phase names of `bench_train profile`. PyTorch's CPU ops finish before they return, so
    a timer around each phase sees its whole cost."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    meta, x_train, y_train, x_test, y_test = load(args.data, "mlp")
    x_train, _ = standardise(x_train, x_test)
    xt = torch.from_numpy(x_train)
    yt = torch.from_numpy(y_train)
    model = torch.nn.Sequential(
        torch.nn.Linear(meta["cols"], 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, meta["classes"]),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n = xt.shape[0]
    gen = torch.Generator().manual_seed(42)
    names = ["batch_ms", "forward_ms", "loss_ms", "backward_ms", "optimizer_ms",
             "loss_scalar_ms", "accuracy_ms"]
    totals = [0.0] * len(names)
    steps = 0
    epoch_s = []
    clock = time.perf_counter
    for epoch in range(args.epochs):
        order = torch.randperm(n, generator=gen)
        count = epoch > 0 or args.epochs == 1
        e0 = clock()
        for start in range(0, n, args.batch_size):
            t = [clock()]
            idx = order[start : start + args.batch_size]
            xb = xt.index_select(0, idx)
            yb = yt.index_select(0, idx)
            t.append(clock())
            out = model(xb)
            t.append(clock())
            loss = F.cross_entropy(out, yb)
            t.append(clock())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            t.append(clock())
            opt.step()
            t.append(clock())
            loss.item()
            t.append(clock())
            (out.argmax(dim=1) == yb).sum().item()
            t.append(clock())
            if count:
                steps += 1
                for i in range(len(names)):
                    totals[i] += t[i + 1] - t[i]
        epoch_s.append(clock() - e0)
    counted = epoch_s[1:] if len(epoch_s) > 1 else epoch_s
    out = {
        "tool": "pytorch-profile",
        "variant": "pytorch",
        "version": torch.__version__,
        "threads": torch.get_num_threads(),
        "elementwise_threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "steps": steps,
        "step_ms": sum(totals) / steps * 1e3,
        "samples_per_s": n * len(counted) / sum(counted),
    }
    for name, total in zip(names, totals):
        out[name] = total / steps * 1e3
    return out


def run_sklearn(args):
    import numpy as np
    import sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    meta, x_train, y_train, x_test, y_test = load(args.data, "logistic")
    load_s = time.perf_counter() - t0
    with threadpool_limits(limits=args.threads):
        t0 = time.perf_counter()
        scaler = StandardScaler()
        xs = scaler.fit_transform(x_train)
        t1 = time.perf_counter()
        model = LogisticRegression(solver="lbfgs", max_iter=100)
        model.fit(xs, y_train)
        t2 = time.perf_counter()
        test_accuracy = float(model.score(scaler.transform(x_test), y_test))
        train_accuracy = float(model.score(xs, y_train))
        t3 = time.perf_counter()
    return {
        "tool": "scikit-learn",
        "version": sklearn.__version__,
        "numpy": np.__version__,
        "threads": args.threads,
        "n_train": int(len(y_train)),
        "n_test": int(len(y_test)),
        "solver": "lbfgs",
        "iterations": int(model.n_iter_[0]),
        "load_s": load_s,
        "scale_s": t1 - t0,
        "fit_s": t2 - t1,
        "score_s": t3 - t2,
        "wall_s": t3 - t0,
        "train_accuracy": train_accuracy,
        "test_accuracy": test_accuracy,
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument(
        "what", choices=["torch-mlp", "torch-logistic", "sklearn-logistic", "torch-mlp-profile"]
    )
    p.add_argument("data")
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    args = p.parse_args()
    t0 = time.perf_counter()
    if args.what == "torch-mlp":
        args.epochs = args.epochs or 4
        args.batch_size = args.batch_size or 128
        out = run_torch(args, "mlp", [256, 128], 1e-3)
    elif args.what == "torch-mlp-profile":
        args.epochs = args.epochs or 3
        args.batch_size = args.batch_size or 128
        out = profile_torch(args)
    elif args.what == "torch-logistic":
        args.epochs = args.epochs or 5
        args.batch_size = args.batch_size or 512
        out = run_torch(args, "logistic", [], 1e-2)
    else:
        out = run_sklearn(args)
    out["process_s"] = time.perf_counter() - t0
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
