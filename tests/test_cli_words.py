"""What the command line says about a bad flag: one line, exit status 2, naming the flag, the value typed and what
to type instead, in the command line's words (no ``None``, ``int``, ``True`` or Python field names)."""
import re
import subprocess
import sys

import pytest

PYTHON_WORDS = re.compile(r"\bNone\b|\bTrue\b|\bFalse\b|\bint\b|\bfloat\b|\w+_\w+=|Traceback|Errno")


@pytest.mark.parametrize("args,says", [
    (["run", "--epochs", "0"], "argument --epochs: '0' is not a whole number >= 1"),
    (["run", "--steps", "-5"], "argument --steps: '-5' is not a whole number >= 1"),
    (["run", "--steps", "ten"], "argument --steps: 'ten' is not a whole number >= 1"),
    (["run", "--batch-size", "0"], "argument --batch-size: '0' is not a whole number >= 1"),
    (["run", "--eval-every", "0"], "argument --eval-every: '0' is not a whole number >= 1"),
    (["run", "--seed", "-1"], "argument --seed: '-1' is not a whole number >= 0"),
    (["run", "--hypergrad-clip", "0"], "argument --hypergrad-clip: '0' is not a number > 0"),
    (["run", "--hypergrad-clip", "nan"], "argument --hypergrad-clip: 'nan' is not a number > 0"),
    (["run", "--alpha-bounds", "1,0"], "argument --alpha-bounds: '1,0' is not LOW,HIGH: two numbers with LOW < HIGH"),
    (["run", "--divergence-factor", "0.5"], "argument --divergence-factor: '0.5' is not a number > 1 or 'off'"),
    (["run", "--baseline", "adam"], "argument --baseline: invalid choice: 'adam' (choose from 'prodigy'"),
    (["sweep", "--processes", "0"], "argument --processes: '0' is not a whole number >= 1"),
    (["sweep", "--kappa", "-1"], "argument --kappa: '-1' is not a number >= 0"),
    (["sweep", "--heights", "0,1.5"], "argument --heights: '0,1.5' is not a comma-separated list of whole numbers"),
    (["sweep", "--heartbeat", "0", "--storage", "sweep.log"], "argument --heartbeat: '0' is not a whole number >= 1"),
    (["run", "--steps", "2", "--out", "/proc/no/such"],
     "cannot write the files to /proc/no/such: /proc/no: No such file or directory (give another --out)"),
])
def test_a_bad_flag_is_one_line_in_the_command_lines_words(tmp_path, args, says):
    result = subprocess.run([sys.executable, "-m", "gdtuo_explore", *args, "--quiet"], capture_output=True,
                            text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gdtuo-explore: error: "), result.stderr
    assert says in lines[0], lines[0]
    assert not PYTHON_WORDS.search(lines[0]), lines[0]
    assert list(tmp_path.iterdir()) == []   # nothing written
