"""stylegan.data: folder and zip datasets (dataset_tool layout, labels, crops, modes, corrupt files), the built-in
shapes, export_zip and DataLoader workers."""

import io
import json
import pickle
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from stylegan.data import SHAPES, ImageDataset, ShapesDataset, export_zip, open_dataset, render


def _colour(i: int) -> tuple:
    """A distinct RGB colour per image index, so that an item tells which file it came from."""
    return (10 * i, 255 - 10 * i, (37 * i) % 256)


def _png(image: Image.Image, format="PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return buffer.getvalue()


def _solid(i: int, size=(8, 8)) -> bytes:
    return _png(Image.new("RGB", size, _colour(i)))


def _write_folder(root, files: dict):
    """files: {relative name: bytes or a JSON-able object (written as JSON)}."""
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
    return root


def _write_zip(path, files: dict):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data if isinstance(data, bytes) else json.dumps(data))
    return path


def _dataset_tool_files(labels: list) -> dict:
    """dataset_tool.py's layout: 00000/img00000000.png ... with dataset.json."""
    names = [f"{i // 1000:05d}/img{i:08d}.png" for i in range(len(labels))]
    files = {name: _solid(i) for i, name in enumerate(names)}
    files["dataset.json"] = {"labels": [[name, label] for name, label in zip(names, labels)]}
    return files


@pytest.fixture(params=["folder", "zip"])
def store(request, tmp_path):
    """Writes {name: data} as a folder or a zip and returns its path."""
    def write(files: dict, name="data"):
        if request.param == "folder":
            return _write_folder(tmp_path / name, files)
        return _write_zip(tmp_path / f"{name}.zip", files)
    return write


def test_sorted_recursive_with_int_labels(store):
    files = {"b/2.png": _solid(2), "a.png": _solid(0), "b/1.jpg": _png(Image.new("RGB", (8, 8), _colour(1)), "JPEG"),
             "notes.txt": b"not an image", ".hidden.png": b"junk",
             "dataset.json": {"labels": [["a.png", 3], ["b/1.jpg", 0], ["b/2.png", 1]]}}
    ds = open_dataset(store(files), use_labels=True)
    assert (len(ds), ds.resolution, ds.num_channels, ds.label_dim, ds.has_labels) == (3, 8, 3, 4, True)
    assert ds.name == "data-8" and ds.skipped == []
    for idx, (colour, cls) in enumerate([(0, 3), (1, 0), (2, 1)]):
        image, label = ds[idx]
        assert image.dtype == np.uint8 and image.shape == (3, 8, 8) and image.flags.c_contiguous
        tolerance = 2 if idx == 1 else 0  # JPEG
        assert np.abs(image.reshape(3, -1).T.astype(int) - _colour(colour)).max() <= tolerance
        assert label.dtype == np.float32 and label.tolist() == np.eye(4)[cls].tolist()
        assert ds.label(idx).tolist() == label.tolist()


def test_dataset_tool_layout_and_vector_labels(store):
    ds = open_dataset(store(_dataset_tool_files([6, 2, 0]), name="tool"), use_labels=True)
    assert ds.name == "tool-8" and ds.label_dim == 7
    assert [int(ds.label(i).argmax()) for i in range(3)] == [6, 2, 0]
    vectors = [[0.5, -1.0], [2.0, 3.25], [0.0, 1.0]]
    ds = open_dataset(store(_dataset_tool_files(vectors), name="vec"), use_labels=True)
    assert ds.label_dim == 2 and np.stack([ds[i][1] for i in range(3)]).tolist() == vectors
    assert open_dataset(store(_dataset_tool_files(vectors), name="vec2")).label_dim == 0


_UNLABELLED = {"a.png": _solid(0), "b.png": _solid(1)}


@pytest.mark.parametrize("meta, match", [
    (None, "no labels"),
    ({"labels": None}, "no labels"),
    ({"labels": [["a.png", 1]]}, "1 image.*no label.*b.png"),
    ({"labels": [["a.png", 1], ["b.png", [1.0]]]}, r"b.png has \[1.0\]"),
    ({"labels": [["a.png", -1], ["b.png", 1]]}, "a.png has -1"),
    ({"labels": [["a.png", [1.0]], ["b.png", [1.0, 2.0]]]}, "of one length.*b.png"),
    ({"labels": {"a.png": 1}}, "list of .file name, label. pairs"),
    ({"images": []}, '"labels" entry'),
    (b"{not json", "dataset.json is not valid JSON"),
])
def test_labels_missing_or_malformed(store, meta, match):
    path = store(_UNLABELLED if meta is None else {**_UNLABELLED, "dataset.json": meta})
    with pytest.raises(ValueError, match=match):
        open_dataset(path, use_labels=True)


