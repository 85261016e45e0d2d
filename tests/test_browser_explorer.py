"""The explorer in a real browser: JupyterLab (headless) + the system Chromium. Run the notebook, click Run, see the
loss chart and level 1's step-size chart gain points, click Stop, see the status change; measure the time from the
click to the first chart points; save test-artifacts/explorer.png (the README's screenshot)."""
import contextlib
import re
import time

from browser import ARTIFACTS, LAST_STEP, LOSS, REPO, TRACE, jupyter_lab
from gdtuo_explore.explorer.charts import CHART_WIDTH

ALPHA = ("<b>Level 1</b>", "alpha")
COUNT_MESSAGES = """
_keys = []   # the state keys of every message the page sent a chart
for _fig in explorer.charts.figures:
    _fig.comm.on_msg(lambda msg, _handle=_fig._handle_msg: (_keys.extend(msg["content"]["data"].get("state", {})),
                                                            _handle(msg)))
print(len(explorer.charts.figures))
"""
STATE = ("s = explorer.state; print('status:', s.status, '|', s.message, '| current:', s.current, '| compared:', "
         "s.compared, '| setup_error:', repr(s.setup_error))")
TICKS = """() => Math.max(0, ...[...document.querySelectorAll('.js-plotly-plot')].flatMap(
    el => ['.xtick', '.ytick', '.y2tick'].map(s => el.querySelectorAll(s).length)))"""


@contextlib.contextmanager
def explorer_lab(name: str):
    """JupyterLab on notebooks/explorer.ipynb in a 1500x1400 page, its file browser closed, every cell run and the
    widgets shown; yields ``(lab, page)``."""
    with jupyter_lab(REPO / "notebooks" / "explorer.ipynb", name=name, timeout=120) as lab:
        page = lab.open()
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
        page.set_viewport_size({"width": 1500, "height": 1400})
        lab.run_all(timeout=300)
        lab.wait_widgets()
        yield lab, page


def test_explorer_runs_and_draws_live_in_a_real_browser():
    with explorer_lab("explorer") as (lab, page):
        lab.wait_plots(4)
        lab.check_charts(width=CHART_WIDTH)   # every view drawn from its model, as it was first shown
        trace = lambda which: page.evaluate(TRACE, list(which))  # noqa: E731
        assert trace(LOSS)["n"] > 0 and trace(ALPHA)["n"] > 0, "the notebook's own run is on the charts"
        assert "Done after" in lab.output_text()

        # every message the page sends a chart, counted in the kernel: plotly's page side reports after each redraw
        # what plotly.js filled in (trace and layout deltas), which costs the page and the kernel and which the
        # explorer never reads, so a Figure's page side sends none (see gdtuo_explore/explorer/figure.py)
        assert int(lab.kernel_execute(COUNT_MESSAGES)) >= 3   # loss, accuracy, level 1

        # a long run: click Run, time the first points, watch both charts grow, click Stop
        lab.fill("Train for", 1_000_000)
        before = trace(LOSS)["uid"]
        start = time.perf_counter()
        lab.click_button("Run")
        lab.wait_for(lambda: trace(LOSS)["uid"] != before and trace(LOSS)["n"] > 0, "the new run's first loss points",
                     poll=0.05)
        first_points = time.perf_counter() - start
        lab.wait_for(lambda: trace(ALPHA)["n"] > 0, "the first step-size points", poll=0.05)
        print(f"\nbrowser: click Run -> first loss points {first_points:.2f} s")
        loss, alpha = trace(LOSS)["n"], trace(ALPHA)["n"]
        lab.wait_for(lambda: trace(LOSS)["n"] > loss and trace(ALPHA)["n"] > alpha, "both charts to grow")
        assert "Training: step" in lab.output_text()
        lab.click_button("Stop")
        lab.wait_for(lambda: "Stopped at step" in lab.output_text(), "the status line to say stopped")
        step = int(re.search(r"Stopped at step ([\d,]+)", lab.output_text()).group(1).replace(",", ""))
        # the status line may reach the page a moment before the chart's last points: the chart ends on that step
        lab.wait_for(lambda: page.evaluate(LAST_STEP, list(LOSS)) == step, f"the chart to end on step {step}")
        assert first_points < 10.0   # the target is 2 s on a quiet CPU; this machine is shared
        keys = lab.kernel_execute("print(sorted(set(_keys)))").strip()
        assert "Delta" not in keys, f"the page sent the kernel what plotly.js drew: {keys}"

        # the README's picture: a finished SGD / SGD run with its frozen baseline (the notebook ran the default tower)
        # each click waits for what a user sees it do (the charts' trace count alone can read 0 for a moment while
        # Clear overlays redraws them); if one does not take, say what the kernel holds. (Quick clicks without waits
        # are test_clicks_in_quick_succession_are_handled_in_order's.)
        try:
            lab.click_button("Clear overlays")
            lab.wait_for(lambda: "(on the charts)" in lab.output_text() and "run 1:" not in lab.output_text(),
                         "Clear overlays to leave only the current run in the table")
            lab.click_button("Reset")
            lab.wait_for(lambda: "Ready: choose a tower" in lab.output_text() and trace(LOSS)["n"] <= 0,
                         "Reset to clear the status line and the charts")
            lab.select("Preset", "SGD / SGD")
            lab.fill("Train for", 1500)
            lab.select("Speed", "max")
            lab.click_button("Run")
            lab.wait_for(lambda: "Ready: choose a tower" not in lab.output_text(), "Run to start a run")
            lab.wait_for(lambda: "Done after 1,500 steps" in lab.output_text(), "the run to finish", timeout=600)
        except TimeoutError:
            print(lab.kernel_execute(STATE))
            raise
        lab.click_button("Add frozen baseline")
        label = lab.kernel_execute("from gdtuo_explore.engine.config import baseline_spec as _b; "
                                   "from gdtuo_explore.explorer.tower_edits import full_spec as _f; "
                                   "print('frozen:', _f(_b(explorer.state.tower)))").strip()   # its full spec
        lab.wait_for(lambda: page.evaluate(LAST_STEP, ["<b>Loss</b>", label]) == 1500
                     and page.evaluate(LAST_STEP, ["<b>Level 1</b>", f"{label}: alpha"]) == 1500
                     and re.search(rf"{re.escape(label)}\s+done", page.locator(".gd-table").inner_text()) is not None,
                     f"the overlays of {label!r} and its row in the Compare table", timeout=600)
        lab.dismiss_toasts()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "explorer.png"
        page.locator(".gd-root").first.screenshot(path=str(shot))
        assert shot.stat().st_size > 50_000
        assert not lab.errors()


