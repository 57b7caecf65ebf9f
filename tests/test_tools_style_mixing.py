"""stylegan.tools.style_mixing (stylegan style-mixing, python -m stylegan.style_mixing) and its Python API, on
tiny networks."""

import numpy as np
import pytest
import torch
from conftest import tiny_generator
from helpers import read_png as png
from helpers import with_defaults

from stylegan import save_network
from stylegan.images import to_uint8
from stylegan.latents import ws_from_seeds
from stylegan.networks import Generator
from stylegan.tools import generate, style_mixing


@pytest.mark.parametrize("resolution, expected", [
    (1024, dict(coarse=range(0, 4), middle=range(4, 8), fine=range(8, 18))),  # the paper's split
    (64, dict(coarse=range(0, 4), middle=range(4, 8), fine=range(8, 10))),
    (32, dict(coarse=range(0, 4), middle=range(4, 6), fine=range(6, 8))),
    (16, dict(coarse=range(0, 2), middle=range(2, 4), fine=range(4, 6))),
    (8, dict(coarse=range(0, 2), middle=None, fine=range(2, 4))),
    (4, dict(coarse=range(0, 2), middle=None, fine=None)),
])
@pytest.mark.parametrize("variant", ["stylegan2", "stylegan"])
def test_presets_by_resolution(resolution, expected, variant):
    G = Generator(z_dim=4, c_dim=0, w_dim=4, img_resolution=resolution, img_channels=3, variant=variant,
                  mapping_kwargs=dict(num_layers=1), synthesis_kwargs=dict(channel_base=2 * resolution, channel_max=2))
    assert G.num_ws == 2 * (int(np.log2(resolution)) - 1)
    for preset, styles in expected.items():
        if styles is None:
            with pytest.raises(ValueError, match="--preset"):
                style_mixing.preset_styles(G, preset)
        else:
            assert style_mixing.preset_styles(G, preset) == list(styles)
    assert tiny_generator().num_ws == 6  # the 16 px case is the tiny generator's


@pytest.mark.parametrize("variant", ["stylegan2", "stylegan"])
def test_mixes_take_the_styles_layers_from_the_column_source_the_rest_from_the_row_source(variant, monkeypatch):
    # NVIDIA's style_mixing.py convention: w = the row seed's ws, with w[styles] = the column seed's.
    G = tiny_generator(variant=variant)
    calls = []
    forward = G.synthesis.forward

    def recording(ws, *args, **kwargs):
        image = forward(ws, *args, **kwargs)
        calls.append((ws.clone(), image.clone()))
        return image

    monkeypatch.setattr(G.synthesis, "forward", recording)
    rows, cols, styles = [1, 2], [3, 1], [0, 1, 4]
    images = style_mixing.style_mixing_images(G, rows, cols, styles, truncation_psi=0.8)
    monkeypatch.undo()
    ws = dict(zip([1, 2, 3], ws_from_seeds(G, [1, 2, 3], truncation_psi=0.8)))
    assert set(images) == {(1, 1), (2, 2), (3, 3), (1, 3), (2, 3), (2, 1)}
    # The sources first (seeds in order of appearance), then the mixes row by row.
    assert len(calls) == 3 + 4
    for seed, (w, image) in zip([1, 2, 3], calls):
        assert torch.equal(w[0], ws[seed]) and torch.equal(image[0], images[(seed, seed)])
    others = [i for i in range(G.num_ws) if i not in styles]
    for (row, col), (w, image) in zip([(r, c) for r in rows for c in cols], calls[3:]):
        assert torch.equal(w[0, styles], ws[col][styles])
        assert torch.equal(w[0, others], ws[row][others])
        assert torch.equal(image[0], images[(row, col)])
    # Mixing changes the image, and a seed mixed with itself is its own image.
    assert not torch.equal(images[(2, 3)], images[(2, 2)]) and not torch.equal(images[(2, 3)], images[(3, 3)])
    assert torch.equal(images[(1, 1)], generate.generate_images(G, [1], truncation_psi=0.8)[0])