def test_null_labels_without_use_labels(store):
    ds = open_dataset(store({**_UNLABELLED, "dataset.json": {"labels": None}}))
    assert not ds.has_labels and ds.label_dim == 0 and ds[0][1].shape == (0,) and ds.label(1).dtype == np.float32


def test_mirror(store):
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(3)]
    ds = open_dataset(store({f"{i}.png": _png(Image.fromarray(a)) for i, a in enumerate(arrays)}), mirror=True)
    assert len(ds) == 6 and ds.mirror
    for i, array in enumerate(arrays):
        assert np.array_equal(ds[i][0], array.transpose(2, 0, 1))
        flipped = ds[i + 3][0]
        assert flipped.flags.c_contiguous and np.array_equal(flipped, np.flip(ds[i][0], axis=2))
    assert np.array_equal(ds[-1][0], ds[5][0])
    with pytest.raises(IndexError, match="6"):
        ds[6]


def test_crop_and_resize(tmp_path):
    odd = Image.new("RGB", (37, 21), (200, 40, 90))
    bands = np.zeros((10, 30, 3), np.uint8)
    bands[:, :10], bands[:, 10:20], bands[:, 20:] = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    root = _write_folder(tmp_path / "d", {"odd.png": _png(odd), "bands.png": _png(Image.fromarray(bands))})
    with pytest.raises(ValueError, match="--resolution"):
        open_dataset(root)
    for resolution in (4, 16, 64):
        ds = open_dataset(root, resolution=resolution)
        assert ds.resolution == resolution and ds.name == f"d-{resolution}"
        centre, constant = ds[0][0], ds[1][0]  # sorted: bands.png, odd.png
        assert centre.shape == constant.shape == (3, resolution, resolution)
        assert np.all(constant.reshape(3, -1).T == (200, 40, 90))
        assert np.all(centre.reshape(3, -1).T == (0, 255, 0))  # the centred square is all green


@pytest.mark.parametrize("resolution", [0, 3, 24, 2.0, True])
def test_bad_resolution_argument(tmp_path, resolution):
    root = _write_folder(tmp_path / "d", {"a.png": _solid(0), "b.png": _solid(1)})
    with pytest.raises(ValueError, match="resolution"):
        open_dataset(root, resolution=resolution)
    with pytest.raises(ValueError, match="resolution"):
        open_dataset(None, resolution=resolution)


def test_native_size_must_be_a_square_power_of_two(tmp_path):
    root = _write_folder(tmp_path / "d", {"a.png": _solid(0, (12, 12)), "b.png": _solid(1, (12, 12))})
    with pytest.raises(ValueError, match=r"12x12.*--resolution"):
        open_dataset(root)
    assert open_dataset(root, resolution=8)[0][0].shape == (3, 8, 8)


def test_grayscale_and_modes(store):
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    sixteen = Image.fromarray((gray.astype(np.uint16) * 257))
    with_alpha = Image.fromarray(gray).convert("LA")
    files = {"a.png": _png(Image.fromarray(gray)), "b.png": _png(sixteen), "c.png": _png(with_alpha)}
    with pytest.warns(UserWarning, match="1 image.*transparency"):
        ds = open_dataset(store(files))
    assert ds.num_channels == 1
    for i in range(3):
        assert ds[i][0].shape == (1, 8, 8) and np.array_equal(ds[i][0][0], gray)
    palette = Image.new("RGB", (8, 8), (12, 200, 99)).quantize(4)
    rgba = Image.new("RGBA", (8, 8), (30, 60, 90, 0))
    with pytest.warns(UserWarning, match="transparency"):
        ds = open_dataset(store({"p.png": _png(palette), "q.png": _png(rgba)}, name="colour"))
    assert ds.num_channels == 3
    assert np.all(ds[0][0].reshape(3, -1).T == (12, 200, 99)) and np.all(ds[1][0].reshape(3, -1).T == (30, 60, 90))


def test_mixed_channels(store):
    gray = _png(Image.new("L", (8, 8), 7))
    files = {"g1.png": gray, "g2.png": gray, "c.png": _solid(0)}
    with pytest.raises(ValueError, match=r"2 with 1 channel.*g1\.png.*1 with 3 channel.*c\.png"):
        open_dataset(store(files))


def test_too_small_and_max_size(store):
    with pytest.raises(ValueError, match="at least 2"):
        open_dataset(store({"a.png": _solid(0)}, name="one"))
    path = store({f"{i}.png": _solid(i) for i in range(5)})
    ds = open_dataset(path, max_size=2)
    assert len(ds) == 2 and np.all(ds[1][0].reshape(3, -1).T == _colour(1))
    for bad in (1, 0, 2.5):
        with pytest.raises(ValueError, match="max_size"):
            open_dataset(path, max_size=bad)
    with pytest.raises(ValueError, match="no PNG or JPEG"):
        open_dataset(store({"a.txt": b"text"}, name="empty"))


