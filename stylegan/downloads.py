"""Files fetched over HTTP(S) once into a local cache, as torch.hub and pytorch-fid fetch theirs: network pickles given
by URL, and the metrics' published weight files (`PinnedFile`, verified against a pinned SHA-256).

The cache directory is $STYLEGAN_CACHE, else $XDG_CACHE_HOME/stylegan, else ~/.cache/stylegan (`cache_dir`). A file
already at its place is used without the network. A download goes to a temporary file beside its destination and takes
the destination's name only when complete (and, for a pinned file, only when its SHA-256 is the pinned one), so an
interrupted, cut or refused download leaves nothing that looks complete; its SHA-256 is recorded beside it, in
<name>.sha256 (sha256sum's format). STYLEGAN_OFFLINE=1 forbids downloads; STYLEGAN_DOWNLOAD_TIMEOUT is how many seconds
to wait for a server (default 60). A progress bar (tqdm) shows on a terminal.
"""

import contextlib
import hashlib
import http.client
import os
import re
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple, Union

from tqdm import tqdm

__all__ = ["CACHE_ENV", "ChecksumError", "DownloadError", "OFFLINE_ENV", "PinnedFile", "TIMEOUT_ENV", "cache_dir",
           "cache_path", "download", "is_url", "local_path", "sha256_of"]

CACHE_ENV = "STYLEGAN_CACHE"
OFFLINE_ENV = "STYLEGAN_OFFLINE"
TIMEOUT_ENV = "STYLEGAN_DOWNLOAD_TIMEOUT"
DEFAULT_TIMEOUT = 60.0
_BLOCK = 1 << 20

PathLike = Union[str, Path]


class DownloadError(FileNotFoundError):
    """A file that is not here and could not be downloaded (offline, a network or HTTP error, a transfer cut short):
    nothing was kept. `reason` says why, without the prefix naming what wanted it."""

    def __init__(self, name: str, url: str, reason: str):
        super().__init__(f"{name}: cannot download {url}: {reason}")
        self.reason = reason


class ChecksumError(ValueError):
    """A download whose SHA-256 is not the pinned one: deleted, never used."""


def cache_dir() -> Path:
    """Where downloads go: $STYLEGAN_CACHE, else $XDG_CACHE_HOME/stylegan, else ~/.cache/stylegan."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "stylegan"
    return Path.home() / ".cache" / "stylegan"


def is_url(value) -> bool:
    """Whether `value` is a string naming an http:// or https:// URL."""
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


def cache_path(url: str) -> Path:
    """Where the download of `url` is kept: <cache_dir>/downloads/<start of the URL's SHA-256>/<the URL's file name>,
    so that URLs with the same file name do not meet."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name)
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    return cache_dir() / "downloads" / key / (name.lstrip(".") or "download")


def _timeout() -> float:
    text = os.environ.get(TIMEOUT_ENV)
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ValueError(f"{TIMEOUT_ENV}: expected a positive number of seconds, got {text!r}")
    return value


def sha256_of(path: PathLike) -> str:
    """The SHA-256 of a file, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _network_errors(url: str, name: str, timeout: float):
    """Inside, a failure of the server or the network becomes a DownloadError saying what happened."""
    try:
        yield
    except urllib.error.HTTPError as error:
        raise DownloadError(name, url, f"HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, TimeoutError):
            reason = f"no answer within {timeout:g} s (set {TIMEOUT_ENV}=SECONDS to wait longer)"
        raise DownloadError(name, url, str(reason) or type(reason).__name__) from None


def _copy(response, out, label: str) -> Tuple[str, int, Optional[int]]:
    """Copies an HTTP response's body to the open file `out` behind a progress bar labelled `label`; returns its
    SHA-256, the bytes received and the bytes announced (None when not announced)."""
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    digest, received = hashlib.sha256(), 0
    with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label, disable=None) as bar:
        while block := response.read(_BLOCK):
            out.write(block)
            digest.update(block)
            received += len(block)
            bar.update(len(block))
    return digest.hexdigest(), received, total


