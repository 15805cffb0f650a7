"""Datasets for the examples and benchmarks: MNIST and scikit-learn's bundled 8x8 digits.

This module owns finding, downloading (into a checksum-verified cache) and parsing the MNIST IDX files, and the
conversion of both datasets to one convention: float32 images in [0, 1] shaped (N, H, W) and int64 labels.
No pickle is used anywhere.

MNIST is searched for in: the ``path`` argument, ``$SYMGRAPH_DATA/mnist``, then ``~/.cache/symgraph/mnist``; when
absent, it is downloaded into that cache from the first of ``MNIST_MIRRORS`` that answers with the right bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import zlib
from pathlib import Path

import numpy as np

from symgraph.errors import SymgraphError
from symgraph.graph import user_site

__all__ = [
    "load_mnist", "find_mnist", "mnist_search_dirs", "mnist_cache_dir", "read_idx", "load_digits",
    "MNIST_MIRRORS", "MNIST_SHA256", "DatasetNotFoundError", "DatasetFormatError",
]

# Base names of the (images, labels) files of each split; each may be gzipped (".gz") or raw, and may use the dotted
# variant of the name ("train-images.idx3-ubyte").
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# SHA-256 of the official .gz files; a download whose bytes differ is deleted, never used.
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
# Tried in order; each URL is a directory that holds the four .gz files.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
DOWNLOAD_TIMEOUT = 10.0  # seconds, per connection attempt and per read
MNIST_IMAGE_SHAPE = (28, 28)


class DatasetNotFoundError(SymgraphError, FileNotFoundError):
    """The dataset is neither on disk nor downloadable; the message lists where it was looked for."""


class DatasetFormatError(SymgraphError, ValueError):
    """A dataset file that is corrupted, truncated or inconsistent; the message names the file and the fault."""


def mnist_cache_dir() -> Path:
    """``~/.cache/symgraph/mnist``: where downloads land, and the last place searched."""
    return Path.home() / ".cache" / "symgraph" / "mnist"


def mnist_search_dirs(path=None) -> list[Path]:
    """The directories searched for MNIST, in order: ``path``, ``$SYMGRAPH_DATA/mnist``, the cache."""
    return _search_dirs(path, "mnist_search_dirs")


def _search_dirs(path, owner: str) -> list[Path]:
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{owner}: path must be a directory (a str or os.PathLike) or None, got {path!r:.60} "
                        f"({type(path).__name__}), at {user_site()}")
    dirs = [] if path is None else [Path(path).expanduser()]
    if os.environ.get("SYMGRAPH_DATA"):
        dirs.append(Path(os.environ["SYMGRAPH_DATA"]).expanduser() / "mnist")
    dirs.append(mnist_cache_dir())
    return dirs


def _locate(directory: Path, base: str) -> Path | None:
    """The file of ``directory`` holding ``base`` (gzipped or raw, canonical or dotted name), or None."""
    dotted = base.replace("-idx", ".idx")
    for name in (base + ".gz", base, dotted + ".gz", dotted):
        if (directory / name).is_file():
            return directory / name
    return None


def find_mnist(path=None, split: str | None = None) -> Path | None:
    """The first searched directory holding the files of ``split`` (both splits when None), or None."""
    return _find(path, split, "find_mnist")


def _find(path, split, owner: str) -> Path | None:
    splits = list(MNIST_FILES) if split is None else [_check_split(split, owner)]
    for directory in _search_dirs(path, owner):
        if all(_locate(directory, base) for s in splits for base in MNIST_FILES[s]):
            return directory
    return None


def load_mnist(path=None, split: str = "train", *, download: bool = True, mirrors=None):
    """``(images, labels)`` of one MNIST split ("train" or "test"): float32 (N, 28, 28) in [0, 1], int64 (N,).

    Reads the IDX files from the first directory of :func:`mnist_search_dirs` that holds them; otherwise downloads
    them into :func:`mnist_cache_dir` (when ``download``) from ``mirrors`` (default ``MNIST_MIRRORS``).
    Raises DatasetNotFoundError (a FileNotFoundError) when that fails, DatasetFormatError (a ValueError) for a bad file.
    """
    _check_split(split, "load_mnist")
    if not isinstance(download, (bool, np.bool_)):
        raise TypeError(f"load_mnist: download must be True or False, got {download!r:.60}, at {user_site()}")
    mirrors = _check_mirrors(MNIST_MIRRORS if mirrors is None else mirrors)
    directory = _find(path, split, "load_mnist")
    if directory is None:
        failures = _download_split(split, mirrors) if download else None
        directory = _find(path, split, "load_mnist")
        if directory is None:
            raise DatasetNotFoundError(_not_found_message(path, split, failures) + f"\n  at {user_site()}")
    image_file, label_file = (_locate(directory, base) for base in MNIST_FILES[split])
    images, labels = _read_idx(image_file, 3, "load_mnist"), _read_idx(label_file, 1, "load_mnist")
    if images.shape[1:] != MNIST_IMAGE_SHAPE:
        raise _format_error("load_mnist", image_file, f"wrong dims {images.shape}, expected (N, 28, 28) images")
    if len(labels) != len(images):
        raise _format_error("load_mnist", label_file, f"label count {len(labels)} != image count {len(images)} of "
                                                      f"{image_file.name}")
    if len(labels) and labels.max() > 9:
        raise _format_error("load_mnist", label_file, f"labels outside 0..9 (found {int(labels.max())})")
    return images.astype(np.float32) / np.float32(255), labels.astype(np.int64)


def read_idx(file, ndim: int) -> np.ndarray:
    """The uint8 array of an IDX file (gzipped or raw) with ``ndim`` dimensions, validated against its header."""
    if not isinstance(file, (str, os.PathLike)):
        raise TypeError(f"read_idx: file must be a path (a str or os.PathLike), got {type(file).__name__} "
                        f"{file!r:.60}, at {user_site()}")
    if isinstance(ndim, (bool, np.bool_)) or not isinstance(ndim, (int, np.integer)):
        raise TypeError(f"read_idx: ndim must be a positive int, got {type(ndim).__name__} {ndim!r:.60}, "
                        f"at {user_site()}")
    if not 1 <= ndim <= 255:  # the IDX header stores the number of dimensions in one byte
        raise ValueError(f"read_idx: ndim must be in [1, 255], got {ndim!r}, at {user_site()}")
    return _read_idx(Path(file), ndim, "read_idx")


def _read_idx(file: Path, ndim: int, owner: str) -> np.ndarray:
    """``read_idx`` for a checked path; format errors name ``owner`` (the function the user called) and the file."""
    data = file.read_bytes()
    if file.name.endswith(".gz") or data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except EOFError:
            raise _format_error(owner, file, "truncated gzip stream (ends before its end-of-stream marker)") from None
        except (OSError, zlib.error) as error:
            raise _format_error(owner, file, f"corrupt gzip stream ({error})") from None
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise _format_error(owner, file, f"{len(data)} bytes, shorter than the {header_size}-byte IDX header")
    magic, expected = int.from_bytes(data[:4], "big"), 0x0800 + ndim
    if magic != expected:
        raise _format_error(owner, file, f"bad magic number {magic} (0x{magic:08x}), expected {expected} "
                                         f"(unsigned bytes, {ndim} dims)")
    dims = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    size, payload = int(np.prod(dims)), len(data) - header_size
    if payload < size:
        raise _format_error(owner, file, f"payload of {payload} bytes is shorter than the {size} bytes that the "
                                         f"header's dims {dims} say (truncated file)")
    if payload > size:
        raise _format_error(owner, file, f"{payload - size} bytes after the payload that the header's dims "
                                         f"{dims} say")
    return np.frombuffer(data, np.uint8, size, header_size).reshape(dims)


def _format_error(owner: str, file: Path, fault: str) -> DatasetFormatError:
    """A DatasetFormatError naming the function the user called, the file, the fault and the user's line."""
    return DatasetFormatError(f"{owner}: {file}: {fault}\n  at {user_site()}")