def test_every_style_from_the_column_gives_the_column_image():
    G = tiny_generator()
    images = style_mixing.style_mixing_images(G, [4], [5], list(range(G.num_ws)))
    assert torch.equal(images[(4, 5)], images[(5, 5)])


def test_writes_the_grid_and_the_individual_images(tiny_network_file, tmp_path):
    out = tmp_path / "new"
    assert style_mixing.main(["--network", tiny_network_file, "--rows", "1,2", "--cols", "3-5", "--styles", "0-2",
                              "--outdir", out, "--trunc", "0.9"]) == 0
    rows, cols = [1, 2], [3, 4, 5]
    names = {f"{r}-{c}.png" for r in rows for c in cols} | {f"{s}-{s}.png" for s in rows + cols} | {"grid.png"}
    assert {p.name for p in out.iterdir()} == names
    for name in names - {"grid.png"}:
        assert png(out / name).shape == (16, 16, 3)
    grid = png(out / "grid.png")
    assert grid.shape == (3 * 64, 4 * 64, 3)
    cells = grid.reshape(3, 64, 4, 64, 3)[:, ::4, :, ::4].transpose(0, 2, 1, 3, 4)  # [row, col, 16, 16, 3]
    assert (cells[0, 0] == 0).all()
    for j, col in enumerate(cols, 1):
        np.testing.assert_array_equal(cells[0, j], png(out / f"{col}-{col}.png"))
    for i, row in enumerate(rows, 1):
        np.testing.assert_array_equal(cells[i, 0], png(out / f"{row}-{row}.png"))
        for j, col in enumerate(cols, 1):
            np.testing.assert_array_equal(cells[i, j], png(out / f"{row}-{col}.png"))
    G = tiny_generator()
    expected = style_mixing.style_mixing_images(G, rows, cols, [0, 1, 2], truncation_psi=0.9)
    np.testing.assert_array_equal(png(out / "2-4.png"), to_uint8(expected[(2, 4)]))


@pytest.mark.parametrize("preset, styles", [("coarse", [0, 1]), ("middle", [2, 3]), ("fine", [4, 5]), (None, [0, 1])])
def test_presets_on_the_command_line(tiny_network_file, tmp_path, preset, styles):
    argv = ["--network", tiny_network_file, "--rows", "6", "--cols", "7", "--outdir", tmp_path]
    assert style_mixing.main(argv + (["--preset", preset] if preset else [])) == 0
    expected = style_mixing.style_mixing_images(tiny_generator(), [6], [7], styles)
    np.testing.assert_array_equal(png(tmp_path / "6-7.png"), to_uint8(expected[(6, 7)]))


def test_conditional_network(tmp_path, capsys):
    G = tiny_generator(c_dim=3)
    save_network(G, tmp_path / "conditional-G.safetensors")
    argv = ["--network", tmp_path / "conditional-G.safetensors", "--rows", "1", "--cols", "2", "--outdir", tmp_path]
    assert style_mixing.main(argv) == 2
    assert "--class" in capsys.readouterr().err
    assert style_mixing.main(argv + ["--class", "1"]) == 0
    expected = style_mixing.style_mixing_images(G, [1], [2], [0, 1], class_idx=1)
    np.testing.assert_array_equal(png(tmp_path / "1-2.png"), to_uint8(expected[(1, 2)]))


@pytest.mark.parametrize("argv, name", [
    (["--rows", "3-1"], "--rows"),
    (["--rows", "a"], "--rows"),
    (["--rows", ""], "--rows"),
    (["--cols", "1,,2"], "--cols"),
    (["--cols", "-2"], "--cols"),
    (["--styles", "0-6"], "--styles"),
    (["--styles", "x"], "--styles"),
    (["--styles", "0", "--preset", "fine"], "--preset"),
    (["--preset", "tiny"], "--preset"),
])
def test_bad_arguments_exit_2_naming_the_argument(tiny_network_file, tmp_path, capsys, argv, name):
    argv = with_defaults(argv, {"--network": tiny_network_file, "--rows": "1", "--cols": "2",
                                "--outdir": tmp_path / "out"})
    assert style_mixing.main(argv) == 2
    assert name in capsys.readouterr().err

