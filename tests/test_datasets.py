"""symgraph.datasets: the genuine MNIST (through $SYMGRAPH_DATA), synthetic IDX files, the search order, corrupted
files, the download path against a loopback http.server, and scikit-learn's digits."""

import gzip
import hashlib
import http.server
import os
import socket
import struct
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from symgraph import datasets
from symgraph.datasets import DatasetFormatError, DatasetNotFoundError, find_mnist, load_digits, load_mnist

# Facts from shared/data/mnist/README.md.
MNIST_FACTS = {
    "train": (60000, 33.32, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]),
    "test": (10000, 33.79, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]),
}


# ---------------------------------------------------------------- helpers

def idx_bytes(array: np.ndarray) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    return struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def synthetic_split(count: int, seed: int):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255  # both ends of the range
    return images, rng.integers(0, 10, size=count, dtype=np.uint8)


def write_split(directory: Path, images, labels, split="test", gz=True, dotted=False) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for base, array in zip(datasets.MNIST_FILES[split], (images, labels)):
        name = (base.replace("-idx", ".idx") if dotted else base) + (".gz" if gz else "")
        data = idx_bytes(array)
        (directory / name).write_bytes(gzip.compress(data) if gz else data)
        files.append(directory / name)
    return tuple(files)


def assert_loaded_exactly(loaded, images, labels):
    got_images, got_labels = loaded
    assert got_images.dtype == np.float32 and got_labels.dtype == np.int64
    assert got_images.shape == images.shape and got_labels.shape == labels.shape
    np.testing.assert_array_equal(got_images, images.astype(np.float32) / 255)
    np.testing.assert_array_equal(np.rint(got_images * 255).astype(np.uint8), images)
    np.testing.assert_array_equal(got_labels, labels)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"  # nothing listens there any more: connection refused


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No $SYMGRAPH_DATA, HOME (and so the cache) inside tmp_path, and no real mirror ever contacted."""
    monkeypatch.delenv("SYMGRAPH_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", (closed_port_url(),))
    assert datasets.mnist_cache_dir() == tmp_path / "home" / ".cache" / "symgraph" / "mnist"
    return tmp_path


# ---------------------------------------------------------------- the genuine MNIST, found through $SYMGRAPH_DATA

@pytest.fixture(scope="module", params=["train", "test"])
def genuine_mnist(request, tmp_path_factory):
    root = os.environ.get("SYMGRAPH_DATA")
    if not root:
        pytest.skip("SYMGRAPH_DATA is not set (CI sets it to shared/data; locally: SYMGRAPH_DATA=/work/shared/data)")
    if not all(datasets._locate(Path(root) / "mnist", base) for base in datasets.MNIST_FILES[request.param]):
        pytest.skip(f"no MNIST {request.param} files in $SYMGRAPH_DATA/mnist ({root}/mnist)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(tmp_path_factory.mktemp("home")))  # so only $SYMGRAPH_DATA can supply it
        assert find_mnist(split=request.param) == Path(root) / "mnist"
        return request.param, load_mnist(split=request.param, download=False)


def test_genuine_mnist_matches_its_readme(genuine_mnist):
    split, (images, labels) = genuine_mnist
    count, mean_pixel, class_counts = MNIST_FACTS[split]
    assert images.shape == (count, 28, 28) and images.dtype == np.float32
    assert labels.shape == (count,) and labels.dtype == np.int64
    assert images.min() == 0.0 and images.max() == 1.0
    assert np.bincount(labels, minlength=10).tolist() == class_counts
    assert round(float(images.mean(dtype=np.float64)) * 255, 2) == mean_pixel


# ---------------------------------------------------------------- synthetic files

@pytest.mark.parametrize("gz", [True, False], ids=["gzipped", "raw"])
@pytest.mark.parametrize("dotted", [False, True], ids=["canonical", "dotted"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_reads_synthetic_idx_exactly(isolated, split, gz, dotted):
    images, labels = synthetic_split(7, seed=1)
    write_split(isolated / "data", images, labels, split=split, gz=gz, dotted=dotted)
    assert find_mnist(isolated / "data", split) == isolated / "data"
    assert find_mnist(isolated / "data") is None  # the other split is missing
    assert_loaded_exactly(load_mnist(isolated / "data", split=split, download=False), images, labels)


def test_empty_split_reads_as_empty_arrays(isolated):
    images, labels = np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8)
    write_split(isolated / "data", images, labels)
    assert_loaded_exactly(load_mnist(isolated / "data", split="test"), images, labels)


def test_unknown_split_is_rejected(isolated):
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        load_mnist(isolated, split="validation")


# ---------------------------------------------------------------- search order

@pytest.fixture
def three_places(isolated, monkeypatch):
    """Distinct synthetic test splits in an explicit dir, in $SYMGRAPH_DATA/mnist and in the cache."""
    places = {"path": isolated / "explicit", "env": isolated / "shared" / "mnist", "cache": datasets.mnist_cache_dir()}
    splits = {}
    for seed, (where, directory) in enumerate(places.items()):
        splits[where] = synthetic_split(3 + seed, seed=10 + seed)
        write_split(directory, *splits[where])
    monkeypatch.setenv("SYMGRAPH_DATA", str(isolated / "shared"))
    return places, splits


def test_search_order_path_then_env_then_cache(three_places, monkeypatch, isolated):
    places, splits = three_places
    assert datasets.mnist_search_dirs(places["path"]) == [places["path"], places["env"], places["cache"]]
    assert_loaded_exactly(load_mnist(places["path"], split="test"), *splits["path"])
    assert_loaded_exactly(load_mnist(split="test"), *splits["env"])
    assert_loaded_exactly(load_mnist(isolated / "empty", split="test"), *splits["env"])  # falls through
    monkeypatch.delenv("SYMGRAPH_DATA")
    assert find_mnist(split="test") == places["cache"]
    assert_loaded_exactly(load_mnist(split="test"), *splits["cache"])


def test_find_mnist_none_when_nothing_local(isolated):
    assert find_mnist() is None and find_mnist(isolated, "train") is None
    images, labels = synthetic_split(2, seed=3)
    write_split(isolated / "data", images, labels, split="train", gz=False)
    write_split(isolated / "data", images, labels, split="test", gz=True)
    assert find_mnist(isolated / "data") == isolated / "data"


# ---------------------------------------------------------------- corrupted files

def _rewrite(file: Path, change):
    data = file.read_bytes()
    raw = gzip.decompress(data) if file.suffix == ".gz" else data
    raw = change(raw)
    file.write_bytes(gzip.compress(raw) if file.suffix == ".gz" else raw)


CORRUPTIONS = {  # name: (which file, how to corrupt it, what the message says)
    "bad magic": (0, lambda f: _rewrite(f, lambda b: b"\x00\x00\x08\x01" + b[4:]), "bad magic number"),
    "wrong dtype byte": (1, lambda f: _rewrite(f, lambda b: b"\x00\x00\x0d\x01" + b[4:]), "bad magic number"),
    "truncated payload": (0, lambda f: _rewrite(f, lambda b: b[:-100]), "shorter than the"),
    "truncated header": (1, lambda f: _rewrite(f, lambda b: b[:6]), "shorter than the 8-byte IDX header"),
    "extra bytes": (1, lambda f: _rewrite(f, lambda b: b + b"\x00"), "1 bytes after the payload"),
    "truncated gzip": (0, lambda f: f.write_bytes(f.read_bytes()[:-40]), "truncated gzip stream"),
    "corrupt gzip": (1, lambda f: f.write_bytes(f.read_bytes()[:10] + b"\xff" * 40), "corrupt gzip stream"),
    "gzip crc": (1, lambda f: f.write_bytes(f.read_bytes()[:-8] + b"\0\0\0\0" + f.read_bytes()[-4:]),
                 "corrupt gzip stream"),
    "wrong dims": (0, lambda f: f.write_bytes(gzip.compress(idx_bytes(np.zeros((5, 27, 28))))), "wrong dims"),
    "count mismatch": (1, lambda f: f.write_bytes(gzip.compress(idx_bytes(np.zeros(4)))),
                       "label count 4 != image count 5"),
    "label range": (1, lambda f: _rewrite(f, lambda b: b[:-1] + b"\x0a"), "labels outside 0..9"),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_corrupted_files_give_a_clear_error(isolated, name):
    which, corrupt, message = CORRUPTIONS[name]
    images, labels = synthetic_split(5, seed=4)
    files = write_split(isolated / "data", images, labels)
    corrupt(files[which])
    with pytest.raises(DatasetFormatError, match=message) as caught:
        load_mnist(isolated / "data", split="test", download=False)
    assert isinstance(caught.value, ValueError)
    assert files[which].name in str(caught.value)


def test_corrupted_raw_file_is_named_too(isolated):
    images, labels = synthetic_split(5, seed=5)
    image_file, _ = write_split(isolated / "data", images, labels, gz=False)
    image_file.write_bytes(image_file.read_bytes()[:-1])
    with pytest.raises(DatasetFormatError, match=f"{image_file.name}.*truncated file"):
        load_mnist(isolated / "data", split="test")


# ---------------------------------------------------------------- download from a loopback server

@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A loopback http.server: /good/ serves synthetic test-split .gz files whose SHA-256 are patched into the
    module, /bad/ serves the same names with other bytes. Yields (base URL, served arrays, request log)."""
    images, labels = synthetic_split(6, seed=6)
    root = tmp_path / "served"
    write_split(root / "good", images, labels)
    write_split(root / "bad", *synthetic_split(6, seed=7))
    checksums = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in (root / "good").iterdir()}
    monkeypatch.setattr(datasets, "MNIST_SHA256", {**datasets.MNIST_SHA256, **checksums})
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", (images, labels), requests
    server.shutdown()
    server.server_close()


