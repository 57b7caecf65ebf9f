"""stylegan.tools.edit (stylegan edit): GANSpace, SeFa and supervised directions, the shapes labeller, render and
apply, bad input."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import tiny_generator
from stylegan import save_network
from stylegan.data.shapes import SHAPES, ShapesDataset
from stylegan.images import to_uint8
from stylegan.latents import sample_ws, z_from_seed
from stylegan.tools import edit


def assert_orthonormal(directions, atol=1e-5):
    torch.testing.assert_close(directions @ directions.t(), torch.eye(len(directions)), atol=atol, rtol=0)


@pytest.fixture(scope="module")
def sefa_file(tiny_network_file, tmp_path_factory):
    path = tmp_path_factory.mktemp("dirs") / "sefa.npz"
    assert edit.main(["sefa", "--network", tiny_network_file, "--layers", "0-3", "--components", "4", "--out",
                      path]) == 0
    return path


@pytest.fixture(scope="module")
def ganspace_file(tiny_network_file, tmp_path_factory):
    path = tmp_path_factory.mktemp("dirs") / "ganspace.npz"
    assert edit.main(["ganspace", "--network", tiny_network_file, "--samples", "500", "--components", "3", "--out",
                      path]) == 0
    return path


# ---------------------------------------------------------------------------------------------------- directions


def test_ganspace_directions_are_principal_axes():
    G = tiny_generator()
    directions, stddev, mean = edit.ganspace_directions(G, num_samples=2000, num_components=5, seed=3)
    assert directions.shape == (5, G.w_dim) and stddev.shape == (5,) and mean.shape == (G.w_dim,)
    assert_orthonormal(directions)
    assert torch.all(stddev[:-1] >= stddev[1:]) and torch.all(stddev > 0)
    ws = sample_ws(G, 2000, seed=3)
    torch.testing.assert_close(mean, ws.mean(0), atol=1e-5, rtol=0)
    torch.testing.assert_close(((ws - mean) @ directions.t()).std(0), stddev, atol=1e-4, rtol=1e-4)
    # No direction has more variance than the first, none orthogonal to the first more than the second.
    others = torch.nn.functional.normalize(torch.randn(200, G.w_dim), dim=1)
    assert ((ws - mean) @ others.t()).std(0).max() <= stddev[0] + 1e-4
    others = torch.nn.functional.normalize(others - (others @ directions[0])[:, None] * directions[0], dim=1)
    assert ((ws - mean) @ others.t()).std(0).max() <= stddev[1] + 1e-4


def test_ganspace_conditional_network():
    G = tiny_generator(c_dim=3)
    directions, _, _ = edit.ganspace_directions(G, num_samples=300, num_components=2, class_idx=1)
    assert_orthonormal(directions)
    with pytest.raises(ValueError, match="--class"):
        edit.ganspace_directions(G, num_samples=300, num_components=2, class_idx=3)


def hand_built_sefa(affines, k):
    """Top-k eigenvectors and eigenvalues of A^T A, A the given affines' weights stacked, rows at unit norm."""
    a = torch.cat([m.weight.double() * m.weight_gain for m in affines])
    a = a / a.norm(dim=1, keepdim=True)
    values, vectors = torch.linalg.eigh(a.t() @ a)
    return vectors[:, -k:].flip(1).t(), values[-k:].flip(0)