def test_missing_and_wrong_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        open_dataset(tmp_path / "nowhere")
    (tmp_path / "file.png").write_bytes(_solid(0))
    with pytest.raises(ValueError, match="neither a directory nor a .zip"):
        open_dataset(tmp_path / "file.png")
    (tmp_path / "bad.zip").write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="bad.zip is not a valid zip"):
        open_dataset(tmp_path / "bad.zip")
    with pytest.raises(ValueError, match="on_corrupt"):
        open_dataset(None, on_corrupt="ignore")


def test_corrupt_header(store):
    files = {"a.png": _solid(0), "b.png": b"\x89garbage bytes, no image", "c.png": _solid(2)}
    path = store(files)
    with pytest.warns(UserWarning, match="skipped 1 unreadable.*b.png"):
        ds = open_dataset(path)
    assert len(ds) == 2 and [name for name, _ in ds.skipped] == ["b.png"]
    assert np.all(ds[1][0].reshape(3, -1).T == _colour(2))
    with pytest.raises(ValueError, match="b.png"):
        open_dataset(path, on_corrupt="error")


def _damaged_png() -> bytes:
    """A PNG whose image data lacks its second half: its header and its IEND chunk read fine, decoding fails."""
    noise = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    data = _png(Image.fromarray(noise))
    return data[:len(data) // 2] + data[-12:]


def test_damaged_image_fails_at_decode(store, recwarn):
    files = {"a.png": _solid(0, (32, 32)), "b.png": _damaged_png(), "c.png": _solid(2, (32, 32))}
    path = store(files)
    ds = open_dataset(path, use_labels=False)
    assert len(ds) == 3 and ds.skipped == [] and len(recwarn) == 0
    with pytest.warns(UserWarning, match="b.png"):
        image, _ = ds[1]
    assert np.array_equal(image, ds[2][0]) and [name for name, _ in ds.skipped] == ["b.png"]
    recwarn.clear()
    assert np.array_equal(ds[1][0], ds[2][0]) and len(recwarn) == 0 and len(ds.skipped) == 1  # warned once
    with pytest.raises(ValueError, match="b.png"):
        open_dataset(path, on_corrupt="error")[1]


def test_damaged_substitute_wraps_and_keeps_its_label(store):
    labels = {"dataset.json": {"labels": [["a.png", 0], ["b.png", 1]]}}
    ds = open_dataset(store({"a.png": _solid(0, (32, 32)), "b.png": _damaged_png(), **labels}), use_labels=True)
    with pytest.warns(UserWarning):
        image, label = ds[1]
    assert np.array_equal(image, ds[0][0]) and label.tolist() == [1.0, 0.0]
    assert ds.label(1).tolist() == [0.0, 1.0]  # labels come from dataset.json without decoding


def test_pickle_after_use(store):
    ds = open_dataset(store({f"{i}.png": _solid(i) for i in range(3)}))
    first = ds[0][0]
    clone = pickle.loads(pickle.dumps(ds))
    assert np.array_equal(clone[0][0], first) and len(clone) == 3


def test_dataloader_workers(tmp_path):
    path = _write_zip(tmp_path / "w.zip", _dataset_tool_files([i % 3 for i in range(12)]))
    ds = open_dataset(path, use_labels=True, mirror=True)
    ds[0]  # the parent opens the archive before the workers fork
    loader = torch.utils.data.DataLoader(ds, batch_size=5, num_workers=2)
    images, labels = map(torch.cat, zip(*loader))
    assert images.shape == (24, 3, 8, 8) and images.dtype == torch.uint8 and labels.shape == (24, 3)
    for idx in range(len(ds)):
        assert np.array_equal(images[idx].numpy(), ds[idx][0]) and np.array_equal(labels[idx].numpy(), ds[idx][1])


def test_shapes_deterministic_and_labelled():
    ds = ShapesDataset(resolution=32, size=50, seed=3, use_labels=True)
    again = ShapesDataset(resolution=32, size=50, seed=3, use_labels=True)
    other = ShapesDataset(resolution=32, size=50, seed=4)
    assert (ds.name, len(ds), ds.num_channels, ds.label_dim) == ("shapes32", 50, 3, len(SHAPES))
    assert other.label_dim == 0 and other.has_labels
    for idx in (0, 17, 49):
        image, label = ds[idx]
        assert image.shape == (3, 32, 32) and image.dtype == np.uint8 and image.flags.c_contiguous
        assert np.array_equal(image, again[idx][0]) and not np.array_equal(image, other[idx][0])
        assert label.tolist() == np.eye(len(SHAPES))[ds.factors(idx)["shape"]].tolist()
        assert np.array_equal(ds.label(idx), label)


def test_shapes_factors_vary():
    ds = ShapesDataset(size=200)
    table = ds.factor_table()
    assert list(table) == list(ShapesDataset.FACTORS) and all(len(column) == 200 for column in table.values())
    assert set(table["shape"]) == set(range(len(SHAPES))) and set(table["texture"]) == {0, 1}
    for name in ShapesDataset.FACTORS:
        assert len(np.unique(np.round(table[name], 2))) >= (2 if name == "texture" else 5), name
    assert ds.factors(7) == {name: column[7] for name, column in table.items()}


@pytest.mark.parametrize("resolution", [16, 64])
def test_shapes_mirror_factors_describe_the_flip(resolution):
    ds = ShapesDataset(resolution=resolution, size=20, mirror=True)
    assert len(ds) == 40
    for i in range(20):
        flipped = ds[i + 20][0].astype(int)
        assert np.array_equal(flipped, np.flip(ds[i][0], axis=2))
        assert np.abs(render(ds.factors(i + 20), resolution).astype(int) - flipped).max() <= 1


def test_shapes_render_area_and_colours():
    """Antialiased coverage: a plain circle covers pi r^2 of the image; the corners are the background colour."""
    factors = dict(shape=0, x=0.5, y=0.5, radius=0.3, rotation=0.0, hue=0.6, background_hue=0.1,
                   background_value=0.3, texture=0, stripe_period=0.1, stripe_angle=0.0)
    for resolution in (16, 32, 128):
        image = render(factors, resolution).astype(float)
        background, foreground = image[:, 0, 0], image[:, resolution // 2, resolution // 2]
        assert np.all(image[:, -1, -1] == background) and np.abs(foreground - background).max() > 100
        coverage = ((image - background[:, None, None]) / (foreground - background)[:, None, None]).mean()
        assert coverage == pytest.approx(np.pi * 0.3 ** 2, abs=0.3 / resolution)
    centres = (np.arange(32) + 0.5) / 32 - 0.5
    inside = np.hypot(centres[None, :], centres[:, None]) < 0.25
    plain, striped = render(factors, 32)[:, inside].astype(int), render(dict(factors, texture=1), 32)[:, inside]
    assert np.all(plain == plain[:, :1])
    assert striped.sum(axis=0).min() < plain.sum(axis=0).min() - 100 and np.any(np.all(striped == plain, axis=0))


def test_open_dataset_builtin():
    ds = open_dataset(None, resolution=16, use_labels=True, mirror=True, max_size=100)
    assert isinstance(ds, ShapesDataset) and (len(ds), ds.resolution, ds.label_dim) == (200, 16, len(SHAPES))
    assert len(open_dataset()) == ShapesDataset.DEFAULT_SIZE and open_dataset().resolution == 32
    with pytest.raises(ValueError, match="size"):
        ShapesDataset(size=1)


def test_export_zip_round_trip(tmp_path):
    shapes = ShapesDataset(resolution=16, size=12, use_labels=True)
    export_zip(shapes, tmp_path / "shapes.zip")
    with zipfile.ZipFile(tmp_path / "shapes.zip") as archive:
        assert "00000/img00000011.png" in archive.namelist()
        labels = json.loads(archive.read("dataset.json"))["labels"]
    assert labels[3] == ["00000/img00000003.png", shapes.factors(3)["shape"]]
    back = open_dataset(tmp_path / "shapes.zip", use_labels=True)
    assert isinstance(back, ImageDataset) and len(back) == 12 and back.label_dim == shapes.label_dim
    for idx in range(12):
        assert np.array_equal(back[idx][0], shapes[idx][0]) and np.array_equal(back[idx][1], shapes[idx][1])


def test_export_zip_grayscale_vectors_and_unlabelled(tmp_path):
    vectors = [[0.25, 1.0], [3.0, -2.0]]
    gray = {f"{i}.png": _png(Image.new("L", (4, 4), 50 * i)) for i in range(2)}
    source = open_dataset(_write_folder(tmp_path / "g", {**gray, "dataset.json": {"labels": [
        ["0.png", vectors[0]], ["1.png", vectors[1]]]}}), use_labels=True)
    export_zip(source, tmp_path / "g.zip")
    back = open_dataset(tmp_path / "g.zip", use_labels=True)
    assert back.num_channels == 1 and [back.label(i).tolist() for i in range(2)] == vectors
    assert np.array_equal(back[1][0], source[1][0])
    export_zip(open_dataset(tmp_path / "g"), tmp_path / "plain.zip")
    assert not open_dataset(tmp_path / "plain.zip").has_labels