def test_download_lands_in_cache_after_checksum(isolated, mirror, monkeypatch):
    url, served, requests = mirror
    renames = []
    real_replace = os.replace

    def spying_replace(source, target):  # the bytes appear under their final name only by a rename
        assert Path(source).parent == Path(target).parent and not Path(target).exists()
        renames.append(Path(target).name)
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", spying_replace)
    assert_loaded_exactly(load_mnist(split="test", mirrors=[url + "good/"]), *served)
    cache = datasets.mnist_cache_dir()
    expected = sorted(base + ".gz" for base in datasets.MNIST_FILES["test"])
    assert sorted(p.name for p in cache.iterdir()) == expected == sorted(renames)
    for name in expected:
        assert (cache / name).read_bytes() == (isolated / "served" / "good" / name).read_bytes()
    assert len(requests) == 2
    assert_loaded_exactly(load_mnist(split="test", mirrors=[url + "good/"]), *served)  # from the cache now
    assert len(requests) == 2 and find_mnist(split="test") == cache


def test_download_tries_mirrors_in_order(isolated, mirror, monkeypatch):
    url, served, requests = mirror
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", (closed_port_url(), url + "bad/", url + "missing/", url + "good/"))
    assert_loaded_exactly(load_mnist(split="test"), *served)
    assert [r.split("/")[1] for r in requests] == ["bad", "missing", "good"] * 2
    assert sorted(p.name for p in datasets.mnist_cache_dir().iterdir()) == sorted(
        base + ".gz" for base in datasets.MNIST_FILES["test"])