@pytest.mark.parametrize("variant, layers, names", [
    ("stylegan2", [0, 1], ["b4.conv1", "b4.torgb", "b8.conv0"]),
    ("stylegan2", [5], ["b16.torgb"]),
    ("stylegan2", None, ["b4.conv1", "b4.torgb", "b8.conv0", "b8.conv1", "b8.torgb", "b16.conv0", "b16.conv1",
                         "b16.torgb"]),
    ("stylegan", [2, 3], ["b8_conv0", "b8_conv1"]),
])
def test_sefa_directions_are_top_eigenvectors(variant, layers, names):
    G = tiny_generator(variant)
    directions, eigenvalues = edit.sefa_directions(G, layers, num_components=4)
    assert_orthonormal(directions)
    assert torch.all(eigenvalues[:-1] >= eigenvalues[1:])
    expected, expected_values = hand_built_sefa([G.synthesis.get_submodule(n).affine for n in names], 4)
    torch.testing.assert_close(eigenvalues.double(), expected_values, atol=1e-4, rtol=1e-5)
    # Eigenvectors are defined up to sign.
    torch.testing.assert_close((directions.double() * expected).sum(1).abs(), torch.ones(4, dtype=torch.float64),
                               atol=1e-5, rtol=0)


@pytest.mark.parametrize("variant", ["stylegan2", "stylegan"])
def test_style_affines_cover_every_affine_once(variant):
    G = tiny_generator(variant)
    found = [id(m) for layer in edit.style_affines(G) for m in layer]
    expected = [id(m) for name, m in G.synthesis.named_modules() if name.endswith("affine")]
    assert sorted(found) == sorted(expected)
    assert all(edit.style_affines(G))  # every w index feeds some affine


def test_sefa_bad_layers():
    G = tiny_generator()
    with pytest.raises(ValueError, match="--layers: \\[6\\] out of range"):
        edit.sefa_directions(G, [0, 6])
    with pytest.raises(ValueError, match="--components"):
        edit.sefa_directions(G, [0], num_components=17)


def test_supervised_recovers_planted_directions():
    generator = torch.Generator().manual_seed(0)
    ws = torch.randn(3000, 16, generator=generator) * torch.linspace(0.5, 2, 16) + 1.0  # anisotropic, off-centre
    planted = torch.nn.functional.normalize(torch.randn(2, 16, generator=generator), dim=1)
    scores = (ws - 1.0) @ planted.t() + 0.2 * torch.randn(3000, 2, generator=generator)
    # Integer classes: one direction per class, pointing to it.
    classes = (scores[:, 0] > 0).long() * 3  # classes 0 and 3
    directions, accuracy = edit.fit_linear_directions(ws, classes)
    assert directions.shape == (2, 16) and torch.all(accuracy > 0.9)
    torch.testing.assert_close(directions.norm(dim=1), torch.ones(2))
    assert directions[1] @ planted[0] > 0.98 and directions[0] @ planted[0] < -0.98
    # Attributes [N, K]: one direction per attribute.
    directions, accuracy = edit.fit_linear_directions(ws, (scores > 0).float())
    assert torch.all((directions * planted).sum(1) > 0.98) and torch.all(accuracy > 0.9)


def test_supervised_bad_labels():
    ws = torch.randn(50, 16)
    with pytest.raises(ValueError, match="at least 2 classes"):
        edit.fit_linear_directions(ws, torch.zeros(50, dtype=torch.long))
    with pytest.raises(ValueError, match="single value"):
        edit.fit_linear_directions(ws, torch.stack([torch.arange(50) % 2, torch.ones(50, dtype=torch.long)], 1))
    with pytest.raises(ValueError, match="0 or 1"):
        edit.fit_linear_directions(ws, torch.full([50, 2], 2.0))
    with pytest.raises(ValueError, match="labels must be"):
        edit.fit_linear_directions(ws, torch.zeros(49, dtype=torch.long))


def test_directions_file_round_trip(tmp_path):
    directions = torch.nn.functional.normalize(torch.randn(3, 16), dim=1)
    edit.save_directions(tmp_path / "d.npz", directions, "sefa", "net.pkl", layers=np.array([1, 2]), stddev=None)
    data = edit.load_directions(tmp_path / "d.npz", w_dim=16)
    torch.testing.assert_close(data["directions"], directions)
    assert data["method"] == "sefa" and data["network"] == "net.pkl" and data["layers"] == [1, 2]
    assert data["stddev"] is None
    with pytest.raises(ValueError, match="--directions: directions of dimension 16, but the network's w_dim is 8"):
        edit.load_directions(tmp_path / "d.npz", w_dim=8)
    np.savez(tmp_path / "raw.npz", directions=np.ones([2, 16], np.float32))
    with pytest.raises(ValueError, match="--directions: the directions must be unit vectors"):
        edit.load_directions(tmp_path / "raw.npz")


