"""Network files: NVIDIA's network pickles, read without running any code from them, and our own checkpoints
(safetensors weights with the network's configuration as JSON metadata; no pickle).

NVIDIA's pickles (StyleGAN2-ADA, and StyleGAN3's stylegan2 configuration) hold a dict such as {'G', 'D', 'G_ema',
'augment_pipe', 'training_set_kwargs', ...}. Each network and submodule in it is rebuilt by
torch_utils.persistence._reconstruct_persistent_obj from a dict {type, version, module_src, class_name, state}, state
being the module's __dict__. The unpickler here answers only an explicit allow-list of globals with stand-ins that
build plain data (module_src is never imported or run), then builds our network of the same class from the stored
constructor arguments and copies its parameters and buffers by name.

`load_network` also takes an http(s) URL: the file is downloaded once into the cache (stylegan.downloads) and read the
same way; a download is untrusted input, so its pickle goes through the same allow-list.
"""

import collections
import io
import json
import os
import pickle
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np
import torch

from .downloads import local_path
from .networks import Discriminator, Generator

PathLike = Union[str, Path]


class UntrustedPickleError(pickle.UnpicklingError):
    """The file asked the unpickler for something outside the allow-list of a network pickle."""


class PersistentObject:
    """A module as NVIDIA's pickles store it: its class name and its state (__dict__), as plain data."""

    def __init__(self, meta):
        if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("class_name"), str):
            raise UntrustedPickleError("not a network pickle we trust: malformed persistent object record")
        self.class_name = meta["class_name"]
        self.version = meta.get("version")
        self.state = meta.get("state") or {}

    def __repr__(self) -> str:
        return f"PersistentObject({self.class_name})"


def _rebuild_tensor(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    tensor = torch.empty((0,), dtype=storage.dtype).set_(storage, storage_offset, size, stride)
    tensor.requires_grad_(bool(requires_grad))
    return tensor


def _rebuild_parameter(data, requires_grad, backward_hooks):
    return torch.nn.Parameter(data, requires_grad=bool(requires_grad))


def _load_storage(data: bytes):
    # The storage bytes are a torch.save() stream: torch's own restricted loader reads them.
    return torch.load(io.BytesIO(data), weights_only=True)


def _numpy_scalar(dtype, data=None):
    return np.frombuffer(data, dtype=dtype)[0] if data is not None else dtype.type(0)


class _EasyDict(dict):
    """dnnlib.EasyDict as plain data."""


_ALLOWED = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): PersistentObject,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("dnnlib.util", "EasyDict"): _EasyDict,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy", "dtype"): np.dtype,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UntrustedPickleError(f"not a network pickle we trust: it references {module}.{name}, which a "
                                       "network pickle does not need (nothing from the file was run)") from None

    def persistent_load(self, pid):
        raise UntrustedPickleError("not a network pickle we trust: it uses persistent ids")


def read_nvidia_pickle(path: PathLike) -> Dict[str, Any]:
    """The dict stored in an NVIDIA network pickle, with its networks as PersistentObjects (plain data)."""
    with open(path, "rb") as f:
        data = _RestrictedUnpickler(f).load()
    if not isinstance(data, dict):
        raise UntrustedPickleError(f"{path}: not a network pickle: it holds a {type(data).__name__}, not a dict")
    return data


def _flat_state(obj: PersistentObject, prefix: str = "") -> Dict[str, torch.Tensor]:
    """Parameters and buffers of a stored module and its submodules, by dotted name."""
    out = {}
    for kind in ("_parameters", "_buffers"):
        for name, tensor in (obj.state.get(kind) or {}).items():
            if tensor is not None:
                out[prefix + name] = tensor
    for name, child in (obj.state.get("_modules") or {}).items():
        if isinstance(child, PersistentObject):
            out.update(_flat_state(child, f"{prefix}{name}."))
    return out


# The networks this package builds, by class name: ours and NVIDIA's use the same names.
NETWORK_CLASSES = {"Generator": Generator, "Discriminator": Discriminator}

def _plain(value):
    """EasyDicts and OrderedDicts as dicts, numpy scalars as Python numbers, recursively."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


_GENERATOR_ARGS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs")
# Execution preferences stored with some generators, not part of the network: StyleGAN3's stylegan2 configuration
# records fused_modconv_default ('inference_only': grouped modulated convolutions for inference only, as here).
_GENERATOR_PREFERENCES = ("fused_modconv_default",)


def _generator_kwargs(kwargs: dict) -> dict:
    """StyleGAN2-ADA keeps the synthesis arguments in synthesis_kwargs; StyleGAN3's stylegan2 Generator takes them
    flattened (**synthesis_kwargs). Both become our Generator's arguments."""
    out = {k: v for k, v in kwargs.items() if k in _GENERATOR_ARGS}
    flattened = {k: v for k, v in kwargs.items() if k not in _GENERATOR_ARGS and k not in _GENERATOR_PREFERENCES}
    if flattened:
        out["synthesis_kwargs"] = {**out.get("synthesis_kwargs", {}), **flattened}
    synthesis = {k: v for k, v in out.get("synthesis_kwargs", {}).items() if k not in _GENERATOR_PREFERENCES}
    out["synthesis_kwargs"] = synthesis
    return out


