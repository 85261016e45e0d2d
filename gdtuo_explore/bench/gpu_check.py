"""The GPU check: everything that needs an accelerator, in one run that prints one table.

    python -m gdtuo_explore.bench.gpu_check                 # on a machine with CUDA (what `make gpu-check` runs)
    python -m gdtuo_explore.bench.gpu_check --device cpu    # a dry run of the same code paths, here

It runs, in order (each a row or a few rows of the table):

1. the test suite with CUDA visible (all of ``tests/`` but the real-browser tests, which need JupyterLab and
   Chromium): passed / failed / skipped counts, and a failing row for any test skipped for want of a GPU;
2. ``step()`` under ``torch.cuda.set_sync_debug_mode("error")`` for every built-in level alone and towers of
   height 1 to 3: any host synchronisation inside the step raises;
3. bfloat16 autocast training of the seed MLP with Adam/SGD and SGD/SGD: 200 steps, the loss falls, every
   hyperparameter stays finite;
4. the benchmark's rows for the device (``python -m gdtuo_explore.bench --device cuda --quick``, in a subprocess);
5. the explorer headless on the device: steps/s of a run drawn by an :class:`Explorer` over the same run with
   no observer.

Exit status 0 when every row is ok, 1 otherwise, 2 when the device is missing.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
#: Every built-in level alone, and towers of height 1 to 3.
SYNC_SPECS = ("sgd", "sgd(0.01, mu=0.9)", "sgd_per_param", "adagrad", "rmsprop", "adam",
              "sgd/sgd(1e-5)", "adam/sgd(1e-5)", "rmsprop/sgd(1e-4)", "adagrad/sgd(1e-4)",
              "sgd(0.01, mu=0.9)/adam(0.1)/sgd(1e-4)", "adam/adam(1e-5)/adam(5e-6)/adam(2.5e-6)")


def row(check: str, result: str, ok: bool) -> dict:
    return {"check": check, "result": result, "ok": bool(ok)}


def test_suite(device: str) -> list[dict]:
    """All of tests/ but the browser tests, with a JUnit report; a test skipped for want of a GPU fails the row."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        ignore = [f"--ignore={p}" for p in sorted((REPO / "tests").glob("test_browser_*.py"))]
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", str(REPO / "tests"), "-q", "-rs", "-p",
                               "no:cacheprovider", f"--junitxml={report}", *ignore], cwd=REPO,
                              capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if not report.exists():
            return [row("test suite", f"pytest did not run (exit {proc.returncode}): {proc.stderr[-300:]}", False)]
        cases = ET.parse(report).getroot().iter("testcase")
        passed = failed = 0
        gpu_skips = []
        for case in cases:
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
            elif (skip := case.find("skipped")) is not None:
                if re.search(r"cuda|gpu", skip.get("message", ""), re.I):
                    gpu_skips.append(case.get("name"))
            else:
                passed += 1
    rows = [row("test suite (all but the browser tests)", f"{passed} passed, {failed} failed in {seconds:.0f} s",
                failed == 0 and proc.returncode == 0)]
    if device != "cpu":
        rows.append(row("tests skipped for want of a GPU", ", ".join(gpu_skips) or "none", not gpu_skips))
    return rows


def _mlp(device, dtype=torch.float32):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 128), torch.nn.Tanh(),
                               torch.nn.Linear(128, 10)).to(device, dtype)


def _batches(device, n=8, batch=256):
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(batch, 1, 28, 28, generator=g).to(device), torch.randint(0, 10, (batch,), generator=g)
             .to(device)) for _ in range(n)]