def _check_split(split: str, owner: str) -> str:
    if not isinstance(split, str):
        raise TypeError(f"{owner}: split must be 'train' or 'test', got {split!r:.60} ({type(split).__name__}), "
                        f"at {user_site()}")
    if split not in MNIST_FILES:
        raise ValueError(f"{owner}: split must be 'train' or 'test', got {split!r:.60}, at {user_site()}")
    return split


def _check_mirrors(mirrors) -> tuple[str, ...]:
    """Mirror URLs as a tuple; a single URL string is one mirror (not a sequence of one-character mirrors)."""
    mirrors = (mirrors,) if isinstance(mirrors, str) else mirrors
    if not isinstance(mirrors, (list, tuple)) or not all(isinstance(m, str) for m in mirrors):
        raise TypeError(f"load_mnist: mirrors must be a URL or a list of URLs, got {mirrors!r:.60}, at {user_site()}")
    return tuple(mirrors)


def _download_split(split: str, mirrors) -> list[str]:
    """Download the missing .gz files of ``split`` into the cache; returns one line per failed attempt.

    The cache directory is created only once a mirror answers, and the directories created for it are removed
    again if no file landed in them.
    """
    cache, created = mnist_cache_dir(), _missing_directories(mnist_cache_dir())
    try:
        return _download_missing(split, mirrors, cache)
    finally:
        for directory in created:  # deepest first; stops at the first that holds something
            try:
                directory.rmdir()
            except OSError:
                break