# ------------------------------------------------------------------------------------------------ shapes labeller


def circular_error(a, b, period):
    d = np.abs(a - b) % period
    return np.minimum(d, period - d)


@pytest.mark.parametrize("resolution", [16, 32])
def test_shapes_labeller_recovers_dataset_factors(resolution):
    dataset = ShapesDataset(resolution=resolution, seed=7, mirror=True)
    count = 60
    images = np.stack([dataset[i][0] for i in range(count)])
    truth = {k: np.array([dataset.factors(i)[k] for i in range(count)]) for k in ShapesDataset.FACTORS}
    got = edit.label_shapes_images(images)
    assert np.mean(got["shape"] == truth["shape"]) >= 0.95
    assert np.mean(got["texture"] == truth["texture"]) >= 0.95
    assert np.median(got["fit_error"]) < 0.02
    position = 0.005 if resolution == 32 else 0.01
    for k in ("x", "y"):
        assert np.median(np.abs(got[k] - truth[k])) < position and np.max(np.abs(got[k] - truth[k])) < 4 * position
    same = got["shape"] == truth["shape"]
    assert np.median(np.abs(got["radius"][same] / truth["radius"][same] - 1)) < 0.02
    assert np.max(circular_error(got["hue"], truth["hue"], 1)) < 0.01
    assert np.max(circular_error(got["background_hue"], truth["background_hue"], 1)) < 0.02
    assert np.max(np.abs(got["background_value"] - truth["background_value"])) < 0.01
    symmetry = np.array([{"circle": 0, "triangle": 3, "square": 4, "star": 5, "cross": 4}[SHAPES[s]]
                         for s in truth["shape"]])
    rotated = same & (symmetry > 0)
    errors = circular_error(got["rotation"][rotated], truth["rotation"][rotated], 360 / symmetry[rotated])
    assert np.median(errors) < 1.5 and np.max(errors) < 5
    assert np.all(np.isnan(got["rotation"][got["shape"] == 0]))  # a circle has no rotation


def test_shapes_labeller_blank_and_bad_images():
    blank = np.full([3, 16, 16], 40, np.uint8)
    labels = edit.label_shapes_image(blank)
    assert labels["shape"] == -1 and math.isnan(labels["x"])
    with pytest.raises(ValueError, match="uint8 \\[3, R, R\\]"):
        edit.label_shapes_image(np.zeros([16, 16, 3], np.uint8))


