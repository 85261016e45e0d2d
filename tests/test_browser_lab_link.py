"""``make lab``'s link opens the explorer notebook: the test starts JupyterLab with exactly the command ``make lab``
runs (read from the Makefile with ``make -n``, a free port given as ``PORT=``), takes the link the server prints for a
person to open, opens it in Chromium, and sees the explorer notebook open (not JupyterLab's Launcher).

Only the environment is the test's own: JupyterLab's configuration, settings, workspaces, runtime files and the
checkpoint it makes of the opened notebook go to a temporary folder (so no saved layout of this machine's user decides
what opens, the news notification stays off, and nothing is written into the repository)."""
import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, REPO, free_port, require_browser, stop_server

NOTEBOOK = "notebooks/explorer.ipynb"
SETTINGS = {"@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False}}


def make_lab_command(port: int) -> list[str]:
    """The command ``make lab`` runs once the project is installed (``-o``: whatever the install stamp says)."""
    if shutil.which("make") is None:
        pytest.fail("`make` is not installed: the test reads `make lab`'s command from the Makefile", pytrace=False)
    out = subprocess.run(["make", "-s", "-n", "-o", ".venv/.installed", "lab", f"PORT={port}"], cwd=REPO,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    lines = out.strip().splitlines()
    assert len(lines) == 1, f"`make -n lab` should run one command, not: {out}"
    return shlex.split(lines[0])


@contextlib.contextmanager
def make_lab(tmp_path):
    """JupyterLab started as ``make lab`` starts it; yields (the command, the link it printed)."""
    port = free_port()
    command = make_lab_command(port)
    home = tmp_path / "jupyter"
    for plugin, values in SETTINGS.items():
        path = home / "settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    (home / "config").mkdir()   # the checkpoint JupyterLab makes of an opened notebook: here, not in notebooks/
    (home / "config" / "jupyter_server_config.json").write_text(json.dumps(
        {"FileCheckpoints": {"checkpoint_dir": str(home / "checkpoints")}}))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")}
    server = subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    log: list[str] = []
    found = threading.Event()
    link: list[str] = []

    def read():
        share = False
        for line in server.stdout:
            log.append(line)
            if "copy and paste one of these URLs" in line:
                share = True
            elif share and not link and (url := re.search(r"https?://\S+", line)):
                link.append(url.group(0))
                found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not found.wait(120):
            raise AssertionError(f"`make lab` printed no link in 120 s:\n{''.join(log[-40:])}")
        yield command, link[0], log
    finally:
        found = re.search(r"token=(\w+)", link[0]) if link else None
        token = found.group(1) if found else ""
        stop_server(server, f"http://127.0.0.1:{port}", headers={"Authorization": f"token {token}"}, term_wait=15)
        reader.join(5)


def first_heading(notebook: Path) -> str:
    """The text of the notebook's first Markdown heading."""
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        for line in "".join(cell["source"]).splitlines() if cell["cell_type"] == "markdown" else ():
            if line.startswith("#"):
                return line.lstrip("#").strip()
    raise AssertionError(f"{notebook} has no Markdown heading to look for")


def test_the_link_make_lab_prints_opens_the_explorer_notebook(tmp_path):
    require_browser()
    from playwright.sync_api import sync_playwright

    with make_lab(tmp_path) as (command, link, log):
        assert command[:3] == [".venv/bin/python", "-m", "jupyter"] and "lab" in command, command
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/lab/tree/notebooks/explorer\.ipynb\?token=\w+", link), link
        heading = first_heading(REPO / NOTEBOOK)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.set_default_timeout(90_000)
                page.goto(link)
                page.wait_for_selector(".jp-Notebook")
                page.get_by_role("heading", name=heading).first.wait_for()
                current = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel")
                deadline = time.monotonic() + 90
                while current.all_inner_texts() != ["explorer.ipynb"] and time.monotonic() < deadline:
                    page.wait_for_timeout(200)
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "make-lab-link.png"))
                assert current.all_inner_texts() == ["explorer.ipynb"], current.all_inner_texts()
                assert page.locator(".jp-Launcher").count() == 0, "the Launcher opened too"
                assert "Launcher" not in page.locator(".lm-DockPanel-tabBar").inner_text()
            finally:
                browser.close()
