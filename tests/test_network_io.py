"""Network files: NVIDIA-format pickles read without running their code, refused when they reach for anything else,
our safetensors checkpoints, and the generator a path names (a file, a snapshot or a run directory)."""

import os
import pickle

import pytest
import torch

from stylegan import load_network, save_network
from stylegan.loading import load_generator, network_file
from stylegan.network_io import UntrustedPickleError, load_nvidia_pickle
from stylegan.train.snapshot import snapshot_name
from nvidia_format import nvidia_kwargs, record_of, write_pickle
from test_networks import tiny_discriminator, tiny_generator


def test_nvidia_pickle_loads_and_gives_the_same_images(stand_ins, tmp_path):
    from dnnlib.util import EasyDict

    G = tiny_generator(16, c_dim=3, architecture="resnet").eval()
    D = tiny_discriminator(16, c_dim=3)
    path = tmp_path / "network-snapshot-000100.pkl"
    write_pickle(path, {"G": record_of(G, "Generator", nvidia_kwargs(G)),
                        "D": record_of(D, "Discriminator", nvidia_kwargs(D)),
                        "G_ema": record_of(G, "Generator", nvidia_kwargs(G)),
                        "augment_pipe": None,
                        "training_set_kwargs": EasyDict(path="data.zip", resolution=16, use_labels=True)})
    data = load_nvidia_pickle(path)
    assert data["training_set_kwargs"] == {"path": "data.zip", "resolution": 16, "use_labels": True}
    z, c = torch.randn(4, 8), torch.eye(3)[[0, 1, 2, 0]]
    loaded = data["G_ema"]
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    torch.testing.assert_close(loaded(z, c, noise_mode="const"), G(z, c, noise_mode="const"), rtol=0, atol=0)
    img = G(z, c, noise_mode="const")
    torch.testing.assert_close(data["D"](img, c), D(img, c), rtol=0, atol=0)
    G2 = load_network(path, key="G")
    torch.testing.assert_close(G2.mapping.w_avg, G.mapping.w_avg, rtol=0, atol=0)


def test_stylegan3_stylegan2_configuration(stand_ins, tmp_path):
    # StyleGAN3's stylegan2 Generator records its synthesis arguments flattened, with fused_modconv_default.
    from dnnlib.util import EasyDict

    G = tiny_generator(8).eval()
    kwargs = nvidia_kwargs(G)
    flat = EasyDict({k: v for k, v in kwargs.items() if k != "synthesis_kwargs"}, **kwargs["synthesis_kwargs"],
                    fused_modconv_default="inference_only")
    path = tmp_path / "stylegan3-stylegan2.pkl"
    write_pickle(path, {"G_ema": record_of(G, "Generator", flat)})
    z = torch.randn(2, 8)
    torch.testing.assert_close(load_network(path)(z, noise_mode="const"), G(z, noise_mode="const"), rtol=0, atol=0)


def test_pickle_naming_a_forbidden_global_is_refused(tmp_path):
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": Exploit()}))
    with pytest.raises(UntrustedPickleError, match=r"not a network pickle we trust: it references (posix|os)\.system"):
        load_network(path)
    assert not marker.exists()


def test_module_source_in_the_pickle_is_never_run(stand_ins, tmp_path):
    # record_of stores module_src = "raise SystemExit(...)"; loading must neither import nor exec it.
    G = tiny_generator(8).eval()
    path = tmp_path / "g.pkl"
    write_pickle(path, {"G_ema": record_of(G, "Generator", nvidia_kwargs(G))})
    assert isinstance(load_network(path), type(G))


def test_unknown_network_class_and_mismatched_tensors(stand_ins, tmp_path):
    G = tiny_generator(8).eval()
    path = tmp_path / "g.pkl"
    write_pickle(path, {"G_ema": record_of(G, "StyleGAN3Generator", nvidia_kwargs(G))})
    with pytest.raises(ValueError, match="is a StyleGAN3Generator, which this package does not build"):
        load_network(path)
    with pytest.raises(KeyError, match="holds no network 'D'"):
        load_network(path, key="D")
    kwargs = nvidia_kwargs(G)
    kwargs["w_dim"] = 16
    write_pickle(path, {"G_ema": record_of(G, "Generator", kwargs)})
    with pytest.raises(ValueError, match="has shape"):
        load_network(path)


