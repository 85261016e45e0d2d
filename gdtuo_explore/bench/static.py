"""``python -m gdtuo_explore.bench.static``: what a static image of a figure costs (:mod:`gdtuo_explore.engine.static`).

For every figure stored in ``notebooks/`` and every chart of the explorer after a short run (the charts a snapshot
of the explorer draws), the time to draw it as PNG and as SVG (the lowest and highest of ``--repeat`` draws, after
one draw that loads matplotlib) and the size of each image. Prints one table.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLOTLY = "application/vnd.plotly.v1+json"


def figures() -> list[tuple[str, object]]:
    """(name, figure) of every stored notebook figure and of the explorer's charts after a 200-step run."""
    import nbformat

    from ..explorer import Explorer

    out = []
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        k = 0
        for cell in nbformat.read(path, as_version=4).cells:
            for output in cell.get("outputs", []):
                figure = output.get("data", {}).get(PLOTLY)
                if figure:
                    k += 1
                    out.append((f"{path.stem} #{k}", {key: figure[key] for key in ("data", "layout")}))
    explorer = Explorer()
    try:
        explorer.state.set_tower("adam(0.001)/sgd(1e-5)/sgd(1e-6)")
        explorer.state.unit, explorer.state.budget = "steps", 200
        explorer.run(wait=True)
        out += [(f"explorer chart {k}", fig) for k, fig in enumerate(explorer.charts.figures, 1)]
    finally:
        explorer.close()
    return out


def main(argv=None) -> int:
    from ..engine.static import render

    parser = argparse.ArgumentParser(prog="python -m gdtuo_explore.bench.static", description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="draws per figure and format (default 3)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, not {args.repeat}")
    items = figures()
    render(items[0][1])   # loads matplotlib
    print(f"{'figure':28s} {'PNG s':>11s} {'PNG KB':>7s} {'SVG s':>11s} {'SVG KB':>7s}")
    for name, fig in items:
        row = []
        for format in ("png", "svg"):
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                data = render(fig, format)
                times.append(time.perf_counter() - start)
            row.append(f"{min(times):5.2f}-{max(times):5.2f} {len(data) / 1000:7.1f}")
        print(f"{name:28s} {row[0]} {row[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
