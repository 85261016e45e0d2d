"""The Sweep tab's kappas field (gdtuo_explore.explorer.sweep_panel), without a browser: a grid over the upper
levels' step size as well as the initial one, one line per height and kappa."""
from gdtuo_explore import Explorer


def test_the_kappas_field_varies_kappa_and_the_charts_show_it():
    e = Explorer()
    try:
        e.state.task = "surface"
        sp = e.sweep_panel
        sp.alphas.value, sp.heights.value, sp.steps.value = "0.0001", "0, 1", 20
        sp.kappas.value = "1e-8, 1e-6"
        assert e.state.sweep.kappas == "1e-8, 1e-6" and e.state.sweep.settings()["kappas"] == "1e-8, 1e-6"
        sp.start.click()
        assert e.state.sweep.wait(300) == "done", e.state.sweep.message
        rows = e.state.sweep.rows
        # height 0 has no level above: once per alpha; height 1 once per kappa
        assert sorted((r["height"], r.get("kappa")) for r in rows) == [(0, None), (1, 1e-8), (1, 1e-6)]
        assert [t.name for t in sp.loss.data] == ["height 0", "height 1, kappa 1e-08", "height 1, kappa 1e-06"]
        sp.kappas.value = "1e-8, fast"
        sp.start.click()
        assert e.state.sweep.status == "error" and "kappas" in sp.status.value
    finally:
        e.close()