@pytest.mark.parametrize("which", ["G", "D", "stylegan3-r"])
def test_own_checkpoint_round_trip(which, tmp_path):
    nets = dict(G=lambda: tiny_generator(16, c_dim=2), D=lambda: tiny_discriminator(16, c_dim=2),
                **{"stylegan3-r": lambda: tiny_generator(16, variant="stylegan3-r", c_dim=2)})
    net = nets[which]().eval()
    path = tmp_path / f"{which}.safetensors"
    save_network(net, path)
    loaded = load_network(path)
    assert type(loaded) is type(net)
    for (name, a), (_, b) in zip(net.state_dict().items(), loaded.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    assert not (tmp_path / f"{which}.safetensors.tmp").exists()
    if which != "D":
        z, c = torch.randn(2, net.z_dim), torch.eye(2)
        torch.testing.assert_close(loaded(z, c, noise_mode="const"), net(z, c, noise_mode="const"), rtol=0, atol=0)


def test_load_network_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_network(tmp_path / "missing.pkl")
    from safetensors.torch import save_file

    other = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(2)}, str(other))
    with pytest.raises(ValueError, match="not a network file of this package"):
        load_network(other)
    not_a_dict = tmp_path / "list.pkl"
    not_a_dict.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(UntrustedPickleError, match="holds a list, not a dict"):
        load_network(not_a_dict)