def no_sync(device: str) -> list[dict]:
    """``step()`` of each spec under the CUDA sync-debug mode "error" (on the CPU: the same steps, unchecked)."""
    from gdtuo_explore import HyperOptimizer

    data, rows = _batches(device), []
    for spec in SYNC_SPECS:
        model = _mlp(device)
        opt = HyperOptimizer(model.parameters(), spec)
        try:
            for i, (x, y) in enumerate(data):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(x), y).backward()
                if device == "cuda" and i >= 2:   # the first steps allocate
                    torch.cuda.synchronize()
                    torch.cuda.set_sync_debug_mode("error")
                try:
                    opt.step()
                finally:
                    if device == "cuda":
                        torch.cuda.set_sync_debug_mode("default")
            ok = opt.nonfinite() is None
            result = "no host sync in step()" if device == "cuda" else "ran (the CPU has no sync to check)"
        except RuntimeError as err:
            ok, result = False, f"synchronised: {str(err).splitlines()[0][:120]}"
        rows.append(row(f"no sync: {spec}", result, ok))
    return rows


def autocast_bf16(device: str) -> list[dict]:
    """200 steps of the seed MLP under bfloat16 autocast: the loss falls and the hyperparameters stay finite."""
    from gdtuo_explore import HyperOptimizer

    rows = []
    data = _batches(device, n=4)
    for spec in ("adam/sgd(1e-5)", "sgd(0.01)/sgd(1e-4)"):
        model = _mlp(device)
        opt = HyperOptimizer(model.parameters(), spec)
        losses = []
        for step in range(200):
            x, y = data[step % len(data)]
            opt.zero_grad()
            with torch.autocast(device_type=device, dtype=torch.bfloat16):
                loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        first, last = float(torch.stack(losses[:10]).mean()), float(torch.stack(losses[-10:]).mean())
        alpha = opt.hyperparameters()[0]["alpha"]
        ok = last < first and opt.nonfinite() is None
        rows.append(row(f"bf16 autocast: {spec}", f"loss {first:.3f} -> {last:.3f}, level1.alpha {alpha:.3g}", ok))
    return rows


def benchmark(device: str) -> list[dict]:
    """The benchmark's rows for ``device`` (``--quick``), each as a row of this table."""
    proc = subprocess.run([sys.executable, "-m", "gdtuo_explore.bench", "--device", device, "--quick"], cwd=REPO,
                          capture_output=True, text=True)
    rows = []
    for line in proc.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 8 and cells[0] == device:
            rows.append(row(f"bench: {cells[1]}: {cells[2]}", f"a {cells[3]}, b {cells[4]}, ratio {cells[5]} "
                            f"(target {cells[6]})", cells[7] == "yes"))
    if not rows:
        rows.append(row("bench", f"no rows (exit {proc.returncode}): {proc.stderr[-300:]}", False))
    return rows


def explorer_headless(device: str) -> list[dict]:
    """The explorer drawing a run on ``device`` (no browser) against the same run headless."""
    from gdtuo_explore.bench.explorer import explorer_throughput_ratio
    from gdtuo_explore.engine.config import RunConfig

    ratio = explorer_throughput_ratio(RunConfig(task="digits", tower="adam/sgd(1e-5)", steps=2000, device=device),
                                      repeats=1)
    return [row(f"explorer on {device}: live charts / headless (no browser)", f"{ratio:.2f} (target >= 0.8)",
                ratio >= 0.8)]


CHECKS = {"tests": test_suite, "sync": no_sync, "bf16": autocast_bf16, "bench": benchmark,
          "explorer": explorer_headless}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gdtuo_explore.bench.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda",
                        help="cuda (the check), or cpu (a dry run of the same code paths)")
    parser.add_argument("--only", nargs="+", choices=list(CHECKS), default=list(CHECKS), help="run only these")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda, but torch sees no CUDA device (use --device cpu for a dry run)", file=sys.stderr)
        return 2
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(f"torch {torch.__version__}, device {name}, {os.cpu_count()} CPUs", flush=True)
    rows = []
    for check in args.only:
        start = time.perf_counter()
        try:
            rows += CHECKS[check](args.device)
        except Exception as err:  # noqa: BLE001 - a check that breaks is a failing row, the others still run
            rows.append(row(check, f"raised {type(err).__name__}: {err}", False))
        print(f"... {check} done in {time.perf_counter() - start:.0f} s", flush=True)
    print(f"\n| check ({name}) | result | ok |\n|---|---|---|")
    for r in rows:
        print(f"| {r['check']} | {r['result']} | {'yes' if r['ok'] else 'NO'} |")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
