"""The synthesis networks' description of their ws (w_inputs) against what their forward does, and the tools, the
loss and growth working on a network type they have never seen, from that description alone."""

import pytest
import torch
from conftest import tiny_generator

from stylegan import edit, style_mixing
from stylegan.networks import FullyConnectedLayer, Generator, MappingNetwork
from stylegan.networks.w_inputs import StyleLayer, WInput, noise_buffers, num_ws_read
from stylegan.perceptual import PyramidDistance
from stylegan.project import project
from stylegan.train.growth import Growth
from stylegan.train.loss import StyleGANLoss


def affine_inputs(G, ws):
    """{id(affine): the w it read} over one forward of G.synthesis."""
    seen = {}

    def record(module, args, output):
        seen[id(module)] = args[0].clone()

    hooks = [layer.affine.register_forward_hook(record) for w in G.synthesis.w_inputs() for layer in w.layers]
    try:
        G.synthesis(ws, noise_mode="const")
    finally:
        for hook in hooks:
            hook.remove()
    return seen


@pytest.mark.parametrize("variant, architecture", [("stylegan2", "skip"), ("stylegan2", "orig"),
                                                   ("stylegan2", "resnet"), ("stylegan", None),
                                                   ("stylegan3-t", None), ("stylegan3-r", None)])
def test_each_w_drives_exactly_the_layers_it_lists(variant, architecture):
    G = tiny_generator(variant)
    if architecture is not None:
        G = Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3, variant=variant,
                      mapping_kwargs=dict(num_layers=2),
                      synthesis_kwargs=dict(channel_base=256, channel_max=32, architecture=architecture))
    inputs = G.synthesis.w_inputs()
    assert [w.index for w in inputs] == list(range(G.num_ws))
    ws = torch.arange(G.num_ws, dtype=torch.float32).reshape(1, -1, 1).expand(2, -1, G.w_dim).contiguous()
    read = affine_inputs(G, ws)
    listed = {id(layer.affine) for w in inputs for layer in w.layers}
    affines = {id(m) for m in G.synthesis.modules() if isinstance(m, FullyConnectedLayer)}
    assert listed == affines  # every affine of the network is described
    for w in inputs:
        for layer in w.layers:
            assert torch.equal(read[id(layer.affine)], ws[:, w.index]), (w.index, layer.name)
            assert G.synthesis.get_submodule(layer.name).affine is layer.affine
    # Noise: every constant-noise buffer once, in the order the network registers them.
    assert [b.data_ptr() for b in noise_buffers(inputs)] == \
        [b.data_ptr() for name, b in G.synthesis.named_buffers() if name.endswith("noise_const")]


def test_resolutions_and_growth():
    G2, G1 = tiny_generator("stylegan2", resolution=32), tiny_generator("stylegan", resolution=32)
    assert [w.resolution for w in G2.synthesis.w_inputs()] == [4, 4, 8, 8, 16, 16, 32, 32]
    assert [w.resolution for w in G1.synthesis.w_inputs()] == [4, 4, 8, 8, 16, 16, 32, 32]
    assert [num_ws_read(G1.synthesis.w_inputs(), r) for r in (4, 8, 16, 32)] == [2, 4, 6, 8]
    assert all(w.has_noise for w in G1.synthesis.w_inputs())


class ThreeLayerSynthesis(torch.nn.Module):
    """A network type the tools do not know: three ws, no blocks, no noise; each w scales a fixed image."""

    def __init__(self, w_dim=8, resolution=16):
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels, self.num_ws = w_dim, resolution, 3, 3
        self.layers = torch.nn.ModuleList()
        for i in range(3):
            layer = torch.nn.Module()
            layer.affine = FullyConnectedLayer(w_dim, 3, bias_init=1)
            self.layers.append(layer)
        self.register_buffer("pattern", torch.randn([3, 3, resolution, resolution]))

    def w_inputs(self):
        return [WInput(i, (StyleLayer(f"layers.{i}", 4 << (2 * i), self.layers[i].affine),)) for i in range(3)]

    def forward(self, ws, noise_mode="random", **growth):
        styles = [layer.affine(ws[:, i]) for i, layer in enumerate(self.layers)]
        return torch.tanh(sum(s[:, :, None, None] * p for s, p in zip(styles, self.pattern)))


class ThreeLayerGenerator(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.synthesis = ThreeLayerSynthesis()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = 8, 0, 8, 3
        self.img_resolution, self.img_channels, self.variant = 16, 3, "threelayer"
        self.mapping = MappingNetwork(8, 0, 8, 3, num_layers=2)


def test_a_new_network_type_works_with_the_tools_the_loss_and_growth():
    G = ThreeLayerGenerator().eval()
    assert style_mixing.preset_styles(G, "coarse") == [0]
    assert style_mixing.preset_styles(G, "fine") == [2]
    images = style_mixing.style_mixing_images(G, [1], [2], styles=[2])
    assert images[(1, 2)].shape == (3, 16, 16) and not torch.equal(images[(1, 2)], images[(1, 1)])
    directions, _ = edit.sefa_directions(G, layers=[1, 2], num_components=2)
    assert directions.shape == (2, 8)
    with torch.no_grad():
        target = G.synthesis(G.mapping(torch.randn(1, 8), None), noise_mode="const")
    result = project(G, target, num_steps=3, distance=PyramidDistance(), w_avg_samples=100)
    assert result.ws.shape == (3, 3, 8)
    loss = StyleGANLoss(G.train(), torch.nn.Identity(), style_mixing_prob=1.0)
    for _ in range(10):  # at 16x16, ws 0 (4x4) and 1 (16x16) are read; 2 (64x64) is not yet
        z = torch.randn(2, 8)
        _, ws = loss.run_G(z, torch.zeros(2, 0), Growth(resolution=16, alpha=1.0))
        mapped = G.mapping(z, None)
        assert torch.equal(ws[:, 0], mapped[:, 0]) and not torch.equal(ws[:, 1], mapped[:, 1])
