"""Bad input to stylegan.data: dataset.json labels that are not finite, too many classes, negative classes, and images
cut short. Each refusal is one line naming the file and the image; nothing is allocated from a number in a file."""

import io
import json
import tracemalloc
import zipfile

import numpy as np
import pytest
from PIL import Image

from stylegan.data import MAX_LABEL_DIM, open_dataset


def _png(i: int, size: int = 8) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (40 * i, 255 - 40 * i, 7 * i)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(params=["folder", "zip", "deflated-zip"])
def store(request, tmp_path):
    """Writes {name: bytes or text} as a folder or a zip (stored or deflated) and returns its path."""
    def write(files: dict):
        if request.param == "folder":
            for name, data in files.items():
                (tmp_path / "data").mkdir(exist_ok=True)
                (tmp_path / "data" / name).write_bytes(data if isinstance(data, bytes) else data.encode())
            return tmp_path / "data"
        compression = zipfile.ZIP_DEFLATED if request.param == "deflated-zip" else zipfile.ZIP_STORED
        with zipfile.ZipFile(tmp_path / "data.zip", "w", compression=compression) as archive:
            for name, data in files.items():
                archive.writestr(name, data)
        return tmp_path / "data.zip"
    return write


def labelled(*labels, raw: str = None) -> dict:
    """Images 0.png, 1.png, ... with these labels in dataset.json (or its text `raw`, for what json.dumps cannot
    write)."""
    files = {f"{i}.png": _png(i) for i in range(len(labels))}
    files["dataset.json"] = raw or json.dumps({"labels": [[f"{i}.png", v] for i, v in enumerate(labels)]})
    return files


@pytest.mark.parametrize("text, bad", [("NaN", "nan"), ("Infinity", "inf"), ("-Infinity", "-inf"), ("1e400", "inf"),
                                       (str(10 ** 400), str(10 ** 400)), ("1e39", "1e+39")],
                         ids=["nan", "inf", "-inf", "1e400", "10**400", "1e39"])
def test_a_label_that_is_not_a_finite_float32_is_refused(store, text, bad):
    raw = '{"labels": [["0.png", [0.5, 1.0]], ["1.png", [0.25, %s]]]}' % text
    path = store(labelled(None, None, raw=raw))
    with pytest.raises(ValueError) as e:
        open_dataset(path, use_labels=True)
    assert str(e.value) == f"{path}: the label of 1.png in dataset.json holds {bad}, not a finite float32 number"


@pytest.mark.parametrize("labels, message", [
    ((0, 10 ** 9), f"the label of 1.png in dataset.json is class 1000000000: at most {MAX_LABEL_DIM} label "
                   "dimensions (MAX_LABEL_DIM) are supported"),
    ((0, 10 ** 30), "the label of 1.png in dataset.json is class 1000000000000000000000000000000: at most"),
    (([0.0] * (MAX_LABEL_DIM + 1),) * 2,
     f"the label of 0.png in dataset.json has {MAX_LABEL_DIM + 1} numbers: at most"),
    ((-1, -2), "labels in dataset.json must be all non-negative int classes or all lists of numbers of one length "
               "(e.g. 0.png has -1)"),
    ((3, -1), "(e.g. 1.png has -1)"),
])
def test_too_many_classes_and_negative_classes_are_refused(store, labels, message):
    path = store(labelled(*labels))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as e:
            open_dataset(path, use_labels=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(e.value).startswith(f"{path}: ") and message in str(e.value) and "\n" not in str(e.value)
    assert peak < 50 * 2 ** 20  # nothing allocated from the number in the file


def test_the_largest_class_is_one_hot_without_a_matrix_of_classes(store):
    path = store(labelled(MAX_LABEL_DIM - 1, 2))
    tracemalloc.start()
    try:
        ds = open_dataset(path, use_labels=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ds.label_dim == MAX_LABEL_DIM and peak < 50 * 2 ** 20  # np.eye(MAX_LABEL_DIM) would be 40 GB
    assert np.flatnonzero(ds.label(0)).tolist() == [MAX_LABEL_DIM - 1] and ds[1][1].sum() == 1 and ds[1][1][2] == 1


def _cut_short(data: bytes) -> bytes:
    return data[:len(data) * 2 // 3]


def test_a_half_written_png_is_left_out_when_opened(store):
    files = {"a.png": _png(0, 32), "b.png": _cut_short(_png(1, 32)), "c.png": _png(2, 32)}
    path = store(files)
    with pytest.warns(UserWarning, match="skipped 1 unreadable image.*b.png"):
        ds = open_dataset(path)
    assert len(ds) == 2 and ds.skipped == [("b.png", "EOFError: the PNG ends before its IEND chunk (cut short)")]
    assert ds[1][0][:, 0, 0].tolist() == [80, 175, 14]  # item 1 is c.png (_png(2)), not b.png's slot
    with pytest.raises(ValueError) as e:
        open_dataset(path, on_corrupt="error")
    assert str(e.value) == f"{path}: cannot read image b.png (EOFError: the PNG ends before its IEND chunk (cut " \
                           "short)); --on-corrupt skip leaves unreadable images out"
