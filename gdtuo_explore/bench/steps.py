"""Benchmark: step time and memory of hyperoptimizer towers against torch.optim and the reference package.

    python -m gdtuo_explore.bench            # CPU, and CUDA when there is a GPU
    python -m gdtuo_explore.bench --quick    # fewer rounds
    python -m gdtuo_explore.bench --only recording   # only what recording hypergradients costs

Every comparison is measured side by side in one process, interleaved round by round (so a noisy machine slows
both sides alike), and printed as a ratio with its target. A training step is the whole iteration (zero_grad,
forward, loss, backward, optimizer step) on one fixed batch: the seed MLP 784-128-10 (batch 256) and a small CNN on
3x32x32 (batch 64); the automatic path is also timed where users meet it, the run engine's CNN on Fashion-MNIST
(real batches of 64 in turn). "Height" counts the levels above the weights' optimizer: Adam/SGD has height 1.

Memory: the peak of 5 training steps of a 21.3M-parameter MLP, each optimizer in a fresh process (3 rounds, the
median), in parameter-sized buffers over what the process held before the model (peak resident size on the CPU,
``max_memory_allocated`` on a GPU), as ratios to torch.optim's Adam and AdamW; their step times on that model are
printed beside them.

Every tower timed must stay finite over the timed steps (a refused step skips work, so its time would flatter us):
the benchmark checks it and fails a row whose tower diverged. On one fixed batch every hypergradient keeps its sign,
so a tall tower of equal step sizes diverges within a few dozen steps (each level's step size grows by the one
above it at every step); the 50-level towers therefore halve the step size from level to level, the height-3 Adam
tower is Adam^4 (SGD levels above Adam, whose hypergradients are ~1e3, diverge at once), and the CNN, whose SGD
towers diverge after ~100 steps on one batch, is timed for fewer steps.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..core import gdtuo
from ..core.hyperoptimizer import HyperOptimizer


def mlp(width=128):
    return nn.Sequential(nn.Flatten(), nn.Linear(784, width), nn.Tanh(), nn.Linear(width, 10))


def cnn():
    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64 * 8 * 8, 128), nn.ReLU(), nn.Linear(128, 10))


MODELS = {"mlp": (mlp, (256, 1, 28, 28)), "cnn": (cnn, (64, 3, 32, 32))}
OTHER_MODELS = {"mlp 21M": (lambda: big_mlp(), (64, 784))}  # timed only for the memory rows
TORCH = {"sgd": lambda m: torch.optim.SGD(m.parameters(), lr=0.01),
         "adam": lambda m: torch.optim.Adam(m.parameters(), lr=0.001),
         "adamw": lambda m: torch.optim.AdamW(m.parameters(), lr=0.001)}
AUTO_ADAM = "adam(hypergrad=auto)/sgd(1e-5)"  # Adam/SGD through the automatic path (autograd through the update)


def tower(base: str, height: int, top: str | None = None) -> str:
    """``base`` with ``height`` levels above it, e.g. tower("adam", 1, "sgd(1e-5)") == "adam/sgd(1e-5)"."""
    top = top or {"sgd": "sgd(1e-5)", "adam": "adam(1e-5)"}[base]
    return "/".join([base] + [top] * height)


def halving_tower(base: str, height: int, alpha: float = 1e-5) -> str:
    """``base`` with ``height`` levels of ``base`` above it, their step sizes alpha, alpha/2, alpha/4, ..."""
    return "/".join([base] + [f"{base}({alpha / 2 ** k:.3g})" for k in range(height)])


class Stepper:
    """One configuration under test: a fresh model, an optimizer and a ``step()`` doing one training iteration."""

    def __init__(self, name, model_name, device, make_opt, style="optim"):
        make_model, shape = MODELS[model_name] if model_name in MODELS else OTHER_MODELS[model_name]
        torch.manual_seed(0)
        self.name, self.model = name, make_model().to(device)
        gen = torch.Generator().manual_seed(0)
        self.x = torch.randn(shape, generator=gen).to(device)
        self.y = torch.randint(0, 10, (shape[0],), generator=gen).to(device)
        self.style = style
        self.opt = make_opt(self.model)

    def diverged(self) -> bool:
        """True if a step went non-finite, so that the timing is not a real step's: ours refused a step (its weights
        stay finite; the tower records it), or a weight or, for the reference package's wrapper (which has no
        guard), a hyperparameter of any level is not finite."""
        opt = self.opt.hyperoptimizer if isinstance(self.opt, gdtuo.ModuleWrapper) else self.opt
        if isinstance(opt, HyperOptimizer) and opt.nonfinite() is not None:
            return True
        tensors = list(self.model.parameters())
        level = self.opt if self.style != "optim" else None
        while isinstance(getattr(level, "parameters", None), dict):  # the reference's chain of Optimizables
            tensors += list(level.parameters.values())
            level = level.optimizer
        return not all(bool(torch.isfinite(t).all()) for t in tensors)

    def step(self):
        if self.style == "optim":
            self.opt.zero_grad()
            F.cross_entropy(self.model(self.x), self.y).backward()
            self.opt.step()
        else:  # the reference README's loop, with a plain backward unless asked
            mw = self.opt
            mw.begin()
            loss = F.cross_entropy(mw.forward(self.x), self.y)
            mw.zero_grad()
            loss.backward(create_graph=self.style == "wrapper+create_graph")
            mw.step()


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_interleaved(steppers, device, rounds, steps):
    """Median seconds per step of each stepper, measured round-robin."""
    for s in steppers:  # warm-up
        for _ in range(3):
            s.step()
    times = {s.name: [] for s in steppers}
    for _ in range(rounds):
        for s in steppers:
            _sync(device)
            t0 = time.perf_counter()
            for _ in range(steps):
                s.step()
            _sync(device)
            times[s.name].append((time.perf_counter() - t0) / steps)
    return {k: statistics.median(v) for k, v in times.items()}


def ours(spec, **options):
    return lambda m: HyperOptimizer(m.parameters(), spec, **options)


def wrapper(module, build):
    return lambda m: module.ModuleWrapper(m, optimizer=build(module))


def reference_module():
    try:
        from gradient_descent_the_ultimate_optimizer import gdtuo as ref
        return ref
    except ImportError:
        return None


def speed(device, model_name, rounds, steps, rows):
    """Step-time ratios for one device and model; appends result rows."""
    ref = reference_module()
    cfg = {
        "torch SGD": (TORCH["sgd"], "optim"),
        "torch Adam": (TORCH["adam"], "optim"),
        "SGD/SGD": (ours(tower("sgd", 1, "sgd(1e-5)")), "optim"),
        "Adam/SGD": (ours(tower("adam", 1, "sgd(1e-5)")), "optim"),
        "SGD/SGD (wrapper)": (wrapper(gdtuo, lambda g: g.SGD(0.01, optimizer=g.SGD(1e-5))), "wrapper"),
        "Adam/SGD (wrapper)": (wrapper(gdtuo, lambda g: g.Adam(optimizer=g.SGD(1e-5))), "wrapper"),
        "SGD/SGD/SGD/SGD": (ours(tower("sgd", 3, "sgd(1e-5)")), "optim"),
        "Adam/Adam/Adam/Adam": (ours(tower("adam", 3)), "optim"),
        "SGD^50": (ours(halving_tower("sgd", 49)), "optim"),
        "Adam/Adam": (ours(tower("adam", 1)), "optim"),
        "Adam/Adam (wrapper)": (wrapper(gdtuo, lambda g: g.Adam(optimizer=g.Adam(1e-5))), "wrapper"),
        "Adam^50": (ours(halving_tower("adam", 49)), "optim"),
    }
    automatic = device.type == "cpu" and model_name == "mlp"  # the automatic path's rows: the seed MLP, CPU
    if automatic:
        cfg["torch AdamW"] = (TORCH["adamw"], "optim")
        cfg["AdamW/SGD"] = (ours("adamw/sgd(1e-5)"), "optim")
        cfg["Adam/SGD (automatic)"] = (ours(AUTO_ADAM), "optim")
    if ref is not None:
        cfg["reference Adam/Adam"] = (wrapper(ref, lambda g: g.Adam(optimizer=g.Adam(1e-5))), "wrapper")
        cfg["reference Adam/Adam (create_graph)"] = (wrapper(ref, lambda g: g.Adam(optimizer=g.Adam(1e-5))),
                                                     "wrapper+create_graph")
        cfg["reference Adam/SGD"] = (wrapper(ref, lambda g: g.Adam(optimizer=g.SGD(1e-5))), "wrapper")
        cfg["reference SGD/SGD"] = (wrapper(ref, lambda g: g.SGD(0.01, optimizer=g.SGD(1e-5))), "wrapper")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        steppers = [Stepper(name, model_name, device, make, style) for name, (make, style) in cfg.items()]
        t = time_interleaved(steppers, device, rounds, steps)
    diverged = {s.name for s in steppers if s.diverged()}

    def add(what, a, b, target, better="lower"):
        rows.append(ratio_row(device, model_name, t, diverged, what, a, b, target, better))

    add("SGD/SGD vs torch SGD", "SGD/SGD", "torch SGD", 1.10)
    add("SGD/SGD (wrapper) vs torch SGD", "SGD/SGD (wrapper)", "torch SGD", 1.10)
    add("Adam/SGD vs torch Adam", "Adam/SGD", "torch Adam", 1.10)
    add("Adam/SGD (wrapper) vs torch Adam", "Adam/SGD (wrapper)", "torch Adam", 1.10)
    add("height 3 SGD/SGD/SGD/SGD vs torch SGD", "SGD/SGD/SGD/SGD", "torch SGD", 1.25)
    add("height 3 Adam/Adam/Adam/Adam vs torch Adam", "Adam/Adam/Adam/Adam", "torch Adam", 1.25)
    add("50-level SGD tower (halving step sizes) vs SGD/SGD", "SGD^50", "SGD/SGD", 1.5)
    add("50-level Adam tower (halving step sizes) vs Adam/Adam", "Adam^50", "Adam/Adam", 4.0)
    if automatic:
        # on 100k weights a step costs what its PyTorch operations cost one by one: autograd's per-operation
        # overhead stays (reported; the CNN task's rows below are where the automatic path has a target)
        add("AdamW/SGD (automatic path) vs torch AdamW (reported)", "AdamW/SGD", "torch AdamW", float("inf"))
        add("Adam/SGD: automatic path vs closed form", "Adam/SGD (automatic)", "Adam/SGD", 1.4)
    if ref is not None:
        t["ref Adam/Adam best"] = min(t["reference Adam/Adam"], t["reference Adam/Adam (create_graph)"])
        add("reference Adam/Adam (fastest of its two loops) / ours", "ref Adam/Adam best", "Adam/Adam", 2.0, "higher")
        add("reference Adam/Adam (create_graph, its README) / ours", "reference Adam/Adam (create_graph)",
            "Adam/Adam (wrapper)", 2.0, "higher")
        add("reference Adam/SGD vs torch Adam (for comparison)", "reference Adam/SGD", "torch Adam", float("inf"))
        add("reference SGD/SGD vs torch SGD (for comparison)", "reference SGD/SGD", "torch SGD", float("inf"))
    return t


def ratio_row(device, model_name, t, diverged, what, a, b, target, better="lower") -> dict:
    """A result row: ``t[a] / t[b]`` (seconds per step) against ``target`` (``better``: "lower" or "higher"),
    marked invalid where a stepper in ``diverged`` was timed."""
    ratio = t[a] / t[b]
    ok = ratio <= target if better == "lower" else ratio >= target
    bad = [name for name in (a, b) if name in diverged]
    if bad:
        what, ok = f"{what} (INVALID: {', '.join(bad)} diverged while timed)", False
    return dict(device=device.type, model=model_name, comparison=what, ms_a=t[a] * 1e3, ms_b=t[b] * 1e3,
                ratio=ratio, target=("<= " if better == "lower" else ">= ") + f"{target:g}", ok=ok)


def recording_cost(device, model_name, rounds, steps, rows):
    """What ``record_hypergrads=True`` costs a step: SGD/SGD and Adam/SGD recording hypergradients (and the last
    step's details) against the same towers not recording them, side by side. The option is off by default because
    this costs more than 2 % (see docs/benchmarks.md); the rows are for comparison (no target)."""
    cfg = {}
    for name, base in (("SGD/SGD", "sgd"), ("Adam/SGD", "adam")):
        cfg[name] = ours(tower(base, 1, "sgd(1e-5)"))
        cfg[f"{name} (record_hypergrads)"] = ours(tower(base, 1, "sgd(1e-5)"), record_hypergrads=True)
    steppers = [Stepper(name, model_name, device, make) for name, make in cfg.items()]
    t = time_interleaved(steppers, device, rounds, steps)
    diverged = {s.name for s in steppers if s.diverged()}
    for name in ("SGD/SGD", "Adam/SGD"):
        rows.append(ratio_row(device, model_name, t, diverged, f"{name} recording hypergradients vs not (for "
                              "comparison)", f"{name} (record_hypergrads)", name, float("inf")))

class TaskStepper(Stepper):
    """One configuration on a task of the run engine: its model, its loss, and its real training batches in turn."""

    def __init__(self, name, task, batch_size, device, make_opt, n_batches=20):
        torch.manual_seed(0)
        self.name, self.style, self.loss_fn = name, "optim", task.loss_fn
        self.model = task.make_model().to(device)
        self.batches = [(task.train_x[i:i + batch_size].to(device), task.train_y[i:i + batch_size].to(device))
                        for i in range(0, n_batches * batch_size, batch_size)]
        self.i = 0
        self.opt = make_opt(self.model)

    def step(self):
        x, y = self.batches[self.i % len(self.batches)]
        self.i += 1
        self.opt.zero_grad()
        self.loss_fn(self.model(x), y).backward()
        self.opt.step()


def task_speed(device, rows, rounds, steps, task_name="fashion-mnist", model_name="cnn"):
    """The automatic path where users meet it: the run engine's CNN on Fashion-MNIST (its default batch of 64, real
    batches in turn), automatic AdamW/SGD against torch.optim.AdamW and automatic Adam/SGD against its closed form."""
    from ..engine.config import RunConfig
    from ..engine.tasks import make_task

    label = f"{task_name} {model_name}"
    try:
        task = make_task(task_name, model=model_name)
    except ValueError as err:  # the dataset is missing: the rows fail, saying why
        for what in ("AdamW/SGD (automatic path) vs torch AdamW", "Adam/SGD: automatic path vs closed form"):
            rows.append(dict(device=device.type, model=label, comparison=f"{what} (INVALID: {err})", ms_a=0.0,
                             ms_b=0.0, ratio=float("nan"), target="<= 1.15", ok=False))
        return
    batch = RunConfig().batch_size
    cfg = {"torch AdamW": TORCH["adamw"], "AdamW/SGD": ours("adamw/sgd(1e-5)"), "Adam/SGD": ours("adam/sgd(1e-5)"),
           "Adam/SGD (automatic)": ours(AUTO_ADAM)}
    steppers = [TaskStepper(name, task, batch, device, make) for name, make in cfg.items()]
    t = time_interleaved(steppers, device, rounds, steps)
    diverged = {s.name for s in steppers if s.diverged()}
    for what, a, b, target in (("AdamW/SGD (automatic path) vs torch AdamW", "AdamW/SGD", "torch AdamW", 1.15),
                               ("Adam/SGD: automatic path vs closed form (reported)", "Adam/SGD (automatic)",
                                "Adam/SGD", float("inf"))):
        bad = [x for x in (a, b) if x in diverged]
        ratio = t[a] / t[b]
        rows.append(dict(device=device.type, model=f"{label} (batch {batch})",
                         comparison=what + (f" (INVALID: {', '.join(bad)} diverged while timed)" if bad else ""),
                         ms_a=t[a] * 1e3, ms_b=t[b] * 1e3, ratio=ratio, target=f"<= {target:g}",
                         ok=ratio <= target and not bad))


# -- memory ------------------------------------------------------------------------------------------------
BIG = (784, 3072, 3072, 3072, 10)  # an MLP of 21.3M parameters: optimizer state dominates the process's memory


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def big_mlp():
    """The 21.3M-parameter MLP of the memory rows (tanh between layers)."""
    layers = []
    for a, b in zip(BIG, BIG[1:]):
        layers += [nn.Linear(a, b), nn.Tanh()]
    return nn.Sequential(nn.Flatten(), *layers[:-1])


#: the optimizers of the memory rows: a torch.optim class or a tower spec
MEMORY = {"torch Adam": torch.optim.Adam, "Adam/SGD": "adam/sgd(1e-5)", "Adam/SGD (automatic path)": AUTO_ADAM,
          "torch AdamW": torch.optim.AdamW, "AdamW/SGD (automatic path)": "adamw/sgd(1e-5)"}


def memory_optimizer(kind: str, model):
    make = MEMORY[kind]
    return HyperOptimizer(model.parameters(), make) if isinstance(make, str) else make(model.parameters(), lr=1e-3)


def peak_memory_child(kind: str, device: str) -> None:
    """Run in a fresh process: print the peak memory of 5 training steps of the 21.3M-parameter MLP (batch 64) above
    what the process held before the model existed, in parameter-sized buffers (the parameters themselves are one):
    the peak resident size (VmHWM) on the CPU, ``max_memory_allocated`` on a GPU. The optimizer's lazy imports and
    first-use set-up (torch.optim's imports torch._dynamo) happen first, on a small model, and are not counted."""
    dev = torch.device(device)
    x, y = torch.randn(64, 784, device=dev), torch.randint(0, 10, (64,), device=dev)
    small = nn.Sequential(nn.Linear(784, 8), nn.Tanh(), nn.Linear(8, 10)).to(dev)
    opt = memory_optimizer(kind, small)
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(small(x), y).backward()
        opt.step()
    del small, opt
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:
        base = _rss_mb() * 2**20
        with open("/proc/self/clear_refs", "w") as f:  # reset the peak-RSS mark (VmHWM) to the current RSS
            f.write("5")
    torch.manual_seed(0)
    model = big_mlp().to(dev)
    opt = memory_optimizer(kind, model)
    for _ in range(5):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
    else:
        with open("/proc/self/status") as f:
            peak = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    n = sum(p.numel() * p.element_size() for p in model.parameters())
    print(json.dumps({"buffers": (peak - base) / n, "param_mb": n / 2**20}))


def peak_memory(device, rows, runs=3):
    """Peak memory of each optimizer in :data:`MEMORY` (see :func:`peak_memory_child`), each run in a fresh process,
    round by round; the median of ``runs`` (the allocator moves the CPU's peak by a fraction of a buffer)."""
    found = {kind: [] for kind in MEMORY}
    for _ in range(runs):
        for kind in MEMORY:
            res = subprocess.run([sys.executable, "-m", "gdtuo_explore.bench", "--memory-child", kind, device.type],
                                 capture_output=True, text=True)
            if res.returncode != 0:
                raise RuntimeError(f"the memory run of {kind} failed:\n{res.stderr[-3000:]}")
            found[kind].append(json.loads(res.stdout.strip().splitlines()[-1])["buffers"])
    median = {kind: statistics.median(v) for kind, v in found.items()}
    print("peak memory in parameter-sized buffers (each run):",
          {k: [round(x, 2) for x in v] for k, v in found.items()}, flush=True)
    model = "mlp " + "-".join(map(str, BIG))
    for kind, base, target in (("Adam/SGD", "torch Adam", 1.25), ("AdamW/SGD (automatic path)", "torch AdamW", 1.5),
                               ("Adam/SGD (automatic path)", "torch Adam", float("inf"))):
        ratio = median[kind] / median[base]
        rows.append(dict(device=device.type, model=model, comparison=f"peak memory: {kind} / {base}",
                         ms_a=median[kind], ms_b=median[base], ratio=ratio, target=f"<= {target:g}",
                         ok=ratio <= target))


def big_speed(device, rows, rounds):
    """Step time on the memory rows' 21.3M-parameter MLP, side by side with torch.optim (interleaved)."""
    cfg = {"torch Adam": TORCH["adam"], "Adam/SGD": ours("adam/sgd(1e-5)"), "torch AdamW": TORCH["adamw"],
           "AdamW/SGD": ours("adamw/sgd(1e-5)")}
    steppers = [Stepper(name, "mlp 21M", device, make) for name, make in cfg.items()]
    t = time_interleaved(steppers, device, rounds, 2)
    diverged = {s.name for s in steppers if s.diverged()}
    model = "mlp " + "-".join(map(str, BIG))
    for a, b in (("Adam/SGD", "torch Adam"), ("AdamW/SGD", "torch AdamW")):
        bad = [x for x in (a, b) if x in diverged]
        what = f"{a}{' (automatic path)' if a == 'AdamW/SGD' else ''} vs {b} (step time, for the memory rows)"
        rows.append(dict(device=device.type, model=model, comparison=what + (f" (INVALID: {', '.join(bad)} "
                         "diverged while timed)" if bad else ""), ms_a=t[a] * 1e3, ms_b=t[b] * 1e3,
                         ratio=t[a] / t[b], target="(reported)", ok=not bad))


def rss_growth(device, rows, steps=3000, runs=5):
    """RSS growth over many steps of one run, and over consecutive runs in one process."""
    def one_run(n, build):
        s = Stepper("r", "mlp", device, build)
        for _ in range(n):
            s.step()
        return s

    for spec, what in (("adam/sgd(1e-5)", ""), (AUTO_ADAM, ", Adam/SGD automatic path")):
        s = Stepper("long", "mlp", device, ours(spec))
        for _ in range(300):
            s.step()
        gc.collect()
        start = _rss_mb()
        for _ in range(steps):
            s.step()
        gc.collect()
        growth = _rss_mb() - start
        del s
        rows.append(dict(device=device.type, model="mlp", comparison=f"RSS growth over {steps} steps{what} (MB)",
                         ms_a=growth, ms_b=0.0, ratio=growth, target="<= 20", ok=growth <= 20))
    for name, module in (("ours", gdtuo), ("reference", reference_module())):
        if module is None:
            continue
        sizes = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(runs):
                st = Stepper("run", "mlp", device, wrapper(module, lambda g: g.Adam(optimizer=g.SGD(1e-5))),
                             "wrapper+create_graph")
                for _ in range(100):
                    st.step()
                del st
                gc.collect()
                sizes.append(_rss_mb())
        growth = sizes[-1] - sizes[0]
        rows.append(dict(device=device.type, model="mlp", comparison=f"RSS growth over {runs} consecutive runs, {name} "
                         "(README loop, create_graph=True) (MB)", ms_a=growth, ms_b=0.0, ratio=growth,
                         target="<= 20" if name == "ours" else "(for comparison)",
                         ok=growth <= 20 if name == "ours" else True))


def observer_throughput(device, rows, steps=1500, rounds=3):
    """Run engine: steps per second of a run with observers attached vs the same run with none, interleaved."""
    from ..engine.config import RunConfig
    from ..engine.run import throughput

    config = RunConfig(task="digits", tower="adam/sgd(1e-5)", steps=steps, device=device.type)

    def slow_observer(update):  # a chart that takes 50 ms to redraw
        time.sleep(0.05)

    rates = {"none": [], "observer": []}
    for _ in range(rounds):
        rates["none"].append(throughput(config))
        rates["observer"].append(throughput(config, [slow_observer]))
    ratio = statistics.median(rates["observer"]) / statistics.median(rates["none"])
    rows.append(dict(device=device.type, model="digits mlp", comparison="run engine: steps/s with a slow observer "
                     "/ with none", ms_a=statistics.median(rates["observer"]), ms_b=statistics.median(rates["none"]),
                     ratio=ratio, target=">= 0.9", ok=ratio >= 0.9))
    try:
        from .explorer import explorer_throughput_ratio
    except ImportError:
        return
    ratio = explorer_throughput_ratio(config)
    rows.append(dict(device=device.type, model="digits mlp", comparison="explorer widgets, NO browser: steps/s / "
                     "headless", ms_a=ratio, ms_b=1.0, ratio=ratio, target=">= 0.9", ok=ratio >= 0.9))
    if device.type == "cpu":
        from .explorer import first_points_seconds

        first = max(first_points_seconds().values())
        rows.append(dict(device="cpu", model="digits mlp", comparison="explorer widgets, NO browser: s from Run to "
                         "the first points, fresh process", ms_a=first, ms_b=2.0, ratio=first / 2.0, target="< 2 s",
                         ok=first < 2.0))


def redraw_row(rows, rounds=25):
    """The explorer's live charts: the Python cost of one redraw after 200,000 steps over its cost after 2,000,
    measured side by side (:mod:`.redraw`)."""
    from .redraw import redraw_costs

    short, long = redraw_costs(2_000, 200_000, rounds)
    a, b = statistics.median(long) * 1e3, statistics.median(short) * 1e3
    rows.append(dict(device="cpu", model="digits mlp", comparison="explorer charts: one redraw's Python cost (ms) "
                     "after 200,000 steps / after 2,000", ms_a=a, ms_b=b, ratio=a / b, target="<= 1.2",
                     ok=a / b <= 1.2))


def browser_rows(rows):
    """The explorer in JupyterLab in Chromium (:mod:`.live`): live / headless steps/s, click -> first points, and
    the slowest Plotly redraw in the page, on the default task (10,000 steps)."""
    from .live import measure

    r = measure()
    print("\n".join(r.lines()), flush=True)
    rows.append(dict(device="cpu", model="digits mlp", comparison="explorer in Chromium: steps/s live / headless",
                     ms_a=r.live, ms_b=r.headless, ratio=r.ratio, target=">= 0.8", ok=r.ratio >= 0.8))
    rows.append(dict(device="cpu", model="digits mlp", comparison="explorer in Chromium: s from Run to first points",
                     ms_a=r.first_points, ms_b=1.0, ratio=r.first_points, target="< 1 s", ok=r.first_points < 1.0))
    rows.append(dict(device="cpu", model="digits mlp", comparison="explorer in Chromium: slowest redraw (ms)",
                     ms_a=r.redraw_max_ms, ms_b=50.0, ratio=r.redraw_max_ms / 50.0, target="<= 50 ms",
                     ok=r.redraw_max_ms <= 50.0))


def print_table(rows):
    print("| device | model | comparison | a | b | ratio | target | ok |")
    print("|---|---|---|---:|---:|---:|---|---|")
    for r in rows:
        print(f"| {r['device']} | {r['model']} | {r['comparison']} | {r['ms_a']:.3f} | {r['ms_b']:.3f} | "
              f"{r['ratio']:.2f} | {r['target']} | {'yes' if r['ok'] else 'NO'} |")


PARTS = ("speed", "recording", "task", "memory", "growth", "engine", "charts")


def _parts_arg(text: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        raise argparse.ArgumentTypeError(f"{text!r} names {', '.join(bad) or 'nothing'}: the parts are "
                                         f"{', '.join(PARTS)}")
    return parts


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gdtuo_explore.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (noisier)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--browser", action="store_true",
                        help="also drive the explorer in JupyterLab in Chromium (needs /usr/bin/chromium, playwright)")
    parser.add_argument("--only", metavar="PARTS", type=_parts_arg, default=PARTS,
                        help=f"run only these parts, comma-separated: {', '.join(PARTS)} (default: all)")
    parser.add_argument("--memory-child", nargs=2, metavar=("KIND", "DEVICE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        kind, device = args.memory_child
        return peak_memory_child(kind, device)
    devices = [torch.device("cpu")]
    if args.device in ("auto", "cuda") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    if args.device == "cuda":
        devices = devices[1:]
        if not devices:
            print("error: --device cuda but CUDA is not available", file=sys.stderr)
            return 2
    rounds, steps = (5, 10) if args.quick else (15, 20)
    rows = []
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, devices: {[d.type for d in devices]}"
          + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""), flush=True)
    only = args.only
    for device in devices:
        if "speed" in only:
            for model_name in MODELS:  # the CNN's steps are 20x longer: fewer per round (and SGD towers stay finite)
                speed(device, model_name, rounds, steps if model_name == "mlp" else max(2, steps // 4), rows)
                print(f"... {device.type} {model_name} done", flush=True)
        if "recording" in only:
            for model_name in MODELS:
                recording_cost(device, model_name, rounds, steps if model_name == "mlp" else max(2, steps // 4), rows)
        if "task" in only:
            task_speed(device, rows, rounds, max(2, steps // 2))
            print(f"... {device.type} fashion-mnist cnn done", flush=True)
        if "memory" in only:
            peak_memory(device, rows)
            big_speed(device, rows, rounds=3 if args.quick else 5)
        if "growth" in only and device.type == "cpu":
            rss_growth(device, rows)
        if "engine" in only:
            observer_throughput(device, rows)
    if "charts" in only:
        redraw_row(rows, rounds=11 if args.quick else 25)
    if args.browser:
        browser_rows(rows)
    print("a, b: milliseconds per step (peak memory rows: parameter-sized buffers; growth rows: MB; engine rows: "
          "steps per second; the charts' row: milliseconds per redraw); ratio = a / b (growth rows: a)\n")
    print_table(rows)
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
