"""Every example in README.md and docs/*.md runs as written.

* Every ```python block runs on its own in a fresh interpreter, in an empty temporary folder (so it must define its
  model and its data), with ``GDTUO_FAST=1`` and a time limit; it must exit 0.
* In every ```bash block, each line that calls ``gdtuo-explore`` runs, in order, in one temporary folder per block
  that holds a copy of the clone's ``notebooks/`` (commands run from the clone's root, as the README says), with this environment's ``gdtuo-explore`` first on the PATH; each must exit 0. Other lines (``make``,
  ``source``, ``pip``, ``torchrun``) are left to the tests of what they start.
* A block that cannot run here (it needs a GPU, a database server or a download) says so on the line before its
  fence: ``<!-- not run: REASON -->``. Such blocks are counted, and kept rare.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\S*)\s*$")
NOT_RUN = re.compile(r"^<!-- not run: (.+\S) -->$")
LANGUAGES = {"python", "bash", "text"}
MOST_NOT_RUN = 6   # blocks that cannot run here, over all the pages
TIMEOUT = 900   # seconds per example: a sweep or a tuner of the docs trains for minutes on a busy 2-core machine


def blocks(page: Path) -> list[dict]:
    """The fenced blocks of ``page``: ``{"page", "line", "language", "code", "not_run"}``."""
    found, lines = [], page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start, language = i, match.group(1)
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
        assert end is not None, f"{page.name}:{start + 1}: a fence that is never closed"
        before = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        reason = NOT_RUN.match(before.strip())
        found.append({"page": page.relative_to(REPO), "line": start + 1, "language": language,
                      "code": "\n".join(lines[start + 1:end]) + "\n", "not_run": reason and reason.group(1)})
        i = end + 1
    return found


ALL = [b for page in PAGES for b in blocks(page)]
PYTHON = [b for b in ALL if b["language"] == "python" and not b["not_run"]]
SHELL = [b for b in ALL if b["language"] == "bash" and not b["not_run"]
         and any(line.startswith("gdtuo-explore ") for line in b["code"].splitlines())]


def where(block) -> str:
    return f"{block['page']}:{block['line']}"


def environment() -> dict:
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "GDTUO_FAST": "1", "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def test_the_pages_have_examples_and_every_block_says_its_language():
    assert PAGES[0].name == "README.md" and len(PAGES) > 1
    assert PYTHON and SHELL
    unknown = [f"{where(b)} ```{b['language']}" for b in ALL if b["language"] not in LANGUAGES]
    assert not unknown, f"give every fenced block one of {sorted(LANGUAGES)}: {unknown}"
    not_run = [f"{where(b)}: {b['not_run']}" for b in ALL if b["not_run"]]
    assert len(not_run) <= MOST_NOT_RUN, f"too many examples that cannot run here: {not_run}"


def test_the_readme_library_example_defines_its_model_and_data():
    first = next(b for b in PYTHON if str(b["page"]) == "README.md")
    assert "model =" in first["code"] and "load_digits" in first["code"], first["code"]


@pytest.mark.parametrize("block", PYTHON, ids=where)
def test_python_example_runs_as_written(block, tmp_path):
    result = subprocess.run([sys.executable, "-c", block["code"]], cwd=tmp_path, env=environment(),
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, f"{where(block)} failed:\n{result.stderr[-3000:]}"


@pytest.mark.parametrize("block", SHELL, ids=where)
def test_command_line_example_runs_as_written(block, tmp_path):
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for line in block["code"].replace("\\\n", " ").splitlines():   # a command continued with a backslash: one line
        if not line.startswith("gdtuo-explore "):
            continue
        command = re.sub(r"\s+#.*$", "", line)   # the comment after the command
        result = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=environment(), capture_output=True,
                                text=True, timeout=TIMEOUT)
        assert result.returncode == 0, f"{where(block)}: `{command}` exited {result.returncode}:\n{result.stderr[-3000:]}"
        assert "Traceback" not in result.stderr, result.stderr[-3000:]
