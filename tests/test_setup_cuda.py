"""setup.py finds the CUDA toolkit the way users' machines need: through CUDA_HOME, symlinks and wrapper scripts."""

import importlib.util
import os
import shutil
import stat
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def setup_module():
    """setup.py as a module (its setup() call runs only as __main__)."""
    spec = importlib.util.spec_from_file_location("stylegan_setup", ROOT / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def fake_toolkit(root: Path) -> Path:
    """A folder shaped like a CUDA toolkit whose nvcc reports its own folder under --dryrun, as nvcc does."""
    executable(root / "bin" / "nvcc", '#!/bin/sh\nfor a in "$@"; do [ "$a" = --dryrun ] && '
                                      'echo "#\\$ _HERE_=$(dirname "$0")" >&2; done\nexit 0\n')
    (root / "include").mkdir(parents=True, exist_ok=True)
    (root / "include" / "cuda_runtime_api.h").write_text("")
    return root


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv("CUDA_HOME", raising=False)
    monkeypatch.delenv("CUDA_PATH", raising=False)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", f"{empty}:/usr/bin:/bin")
    return monkeypatch


def test_cuda_home_wins(setup_module, clean_env, tmp_path):
    toolkit = fake_toolkit(tmp_path / "cuda-12.9")
    clean_env.setenv("CUDA_HOME", str(toolkit))
    assert setup_module.find_cuda_home(fallbacks=()) == toolkit.resolve()


@pytest.mark.parametrize("name", ["CUDA_HOME", "CUDA_PATH"])
def test_a_wrong_cuda_home_stops_with_a_message_naming_it(setup_module, clean_env, tmp_path, name):
    clean_env.setenv(name, str(tmp_path / "nowhere"))
    with pytest.raises(SystemExit, match=f"{name}=.*is not a CUDA toolkit.*Set CUDA_HOME"):
        setup_module.find_cuda_home(fallbacks=())


def test_nvcc_symlinked_into_the_path(setup_module, clean_env, tmp_path):
    toolkit = fake_toolkit(tmp_path / "opt" / "cuda")
    bin_dir = tmp_path / "usr-local-bin"
    bin_dir.mkdir()
    (bin_dir / "nvcc").symlink_to(toolkit / "bin" / "nvcc")
    clean_env.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    assert setup_module.find_cuda_home(fallbacks=()) == toolkit.resolve()


def test_nvcc_behind_a_wrapper_script(setup_module, clean_env, tmp_path):
    # The folder above the wrapper (the one torch would guess) is not a toolkit; nvcc's own report says where it is.
    toolkit = fake_toolkit(tmp_path / "cuda-13.0")
    wrapper = executable(tmp_path / "local" / "bin" / "nvcc", f'#!/bin/sh\nexec {toolkit}/bin/nvcc "$@"\n')
    clean_env.setenv("PATH", f"{wrapper.parent}:{os.environ['PATH']}")
    assert not setup_module.is_cuda_toolkit(wrapper.parent.parent)
    assert setup_module.find_cuda_home(fallbacks=()) == toolkit.resolve()


def test_fallback_and_nothing(setup_module, clean_env, tmp_path):
    toolkit = fake_toolkit(tmp_path / "usr-local-cuda")
    assert setup_module.find_cuda_home(fallbacks=(str(tmp_path / "missing"), str(toolkit))) == toolkit.resolve()
    assert setup_module.find_cuda_home(fallbacks=(str(tmp_path / "missing"),)) is None


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="no nvcc on this machine")
def test_this_machines_toolkit(setup_module, monkeypatch):
    monkeypatch.delenv("CUDA_HOME", raising=False)
    monkeypatch.delenv("CUDA_PATH", raising=False)
    root = setup_module.find_cuda_home()
    assert root is not None and setup_module.is_cuda_toolkit(root)