def test_a_safetensors_header_length_that_starts_like_a_pickle(tmp_path):
    """The first byte of a safetensors file is the low byte of its header's length: 0x80, a pickle's first byte, for
    one file in 256. Such a network file (found by the studio's test network) loads as safetensors."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    net = tiny_generator()
    path = tmp_path / "G.safetensors"
    save_network(net, path)
    with safe_open(str(path), framework="pt") as f:
        meta, state = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    for pad in range(512):  # metadata that does not matter to the reader, padded until the first byte is 0x80
        save_file(state, str(path), metadata={**meta, "pad": "x" * pad})
        if path.read_bytes()[0] == 0x80:
            break
    assert path.read_bytes()[0] == 0x80
    z = torch.randn(2, net.z_dim)
    torch.testing.assert_close(load_network(path)(z, noise_mode="const"), net(z, noise_mode="const"), rtol=0, atol=0)


def test_a_run_directory_names_its_newest_snapshot_by_image_count(tmp_path):
    """stylegan.loading reads run directories as resuming does (train.snapshot): snapshot-1000000000 is newer than
    snapshot-999999999, though it sorts first by name."""
    older, newer = tiny_generator(), tiny_generator()
    with torch.no_grad():
        newer.mapping.w_avg.add_(1)
    for nimg, G in ((999_999_999, older), (1_000_000_000, newer)):
        (tmp_path / snapshot_name(nimg)).mkdir()
        save_network(G, tmp_path / snapshot_name(nimg) / "G_ema.safetensors")
    assert network_file(tmp_path) == tmp_path / "snapshot-1000000000"
    assert torch.equal(load_generator(tmp_path, torch.device("cpu")).mapping.w_avg, newer.mapping.w_avg)
    assert network_file(tmp_path / "snapshot-999999999") == tmp_path / "snapshot-999999999"
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="--network: .*empty is a directory with neither G_ema.safetensors nor "
                                                "snapshots"):
        network_file(tmp_path / "empty")
    save_network(tiny_discriminator(), tmp_path / "D.safetensors")
    with pytest.raises(ValueError, match="--network: .*D.safetensors holds a Discriminator, not a generator"):
        load_generator(tmp_path / "D.safetensors", torch.device("cpu"))


@pytest.mark.parametrize("variant", ["stylegan3-t", "stylegan3-r"])
def test_nvidia_stylegan3_pickle_loads_by_structure_and_gives_the_same_images(stand_ins, tmp_path, variant):
    # NVIDIA's StyleGAN3 modules are named Generator / SynthesisNetwork as StyleGAN2's, keep their sizes as numpy
    # arrays and sampling rates as numpy scalars, and take the synthesis arguments flattened.
    import numpy as np
    from conftest import tiny_generator as tiny_g

    G = tiny_g(variant)
    kwargs = nvidia_kwargs(G)
    kwargs.update(kwargs.pop("synthesis_kwargs"))
    kwargs.update(magnitude_ema_beta=0.5 ** (32 / 20000), **({"conv_kernel": 1, "use_radial_filters": True}
                                                               if variant == "stylegan3-r" else {}))
    record = record_of(G, "Generator", kwargs)
    synthesis = record.state["_modules"]["synthesis"]
    synthesis.state["_modules"]["input"].state.update(size=np.broadcast_to(np.asarray(36), [2]),
                                                      sampling_rate=np.float64(16))
    first = synthesis.state["_modules"][G.synthesis.layer_names[0]]
    first.state.update(in_size=np.array([36, 36]), out_size=np.asfortranarray(np.ones((2, 2), dtype=np.float32)))
    path = tmp_path / "sg3.pkl"
    write_pickle(path, {"G_ema": record, "training_set_kwargs": {"resolution": np.int64(16)}})
    loaded = load_network(path)
    assert loaded.variant == variant and loaded.synthesis.layer_names == G.synthesis.layer_names
    z = torch.randn(2, G.z_dim)
    torch.testing.assert_close(loaded(z, truncation_psi=0.7), G(z, truncation_psi=0.7), rtol=0, atol=0)


def test_numpy_arrays_of_objects_or_other_classes_are_refused(stand_ins, tmp_path):
    import numpy as np

    path = tmp_path / "objects.pkl"
    path.write_bytes(pickle.dumps({"G_ema": np.array([1, "a"], dtype=object)}))
    with pytest.raises(UntrustedPickleError, match="numpy array that is not plain numbers"):
        load_network(path)
    path.write_bytes(pickle.dumps({"G_ema": np.array([1.5, 2.5])}))  # numbers are fine, but not a network
    with pytest.raises(KeyError, match="holds no network 'G_ema'"):
        load_network(path)
    path.write_bytes(pickle.dumps({"G_ema": np.ma.masked_array([1.0])}))
    with pytest.raises(UntrustedPickleError, match="references numpy.ma"):
        load_network(path)


class _BuildSpy:
    """Replaces a network class in network_io: records the device of each construction, then builds it."""

    def __init__(self, monkeypatch, name):
        import stylegan.network_io as network_io

        self.devices, real = [], network_io.NETWORK_CLASSES[name]

        def build(**kwargs):
            self.devices.append(torch.empty(0).device.type)
            return real(**kwargs)

        monkeypatch.setitem(network_io.NETWORK_CLASSES, name, build)


@pytest.mark.parametrize("fmt", ["pickle", "safetensors"])
def test_stored_arguments_are_checked_before_anything_is_allocated(stand_ins, tmp_path, monkeypatch, fmt):
    G = tiny_generator(8).eval()
    spy = _BuildSpy(monkeypatch, "Generator")

    def write(**synthesis):
        kwargs = nvidia_kwargs(G)
        kwargs["synthesis_kwargs"].update(synthesis)
        if fmt == "pickle":
            path = tmp_path / "g.pkl"
            write_pickle(path, {"G_ema": record_of(G, "Generator", kwargs)})
        else:
            path = tmp_path / "g.safetensors"
            save_network(G, path)
            import json
            from safetensors.torch import load_file, save_file
            kwargs = dict(G.init_kwargs, synthesis_kwargs={**G.init_kwargs["synthesis_kwargs"], **synthesis})
            save_file(load_file(path), path, metadata={"format": "stylegan-network-v1", "class": "Generator",
                                                       "init_kwargs": json.dumps(kwargs)})
        return path

    with pytest.raises(ValueError, match=r"channel_base=1099511627776 is beyond what this package builds"):
        load_network(write(channel_base=2 ** 40))
    assert spy.devices == []
    # Within the bounds but far larger than the stored tensors: found on the shape-only copy, never built for real.
    with pytest.raises(ValueError, match="has shape"):
        load_network(write(channel_base=2 ** 19, channel_max=2 ** 12))
    assert spy.devices == ["meta"]
    load_network(write())
    assert spy.devices == ["meta", "meta", "cpu"]


def test_broken_network_files_are_one_clear_error(tmp_path):
    G = tiny_generator(8).eval()
    good = tmp_path / "g.safetensors"
    save_network(G, good)
    cases = {"empty.pkl": b"", "cut.safetensors": good.read_bytes()[:100], "empty.safetensors": b"",
             "edited.safetensors": good.read_bytes().replace(b'"class":"Generator"', b'"class":"Generator"'[:-2] + b'x"')}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=rf"load_network: .*{name} is (an empty file|not a readable network file"
                                             r"|not a network file of this package)"):
            load_network(tmp_path / name)
    zipped = tmp_path / "checkpoint.pt"
    torch.save(G.state_dict(), zipped)
    with pytest.raises(ValueError, match="a zip archive .a torch.save checkpoint.., not a network file"):
        load_network(zipped)
