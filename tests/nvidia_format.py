"""Writes network pickles in the format of NVIDIA's StyleGAN2-ADA code, without that code: a stand-in
torch_utils.persistence module and dnnlib.util.EasyDict in a temporary directory, and modules that pickle themselves
as persistence records ({type, version, module_src, class_name, state}) the way NVIDIA's persistent classes do."""

import collections
import pickle
import sys
from pathlib import Path

import torch

PERSISTENCE_SRC = '''
def _reconstruct_persistent_obj(meta):
    raise RuntimeError("the stand-in persistence module only writes pickles")
'''
EASYDICT_SRC = '''
class EasyDict(dict):
    pass
'''


def install_stand_ins(root: Path):
    """Creates the torch_utils.persistence and dnnlib.util stand-ins under root and puts root on sys.path."""
    for package, module, src in (("torch_utils", "persistence", PERSISTENCE_SRC), ("dnnlib", "util", EASYDICT_SRC)):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("")
        (root / package / f"{module}.py").write_text(src)
    sys.path.insert(0, str(root))
    import dnnlib.util  # noqa: F401
    import torch_utils.persistence  # noqa: F401


class Record:
    """Pickles as NVIDIA's persistent objects do: a call of _reconstruct_persistent_obj on a meta dict."""

    def __init__(self, class_name: str, state: dict):
        self.class_name, self.state = class_name, state

    def __reduce__(self):
        from torch_utils import persistence

        meta = dict(type="class", version=6, module_src="raise SystemExit('module_src must never run')",
                    class_name=self.class_name, state=self.state)
        return persistence._reconstruct_persistent_obj, (meta,)


def record_of(module: torch.nn.Module, class_name: str, init_kwargs: dict = None) -> Record:
    """The persistence record of one of our modules, with its submodules as records too."""
    from dnnlib.util import EasyDict

    state = {
        "training": module.training,
        "_parameters": collections.OrderedDict(module._parameters),
        "_buffers": collections.OrderedDict(module._buffers),
        "_modules": collections.OrderedDict((name, record_of(child, type(child).__name__))
                                            for name, child in module._modules.items()),
        "_init_args": (),
        "_init_kwargs": EasyDict(init_kwargs or {}),
    }
    return Record(class_name, state)


def write_pickle(path: Path, data: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(data, f)


def nvidia_kwargs(net):
    """Constructor arguments as NVIDIA's Generator/Discriminator record them (no `variant`, EasyDicts)."""
    from dnnlib.util import EasyDict

    return EasyDict({k: (EasyDict(v) if isinstance(v, dict) else v) for k, v in net.init_kwargs.items()
                     if k != "variant"})