def test_label_shapes_and_supervised_commands(tiny_network_file, tmp_path, capsys):
    latents = tmp_path / "latents.npz"
    assert edit.main(["label-shapes", "--network", tiny_network_file, "--samples", "40", "--batch-size", "16", "--out",
                      latents]) == 0
    with np.load(latents) as f:
        data = {k: f[k] for k in f.files}
    n = len(data["w"])
    assert data["w"].shape == (n, 16) and 0 < n <= 40
    assert data["labels"].shape == (n,) and list(data["label_names"]) == list(SHAPES)
    np.testing.assert_array_equal(data["labels"], data["shape"])
    for k in edit.LABEL_FACTORS:
        assert data[k].shape == (n,)
    # The ws are those of the sampled latents: rendering them again gives the images the labels describe.
    G = tiny_generator()
    ws = torch.from_numpy(data["w"][:4]).unsqueeze(1).repeat(1, G.num_ws, 1)
    images = to_uint8(G.synthesis(ws, noise_mode="const")).transpose(0, 3, 1, 2)
    again = edit.label_shapes_images(images)
    np.testing.assert_array_equal(again["shape"], data["shape"][:4])
    capsys.readouterr()

    # A direction per class present (the tiny random network draws several shapes), named after it.
    present = np.unique(data["labels"])
    assert len(present) >= 2
    out = tmp_path / "supervised.npz"
    assert edit.main(["supervised", "--network", tiny_network_file, "--latents", latents, "--out", out]) == 0
    directions = edit.load_directions(out, w_dim=16)
    assert directions["method"] == "supervised" and len(directions["directions"]) == len(present)
    assert list(directions["names"]) == [SHAPES[c] for c in present]
    assert directions["stddev"].shape == (len(present),) and "training accuracy" in capsys.readouterr().out
    # Any integer array of the file serves as labels.
    assert edit.main(["supervised", "--network", tiny_network_file, "--latents", latents, "--labels", "texture",
                      "--out", out]) == 0
    assert list(edit.load_directions(out)["names"]) == ["texture=0", "texture=1"]
    assert edit.main(["supervised", "--network", tiny_network_file, "--latents", latents, "--labels", "x", "--out",
                      out]) == 2
    assert "--labels: 'x' [N] must hold integer classes" in capsys.readouterr().err


# -------------------------------------------------------------------------------------------------- render, apply


def test_apply_direction_touches_only_chosen_layers():
    ws = torch.randn(3, 6, 16)
    direction = torch.nn.functional.normalize(torch.randn(16), dim=0)
    assert torch.equal(edit.apply_direction(ws, direction, 0.0, [0, 1]), ws)
    edited = edit.apply_direction(ws, direction, 2.5, [1, 4])
    untouched = [0, 2, 3, 5]
    assert torch.equal(edited[:, untouched], ws[:, untouched])
    torch.testing.assert_close(edited[:, [1, 4]] - ws[:, [1, 4]], (2.5 * direction).expand(3, 2, 16))
    torch.testing.assert_close(edit.apply_direction(ws, direction, 1.0) - ws, direction.expand(3, 6, 16))


def test_render_strips_api():
    G = tiny_generator()
    ws = G.mapping(torch.randn(2, 16), None)
    directions = torch.eye(16)[:3]
    images = edit.render_strips(G, ws, directions, [-1.0, 0.0, 1.0], layers=[0, 1], scales=torch.tensor([1., 2, 3]))
    assert images.shape == (2, 3, 3, 3, 16, 16)
    plain = G.synthesis(ws, noise_mode="const")
    for k in range(3):
        torch.testing.assert_close(images[:, k, 1], plain)
    moved = G.synthesis(edit.apply_direction(ws, directions[2], -3.0, [0, 1]), noise_mode="const")
    torch.testing.assert_close(images[:, 2, 0], moved)


def test_render_command(tiny_network_file, ganspace_file, tmp_path):
    outdir = tmp_path / "new" / "strips"
    assert edit.main(["render", "--network", tiny_network_file, "--directions", ganspace_file, "--seeds", "0,1",
                      "--components", "0-1", "--layers", "0-3", "--strengths", "-3,3", "--steps", "5", "--outdir",
                      outdir]) == 0
    files = sorted(p.name for p in outdir.iterdir())
    assert files == ["seed0000-dir00.png", "seed0000-dir01.png", "seed0001-dir00.png", "seed0001-dir01.png"]
    G = tiny_generator()
    plain = to_uint8(G.synthesis(G.mapping(z_from_seed(G, 1), None), noise_mode="const"))[0]
    for name in files:
        strip = np.asarray(Image.open(outdir / name))
        assert strip.shape == (16, 5 * 16, 3)
    strip = np.asarray(Image.open(outdir / "seed0001-dir01.png"))
    np.testing.assert_array_equal(strip[:, 32:48], plain)  # the middle column: strength 0
    assert not np.array_equal(strip[:, :16], plain)


