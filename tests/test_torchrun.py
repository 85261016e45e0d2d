"""``torchrun -m gdtuo_explore run``: DistributedDataParallel on two gloo processes ends with the same
hyperparameters and weights on both ranks, and the same losses as one process fed the same global batches."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gdtuo_explore.engine.distributed import Distributed, local_batch, loss_weight

ROOT = Path(__file__).resolve().parents[1]
# batch 45: 1437 digits make 31 full batches and one of 42 (step 32), split 23/22 and 21/21 across two ranks
RUN = ["run", "--task", "digits", "--stack", "adam/sgd(1e-5)", "--steps", "40", "--batch-size", "45",
       "--device", "cpu", "--eval-every", "20", "--quiet"]


def _columns(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in rows[0]}


def test_two_gloo_processes_match_one_process_fed_the_same_global_batches(tmp_path):
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          "-m", "gdtuo_explore", *RUN, "--out", str(tmp_path / "ddp")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert ddp.stdout.count("on 2 processes; wrote") == 1   # rank 0 alone prints
    one = subprocess.run([sys.executable, "-m", "gdtuo_explore", *RUN, "--out", str(tmp_path / "one")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    assert one.returncode == 0, one.stderr[-3000:]

    ranks = json.loads((tmp_path / "ddp" / "distributed.json").read_text())
    assert ranks["world_size"] == 2 and ranks["agree"] is True
    assert ranks["hyperparameters"][0] == ranks["hyperparameters"][1]   # identical, not merely close
    assert ranks["weights_sha256"][0] == ranks["weights_sha256"][1]
    learned = ranks["hyperparameters"][0][0]["alpha"]

    many, single = _columns(tmp_path / "ddp" / "metrics.csv"), _columns(tmp_path / "one" / "metrics.csv")
    assert many["step"] == single["step"] == list(range(1, 41))
    for column in ("train_loss", "level1.alpha", "level1.beta1", "level1.beta2"):
        assert many[column] == pytest.approx(single[column], rel=1e-5, abs=1e-9), column
    assert learned == pytest.approx(single["level1.alpha"][-1], rel=1e-5)
    assert learned != pytest.approx(1e-3, rel=1e-2)   # the step size was learned, away from adam's default
    evals_many, evals_single = (_columns(tmp_path / d / "evaluations.csv") for d in ("ddp", "one"))
    assert evals_many["test_loss"] == pytest.approx(evals_single["test_loss"], rel=1e-5)


@pytest.mark.parametrize("size, world", [(45, 2), (42, 2), (7, 3), (64, 4), (5, 5)])
def test_the_ranks_shares_make_the_global_batch_and_their_weighted_mean_is_its_mean(size, world):
    idx = torch.randperm(1000, generator=torch.Generator().manual_seed(size))[:size]
    values = torch.rand(1000, dtype=torch.float64)
    shares = [local_batch(idx, r, world) for r in range(world)]
    assert sorted(torch.cat(shares).tolist()) == sorted(idx.tolist())
    assert max(map(len, shares)) - min(map(len, shares)) <= 1
    weighted = [values[s].mean() * loss_weight(len(s), size, world) for s in shares]
    assert float(sum(weighted) / world) == pytest.approx(float(values[idx].mean()), rel=1e-12)


@pytest.mark.parametrize("environ, expected", [
    ({}, None),
    ({"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0"}, Distributed(0, 1, 0)),
    ({"WORLD_SIZE": "2", "RANK": "2", "LOCAL_RANK": "0"}, ValueError("do not describe a process")),
    ({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"}, Distributed(3, 4, 1)),
    ({"WORLD_SIZE": "4", "RANK": "x", "LOCAL_RANK": "1"}, ValueError("must be integers")),
])
def test_torchrun_is_detected_by_its_environment(monkeypatch, environ, expected):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    if isinstance(expected, Exception):
        with pytest.raises(ValueError, match=str(expected)):
            Distributed.from_environment()
    else:
        assert Distributed.from_environment() == expected


def test_a_global_batch_smaller_than_the_world_is_refused():
    with pytest.raises(ValueError, match="batch_size=3 is out of range under torchrun with 4 processes"):
        Distributed(0, 4, 0).check(3)
