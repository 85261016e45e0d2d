"""A run's host-side records (gdtuo_explore/engine/records.py) and what observers receive of them: rows read from
any row on are exactly the rows appended from there, a read from row N copies only those rows, and every update
says which row its rows start at."""
import numpy as np
import pytest

from gdtuo_explore.engine.config import RunConfig
from gdtuo_explore.engine.records import Records, Table
from gdtuo_explore.engine.run import Run


def filled(sizes):
    table = Table(["step", "loss"])
    start = 0
    for n in sizes:
        table.append({"step": np.arange(start, start + n), "loss": np.arange(start, start + n) * 0.5})
        start += n
    return table, start


@pytest.mark.parametrize("start", [0, 1, 63, 64, 65, 500, 999, 1000, 5000])
def test_a_read_from_any_row_gives_the_rows_from_there(start):
    table, n = filled([64] * 10 + [1, 0, 359])
    rows = table.read(start)
    assert rows["step"].tolist() == list(range(start, n)) and np.array_equal(rows["loss"], rows["step"] * 0.5)
    assert rows["step"].dtype == np.arange(1).dtype                        # an empty read keeps the column's type


def test_a_read_from_row_n_copies_only_the_rows_from_n():
    table, n = filled([64] * 50)
    whole = table.read()                                                   # a full read merges the chunks
    assert len(table._chunks) == 1 and len(whole["step"]) == n
    table.append({"step": np.arange(n, n + 10), "loss": np.zeros(10)})
    merged = table._chunks[0]["step"]
    tail = table.read(n - 5)                                               # from inside the merged chunk
    assert tail["step"].tolist() == list(range(n - 5, n + 10))
    assert len(table._chunks) == 2 and table._chunks[0]["step"] is merged   # nothing merged again
    assert not np.shares_memory(tail["step"], merged)                      # a copy: the caller may change it


def test_latest_reads_the_last_rows():
    records = Records(["step", "epoch", "train_loss"], ["step", "test_loss", "test_accuracy"])
    assert records.latest() == {"step": None, "test_loss": None, "test_accuracy": None, "train_loss": None}
    records.add_steps({"step": [1, 2], "epoch": [1, 1], "train_loss": [2.5, 2.25]})
    records.add_evaluation({"step": [0], "test_loss": [3.0], "test_accuracy": [0.1]})
    records.add_evaluation({"step": [2], "test_loss": [2.0], "test_accuracy": [0.5]})
    assert records.latest() == {"step": 2, "test_loss": 2.0, "test_accuracy": 0.5, "train_loss": 2.25}


def test_each_update_says_where_its_rows_start():
    updates = []
    run = Run(RunConfig(task="digits", steps=300, eval_every=50, device="cpu"), observers=[updates.append])
    assert run.run() == "done" and run.wait() == "done"
    rows = evaluations = 0
    for update in updates:
        assert (update.first_row, update.first_evaluation) == (rows, evaluations)
        rows += len(update.rows["step"])
        evaluations += len(update.evaluations["step"])
    assert rows == 300 and evaluations == len(run.evaluations()["step"]) == 7
    assert np.array_equal(np.concatenate([u.rows["step"] for u in updates]), run.metrics()["step"])
