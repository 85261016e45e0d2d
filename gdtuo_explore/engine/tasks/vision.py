"""Image classification tasks: scikit-learn's digits, MNIST, Fashion-MNIST and CIFAR-10.

MNIST, Fashion-MNIST and CIFAR-10 are read by the real torchvision dataset classes from
torchvision's on-disk layout under the data root, downloaded by torchvision when allowed,
and (Fashion-MNIST only) extracted from Debian's ``dataset-fashion-mnist`` package files.
"""

from __future__ import annotations

import gzip
import os
import shutil
import socket
from contextlib import contextmanager
from functools import lru_cache

import torch
import torch.nn.functional as F

from .models import PaperMLP, SmallCNN, ResNet20, tanh_mlp
from .registry import DatasetNotFound, Task, describe_root, register_task

DEBIAN_FASHION_DIR = "/usr/share/datasets/fashion-mnist"
DOWNLOAD_TIMEOUT_S = 30
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
DIGITS_TEST = 360
HOW_TO_PASS_ROOT = "pass --data-root DIR (data_root=DIR in Python, or set GDTUO_DATA=DIR)"


@lru_cache(maxsize=1)
def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits
    digits = load_digits()
    return torch.tensor(digits.data, dtype=torch.float32) / 16, torch.tensor(digits.target, dtype=torch.int64)


@register_task("digits", description="scikit-learn's 1797 handwritten 8x8 digits (offline); tanh MLP 64-128-10",
               models=("mlp",))
def build_digits(model: str, data_root: str, seed: int) -> Task:
    """1437 train / 360 test images, split by `seed`; pixels scaled to [0, 1] and flattened to 64."""
    x, y = _digits()
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    train, test = perm[DIGITS_TEST:], perm[:DIGITS_TEST]
    return Task("digits", model, x[train], y[train], x[test], y[test], lambda: tanh_mlp([64, 128, 10]),
                F.cross_entropy, "accuracy", "scikit-learn's load_digits() (bundled with scikit-learn)", 10)


@contextmanager
def _network_timeout(seconds: float):
    """Bound each socket operation (torchvision's urllib calls have no timeout of their own)."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


def _splits(cls, root: str, download: bool):
    """Both splits of torchvision dataset class `cls` at `root`; torchvision raises if they are missing."""
    with _network_timeout(DOWNLOAD_TIMEOUT_S):
        train = cls(root, train=True, download=download)
    return train, cls(root, train=False, download=False)


def _load(cls, label: str, root: str, download: bool, folder: str, expected: str, how: str,
          debian_dir: str | None = None):
    """Load `cls` from `folder` under `root`, else from Debian's files (gunzipped into `folder`) if
    `debian_dir` is given, else by downloading if allowed.

    `expected` names the files torchvision wants in `folder`. Returns ((train, test), source line);
    raises DatasetNotFound saying what was tried and `how` to get the data.
    """
    tried = [f"{describe_root(root)}, looking for {folder}/{expected}"]
    try:
        return _splits(cls, root, False), f"{label} from {folder} (torchvision's layout)"
    except (RuntimeError, OSError):
        pass
    if debian_dir is not None:
        names = [name for name, _md5 in cls.resources]
        if not all(os.path.isfile(os.path.join(debian_dir, name)) for name in names):
            tried.append(f"Debian's files {debian_dir}/{{{','.join(names)}}}: not there")
        else:
            try:
                _extract_gz(debian_dir, names, folder)
                source = f"{label} from {debian_dir} (Debian package dataset-fashion-mnist), extracted to {folder}"
                return _splits(cls, root, False), source
            except (RuntimeError, OSError, EOFError) as err:
                tried.append(f"Debian's files in {debian_dir}: found, but extracting them to {folder} failed "
                             f"({_one_line(err)})")
    if not download:
        tried.append("downloading with torchvision: skipped (download=False)")
    else:
        try:
            return _splits(cls, root, True), f"{label} downloaded by torchvision into {root}"
        except (RuntimeError, OSError) as err:
            tried.append(f"downloading with torchvision into the data root: failed ({_one_line(err)})")
    steps = "; ".join(f"({i}) {t}" for i, t in enumerate(tried, 1))
    raise DatasetNotFound(f"{label} was not found. Tried: {steps}. To get it: {how}.")


def _extract_gz(src_dir: str, names: list[str], raw: str) -> None:
    """Gunzip each of `names` from `src_dir` into `raw` without its .gz suffix (written atomically)."""
    os.makedirs(raw, exist_ok=True)
    for name in names:
        dst = os.path.join(raw, os.path.splitext(name)[0])
        with gzip.open(os.path.join(src_dir, name), "rb") as fin, open(dst + ".part", "wb") as fout:
            shutil.copyfileobj(fin, fout)
        os.replace(dst + ".part", dst)


def _idx_task(name: str, model: str, splits, source: str) -> Task:
    """A 28x28 grey-image task: the paper's MLP on flattened pixels, or SmallCNN on (N, 1, 28, 28)."""
    def images(data: torch.Tensor) -> torch.Tensor:
        x = data.float().div(255)
        return x.reshape(len(x), -1) if model == "mlp" else x.unsqueeze(1)

    (train, test) = splits
    if model == "mlp":
        make_model, loss_fn = PaperMLP, F.nll_loss
    else:
        make_model, loss_fn = (lambda: SmallCNN(1, 28)), F.cross_entropy
    return Task(name, model, images(train.data), train.targets.long(), images(test.data), test.targets.long(),
                make_model, loss_fn, "accuracy", source, 10)


