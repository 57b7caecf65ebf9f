"""The studio: explore a generator in the browser (latents, truncation, style mixing, layers and channels,
editing directions, projection, StyleGAN3's translation and rotation), served from this machine.

    python -m stylegan.studio --network runs/00000-shapes32   # then open the URL it prints
    ssh -L 8765:127.0.0.1:8765 gpu-server                     # from a laptop, for a studio on a remote machine

Without --network it offers the newest run under ./runs and the network files in the current folder; the page can
also open a file. It listens on 127.0.0.1 (this machine only) unless --host says otherwise. Needs the studio extra:
pip install --no-build-isolation '.[studio]'."""

import argparse
import ipaddress
import os
import signal
import socket
import sys
import threading
import webbrowser

from ..checks import UserError
from ..tools.command_line import add_device_argument, command_parser, run_command

PROG = "python -m stylegan.studio"
DEFAULT_PORT = 8765


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = command_parser(prog, __doc__)
    parser.add_argument("--network", metavar="PATH", help="network to open: a network file, snapshot or run "
                                                          "directory, or URL (as the other tools take)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1, the default: this "
                                                            "machine only; 0.0.0.0: every network interface)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to listen on ({DEFAULT_PORT}, the default; 0: any free port)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    add_device_argument(parser)
    return parser


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) and listening; UserErrors naming --host or --port when it cannot be."""
    if not 0 <= port <= 65535:
        raise UserError(f"--port: expected 0..65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise UserError(f"--host: cannot resolve {host!r}: {e.strerror}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # so asyncio turns Nagle off: +40 ms a reply
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise UserError(f"--port: cannot listen on {host}:{port} ({e.strerror}); pick another port, or 0 for any "
                        "free one" if port else f"--host: cannot listen on {host} ({e.strerror})") from None
    sock.listen(128)
    return sock


def _terminated(signum, _frame) -> None:
    """SIGTERM stops the server as Ctrl-C does, its workers included; exit status 143, as a shell reports it."""
    stop = KeyboardInterrupt("stopped by SIGTERM")
    stop.exit_status = 128 + signum
    raise stop


def _has_display() -> bool:
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _serve(args: argparse.Namespace) -> None:
    try:
        import uvicorn

        from .server import Studio, create_app
    except ImportError as e:
        raise UserError(f"the studio needs FastAPI and uvicorn ({e.name} is missing): pip install "
                        "--no-build-isolation '.[studio]' (or pip install fastapi uvicorn)") from None
    sock = listen(args.host, args.port)
    previous = signal.signal(signal.SIGTERM, _terminated)  # uvicorn re-raises it after its graceful shutdown
    studio = Studio(args.device)
    try:
        if args.network is not None:
            info = studio.open(args.network)
            print(f"opened {info['path']}: {info['architecture']}, {info['resolution']}x{info['resolution']}",
                  flush=True)
        else:
            status = studio.status()
            for found in status["candidates"]:
                print(f"can open: {found['label']}", flush=True)
            if status["hint"]:
                print(status["hint"], flush=True)
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{port}/"
        print(f"stylegan studio: serving {url} (Ctrl-C stops it)", flush=True)
        if not ipaddress.ip_address(host).is_loopback:
            print(f"warning: listening on {host}: anyone who can reach this machine can use the studio", flush=True)
        if not args.no_browser and _has_display():
            threading.Timer(1.0, webbrowser.open, [url.replace("0.0.0.0", "127.0.0.1")]).start()
        server = uvicorn.Server(uvicorn.Config(create_app(studio), log_level="warning"))
        server.run(sockets=[sock])
    finally:
        studio.close()  # stops the worker processes
        sock.close()
        signal.signal(signal.SIGTERM, previous)


def main(argv=None, prog: str = PROG) -> int:
    """Runs the command with argv (sys.argv[1:] when None), named `prog` in its messages; returns the exit status."""
    return run_command(build_parser(prog), _serve, argv)


if __name__ == "__main__":
    sys.exit(main())