def test_apply_command(tiny_network_file, ganspace_file, sefa_file, tmp_path):
    G = tiny_generator()
    ws = torch.cat([G.mapping(z_from_seed(G, s), None) for s in (5, 6)])
    data = edit.load_directions(ganspace_file)

    assert edit.main(["apply", "--network", tiny_network_file, "--directions", ganspace_file, "--component", "1",
                      "--strength", "0", "--seeds", "5-6", "--outdir", tmp_path / "zero"]) == 0
    with np.load(tmp_path / "zero" / "edited_w.npz") as f:
        np.testing.assert_array_equal(f["w"], ws.numpy())
    assert sorted(p.name for p in (tmp_path / "zero").iterdir()) == ["edited_w.npz", "seed0005.png", "seed0006.png"]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "zero" / "seed0005.png")),
                          to_uint8(G.synthesis(ws[:1], noise_mode="const"))[0])

    # Strengths count in stddev units when the file has them (ganspace does), raw units with --raw.
    for raw, scale in ((False, float(data["stddev"][1])), (True, 1.0)):
        out = tmp_path / f"raw{raw}"
        assert edit.main(["apply", "--network", tiny_network_file, "--directions", ganspace_file, "--component",
                          "1", "--strength", "-2", "--seeds", "5-6", "--layers", "2,4", "--outdir",
                          out] + (["--raw"] if raw else [])) == 0
        with np.load(out / "edited_w.npz") as f:
            w = torch.from_numpy(f["w"])
        assert w.shape == (2, G.num_ws, G.w_dim)
        torch.testing.assert_close(w, edit.apply_direction(ws, data["directions"][1], -2 * scale, [2, 4]))

    # SeFa directions default to the layers they were found for (0-3).
    assert edit.main(["apply", "--network", tiny_network_file, "--directions", sefa_file, "--component", "0",
                      "--strength", "1", "--seeds", "5", "--outdir", tmp_path / "sefa"]) == 0
    with np.load(tmp_path / "sefa" / "edited_w.npz") as f:
        w = torch.from_numpy(f["w"])
    assert torch.equal(w[:, 4:], ws[:1, 4:]) and not torch.equal(w[:, :4], ws[:1, :4])

    # Edited ws feed --ws (the projector's format too).
    assert edit.main(["apply", "--network", tiny_network_file, "--directions", sefa_file, "--component", "0",
                      "--strength", "-1", "--ws", tmp_path / "sefa" / "edited_w.npz", "--outdir",
                      tmp_path / "back"]) == 0
    with np.load(tmp_path / "back" / "edited_w.npz") as f:
        torch.testing.assert_close(torch.from_numpy(f["w"]), ws[:1])
    assert (tmp_path / "back" / "proj00.png").is_file()


def test_sefa_on_stylegan_v1_network(tmp_path):
    path = tmp_path / "v1.safetensors"
    save_network(tiny_generator("stylegan"), path)
    assert edit.main(["sefa", "--network", path, "--layers", "0-1", "--components", "3", "--out",
                      tmp_path / "d.npz"]) == 0
    data = edit.load_directions(tmp_path / "d.npz", w_dim=16)
    assert_orthonormal(data["directions"])
    assert edit.main(["render", "--network", path, "--directions", tmp_path / "d.npz", "--seeds", "0", "--steps", "3",
                      "--strengths", "2", "--outdir", tmp_path / "r"]) == 0
    assert len(list((tmp_path / "r").iterdir())) == 3


