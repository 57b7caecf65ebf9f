"""Network files: NVIDIA's network pickles, read without running any code from them, and our own checkpoints
(safetensors weights with the network's configuration as JSON metadata; no pickle).

NVIDIA's pickles (StyleGAN2-ADA; StyleGAN3's T, R and stylegan2 configurations) hold a dict such as {'G', 'D', 'G_ema',
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
from safetensors import SafetensorError, safe_open

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


class _NumericArray:
    """A numpy array stored in a pickle (StyleGAN3 modules keep sizes as arrays), rebuilt from its bytes only for a
    numeric dtype: never an object array, nothing called."""

    array = None

    def __setstate__(self, state):
        try:
            _, shape, dtype, fortran_order, data = state
            valid = isinstance(dtype, np.dtype) and not dtype.hasobject and isinstance(data, bytes) and \
                all(isinstance(n, int) and n >= 0 for n in shape) and len(data) == int(np.prod(shape)) * dtype.itemsize
        except (TypeError, ValueError):
            valid = False
        if not valid:
            raise UntrustedPickleError("not a network pickle we trust: a numpy array that is not plain numbers")
        self.array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran_order else "C").copy()


def _reconstruct_array(subtype, shape, typecode):
    if subtype is not _NDARRAY:
        raise UntrustedPickleError("not a network pickle we trust: an array of a class other than numpy.ndarray")
    return _NumericArray()


_NDARRAY = "numpy.ndarray"  # what the pickle gets for the class: a name, nothing callable


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
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct_array,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct_array,
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
    if isinstance(value, _NumericArray):
        return value.array
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


def _is_alias_free(obj: PersistentObject) -> bool:
    """Whether a stored Generator is StyleGAN3's alias-free one: NVIDIA names its classes as for StyleGAN2, but only
    its synthesis network has Fourier-feature `input`."""
    synthesis = (obj.state.get("_modules") or {}).get("synthesis")
    return isinstance(synthesis, PersistentObject) and "input" in (synthesis.state.get("_modules") or {})


def network_from_nvidia(obj: PersistentObject) -> torch.nn.Module:
    """Our network for a stored NVIDIA Generator (StyleGAN2-ADA, StyleGAN3 T/R or StyleGAN3's stylegan2
    configuration) or Discriminator, with its weights."""
    if obj.class_name not in NETWORK_CLASSES:
        raise ValueError(f"cannot build a network of class {obj.class_name!r}; supported: {sorted(NETWORK_CLASSES)}")
    kwargs = _plain(dict(obj.state.get("_init_kwargs") or {}))
    if obj.state.get("_init_args"):
        raise ValueError(f"{obj.class_name}: positional constructor arguments are not supported")
    kwargs = {k: v for k, v in kwargs.items() if k != "class_name"}
    if obj.class_name == "Generator":
        kwargs = _generator_kwargs(kwargs)
        if _is_alias_free(obj):
            radial = kwargs["synthesis_kwargs"].get("use_radial_filters", False)
            kwargs["variant"] = "stylegan3-r" if radial else "stylegan3-t"
    return _checked_network(obj.class_name, kwargs, _flat_state(obj))


# Bounds on a stored network's arguments, checked before anything is built from them (a file's arguments are
# untrusted: a loop per layer or a filter per tap must not run away); the tensors then decide the rest.
MAX_INT_ARGUMENT = 2 ** 20
_ARGUMENT_LIMITS = {"img_resolution": 2 ** 14, "num_layers": 64, "num_critical": 64, "filter_size": 64,
                    "lrelu_upsampling": 16, "conv_kernel": 15, "num_fp16_res": 16}


def _check_argument_limits(kwargs: dict, what: str) -> None:
    for name, value in kwargs.items():
        if isinstance(value, dict):
            _check_argument_limits(value, what)
        elif isinstance(value, int) and not isinstance(value, bool):
            limit = _ARGUMENT_LIMITS.get(name, MAX_INT_ARGUMENT)
            if abs(value) > limit:
                raise ValueError(f"{what}: stored argument {name}={value} is beyond what this package builds "
                                 f"(at most {limit})")


def _checked_network(class_name: str, kwargs: dict, state: Dict[str, torch.Tensor]) -> torch.nn.Module:
    """The network `class_name(**kwargs)` with `state`, built only once the arguments are within bounds and a
    shape-only ('meta' device) copy has exactly the stored tensors: a file cannot make us allocate more than it holds."""
    _check_argument_limits(kwargs, class_name)
    cls = NETWORK_CLASSES[class_name]
    try:
        with torch.device("meta"):
            shapes = cls(**kwargs).state_dict()
    except (TypeError, ValueError, RuntimeError, OverflowError) as e:
        raise ValueError(f"{class_name} with arguments {sorted(kwargs)}: not a configuration this package "
                         f"builds ({e})") from None
    missing = sorted(set(shapes) - set(state))
    unexpected = sorted(set(state) - set(shapes))
    if missing or unexpected:
        raise ValueError(f"{class_name}: the stored tensors do not match this package's network: missing "
                         f"{missing[:8]}{'...' if len(missing) > 8 else ''}, unexpected {unexpected[:8]}"
                         f"{'...' if len(unexpected) > 8 else ''}")
    for name, tensor in state.items():
        if tuple(tensor.shape) != tuple(shapes[name].shape):
            raise ValueError(f"{class_name}: {name} has shape {list(tensor.shape)}, expected "
                             f"{list(shapes[name].shape)}")
    net = cls(**kwargs)
    net.load_state_dict({k: v.detach() for k, v in state.items()})
    return net.eval().requires_grad_(False)


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
        magic = f.read(9)
    try:
        net = _read_network_file(path, magic, key)
    except UntrustedPickleError:
        raise
    except (EOFError, pickle.UnpicklingError, SafetensorError, json.JSONDecodeError, UnicodeDecodeError) as e:
        kind = "an empty file" if not magic else "not a readable network file"
        if magic[:2] == b"PK":
            kind = "a zip archive (a torch.save checkpoint?), not a network file: give an NVIDIA network pickle or " \
                   "a file written by save_network"
        raise ValueError(f"load_network: {path} is {kind} ({type(e).__name__}: {e})") from None
    return net.to(device) if device is not None else net


def _is_safetensors(magic: bytes, size: int) -> bool:
    """Whether a file of `size` bytes starting with `magic` (its first 9 bytes) is laid out as safetensors: the
    length of a JSON header (8 bytes, little-endian) that fits in the file, then the header's opening brace. (Its
    first byte alone can be a pickle's 0x80.)"""
    return len(magic) == 9 and magic[8:] == b"{" and int.from_bytes(magic[:8], "little") + 8 <= size


def _read_network_file(path: Path, magic: bytes, key: str) -> torch.nn.Module:
    if not _is_safetensors(magic, path.stat().st_size) and (path.suffix == ".pkl" or magic[:1] == b"\x80"):
        data = load_nvidia_pickle(path)
        if isinstance(data.get(key), PersistentObject):
            raise ValueError(f"load_network: {key!r} in {path} is a {data[key].class_name}, which this package does "
                             f"not build (it builds {sorted(NETWORK_CLASSES)})")
        if not isinstance(data.get(key), torch.nn.Module):
            raise KeyError(f"load_network: {path} holds no network {key!r}; it has {sorted(data)}")
        return data[key]
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        if meta.get("format") != _FORMAT or meta.get("class") not in NETWORK_CLASSES:
            raise ValueError(f"load_network: {path} is not a network file of this package")
        state = {k: f.get_tensor(k) for k in f.keys()}
    return _checked_network(meta["class"], json.loads(meta["init_kwargs"]), state)