def _missing_directories(directory: Path) -> list[Path]:
    """``directory`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while not directory.exists() and directory != directory.parent:
        missing.append(directory)
        directory = directory.parent
    return missing


def _download_missing(split: str, mirrors, cache: Path) -> list[str]:
    import http.client  # here, not at the top: it and urllib.request are a tenth of importing symgraph

    failures = []
    for base in MNIST_FILES[split]:
        if _locate(cache, base) is not None:
            continue
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + base + ".gz"
            try:
                _download(url, cache / (base + ".gz"), MNIST_SHA256[base + ".gz"])
                break
            except (OSError, http.client.HTTPException, ValueError) as error:
                failures.append(f"{url}: {error}")
        else:
            failures.append(f"{base}.gz: no mirror delivered it" if mirrors else "no download mirrors configured")
            break  # the split is incomplete anyway
    return failures


def _download(url: str, target: Path, sha256: str) -> None:
    """Fetch ``url`` into a temporary file beside ``target``; rename it to ``target`` only if its SHA-256 matches."""
    import urllib.request

    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        try:
            _write_verified(response, fd, sha256)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _write_verified(response, fd: int, sha256: str) -> None:
    """Copy ``response`` into the open file ``fd``; DatasetFormatError unless the bytes have SHA-256 ``sha256``."""
    digest = hashlib.sha256()
    with os.fdopen(fd, "wb") as out:
        while chunk := response.read(1 << 16):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != sha256:
        raise DatasetFormatError(f"checksum mismatch: sha256 {digest.hexdigest()}, expected {sha256}")


def _not_found_message(path, split: str, failures: list[str] | None) -> str:
    names = " and ".join(f"{base}.gz" for base in MNIST_FILES[split])
    searched = _search_dirs(path, "load_mnist")
    lines = [f"load_mnist: MNIST {split} files not found. Searched:"] + [f"  - {d}" for d in searched]
    if not os.environ.get("SYMGRAPH_DATA"):
        lines.append("  ($SYMGRAPH_DATA is not set)")
    if failures is None:
        lines.append("Download was disabled (download=False).")
    else:
        lines += ["Download into the cache failed:"] + [f"  - {line}" for line in failures]
    lines.append(f"Put {names} (gzipped or raw) in {searched[-1]}, or in $SYMGRAPH_DATA/mnist, "
                 "or in a directory passed as `path`.")
    return "\n".join(lines)


def load_digits():
    """``(images, labels)`` of scikit-learn's 8x8 digits: float32 (1797, 8, 8) in [0, 1] (values / 16), int64."""
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError as error:
        raise ImportError('load_digits needs scikit-learn: pip install "symgraph[digits]"') from error
    bunch = sklearn_load_digits()
    return (bunch.images / 16).astype(np.float32), bunch.target.astype(np.int64)
