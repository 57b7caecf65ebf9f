"""The studio server's workers: the open network in a process of its own (stylegan.studio.renderer), frames run one
at a time with those already stale dropped, and projection jobs in a second process whose progress a thread collects."""

import asyncio
import itertools
import multiprocessing
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Awaitable, Callable, Dict, Optional

from . import projector, renderer


class Stale(Exception):
    """A frame request that a newer one replaced before it started."""


def _ignore_interrupts(*init) -> None:
    """A worker's initializer: Ctrl-C is the server's to handle (it stops the workers); then init(*rest)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if init:
        init[0](*init[1:])


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stops a pool's workers now (a projection may have minutes left), so that none outlives the server."""
    processes = list((pool._processes or {}).values())  # None once the pool has shut down
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=10)


def _process_pool(initializer: Optional[Callable] = None, *initargs) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_ignore_interrupts,
                               initargs=(initializer, *initargs) if initializer else ())


class NetworkProcess:
    """One network opened in a process of its own; `info` is its description for the page."""

    def __init__(self, path: str, device: str):
        self.path, self.device = str(path), device
        self._pool = _process_pool()
        try:
            self.info = self._pool.submit(renderer.open_network, self.path, device).result()
        except BaseException:
            self.close()
            raise

    def submit(self, method: str, *args, **kwargs) -> Future:
        """renderer.StudioNetwork.`method`(*args, **kwargs) in the network's process."""
        return self._pool.submit(renderer.call, method, *args, **kwargs)

    async def call(self, method: str, *args, **kwargs):
        return await asyncio.wrap_future(self.submit(method, *args, **kwargs))

    def close(self) -> None:
        _stop(self._pool)


class LatestOnly:
    """Runs jobs one at a time, in order; a job still waiting when a newer one arrives is dropped (Stale), so a page
    dragging a slider gets the newest frame next rather than a queue of old ones."""

    def __init__(self):
        self._lock: Optional[asyncio.Lock] = None
        self._waiting: Optional[asyncio.Future] = None

    async def run(self, job: Callable[[], Awaitable]):
        if self._lock is None:  # made in the server's event loop
            self._lock = asyncio.Lock()
        if self._waiting is not None and not self._waiting.done():
            self._waiting.set_result(False)
        mine = self._waiting = asyncio.get_running_loop().create_future()
        async with self._lock:
            if mine.done():
                raise Stale
            mine.set_result(True)
            return await job()


class ProjectionJobs:
    """Projections of uploaded images, one at a time, in a process of their own; each job's latest progress (step,
    distance, preview, target) and, once done, its ws or its error."""

    def __init__(self):
        self._queue = multiprocessing.get_context("spawn").Queue()
        self._pool = _process_pool(projector.init, self._queue)
        self._ids = itertools.count(1)
        self.jobs: Dict[str, dict] = {}
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True, name="projection-progress")
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                kind, job, fields = self._queue.get()
            except (EOFError, OSError, ValueError):  # the queue was closed: the server is stopping
                return
            with self._lock:
                entry = self.jobs.get(job)
                if entry is None:
                    continue
                entry.update(fields)
                entry["done"] = entry["done"] or kind in ("done", "error")

    def start(self, network: NetworkProcess, image_path: str, steps: int, w_plus: bool) -> str:
        """A new job projecting the image file into `network` (the file is deleted when the job ends)."""
        with self._lock:
            if any(not entry["done"] for entry in self.jobs.values()):
                raise ValueError("a projection is already running; wait for it to finish")
            job = f"p{next(self._ids)}"
            self.jobs[job] = dict(job=job, network=network.path, step=0, steps=steps, dist=None, done=False,
                                  error=None, image=None, target=None, ws=None)
        future = self._pool.submit(projector.run, job, network.path, network.device, image_path, steps, w_plus)
        future.add_done_callback(lambda f: self._failed(job, f))
        return job

    def _failed(self, job: str, future: Future) -> None:
        """Marks a job whose process died (or that could not start) as failed."""
        error = future.exception() if not future.cancelled() else None
        if error is not None:
            with self._lock:
                self.jobs[job].update(done=True, error=f"the projection process stopped: {error}")
            if isinstance(error, BrokenProcessPool):
                self._pool = _process_pool(projector.init, self._queue)

    def status(self, job: str) -> Optional[dict]:
        """The job's progress for the page (None for an unknown job)."""
        with self._lock:
            entry = self.jobs.get(job)
            return None if entry is None else {k: v for k, v in entry.items() if k not in ("ws", "network")}

    def ws(self, job: str, network: NetworkProcess):
        """The ws of a finished job of `network`; a ValueError naming `projection` otherwise."""
        with self._lock:
            entry = self.jobs.get(job)
        if entry is None or entry["network"] != network.path:
            raise ValueError(f"projection: no projection {job!r} of this network")
        if entry["ws"] is None:
            raise ValueError(f"projection: {job!r} has not finished" if entry["error"] is None else
                             f"projection: {job!r} failed: {entry['error']}")
        return entry["ws"]

    def close(self) -> None:
        _stop(self._pool)
        self._queue.close()