def test_a_step_size_that_goes_negative_draws_with_few_ticks_and_the_page_stays_responsive():
    """The preset SGD / SGD(100): level 1's step size swings from about -1,400 to 15,000. Throughout the run the
    page answers a script within a second and no chart axis has more than a few ticks."""
    with explorer_lab("explorer-negative") as (lab, page):
        lab.wait_plots(3)
        lab.check_charts(width=CHART_WIDTH)
        lab.select("Preset", "SGD / SGD(100): step size goes negative")
        lab.fill("Train for", 500)
        lab.select("Speed", "max")
        # By default the exploding-loss rule stops this run as diverged at step 5 (tests/test_cli.py); here it
        # is switched off so that the charts draw the whole swing of the step size.
        assert "off" in lab.kernel_execute('explorer.state.options = {**explorer.state.options, '
                                           '"divergence_factor": None}; print("off")')
        lab.click_button("Reset")
        lab.click_button("Run")
        slowest, ticks, deadline = 0.0, 0, time.monotonic() + 300
        while "Done after 500 steps" not in lab.output_text():
            assert time.monotonic() < deadline, "the run did not finish in 300 s"
            start = time.perf_counter()
            page.evaluate("1")
            slowest = max(slowest, time.perf_counter() - start)
            ticks = max(ticks, page.evaluate(TICKS))
            page.wait_for_timeout(250)
        lab.wait_for(lambda: page.evaluate(LAST_STEP, ["<b>Level 1</b>", "alpha"]) == 500, "the run's last points")
        ticks = max(ticks, page.evaluate(TICKS))
        print(f"\nSGD/SGD(100): slowest page answer {slowest * 1000:.0f} ms, most ticks on an axis {ticks}")
        level1 = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')].map(
            el => (el.layout.title || {}).text || '').find(t => t.startsWith('<b>Level 1</b>'))""")
        lab.screenshot("explorer-negative")
        assert "symmetric log axis" in level1, level1
        assert slowest < 1.0 and 0 < ticks < 30


LOG_COMMANDS = """
import threading as _threading
_commands, _threads = [], set()   # the run bar's commands in the order the kernel handled them; the threads it used
def _logged(name, command):
    def logged(*args, **kwargs):
        _commands.append(name)
        _threads.add(_threading.current_thread().name)
        return command(*args, **kwargs)
    return logged
for _name in ("start", "stop", "reset", "clear_compared"):
    setattr(explorer.state, _name, _logged(_name, getattr(explorer.state, _name)))
print("logging")
"""


def test_clicks_in_quick_succession_are_handled_in_order():
    """A user who clicks Stop, Clear overlays, Reset and Run one right after the other, without waiting for the
    page to answer, gets what each click means in that order: the kernel handles them in the order clicked and in one
    thread, the stopped run is forgotten (not an overlay) and a new run trains. Without
    gdtuo_explore/explorer/message_order.py, JupyterLab 4.6 with ipykernel 7.4 handles some buttons' clicks in the
    main shell and others in a subshell, at the same time, and Run can overtake Reset."""
    with explorer_lab("explorer-clicks") as (lab, page):
        assert "logging" in lab.kernel_execute(LOG_COMMANDS)
        lab.fill("Train for", 1_000_000)
        clicks = []
        for _ in range(5):
            lab.click_button("Run")
            clicks.append("start")
            lab.wait_for(lambda: "Training: step" in lab.output_text(), "the run to train")
            for label, command in (("Stop", "stop"), ("Clear overlays", "clear_compared"), ("Reset", "reset"),
                                   ("Run", "start")):
                lab.click_button(label)
                clicks.append(command)
            try:
                lab.wait_for(lambda: "Training: step" in lab.output_text(), "the run after Reset to train", timeout=30)
            except TimeoutError:
                print(lab.kernel_execute(STATE + "; print(_commands)"), clicks)
                lab.screenshot("explorer-clicks-failure")
                raise
            state = lab.kernel_execute("print(explorer.state.status, len(explorer.state.compared), _commands)")
            assert state.split()[:2] == ["running", "0"], f"kernel: {state}; clicked: {clicks}"
            lab.click_button("Stop")
            clicks.append("stop")
            lab.wait_for(lambda: "Stopped at step" in lab.output_text(), "the status line to say stopped")
        handled = lab.kernel_execute("print(*_commands)").split()
        assert handled == clicks, f"the kernel handled {handled}, the page clicked {clicks}"
        count, *threads = lab.kernel_execute("print(len(_threads), *sorted(_threads))").split()
        print(f"\nclicks handled in: {threads}")
        assert count == "1", f"the clicks were handled in several threads at once: {threads}"
        assert not lab.errors()