def test_download_with_wrong_checksum_leaves_nothing(isolated, mirror):
    url, _, requests = mirror
    with pytest.raises(DatasetNotFoundError, match="checksum mismatch") as caught:
        load_mnist(split="test", mirrors=[url + "bad/"])
    assert isinstance(caught.value, FileNotFoundError)
    assert len(requests) == 1  # the split cannot complete once one file has failed everywhere
    assert not (isolated / "home" / ".cache").exists()  # the directories made for the download are gone again


def test_no_reachable_mirror_says_where_to_put_the_files(isolated, monkeypatch):
    monkeypatch.setenv("SYMGRAPH_DATA", str(isolated / "shared"))
    dead = datasets.MNIST_MIRRORS[0]
    with pytest.raises(DatasetNotFoundError) as caught:
        load_mnist(isolated / "explicit", split="train")
    message = str(caught.value)
    assert isinstance(caught.value, OSError)
    for place in (isolated / "explicit", isolated / "shared" / "mnist", datasets.mnist_cache_dir()):
        assert f"  - {place}\n" in message
    assert dead + "train-images-idx3-ubyte.gz" in message
    assert "Put train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz (gzipped or raw) in" in message
    assert not (isolated / "home").exists()  # no mirror answered: no cache directory was made


def test_failed_download_keeps_directories_it_did_not_make(isolated, mirror):
    url, _, _ = mirror
    cache = datasets.mnist_cache_dir()
    cache.mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError):
        load_mnist(split="test", mirrors=[url + "bad/"])
    assert cache.is_dir() and list(cache.iterdir()) == []


def test_partial_download_keeps_the_cache_with_the_files_that_landed(isolated, mirror):
    url, _, requests = mirror
    (isolated / "served" / "half").mkdir()
    image_file = datasets.MNIST_FILES["test"][0] + ".gz"
    (isolated / "served" / "half" / image_file).write_bytes((isolated / "served" / "good" / image_file).read_bytes())
    with pytest.raises(DatasetNotFoundError, match="no mirror delivered it"):
        load_mnist(split="test", mirrors=url + "half/")  # a single URL is one mirror
    assert [p.name for p in datasets.mnist_cache_dir().iterdir()] == [image_file]
    assert len(requests) == 2


def test_download_disabled_makes_no_request(isolated, mirror):
    url, _, requests = mirror
    with pytest.raises(DatasetNotFoundError, match=r"download=False.*\nPut t10k-images") as caught:
        load_mnist(split="test", download=False, mirrors=[url + "good/"])
    assert "$SYMGRAPH_DATA is not set" in str(caught.value)
    assert requests == []


# ---------------------------------------------------------------- scikit-learn's digits

def test_load_digits_matches_scikit_learn():
    sklearn_datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn is not installed")
    reference = sklearn_datasets.load_digits()
    images, labels = load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.float32
    assert labels.shape == (1797,) and labels.dtype == np.int64
    assert images.min() == 0.0 and images.max() == 1.0
    np.testing.assert_array_equal(images * 16, reference.images)
    np.testing.assert_array_equal(labels, reference.target)


def test_load_digits_without_scikit_learn_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # makes `import sklearn...` raise ImportError
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r'pip install "symgraph\[digits\]"'):
        load_digits()
