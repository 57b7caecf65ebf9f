"""The studio's web server (FastAPI): the page, and the JSON API it calls (the API's fields: stylegan/studio/API.md).

The open network lives in a process of its own (processes.NetworkProcess, one network per process: opening another
starts a new process and stops the old one once the new one works); frames run one at a time and a frame request
still waiting when a newer one arrives is answered 409 (stale) instead of being rendered; projections run in a second
process. Bad input of any kind (parameters, uploads, files that are no network) is a 400 with one line, and a crash of
a worker process is a 500 after which the server starts it again: the server itself keeps serving."""

import asyncio
import shutil
import tempfile
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import List, Optional

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from ..loading import network_file
from ..tools.command_line import USER_ERRORS, error_line
from ..train.snapshot import newest_snapshot
from .processes import LatestOnly, NetworkProcess, ProjectionJobs, Stale
from .projector import check_steps

STATIC = Path(__file__).parent / "static"
NETWORK_SUFFIXES = (".pkl", ".safetensors")
MAX_IMAGE_BYTES = 64 << 20
HINT = "no network yet: train one with `python -m stylegan.train` (its snapshots go to ./runs), or open a file"


class NoNetwork(ValueError):
    pass


def candidates(folder: Path) -> List[dict]:
    """What the studio offers to open from `folder`: the newest run under runs/ (with a snapshot) and the network
    files in the folder."""
    found = []
    runs = folder / "runs"
    if runs.is_dir():
        run_dirs = sorted((p for p in runs.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
        for run in run_dirs:
            snapshot = newest_snapshot(run)
            if snapshot is not None:
                found.append(dict(path=str(run), label=f"newest run: {run.name} ({snapshot.name})"))
                break
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in NETWORK_SUFFIXES):
        found.append(dict(path=str(path), label=path.name))
    return found


class Studio:
    """The server's state: the open network (or None), its frames, the projections, uploaded files."""

    def __init__(self, device: str = "auto", folder: Optional[Path] = None):
        self.device, self.folder = device, Path(folder or Path.cwd())
        self.network: Optional[NetworkProcess] = None
        self.frames = LatestOnly()
        self.projections = ProjectionJobs()
        self.uploads = Path(tempfile.mkdtemp(prefix="stylegan-studio-"))

    def open(self, path: str) -> dict:
        """Opens the network `path` names (stylegan.loading's forms) in a new process; the old one is stopped once
        the new one works (and kept when it fails)."""
        if not isinstance(path, str) or not path.strip():
            raise ValueError("path: name a network file, snapshot or run directory, or URL")
        network_file(path.strip())  # a missing file is said at once, without starting a process
        new = NetworkProcess(path.strip(), self.device)
        old, self.network = self.network, new
        if old is not None:
            old.close()
        return new.info

    def upload(self, data: bytes, filename: str, suffixes, what: str) -> Path:
        """Uploaded bytes kept as a file with the upload's name in a folder of its own (so that messages name it)."""
        name = Path(filename or "").name
        if not data:
            raise ValueError(f"{what}: the upload is empty")
        if Path(name).suffix.lower() not in suffixes:
            shown = repr(name) if name else "a file without a name"
            raise ValueError(f"{what}: expected a {' or '.join(suffixes)} file, got {shown}")
        folder = Path(tempfile.mkdtemp(dir=self.uploads))
        path = folder / name
        path.write_bytes(data)
        return path

    def require_network(self) -> NetworkProcess:
        if self.network is None:
            raise NoNetwork("no network is open: open one first")
        return self.network

    async def call(self, method: str, *args):
        """A renderer method on the open network; a worker that died is started again (with the same network)."""
        network = self.require_network()
        try:
            return await network.call(method, *args)
        except BrokenProcessPool:
            if self.network is not network:
                raise ValueError("another network was opened while this request ran") from None
            await asyncio.to_thread(self.open, network.path)
            raise RuntimeError("the network process stopped unexpectedly; it was started again") from None

    def projection_ws(self, state):
        job = state.get("projection") if isinstance(state, dict) else None
        return None if job is None else self.projections.ws(job, self.require_network())

    def status(self) -> dict:
        found = candidates(self.folder)
        return dict(network=None if self.network is None else self.network.info, candidates=found,
                    hint="" if found or self.network else HINT)

    def close(self) -> None:
        if self.network is not None:
            self.network.close()
        self.projections.close()
        shutil.rmtree(self.uploads, ignore_errors=True)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _int_query(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name}: expected an integer, got {value!r}") from None


def create_app(studio: Studio) -> FastAPI:
    """The FastAPI application serving `studio`."""
    app = FastAPI(title="stylegan studio", docs_url=None, redoc_url=None)
    app.state.studio = studio

    async def user_error(_request: Request, error: Exception) -> JSONResponse:
        return _error(400, error_line(error))

    async def internal_error(_request: Request, error: Exception) -> JSONResponse:  # also logged, with its traceback
        return _error(500, f"internal error ({type(error).__name__}): {error}")

    for kind in USER_ERRORS:
        app.add_exception_handler(kind, user_error)
    app.add_exception_handler(Exception, internal_error)

    async def json_body(request: Request):
        try:
            return await request.json()
        except ValueError:
            raise ValueError("the request body is not JSON") from None

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/api/status")
    async def status() -> dict:
        return studio.status()

    @app.post("/api/open")
    async def open_network(request: Request) -> dict:
        body = await json_body(request)
        return await asyncio.to_thread(studio.open, body.get("path") if isinstance(body, dict) else None)

    @app.post("/api/open_upload")
    async def open_upload(request: Request) -> dict:
        path = studio.upload(await request.body(), request.query_params.get("filename", ""), NETWORK_SUFFIXES,
                             "network upload")
        try:
            return await asyncio.to_thread(studio.open, str(path))
        except BaseException:
            shutil.rmtree(path.parent, ignore_errors=True)
            raise

    @app.post("/api/render")
    async def render(request: Request):
        state = await json_body(request)
        studio.require_network()
        try:
            reply = await studio.frames.run(lambda: studio.call("render", state, studio.projection_ws(state)))
        except Stale:
            return JSONResponse({"stale": True}, status_code=409)
        reply["request"] = state.get("request") if isinstance(state, dict) else None
        return reply

    @app.post("/api/export_w")
    async def export_w(request: Request) -> Response:
        state = await json_body(request)
        data = await studio.call("export_w", state, studio.projection_ws(state))
        return Response(data, media_type="application/octet-stream",
                        headers={"Content-Disposition": "attachment; filename=w.npz"})

    @app.post("/api/dissect")
    async def dissect(request: Request) -> dict:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise ValueError("expected an object {state, layer, channel, samples, top}")
        return await studio.call("dissect", body.get("state", {}), body.get("layer"), body.get("channel"),
                                 body.get("samples", 64), body.get("top", 8))

    @app.post("/api/directions")
    async def directions(request: Request) -> dict:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise ValueError("expected an object {method, count}")
        return await studio.call("make_directions", body.get("method"), body.get("count", 8))

    @app.post("/api/directions_upload")
    async def directions_upload(request: Request) -> dict:
        studio.require_network()
        name = request.query_params.get("filename", "")
        path = studio.upload(await request.body(), name, (".npz",), "directions upload")
        try:
            return await studio.call("load_directions_file", str(path), Path(name).name)
        finally:
            shutil.rmtree(path.parent, ignore_errors=True)

    @app.post("/api/project")
    async def start_projection(request: Request) -> dict:
        network = studio.require_network()
        steps = check_steps(_int_query(request, "steps", 200))
        w_plus = request.query_params.get("w_plus", "0") not in ("0", "false", "")
        data = await request.body()
        if len(data) > MAX_IMAGE_BYTES:
            raise ValueError(f"image upload: larger than {MAX_IMAGE_BYTES >> 20} MB")
        path = studio.upload(data, request.query_params.get("filename", ""),
                             (".png", ".jpg", ".jpeg", ".webp", ".bmp"), "image upload")
        try:
            await asyncio.to_thread(_check_image, path)
            return dict(job=studio.projections.start(network, str(path), steps, w_plus))
        except BaseException:
            shutil.rmtree(path.parent, ignore_errors=True)
            raise

    @app.get("/api/project/{job}")
    async def projection_status(job: str):
        status = studio.projections.status(job)
        if status is None:
            return _error(404, f"projection: no job {job!r}")
        return status

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _check_image(path: Path) -> None:
    """A ValueError naming the upload when the file is not an image PIL can read."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.verify()
    except Exception:
        raise ValueError(f"image upload: {path.name} is not an image that can be read") from None