# --------------------------------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize("args, message", [
    (["sefa", "--network", "{tmp}/absent.safetensors", "--out", "{tmp}/d.npz"], "--network: no such file"),
    (["sefa", "--network", "{net}", "--layers", "0-9", "--out", "{tmp}/d.npz"], "--layers: [6, 7, 8, 9] out of range"),
    (["sefa", "--network", "{net}", "--layers", "3-1", "--out", "{tmp}/d.npz"], "--layers: the range '3-1' runs"),
    (["sefa", "--network", "{net}", "--out", "{tmp}/d.txt"], "--out: must end in .npz"),
    (["sefa", "--network", "{net}", "--out", "{tmp}/absent/d.npz"], "--out: no such directory"),
    (["ganspace", "--network", "{net}", "--components", "0", "--out", "{tmp}/d.npz"], "--components: must be in"),
    (["ganspace", "--network", "{net}", "--samples", "3", "--out", "{tmp}/d.npz"], "--samples: need more"),
    (["ganspace", "--network", "{net}", "--class", "0", "--out", "{tmp}/d.npz"], "--class: this network is uncond"),
    (["supervised", "--network", "{net}", "--latents", "{tmp}/absent.npz", "--out", "{tmp}/d.npz"],
     "--latents: no such file"),
    (["render", "--network", "{net}", "--directions", "{dirs}", "--seeds", "0", "--layers", "0-6", "--outdir",
      "{tmp}/o"], "--layers: [6] out of range"),
    (["render", "--network", "{net}", "--directions", "{dirs}", "--seeds", "0", "--strengths", "3,3", "--outdir",
      "{tmp}/o"], "--strengths: expected"),
    (["render", "--network", "{net}", "--directions", "{dirs}", "--seeds", "0", "--strengths", "-1,x", "--outdir",
      "{tmp}/o"], "--strengths: expected"),
    (["render", "--network", "{net}", "--directions", "{dirs}", "--seeds", "0", "--strengths", "1,inf",
      "--outdir", "{tmp}/o"], "--strengths: expected"),
    (["render", "--network", "{net}", "--directions", "{dirs}", "--seeds", "0", "--steps", "1", "--outdir",
      "{tmp}/o"], "--steps: must be at least 2"),
    (["render", "--network", "{net}", "--directions", "{dirs}", "--seeds", "0", "--components", "0-5", "--outdir",
      "{tmp}/o"], "--components: [3, 4, 5] out of range"),
    (["render", "--network", "{net}", "--directions", "{tmp}/absent.npz", "--seeds", "0", "--outdir", "{tmp}/o"],
     "--directions: no such file"),
    (["render", "--network", "{net}", "--directions", "{dirs}", "--seeds", "-1", "--outdir", "{tmp}/o"],
     "--seeds: seeds must be in"),
    (["apply", "--network", "{net}", "--directions", "{dirs}", "--component", "3", "--strength", "1", "--seeds", "0",
      "--outdir", "{tmp}/o"], "--component: [3] out of range"),
    (["apply", "--network", "{net}", "--directions", "{dirs}", "--component", "0", "--strength", "nan", "--seeds",
      "0", "--outdir", "{tmp}/o"], "--strength: must be a finite number"),
    (["apply", "--network", "{net}", "--directions", "{dirs}", "--component", "0", "--strength", "1", "--ws",
      "{tmp}/bad_w.npz", "--outdir", "{tmp}/o"], "--ws: 'w' in {tmp}/bad_w.npz has shape [1, 5, 16]; this network "
     "takes [N, 6, 16] or [N, 16]"),
])
def test_bad_arguments(args, message, tiny_network_file, ganspace_file, tmp_path, capsys):
    np.savez(tmp_path / "bad_w.npz", w=np.zeros([1, 5, 16], np.float32))
    fill = dict(tmp=tmp_path, net=tiny_network_file, dirs=ganspace_file)
    assert edit.main([a.format(**fill) for a in args]) == 2
    err = capsys.readouterr().err
    assert "python -m stylegan.edit: error: " + message.format(**fill) in err
    assert not (tmp_path / "o").exists() and not (tmp_path / "d.npz").exists()


def test_seeds_or_ws_required(tiny_network_file, ganspace_file, tmp_path, capsys):
    assert edit.main(["apply", "--network", tiny_network_file, "--directions", ganspace_file, "--component", "0",
                      "--strength", "1", "--outdir", tmp_path]) == 2
    assert "--seeds" in capsys.readouterr().err
