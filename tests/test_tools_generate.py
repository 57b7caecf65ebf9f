"""stylegan.tools.generate (stylegan generate, python -m stylegan.generate) and its Python API, on tiny networks."""

import numpy as np
import pytest
import torch
from conftest import tiny_generator
from helpers import read_png as png
from helpers import with_defaults

from stylegan import save_network
from stylegan.images import to_uint8
from stylegan.latents import images_from_ws, load_ws, scaled_noise, ws_from_seeds, z_from_seed
from stylegan.tools import generate


def direct(G, seeds, c=None, noise_mode="const", **kwargs):
    """G(z_from_seed(seed), c) for each seed on its own, as NVIDIA's generate.py renders them."""
    with torch.no_grad():
        return torch.cat([G(z_from_seed(G, s), c, noise_mode=noise_mode, **kwargs) for s in seeds])


@pytest.fixture
def conditional_network_file(tmp_path):
    path = tmp_path / "conditional-G.safetensors"
    save_network(tiny_generator(c_dim=3), path)
    return path


def test_writes_one_png_per_seed_and_a_grid(tiny_network_file, tmp_path):
    out = tmp_path / "not" / "yet" / "there"
    assert generate.main(["--network", tiny_network_file, "--seeds", "0-2,42", "--outdir", out, "--grid", "--device",
                          "cpu"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["grid.png", "seed0000.png", "seed0001.png", "seed0002.png",
                                                     "seed0042.png"]
    G = tiny_generator()
    expected = to_uint8(direct(G, [0, 1, 2, 42]))
    for image, seed in zip(expected, [0, 1, 2, 42]):
        np.testing.assert_array_equal(png(out / f"seed{seed:04d}.png"), image)
    grid = png(out / "grid.png")
    assert grid.shape == (128, 128, 3)  # 2 x 2 cells, each 16 px enlarged to 64
    cells = grid.reshape(2, 64, 2, 64, 3)[:, ::4, :, ::4].transpose(0, 2, 1, 3, 4).reshape(4, 16, 16, 3)
    np.testing.assert_array_equal(cells, expected)


def test_api_matches_the_generator_exactly_and_is_deterministic():
    G = tiny_generator()
    kwargs = dict(truncation_psi=0.7, truncation_cutoff=3)
    images = generate.generate_images(G, [3, 5, 3], **kwargs)
    assert images.shape == (3, 3, 16, 16)
    assert torch.equal(images, direct(G, [3, 5, 3], **kwargs))
    assert torch.equal(images, generate.generate_images(G, [3, 5, 3], **kwargs))
    assert torch.equal(images[0], images[2])
    assert not torch.equal(images[0], generate.generate_images(G, [3], noise_mode="none")[0])
    pil = generate.generate_pil_images(G, [3, 5], **kwargs)
    assert [p.size for p in pil] == [(16, 16)] * 2
    np.testing.assert_array_equal(np.asarray(pil[1]), to_uint8(images[1]))


def test_a_conditional_network_takes_the_class(conditional_network_file, tmp_path):
    assert generate.main(["--network", conditional_network_file, "--seeds", "4", "--class", "2", "--outdir",
                          tmp_path]) == 0
    G = tiny_generator(c_dim=3)
    c = torch.eye(3)[2:3]
    np.testing.assert_array_equal(png(tmp_path / "seed0004.png"), to_uint8(direct(G, [4], c))[0])
    assert torch.equal(generate.generate_images(G, [4], class_idx=2), direct(G, [4], c))


def test_truncation_psi_0_gives_the_average_image_for_every_seed(tiny_network_file, tmp_path):
    G = tiny_generator()
    average = images_from_ws(G, G.mapping.w_avg.reshape(1, 1, -1).repeat(1, G.num_ws, 1))
    assert torch.equal(generate.generate_images(G, [0, 1, 9], truncation_psi=0), average.repeat(3, 1, 1, 1))
    assert generate.main(["--network", tiny_network_file, "--seeds", "0-2", "--trunc", "0", "--outdir", tmp_path]) == 0
    for seed in range(3):
        np.testing.assert_array_equal(png(tmp_path / f"seed{seed:04d}.png"), to_uint8(average)[0])
    ws = ws_from_seeds(G, [1, 2], truncation_psi=0, truncation_cutoff=2)
    assert torch.equal(ws[:, :2], G.mapping.w_avg.expand(2, 2, -1))
    assert torch.equal(ws[:, 2:], ws_from_seeds(G, [1, 2])[:, 2:])


@pytest.mark.parametrize("broadcast", [False, True])
def test_ws_file_round_trip(tiny_network_file, tmp_path, broadcast):
    G = tiny_generator()
    ws = ws_from_seeds(G, [7, 8])
    np.savez(tmp_path / "projected_w.npz", w=(ws[:, 0] if broadcast else ws).numpy())
    out = tmp_path / "out"
    assert generate.main(["--network", tiny_network_file, "--ws", tmp_path / "projected_w.npz", "--outdir", out]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["proj00.png", "proj01.png"]
    assert generate.main(["--network", tiny_network_file, "--seeds", "7,8", "--outdir", out]) == 0
    for idx, seed in enumerate([7, 8]):
        np.testing.assert_array_equal(png(out / f"proj{idx:02d}.png"), png(out / f"seed{seed:04d}.png"))
    loaded = load_ws(tmp_path / "projected_w.npz", G)
    assert torch.equal(loaded, ws)
    assert torch.equal(images_from_ws(G, loaded), generate.generate_images(G, [7, 8]))
    pil = generate.pil_images_from_ws(G, loaded[:1])
    np.testing.assert_array_equal(np.asarray(pil[0]), png(out / "proj00.png"))


def test_ws_file_as_the_projector_writes_it_with_truncation(tiny_network_file, tmp_path):
    G = tiny_generator()
    w = ws_from_seeds(G, [3])  # the projector writes [1, num_ws, w_dim]
    np.savez(tmp_path / "projected_w.npz", w=w.numpy())
    assert generate.main(["--network", tiny_network_file, "--ws", tmp_path / "projected_w.npz", "--trunc", "0.5",
                          "--outdir", tmp_path]) == 0
    expected = generate.generate_images(G, [3], truncation_psi=0.5)
    np.testing.assert_array_equal(png(tmp_path / "proj00.png"), to_uint8(expected)[0])


def test_stylegan_v1_network(tmp_path):
    G = tiny_generator(variant="stylegan")
    save_network(G, tmp_path / "v1.safetensors")
    assert generate.main(["--network", tmp_path / "v1.safetensors", "--seeds", "5-6", "--trunc", "0.8", "--outdir",
                          tmp_path / "out", "--grid"]) == 0
    expected = to_uint8(direct(G, [5, 6], truncation_psi=0.8))
    for image, seed in zip(expected, [5, 6]):
        np.testing.assert_array_equal(png(tmp_path / "out" / f"seed{seed:04d}.png"), image)
    assert png(tmp_path / "out" / "grid.png").shape == (64, 128, 3)


def test_noise_strength_scales_every_layers_noise(tiny_network_file, tmp_path):
    G = tiny_generator()
    for strength in ("0", "2.5"):
        out = tmp_path / strength
        assert generate.main(["--network", tiny_network_file, "--seeds", "4", "--noise-strength", strength,
                              "--outdir", out]) == 0
        with torch.no_grad():
            for name, p in G.named_parameters():
                if name.endswith("noise_strength"):
                    p.mul_(float(strength))
            np.testing.assert_array_equal(png(out / "seed0004.png"), to_uint8(direct(G, [4]))[0])
        G = tiny_generator()
    assert not np.array_equal(png(tmp_path / "0" / "seed0004.png"), png(tmp_path / "2.5" / "seed0004.png"))
    before = [p.clone() for p in G.parameters()]
    with scaled_noise(G, 3.0):
        assert not all(torch.equal(a, b) for a, b in zip(before, G.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(before, G.parameters()))  # restored


def test_leaves_other_files_in_outdir_alone(tiny_network_file, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    assert generate.main(["--network", tiny_network_file, "--seeds", "1", "--outdir", tmp_path]) == 0
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("argv, name", [
    (["--seeds", "3-1"], "--seeds"),
    (["--seeds", "a"], "--seeds"),
    (["--seeds", ""], "--seeds"),
    (["--seeds", "-5"], "--seeds"),
    (["--seeds", "1", "--ws", "{npz}"], "--ws"),
    (["--ws", "{missing}"], "--ws"),
    (["--ws", "{npz_no_w}"], "--ws"),
    (["--ws", "{npz_bad_shape}"], "--ws"),
    (["--ws", "{not_npz}"], "--ws"),
    (["--ws", "{npz_nan}"], "--ws"),
    (["--ws", "{npz}", "--class", "1"], "--class"),
    (["--outdir", "{tmp}"], "--seeds"),
    (["--seeds", "1", "--noise-strength", "-1"], "--noise-strength"),
    (["--seeds", "1", "--noise-strength", "nan"], "--noise-strength"),
])
def test_bad_arguments_exit_2_naming_the_argument(tiny_network_file, tmp_path, capsys, argv, name):
    np.savez(tmp_path / "w.npz", w=np.zeros([1, 6, 16], np.float32))
    np.savez(tmp_path / "no_w.npz", x=np.zeros([1, 6, 16], np.float32))
    np.savez(tmp_path / "bad_shape.npz", w=np.zeros([1, 5, 16], np.float32))
    np.save(tmp_path / "array.npy", np.zeros([1, 6, 16], np.float32))
    np.savez(tmp_path / "nan.npz", w=np.full([1, 16], np.nan, np.float32))
    paths = dict(missing=tmp_path / "missing.npz", npz=tmp_path / "w.npz", npz_no_w=tmp_path / "no_w.npz",
                 npz_bad_shape=tmp_path / "bad_shape.npz", not_npz=tmp_path / "array.npy", npz_nan=tmp_path / "nan.npz",
                 tmp=tmp_path)
    argv = with_defaults([str(a).format(**paths) for a in argv],
                         {"--network": tiny_network_file, "--outdir": tmp_path / "out"})
    assert generate.main(argv) == 2
    assert name in capsys.readouterr().err


def test_conditional_network_needs_the_class(conditional_network_file, tmp_path, capsys):
    assert generate.main(["--network", conditional_network_file, "--seeds", "1", "--outdir", tmp_path]) == 2
    assert "--class" in capsys.readouterr().err
    assert generate.main(["--network", conditional_network_file, "--seeds", "1", "--class", "3", "--outdir",
                          tmp_path]) == 2
    assert "--class" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.png"))