def network_from_nvidia(obj: PersistentObject) -> torch.nn.Module:
    """Our network for a stored NVIDIA Generator or Discriminator, with its weights."""
    if obj.class_name not in NETWORK_CLASSES:
        raise ValueError(f"cannot build a network of class {obj.class_name!r}; supported: {sorted(NETWORK_CLASSES)}")
    kwargs = _plain(dict(obj.state.get("_init_kwargs") or {}))
    if obj.state.get("_init_args"):
        raise ValueError(f"{obj.class_name}: positional constructor arguments are not supported")
    kwargs = {k: v for k, v in kwargs.items() if k != "class_name"}
    if obj.class_name == "Generator":
        kwargs = _generator_kwargs(kwargs)
    try:
        net = NETWORK_CLASSES[obj.class_name](**kwargs)
    except TypeError as e:
        raise ValueError(f"{obj.class_name} with arguments {sorted(kwargs)}: not a configuration this package "
                         f"builds ({e})") from None
    _copy_state(net, _flat_state(obj), obj.class_name)
    return net.eval().requires_grad_(False)


def _copy_state(net: torch.nn.Module, state: Dict[str, torch.Tensor], what: str) -> None:
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ValueError(f"{what}: the stored tensors do not match this package's network: missing {missing[:8]}"
                         f"{'...' if len(missing) > 8 else ''}, unexpected {unexpected[:8]}"
                         f"{'...' if len(unexpected) > 8 else ''}")
    for name, tensor in state.items():
        if tuple(tensor.shape) != tuple(own[name].shape):
            raise ValueError(f"{what}: {name} has shape {list(tensor.shape)}, expected {list(own[name].shape)}")
    net.load_state_dict({k: v.detach() for k, v in state.items()})


def load_nvidia_pickle(path: PathLike) -> Dict[str, Any]:
    """An NVIDIA network pickle as a dict: 'G', 'D', 'G_ema' as this package's networks (evaluation mode, no
    gradients), other entries as plain data (the augmentation pipe as its PersistentObject)."""
    data = read_nvidia_pickle(path)
    out = {}
    for key, value in data.items():
        if isinstance(value, PersistentObject) and value.class_name in NETWORK_CLASSES:
            out[key] = network_from_nvidia(value)
        else:
            out[key] = value if isinstance(value, PersistentObject) else _plain(value)
    return out


_FORMAT = "stylegan-network-v1"


def save_network(net: torch.nn.Module, path: PathLike) -> None:
    """Writes a Generator or Discriminator as safetensors weights with its class and constructor arguments as JSON
    metadata (written to a temporary file, then renamed over `path`)."""
    from safetensors.torch import save_file

    name = type(net).__name__
    if name not in NETWORK_CLASSES:
        raise ValueError(f"save_network: expected a Generator or Discriminator, got {name}")
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(tmp), metadata={"format": _FORMAT, "class": name, "init_kwargs": json.dumps(net.init_kwargs)})
    with open(tmp, "rb+") as f:  # on disk before it takes the name
        os.fsync(f.fileno())
    tmp.replace(path)


def load_network(path: PathLike, key: str = "G_ema", device: Optional[torch.device] = None) -> torch.nn.Module:
    """A network from our safetensors checkpoint, entry `key` ('G_ema', 'G' or 'D') of an NVIDIA network pickle, or
    network `key` of a training snapshot directory; in evaluation mode, without gradients, on `device` (CPU by
    default). `path` may be an http(s) URL (module docstring)."""
    path = local_path(path, "load_network")
    if path.is_dir() and (path / f"{key}.safetensors").is_file():
        path = path / f"{key}.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"load_network: no such file: {path}")
    with open(path, "rb") as f:
        magic = f.read(2)
    if path.suffix == ".pkl" or magic[:1] == b"\x80":  # pickle protocol 2+
        data = load_nvidia_pickle(path)
        if isinstance(data.get(key), PersistentObject):
            raise ValueError(f"load_network: {key!r} in {path} is a {data[key].class_name}, which this package does "
                             f"not build (it builds {sorted(NETWORK_CLASSES)}: StyleGAN2-ADA and StyleGAN3's "
                             "stylegan2 configuration)")
        if not isinstance(data.get(key), torch.nn.Module):
            raise KeyError(f"load_network: {path} holds no network {key!r}; it has {sorted(data)}")
        net = data[key]
    else:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != _FORMAT or meta.get("class") not in NETWORK_CLASSES:
                raise ValueError(f"load_network: {path} is not a network file of this package")
            state = {k: f.get_tensor(k) for k in f.keys()}
        net = NETWORK_CLASSES[meta["class"]](**json.loads(meta["init_kwargs"]))
        _copy_state(net, state, meta["class"])
        net = net.eval().requires_grad_(False)
    return net.to(device) if device is not None else net
