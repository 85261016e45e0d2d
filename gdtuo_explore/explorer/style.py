"""The explorer's look: one stylesheet, shipped in an HTML widget next to the widgets it styles."""
from __future__ import annotations

import ipywidgets as widgets

CSS = """
.gd-root { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2330; }
.gd-header { background: linear-gradient(90deg, #183a6b, #2f6db5 60%, #f08a24); color: white;
             border-radius: 10px; padding: 10px 16px; margin-bottom: 6px; }
.gd-title { font-size: 19px; font-weight: 650; letter-spacing: .2px; }
.gd-sub { font-size: 12.5px; opacity: .92; margin-top: 2px; }
.gd-runbar { background: #f4f6fa; border-radius: 10px; padding: 6px 8px; margin-bottom: 8px; }
button.gd-button { font-weight: 600; }
button.gd-button::before { margin-right: 5px; font-size: 10px; }
button.gd-icon-run::before { content: "▶" / ""; }
button.gd-icon-pause::before { content: "▮▮" / ""; letter-spacing: -1px; }
button.gd-icon-step::before { content: "▶▮" / ""; letter-spacing: -2px; }
button.gd-icon-stop::before { content: "■" / ""; font-size: 12px; }
button.gd-icon-reset::before { content: "↺" / ""; font-size: 13px; }
.gd-progress .progress-bar { background-color: #2f6db5; }
.gd-status { font-size: 13px; line-height: 1.4; white-space: normal; }
.gd-badge { display: inline-block; border-radius: 10px; padding: 0 8px; margin-right: 4px; font-size: 11px;
            font-weight: 700; text-transform: uppercase; letter-spacing: .4px; color: white; background: #7a8599; }
.gd-running, .gd-starting { background: #2f6db5; }
.gd-paused { background: #e0a100; }
.gd-done { background: #2e9d4f; }
.gd-stopped { background: #7a8599; }
.gd-diverged, .gd-error .gd-badge, span.gd-error { background: #d62728; }
.gd-left { background: #f7f9fc; border-radius: 10px; padding: 6px 10px 10px 4px; margin-right: 12px; }
.gd-section { font-size: 11.5px; font-weight: 700; text-transform: uppercase; letter-spacing: 1px; color: #58627a;
              margin: 8px 0 2px 6px; }
.gd-about { font-size: 11.5px; color: #5b6478; margin: 0 0 4px 6px; line-height: 1.35; white-space: normal; }
.gd-hint { font-size: 11.5px; color: #5b6478; margin: 2px 0 4px 4px; }
.gd-card { background: white; border: 1px solid #d5dbe6; border-left: 5px solid #9467bd; border-radius: 9px;
           padding: 4px 6px 4px 8px; margin: 0 0 0 6px; box-shadow: 0 1px 2px rgba(20, 30, 60, .06); }
.gd-card-weights { border-left-color: #1f77b4; }
.gd-card-top { border-left-color: #f08a24; }
.gd-card-title { font-size: 13px; line-height: 1.25; }
.gd-card-title span { color: #6b7489; font-size: 11.5px; }
.gd-card-title i { color: #a0661a; font-size: 11px; font-style: normal; }
.gd-link { text-align: center; color: #8a93a6; font-size: 11px; line-height: 14px; margin: 1px 0; }
.gd-weights { text-align: center; margin: 0 0 0 6px; padding: 3px; border: 1px dashed #b7c0d0; border-radius: 9px;
              color: #58627a; font-size: 12px; background: #eef2f8; }
.gd-spec input { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12.5px; }
.gd-value input { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
button.gd-remove { padding: 0; }
.gd-error { color: #b3161b; background: #fdecec; border: 1px solid #f3b8b8; border-radius: 7px; padding: 4px 8px;
            margin: 2px 0 4px 6px; font-size: 12px; white-space: normal; line-height: 1.35; }
.gd-alert { color: #8a1c1c; background: #fff1f0; border-left: 4px solid #d62728; border-radius: 6px;
            padding: 3px 8px; margin-top: 4px; font-size: 12.5px; }
.gd-notice { color: #1c4a8a; background: #eef4ff; border-left: 4px solid #2f6db5; border-radius: 6px;
             padding: 3px 8px; margin-top: 4px; font-size: 12.5px; }
.gd-compare { margin: 4px 0 6px 0; }
.gd-table { border-collapse: collapse; font-size: 12px; margin: 2px 0 0 4px; }
.gd-table th { text-align: left; color: #58627a; font-weight: 600; padding: 1px 10px 1px 2px;
               border-bottom: 1px solid #d5dbe6; }
.gd-table td { padding: 1px 10px 1px 2px; }
.gd-swatch { display: inline-block; width: 14px; height: 4px; border-radius: 2px; vertical-align: middle; }
button.gd-small { font-size: 12px; }
.gd-blocked { margin: 4px 0 0 0; }
.gd-written { word-break: break-all; }
/* a fluid layout: nothing wider than the notebook, buttons never truncated, charts wrap one per row */
.gd-root, .gd-root .widget-box { min-width: 0; }
.gd-root button { text-overflow: clip; overflow: visible; }
.gd-bar > .widget-dropdown > select { min-width: 0; }
.gd-charts.widget-hbox { flex-wrap: wrap; }
.gd-charts.widget-gridbox { grid-template-columns: repeat(auto-fill, minmax(min(420px, 100%), max-content))
                            !important; }
.gd-tabs .widget-tab-contents, .gd-tabs .lm-TabPanel-stackedPanel { overflow-x: auto; }
.gd-table { max-width: 100%; overflow-x: auto; }
.gd-table .widget-html-content { font-size: 12px; line-height: 20px; white-space: nowrap; }
.gd-step-level { display: inline-block; vertical-align: top; margin: 4px 12px 4px 4px; font-size: 12px; }
table.gd-step { border-collapse: collapse; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
table.gd-step th, table.gd-step td { padding: 1px 8px; text-align: right; border-bottom: 1px solid #e3e7ef; }
.gd-nudge-label { font-size: 11px; color: #a0661a; }
.gd-table > .widget-html:nth-child(6n+2) .widget-html-content { white-space: normal; }
"""


def stylesheet() -> widgets.HTML:
    """An HTML widget carrying the stylesheet (shown once, at the top of the explorer)."""
    return widgets.HTML(f"<style>{CSS}</style>", layout=widgets.Layout(display="none"))
