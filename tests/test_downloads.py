"""stylegan.downloads against a small HTTP server on 127.0.0.1 (no other network): a download and its cache hit with
the server gone, pinned SHA-256 values, transfers cut short or interrupted, HTTP errors, redirects, a server that never
answers, offline mode; networks by URL in load_network, the tools and the metrics, a malicious pickle refused; the
metric weights fetched on first use."""

import dataclasses
import hashlib
import http.server
import json
import os
import pickle
import socket
import threading
import time

import pytest
import torch
from conftest import tiny_generator
from nvidia_format import nvidia_kwargs, record_of, write_pickle
from weight_files import empty_cache, lpips_state_dict, vgg16_state_dict

from stylegan import downloads, load_network, perceptual, save_network
from stylegan.downloads import ChecksumError, DownloadError, PinnedFile, cache_dir, cache_path, download
from stylegan.loading import load_generator, network_file
from stylegan.metrics import inception
from stylegan.metrics.__main__ import main as metrics_main
from stylegan.network_io import UntrustedPickleError
from stylegan.tools import generate

BODY = os.urandom(3000)
SHA = hashlib.sha256(BODY).hexdigest()


class Server:
    """An HTTP server on 127.0.0.1 in a thread: /files/NAME serves files[NAME]; /cut/NAME announces it whole and sends
    half; /redirect/NAME answers 302 to /files/NAME; anything else 404. `requests` counts the requests."""

    def __init__(self, files):
        self.files, self.requests = files, 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests += 1
                kind, _, name = self.path.strip("/").partition("/")
                if name not in server.files:
                    return self.send_error(404)
                if kind == "redirect":
                    self.send_response(302)
                    self.send_header("Location", f"/files/{name}")
                    self.send_header("Content-Length", "0")
                    return self.end_headers()
                body = server.files[name]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:len(body) // 2] if kind == "cut" else body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, name, kind="files"):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{kind}/{name}"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    """An empty cache, downloads forbidden."""
    return empty_cache(tmp_path, monkeypatch)


@pytest.fixture
def cache(offline_cache, monkeypatch):
    """An empty cache, downloads allowed."""
    monkeypatch.delenv("STYLEGAN_OFFLINE")
    return offline_cache


@pytest.fixture
def server(cache):
    server = Server({"body.bin": BODY})
    yield server
    server.stop()