IDX_FILES = "{train,t10k}-{images-idx3,labels-idx1}-ubyte"


@register_task("mnist", description="MNIST handwritten digits (torchvision; downloads once); the paper's MLP or a CNN",
               models=("mlp", "cnn"), needs_download=True)
def build_mnist(model: str, data_root: str, seed: int, *, download: bool = True) -> Task:
    """MNIST via torchvision.datasets.MNIST; pixels in [0, 1]. `seed` is unused (the split is fixed)."""
    from torchvision.datasets import MNIST
    how = ("run again while online (torchvision downloads it into the data root), or put the four uncompressed "
           f"IDX files in DIR/MNIST/raw/ and {HOW_TO_PASS_ROOT}")
    raw = os.path.join(data_root, "MNIST", "raw")
    splits, source = _load(MNIST, "MNIST", data_root, download, raw, IDX_FILES, how)
    return _idx_task("mnist", model, splits, source)


@register_task("fashion-mnist", description="Fashion-MNIST clothing images (Debian package or torchvision); "
               "the paper's MLP or a CNN", models=("mlp", "cnn"), needs_download=True)
def build_fashion_mnist(model: str, data_root: str, seed: int, *, download: bool = True,
                        debian_dir: str = DEBIAN_FASHION_DIR) -> Task:
    """Fashion-MNIST via torchvision.datasets.FashionMNIST, from the data root, Debian's files or a download.

    `seed` is unused (the split is fixed).
    """
    from torchvision.datasets import FashionMNIST
    how = ("`apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or run again while online (torchvision "
           f"downloads it into the data root), or put the four uncompressed IDX files in DIR/FashionMNIST/raw/ "
           f"and {HOW_TO_PASS_ROOT}")
    raw = os.path.join(data_root, "FashionMNIST", "raw")
    splits, source = _load(FashionMNIST, "Fashion-MNIST", data_root, download, raw, IDX_FILES, how,
                           debian_dir=debian_dir)
    return _idx_task("fashion-mnist", model, splits, source)


def _cifar_images(data) -> torch.Tensor:
    """uint8 NHWC numpy images -> float32 NCHW, normalised with CIFAR-10's per-channel mean and std."""
    x = torch.from_numpy(data).permute(0, 3, 1, 2).contiguous().float().div_(255)
    return x.sub_(torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)).div_(torch.tensor(CIFAR_STD).view(1, 3, 1, 1))


@register_task("cifar10", description="CIFAR-10 32x32 colour images (torchvision; downloads once); "
               "a small CNN or ResNet-20", models=("cnn", "resnet20"), needs_download=True)
def build_cifar10(model: str, data_root: str, seed: int, *, download: bool = True) -> Task:
    """CIFAR-10 via torchvision.datasets.CIFAR10 (which checks the files' md5). `seed` is unused."""
    from torchvision.datasets import CIFAR10
    folder = os.path.join(data_root, CIFAR10.base_folder)
    expected = "{data_batch_1..5,test_batch,batches.meta} (missing, or failing torchvision's md5 checks)"
    how = ("run again while online (torchvision downloads it into the data root), or extract "
           "cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html into DIR (giving "
           f"DIR/cifar-10-batches-py/) and {HOW_TO_PASS_ROOT}")
    (train, test), source = _load(CIFAR10, "CIFAR-10", data_root, download, folder, expected, how)
    make_model = (lambda: SmallCNN(3, 32)) if model == "cnn" else ResNet20
    return Task("cifar10", model, _cifar_images(train.data), torch.tensor(train.targets, dtype=torch.int64),
                _cifar_images(test.data), torch.tensor(test.targets, dtype=torch.int64), make_model,
                F.cross_entropy, "accuracy", source, 10)
