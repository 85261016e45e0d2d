"""``python -m gdtuo_explore.bench.notebook_size``: the size of the explorer notebook as a user saves it.

Executes ``notebooks/explorer.ipynb`` with ``jupyter nbconvert --to notebook --execute`` (which stores the widgets'
state in the file, as nbclient does by default) once as it is and once per extra level on its tower (``--heights``:
each level above two adds a level chart and a level card), and prints each saved file's size, the part of it that is
widget state (and the largest chart's share: a chart's model as stored, its buffers included), the part that is
outputs, and what each further level adds.

``--lab`` also saves the notebook from JupyterLab in Chromium with its "Save Widget State Automatically" setting on
(Run All, then Save), with the browser tests' harness (``tests/browser.py``: run it from a clone).

``--pythonpath DIR`` runs the kernel on another copy of the project (for a before/after comparison, e.g. a
``git archive`` of an older commit unpacked in ``DIR``). The notebook runs in fast mode (``GDTUO_FAST=1``: a 60-step
run) unless ``--full``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "explorer.ipynb"
TOWERS = {2: None, 3: "adam(0.001)/sgd(1e-5)/sgd(1e-6)", 4: "adam(0.001)/sgd(1e-5)/sgd(1e-6)/sgd(1e-7)"}


def variant(height: int, folder: Path) -> Path:
    """The explorer notebook with its tower set to ``TOWERS[height]`` before its run (as is for 2)."""
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    if TOWERS[height]:
        cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                "source": [f"explorer.state.set_tower({TOWERS[height]!r})"]}
        first = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code")
        nb["cells"].insert(first + 1, cell)
    path = folder / f"explorer-{height}.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def measure(path: Path, env: dict) -> dict:
    """Execute ``path`` with nbconvert; the saved file's size and its parts (bytes)."""
    out = path.with_name(path.stem + "-run.ipynb")
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                    "--ExecutePreprocessor.timeout=1200", "--output", out.name, str(path)],
                   cwd=path.parent, env=env, check=True, capture_output=True)
    nb = json.loads(out.read_text(encoding="utf-8"))
    saved = nb.get("metadata", {}).get("widgets", {})
    models = saved.get("application/vnd.jupyter.widget-state+json", {}).get("state", {}).values()
    charts = [len(json.dumps(model)) for model in models if "_widget_layout" in model.get("state", {})]
    outputs = sum(len(json.dumps(c.get("outputs", []))) for c in nb["cells"])
    return {"file": out.stat().st_size, "widget state": len(json.dumps(saved)), "outputs": outputs,
            "widgets": len(models), "charts": len(charts), "largest chart": max(charts, default=0)}


def measure_lab(env: dict) -> dict:
    """Run All and Save in JupyterLab (widget state saved); the saved file's size and its parts (bytes)."""
    sys.path.insert(0, str(REPO / "tests"))
    from browser import jupyter_lab

    with jupyter_lab(NOTEBOOK, name="notebook-size", timeout=120, env=env) as lab:
        settings = lab.root_dir.parent / "home" / "settings" / "@jupyter-widgets" / "jupyterlab-manager"
        settings.mkdir(parents=True, exist_ok=True)
        (settings / "plugin.jupyterlab-settings").write_text(json.dumps({"saveState": True}))
        lab.open()
        lab.run_all(timeout=1200)
        lab.wait_plots(3)
        saved = lab.root_dir / lab.notebook
        mtime = saved.stat().st_mtime
        lab.execute_command("docmanager:save")
        lab.wait_for(lambda: saved.stat().st_mtime != mtime and "widgets" in json.loads(saved.read_text()).get(
            "metadata", {}), "JupyterLab to save the notebook with its widget state", timeout=120)
        nb, size = json.loads(saved.read_text(encoding="utf-8")), saved.stat().st_size
    return {"file": size, "widget state": len(json.dumps(nb["metadata"]["widgets"])),
            "outputs": sum(len(json.dumps(c.get("outputs", []))) for c in nb["cells"])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gdtuo_explore.bench.notebook_size", description=__doc__)
    parser.add_argument("--pythonpath", help="run the kernel on the project in this folder (default: this one)")
    parser.add_argument("--heights", default="2,3,4", help="tower heights to save (default 2,3,4)")
    parser.add_argument("--full", action="store_true", help="the notebook's full run instead of GDTUO_FAST's")
    parser.add_argument("--lab", action="store_true", help="also save it from JupyterLab (Chromium; a clone)")
    args = parser.parse_args(argv)
    try:
        heights = [int(h) for h in args.heights.split(",")]
    except ValueError:
        parser.error(f"--heights must be comma-separated whole numbers, not {args.heights!r}")
    if not set(heights) <= set(TOWERS):
        parser.error(f"--heights must be among {sorted(TOWERS)}, not {args.heights!r}")
    env = {**os.environ, "PYTHONPATH": str(Path(args.pythonpath or REPO).resolve())}
    if args.full:
        env.pop("GDTUO_FAST", None)
    else:
        env["GDTUO_FAST"] = "1"
    print(f"kernel on {env['PYTHONPATH']} ({'full' if args.full else 'fast'} mode)")
    print(f"{'tower height':>12s} {'charts':>6s} {'widgets':>7s} {'file (B)':>11s} {'widget state (B)':>17s} "
          f"{'largest chart (B)':>17s} {'outputs (B)':>12s}")
    sizes = {}
    with tempfile.TemporaryDirectory(prefix="gdtuo-nbsize-") as tmp:
        for height in heights:
            size = sizes[height] = measure(variant(height, Path(tmp)), env)
            print(f"{height:>12d} {size['charts']:>6d} {size['widgets']:>7d} {size['file']:>11,d} "
                  f"{size['widget state']:>17,d} {size['largest chart']:>17,d} {size['outputs']:>12,d}")
    for a, b in zip(heights, heights[1:]):
        print(f"one more level ({a} -> {b} levels: its chart and its card's "
              f"{sizes[b]['widgets'] - sizes[a]['widgets']} widgets): {sizes[b]['file'] - sizes[a]['file']:+,d} B")
    if args.lab:
        size = measure_lab({k: env[k] for k in ("PYTHONPATH", "GDTUO_FAST") if k in env})
        print(f"JupyterLab, Run All then Save (widget state saved): file {size['file']:,d} B, widget state "
              f"{size['widget state']:,d} B, outputs {size['outputs']:,d} B")
    return 0


if __name__ == "__main__":
    sys.exit(main())