def leftovers(folder):
    """Every file under `folder` (partial downloads included)."""
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_cache_directory_follows_the_conventions(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("STYLEGAN_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_dir() == tmp_path / "home" / ".cache" / "stylegan"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "stylegan"
    monkeypatch.setenv("STYLEGAN_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    a, b = cache_path("http://a.example/x/G.pkl?v=1"), cache_path("http://b.example/G.pkl")
    assert a.name == b.name == "G.pkl" and a != b and a.parent.parent == tmp_path / "mine" / "downloads"


def test_download_then_cache_hit_without_the_server(server, cache, capsys, monkeypatch):
    url = server.url("body.bin")
    path = download(url)
    assert path == cache_path(url) and path.read_bytes() == BODY
    assert (path.parent / "body.bin.sha256").read_text() == f"{SHA}  body.bin\n"  # as sha256sum writes it
    assert leftovers(cache) == ["body.bin", "body.bin.sha256"]
    assert f"downloading {url} to {path}" in capsys.readouterr().err
    server.stop()
    monkeypatch.setenv("STYLEGAN_OFFLINE", "1")
    assert download(url) == path and server.requests == 1


def test_pinned_checksum(server, cache):
    url = server.url("body.bin")
    with pytest.raises(ChecksumError, match=f"has SHA-256 {SHA}, not the pinned 0{{64}}: refused"):
        download(url, sha256="0" * 64)
    assert leftovers(cache) == []
    assert download(url, sha256=SHA).read_bytes() == BODY


@pytest.mark.parametrize("kind, message", [("cut", "the transfer was cut short after 1500 of 3000 bytes"),
                                           ("files", "HTTP 404 Not Found")])
def test_failed_transfers_leave_nothing(server, cache, kind, message):
    url = server.url("body.bin" if kind == "cut" else "absent.bin", kind)
    with pytest.raises(DownloadError, match=f"^--network: cannot download {url}: {message}"):
        download(url, name="--network")
    assert leftovers(cache) == []


def test_an_interrupted_download_leaves_nothing(server, cache, monkeypatch):
    class Interrupted(downloads.tqdm):
        def update(self, n=1):
            raise KeyboardInterrupt

    monkeypatch.setattr(downloads, "tqdm", Interrupted)
    with pytest.raises(KeyboardInterrupt):
        download(server.url("body.bin"))
    assert leftovers(cache) == []


def test_redirects_are_followed(server, cache):
    assert download(server.url("body.bin", "redirect")).read_bytes() == BODY


def test_a_server_that_never_answers_times_out(cache, monkeypatch):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # connections wait in the backlog: never accepted, never answered
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/G.pkl"
    monkeypatch.setenv("STYLEGAN_DOWNLOAD_TIMEOUT", "0.3")
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"no answer within 0.3 s \(set STYLEGAN_DOWNLOAD_TIMEOUT"):
        download(url)
    assert time.monotonic() - start < 5
    silent.close()
    assert leftovers(cache) == []
    monkeypatch.setenv("STYLEGAN_DOWNLOAD_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="^STYLEGAN_DOWNLOAD_TIMEOUT: expected a positive number of seconds, got "
                                         "'soon'$"):
        download(url)


def test_offline_refuses_to_download(server, cache, monkeypatch):
    monkeypatch.setenv("STYLEGAN_OFFLINE", "1")
    url = server.url("body.bin")
    with pytest.raises(DownloadError, match=f"STYLEGAN_OFFLINE=1 forbids downloads \\(and it is not at "
                                            f"{cache_path(url)}\\)"):
        download(url)
    assert server.requests == 0


@pytest.fixture
def network_server(server, tmp_path, stand_ins):
    """The server with a tiny generator as our file (G.safetensors) and as an NVIDIA pickle (G.pkl)."""
    G = tiny_generator()
    save_network(G, tmp_path / "G.safetensors")
    write_pickle(tmp_path / "G.pkl", {"G_ema": record_of(G, "Generator", nvidia_kwargs(G))})
    server.files.update({name: (tmp_path / name).read_bytes() for name in ("G.safetensors", "G.pkl")})
    return server


@pytest.mark.parametrize("name", ["G.safetensors", "G.pkl"])
def test_networks_by_url(network_server, name):
    url = network_server.url(name)
    G, z = tiny_generator(), torch.randn(2, 16)
    expected = G(z, noise_mode="const")
    torch.testing.assert_close(load_network(url)(z, noise_mode="const"), expected, rtol=0, atol=0)
    assert network_file(url) == cache_path(url)
    G_url = load_generator(url, torch.device("cpu"))
    torch.testing.assert_close(G_url(z, noise_mode="const"), expected, rtol=0, atol=0)
    assert network_server.requests == 1


def test_tools_and_metrics_take_urls(network_server, tmp_path, monkeypatch, capsys):
    url = network_server.url("G.safetensors")
    assert generate.main(["--network", url, "--seeds", "1", "--outdir", tmp_path / "out"]) == 0
    assert (tmp_path / "out" / "seed0001.png").is_file()
    monkeypatch.chdir(tmp_path)  # a URL's metric records go to the current directory
    assert metrics_main(["--network", url, "--metrics", "fid", "--features", "random-test", "--max-size", "4",
                         "--num-gen", "4", "--device", "cpu", "--no-cache"]) == 0
    record = json.loads((tmp_path / "metric-fid4_full_random.jsonl").read_text())
    assert record["snapshot"] == url  # what the user gave, not the cache's path
    assert network_server.requests == 1
    capsys.readouterr()
    missing = network_server.url("absent.pkl")
    assert generate.main(["--network", missing, "--seeds", "1", "--outdir", tmp_path / "out"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"downloading {missing} to {cache_path(missing)}",
                   f"python -m stylegan.generate: error: --network: cannot download {missing}: HTTP 404 Not Found"]


def test_a_malicious_pickle_by_url_is_refused(server, tmp_path, capsys):
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    server.files["evil.pkl"] = pickle.dumps({"G_ema": Exploit()})
    url = server.url("evil.pkl")
    with pytest.raises(UntrustedPickleError, match=r"it references (posix|os)\.system"):
        load_network(url)
    assert f"downloading {url}" in capsys.readouterr().err
    assert generate.main(["--network", url, "--seeds", "1", "--outdir", tmp_path / "out"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "error: not a network pickle we trust" in err[0]  # from the cache
    assert not marker.exists()


def pinned(server, name, body):
    return PinnedFile(name, server.url(name), hashlib.sha256(body).hexdigest(), "TEST_WEIGHTS", "test weights")


def test_pinned_file_lookup_order(server, cache, tmp_path, monkeypatch):
    server.files["w.pth"] = BODY
    weights = pinned(server, "w.pth", BODY)
    local = tmp_path / "local.pth"
    local.write_bytes(b"mine")
    assert weights.resolve(local, "--weights") == local             # a path given wins, as it is
    monkeypatch.setenv("TEST_WEIGHTS", str(local))
    assert weights.resolve(None, "--weights") == local              # then the environment variable
    monkeypatch.setenv("TEST_WEIGHTS", str(tmp_path / "absent.pth"))
    with pytest.raises(FileNotFoundError, match=r"^\$TEST_WEIGHTS: test weights not found at .*absent.pth$"):
        weights.resolve()
    with pytest.raises(FileNotFoundError, match=r"^--weights: test weights not found at .*absent.pth$"):
        weights.resolve(tmp_path / "absent.pth", "--weights")
    monkeypatch.delenv("TEST_WEIGHTS")
    assert server.requests == 0
    assert weights.resolve() == cache / "w.pth" and (cache / "w.pth").read_bytes() == BODY  # then the cache
    assert weights.resolve() == cache / "w.pth" and server.requests == 1


def test_pinned_file_mismatch_and_offline(server, cache, monkeypatch):
    server.files["w.pth"] = BODY
    wrong = dataclasses.replace(pinned(server, "w.pth", BODY), sha256="f" * 64)
    with pytest.raises(ChecksumError, match="not the pinned f{64}: refused and deleted"):
        wrong.resolve()
    assert leftovers(cache) == []
    monkeypatch.setenv("STYLEGAN_OFFLINE", "1")
    weights = pinned(server, "w.pth", BODY)
    with pytest.raises(DownloadError) as error:
        weights.resolve(flag="--weights")
    assert str(error.value).endswith(f"test weights not found: get w.pth from {weights.url} and put it at "
                                     f"{cache / 'w.pth'}, or pass --weights PATH, or set TEST_WEIGHTS=PATH")


def test_published_weights_are_pinned_by_their_full_sha256():
    # torchvision and pytorch-fid name their files by the start of the SHA-256 the full value must begin with.
    for weights in (perceptual.VGG16_WEIGHTS, inception.INCEPTION_WEIGHTS, perceptual.LPIPS_WEIGHTS):
        assert len(weights.sha256) == 64 and int(weights.sha256, 16) >= 0 and weights.url.startswith("https://")
    assert perceptual.VGG16_WEIGHTS.sha256.startswith("397923af")
    assert inception.INCEPTION_WEIGHTS.sha256.startswith("6726825d")


def test_metric_weights_downloaded_on_first_use(server, cache, monkeypatch):
    """The LPIPS distance's two files, served here instead of by their publishers."""
    for attr, state in (("VGG16_WEIGHTS", vgg16_state_dict()), ("LPIPS_WEIGHTS", lpips_state_dict())):
        published = getattr(perceptual, attr)
        torch.save(state, cache.parent / published.filename)
        body = (cache.parent / published.filename).read_bytes()
        server.files[published.filename] = body
        monkeypatch.setattr(perceptual, attr, dataclasses.replace(published, url=server.url(published.filename),
                                                                  sha256=hashlib.sha256(body).hexdigest()))
    distance = perceptual.load_lpips()
    assert distance.kind == "lpips"
    assert leftovers(cache) == ["lpips-v0.1-vgg.pth", "lpips-v0.1-vgg.pth.sha256", "vgg16-397923af.pth",
                                "vgg16-397923af.pth.sha256"]
    server.stop()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    torch.testing.assert_close(perceptual.load_lpips()(x, x.flip(0)), distance(x, x.flip(0)))


def test_offline_messages_say_which_file_to_put_where(offline_cache):
    with pytest.raises(DownloadError) as error:
        inception.resolve_weights()
    message = str(error.value)
    assert message.startswith(f"--inception: cannot download {inception.WEIGHTS_URL}: STYLEGAN_OFFLINE=1 forbids")
    assert f"put it at {inception.DEFAULT_WEIGHTS_PATH}, or pass --inception PATH, or set STYLEGAN_INCEPTION" in message
    with pytest.warns(UserWarning) as record:
        perceptual.load_distance()
    assert len(record) == 1
    message = str(record[0].message)
    assert f"get vgg16-397923af.pth from {perceptual.VGG16_WEIGHTS.url} and put it at " \
           f"{offline_cache / 'vgg16-397923af.pth'}, or pass --lpips PATH, or set STYLEGAN_VGG16=PATH" in message