def download(url: str, path: Optional[PathLike] = None, sha256: Optional[str] = None, name: str = "download",
             timeout: Optional[float] = None) -> Path:
    """The local copy of `url` at `path` (default cache_path(url)): the file already there, else downloaded there
    (module docstring), following redirects. `sha256`: the pinned SHA-256 of the download (a ChecksumError when it
    differs, and nothing is kept). `name` starts the error messages (the argument that gave the URL). `timeout`: seconds
    to wait for the server (default $STYLEGAN_DOWNLOAD_TIMEOUT, else 60). A DownloadError when offline, or for an HTTP
    error, no answer in time, a network error or a transfer cut short."""
    path = Path(path) if path is not None else cache_path(url)
    if path.is_file():
        return path
    if os.environ.get(OFFLINE_ENV, "") not in ("", "0"):
        raise DownloadError(name, url, f"{OFFLINE_ENV}={os.environ[OFFLINE_ENV]} forbids downloads (and it is not at "
                                       f"{path})")
    timeout = _timeout() if timeout is None else timeout
    print(f"downloading {url} to {path}", file=sys.stderr, flush=True)
    with _network_errors(url, name, timeout):
        response = urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "stylegan"}),
                                          timeout=timeout)
    with response:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, part = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                with _network_errors(url, name, timeout):
                    digest, received, total = _copy(response, out, path.name)
                out.flush()
                os.fsync(out.fileno())  # on disk before it takes the name
            if total is not None and received != total:
                raise DownloadError(name, url, f"the transfer was cut short after {received} of {total} bytes")
            if sha256 is not None and digest != sha256:
                raise ChecksumError(f"{name}: the download of {url} has SHA-256 {digest}, not the pinned {sha256}: "
                                    "refused and deleted")
            path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")
            os.replace(part, path)
        finally:
            Path(part).unlink(missing_ok=True)
    return path


def local_path(path_or_url, name: str) -> Path:
    """A local path for what an argument such as --network names: an http(s) URL's download (fetched once, `name`
    starting the error messages), else the path itself."""
    return download(path_or_url, name=name) if is_url(path_or_url) else Path(path_or_url)


@dataclass(frozen=True)
class PinnedFile:
    """A published weight file fetched on first use: its file name in the cache, its URL, its pinned SHA-256, the
    environment variable naming a local copy, and what it is (in messages, e.g. 'VGG16 weights')."""

    filename: str
    url: str
    sha256: str
    env_var: str
    what: str

    def default_path(self) -> Path:
        """Its place in the cache: <cache_dir>/<filename>."""
        return cache_dir() / self.filename

    def resolve(self, path: Optional[PathLike] = None, flag: Optional[str] = None,
                default: Optional[PathLike] = None) -> Path:
        """The file to use: `path` (given with the command-line `flag`), else the file $env_var names, else `default`
        (default_path()), downloaded there and verified when missing. A FileNotFoundError naming the flag or the
        variable when a file named so is missing; a DownloadError saying which file to put where when it cannot be
        downloaded; a ChecksumError when the download is not the published file."""
        if path is not None or os.environ.get(self.env_var):
            source = (f"{flag}: " if flag else "") if path is not None else f"${self.env_var}: "
            chosen = Path(path if path is not None else os.environ[self.env_var]).expanduser()
            if not chosen.is_file():
                raise FileNotFoundError(f"{source}{self.what} not found at {chosen}")
            return chosen
        default = Path(default) if default is not None else self.default_path()
        name = flag or self.what
        try:
            return download(self.url, default, self.sha256, name)
        except DownloadError as error:
            alternatives = (f", or pass {flag} PATH" if flag else "") + f", or set {self.env_var}=PATH"
            raise DownloadError(name, self.url, f"{error.reason}. {self.what} not found: get {self.filename} from "
                                                f"{self.url} and put it at {default}{alternatives}") from None
