"""The training loop: phases with lazy regularization, data-parallel gradient averaging, the non-finite gradient
guard, G_ema, ticks (statistics, sample grids, snapshots) and the state a snapshot needs to continue exactly."""

import resource
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch

from ..augment import AdaController, make_augment_pipe
from ..data import Dataset
from .distributed import (ProcessGroup, average_gradients, average_in_place, average_scalars, broadcast_flag,
                          check_replicas)
from .growth import Growth, GrowthSchedule, growth_kwargs, resize_reals
from .loss import Phase, StyleGANLoss
from ..images import grid_image, save_png
from ..metrics import compute_metrics, load_inception
from .options import TrainingOptions, feature_metrics, metric_names
from .report import Log, ProgressLine, Statistics, StatsWriter, format_duration
from .sampler import GlobalBatchSampler
from .snapshot import prune_snapshots, write_snapshot


class Stopped(KeyboardInterrupt):
    """Training stopped by a signal, after writing a snapshot; exit_status is 128 + the signal's number, as a shell
    reports a process the signal ended (130 for SIGINT, 143 for SIGTERM)."""

    def __init__(self, signum: int, reason: str):
        super().__init__(reason)
        self.exit_status = 128 + signum


class StopRequest:
    """Set by SIGINT / SIGTERM (see install): the loop finishes its step, writes a snapshot and stops. A second
    SIGINT stops at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.reason: Optional[str] = None
        self.signum = signal.SIGTERM  # the signal received; another process's stop counts as a SIGTERM
        self._previous = {}

    def install(self) -> None:
        """Handles SIGINT and SIGTERM until uninstall (only from the main thread, where Python delivers signals)."""
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum, frame) -> None:
        if self.reason is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.reason, self.signum = signal.Signals(signum).name, signum

    def agreed(self, group: ProcessGroup, device: torch.device) -> bool:
        """Whether any process was asked to stop (all processes then stop after the same step)."""
        if group.world_size == 1:
            return self.reason is not None
        import torch.distributed as dist

        flag = torch.tensor([float(self.reason is not None)], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if flag.item() and self.reason is None:
            self.reason = "another process was stopped"
        return bool(flag.item())


@dataclass
class TrainingPhase:
    """A loss phase with the network it updates, that network's optimizer and its interval in steps."""

    kind: Phase
    module: torch.nn.Module
    opt: torch.optim.Optimizer
    interval: int

    @property
    def name(self) -> str:
        return self.kind.name


def make_phases(o: TrainingOptions, G: torch.nn.Module, D: torch.nn.Module) -> List[TrainingPhase]:
    """G and D phases: 'main' every step and 'reg' every reg_interval steps, with Adam's learning rate and betas
    adjusted for the regularization steps (ratio interval / (interval + 1)); or one 'both' phase for interval 0."""
    phases = []
    for net, module, lr, interval in (("G", G, o.glr, o.g_reg_interval), ("D", D, o.dlr, o.d_reg_interval)):
        params = [p for p in module.parameters()]
        if interval == 0:
            opt = torch.optim.Adam(params, lr=lr, betas=(0.0, 0.99), eps=1e-8)
            phases.append(TrainingPhase(Phase(net, main=True, reg=True), module, opt, 1))
            continue
        ratio = interval / (interval + 1)
        opt = torch.optim.Adam(params, lr=lr * ratio, betas=(0.0, 0.99 ** ratio), eps=1e-8)
        phases += [TrainingPhase(Phase(net, main=True, reg=False), module, opt, 1),
                   TrainingPhase(Phase(net, main=False, reg=True), module, opt, interval)]
    return phases


class TrainingLoop:
    """One process's part of a training run (run_dir and log only on the main process)."""

    def __init__(self, o: TrainingOptions, dataset: Dataset, G: torch.nn.Module, D: torch.nn.Module,
                 G_ema: torch.nn.Module, group: ProcessGroup, device: torch.device, run_dir: Optional[Path],
                 log: Log, progress: Optional[ProgressLine], given: Optional[dict] = None):
        self.o, self.dataset, self.group, self.device = o, dataset, group, device
        self.G, self.D, self.G_ema = G.train().requires_grad_(False), D.train().requires_grad_(False), \
            G_ema.eval().requires_grad_(False)
        self.run_dir, self.log, self.progress = run_dir, log, progress
        self.given = dict(given or {})  # the options as given, stored so that a resumed run resolves 'auto' again
        self.phases = make_phases(o, G, D)
        augment_pipe = make_augment_pipe(o.augpipe, o.p).to(device) if o.aug != "noaug" else None
        magnitude_emas = [b for name, b in G.named_buffers() if name.endswith("magnitude_ema")]  # StyleGAN3
        self.loss = StyleGANLoss(G, D, loss=o.loss, r1_gamma=o.gamma, pl_weight=o.pl_weight, pl_decay=o.pl_decay,
                                 pl_batch_shrink=o.pl_batch_shrink, style_mixing_prob=o.style_mixing,
                                 average=lambda t: average_scalars(t.reshape(1), group).reshape(t.shape),
                                 g_kwargs=dict(force_fp32=True) if o.fp32 and G.variant != "stylegan" else None,
                                 d_kwargs=dict(force_fp32=True) if o.fp32 else None, augment_pipe=augment_pipe,
                                 update_emas=bool(magnitude_emas))
        # G's running statistics of its training batches, averaged over the processes after each step.
        self.running_statistics = ([G.mapping.w_avg] if hasattr(G.mapping, "w_avg") else []) + magnitude_emas
        self.ada = None
        if augment_pipe is not None:
            if o.aug == "ada":
                self.ada = AdaController(self.loss.augment_pipe, target=o.target, interval=o.ada_interval,
                                         kimg=o.ada_kimg, average=lambda t: average_scalars(t, group))
        self.metrics = metric_names(o.metrics)
        self.feature_extractor = load_inception(o.inception, device) if group.is_main and feature_metrics(
            self.metrics) else None
        self.growth = GrowthSchedule(o.pg_start, dataset.resolution, o.pg_kimg) if o.growing else None
        self.growth_state: Optional[Growth] = None  # (resolution, alpha) of the current step while growing
        self.nimg = self.batch_idx = self.tick = 0
        self.elapsed = 0.0  # training seconds over all sessions of the run
        self.nonfinite = {p.name: 0 for p in self.phases}
        self.stats = Statistics()
        self.stop = StopRequest()
        self.batch_per_rank = o.batch // group.world_size
        g = torch.Generator().manual_seed(o.seed)  # the sample grid's latents: fixed for the whole run
        self.grid_z = torch.randn([self._grid_size()[0] * self._grid_size()[1], G.z_dim], generator=g)
        self.grid_c = self._grid_labels(g)

    # ----- state for snapshots

    def state_dict(self, rng_states: list) -> dict:
        return dict(options=self.o.to_dict(), given=self.given, nimg=self.nimg, batch_idx=self.batch_idx,
                    tick=self.tick, elapsed=self.elapsed, nonfinite=dict(self.nonfinite),
                    pl_mean=self.loss.pl_mean.cpu(), ada=self.ada.state_dict() if self.ada else None,
                    optimizers={p.kind.network: p.opt.state_dict() for p in self.phases if p.kind.main},
                    world_size=self.group.world_size, rng=rng_states)

    def load_state_dict(self, state: dict) -> None:
        self.nimg, self.batch_idx, self.tick = state["nimg"], state["batch_idx"], state["tick"]
        self.elapsed = state["elapsed"]
        self.nonfinite.update(state["nonfinite"])
        self.loss.pl_mean.copy_(state["pl_mean"])
        if self.ada is not None and state.get("ada") is not None:  # else (the run did not use ADA) p starts at --p
            self.ada.load_state_dict(state["ada"])
        for p in self.phases:
            if p.kind.main:
                p.opt.load_state_dict(state["optimizers"][p.kind.network])
                for group in p.opt.param_groups:  # the moments come back; the rates are this run's options
                    group["lr"], group["betas"] = p.opt.defaults["lr"], p.opt.defaults["betas"]
        rng = state["rng"]
        if state["world_size"] == self.group.world_size:
            set_rng_state(rng[self.group.rank], self.device)
        else:
            torch.manual_seed(hash((self.o.seed, self.nimg, self.group.rank)) % 2 ** 63)
            self.log(f"resume: the run had {state['world_size']} processes, this one has {self.group.world_size}: "
                     "random streams restarted, so the continuation is not bit-identical to the original run")

    # ----- the sample grid

    def _grid_size(self):
        r = self.dataset.resolution
        return int(np.clip(1024 // r, 4, 12)), int(np.clip(576 // r, 3, 8))

    def _grid_labels(self, g: torch.Generator) -> torch.Tensor:
        """Labels of the grid: those of a fixed random sample of the data, sorted so that rows group classes."""
        n = self.grid_z.shape[0]
        idx = torch.randint(len(self.dataset), [n], generator=g).tolist()
        labels = np.stack([self.dataset.label(i) for i in idx]) if self.dataset.label_dim else np.zeros([n, 0])
        order = np.lexsort(labels.T[::-1]) if labels.shape[1] else np.arange(n)
        self.grid_indices = [idx[i] for i in order]
        return torch.from_numpy(labels[order].astype(np.float32))

    def _render_grid(self) -> np.ndarray:
        images = []
        with torch.no_grad():
            for z, c in zip(self.grid_z.split(self.o.batch_gpu), self.grid_c.split(self.o.batch_gpu)):
                ws = self.G_ema.mapping(z.to(self.device), c.to(self.device))
                img = self.G_ema.synthesis(ws, noise_mode="const", **self.loss.g_kwargs,
                                           **growth_kwargs(self.growth_state))
                if img.shape[-1] != self.dataset.resolution:
                    img = torch.nn.functional.interpolate(img, size=self.dataset.resolution, mode="nearest")
                images.append(img.cpu())
        return grid_image(torch.cat(images), self._grid_size()[0])

    def save_reals_grid(self) -> None:
        reals = np.stack([self.dataset[i][0] for i in self.grid_indices])
        save_png(grid_image(torch.from_numpy(reals).float() / 127.5 - 1, self._grid_size()[0]),
                 self.run_dir / "reals.png")

    # ----- training

    def _data(self):
        sampler = GlobalBatchSampler(len(self.dataset), self.o.batch, self.group.rank, self.group.world_size,
                                     self.o.seed, start_batch=self.batch_idx)
        loader = torch.utils.data.DataLoader(self.dataset, batch_sampler=sampler, num_workers=self.o.workers,
                                             pin_memory=self.device.type == "cuda",
                                             persistent_workers=self.o.workers > 0,
                                             generator=torch.Generator())
        return iter(loader)

    def _gen_labels(self, n: int) -> torch.Tensor:
        if not self.dataset.label_dim:
            return torch.zeros([n, 0], device=self.device)
        idx = torch.randint(len(self.dataset), [n]).tolist()
        return torch.from_numpy(np.stack([self.dataset.label(i) for i in idx])).to(self.device)

    def blur_sigma(self) -> float:
        """The blur of D's input now: --blur-sigma fading linearly to 0 over --blur-kimg."""
        return max(1 - self.nimg / (self.o.blur_kimg * 1000), 0) * self.o.blur_sigma

    def _run_phase(self, phase: TrainingPhase, real_img, real_c, gen_z, gen_c) -> None:
        phase.module.requires_grad_(True)
        phase.opt.zero_grad(set_to_none=True)
        rounds = self.batch_per_rank // self.o.batch_gpu
        for r in range(rounds):
            part = slice(r * self.o.batch_gpu, (r + 1) * self.o.batch_gpu)
            values = self.loss.accumulate_gradients(phase.kind, real_img[part], real_c[part], gen_z[part],
                                                    gen_c[part], gain=phase.interval / rounds,
                                                    growth=self.growth_state, blur_sigma=self.blur_sigma())
            for name, value in values.items():
                self.stats.add(name, value)
            if self.ada is not None and "Loss/signs/real" in values:
                self.ada.accumulate(values["Loss/signs/real"])
        phase.module.requires_grad_(False)
        grads = [p.grad for p in phase.module.parameters() if p.grad is not None]
        average_gradients(phase.module.parameters(), self.group)
        if grads and not bool(torch.stack([g.isfinite().all() for g in grads]).all()):
            self.nonfinite[phase.name] += 1  # the same on every rank: the gradients were averaged first
            phase.opt.zero_grad(set_to_none=True)
            return
        phase.opt.step()

    def _update_ema(self) -> None:
        o = self.o
        ema_nimg = o.ema_kimg * 1000
        if o.ema_rampup:
            ema_nimg = min(ema_nimg, self.nimg * o.ema_rampup)
        beta = 0.5 ** (o.batch / max(ema_nimg, 1e-8))
        with torch.no_grad():
            for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
                p_ema.copy_(p.detach().lerp(p_ema, beta))
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
                b_ema.copy_(b)

    def _set_resolution(self) -> None:
        if self.growth is not None:
            self.growth_state = self.growth.at(self.nimg)

    def step(self, real_img: torch.Tensor, real_c: torch.Tensor) -> None:
        """One training step on this process's part of a global batch (uint8 images, labels)."""
        self._set_resolution()
        real_img = real_img.to(self.device, non_blocking=True).float() / 127.5 - 1
        if self.growth_state is not None:
            real_img = resize_reals(real_img, *self.growth_state)
        real_c = real_c.to(self.device, non_blocking=True)
        n = self.batch_per_rank
        for phase in self.phases:
            if self.batch_idx % phase.interval:
                continue
            gen_z = torch.randn([n, self.G.z_dim], device=self.device)
            self._run_phase(phase, real_img, real_c, gen_z, self._gen_labels(n))
        for statistic in self.running_statistics:
            # Each process moved it towards its own batches' statistic; the mean over the processes is the update a
            # single process would have made from the whole batch (the update is linear in the batch statistics).
            average_in_place(statistic, self.group)
        self._update_ema()
        if self.ada is not None:
            self.ada.step(self.o.batch)
        self.nimg += self.o.batch
        self.batch_idx += 1

    # ----- ticks

    def _tick_values(self, tick_seconds: float, tick_kimg: float) -> Dict[str, float]:
        values = self.stats.means(average=lambda t: average_scalars(t, self.group))
        self.stats.reset()
        values.update({"Progress/tick": self.tick, "Progress/kimg": self.nimg / 1000,
                       "Timing/sec_per_kimg": tick_seconds / max(tick_kimg, 1e-9),
                       "Timing/total_hours": self.elapsed / 3600,
                       "Resources/cpu_max_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20})
        values.update({f"Progress/nonfinite_steps/{k}": v for k, v in self.nonfinite.items()})
        if self.loss.augment_pipe is not None:
            values["Progress/augment"] = float(self.loss.augment_pipe.p)
        if self.ada is not None and self.ada.rt is not None:
            values["Progress/ada_rt"] = self.ada.rt
        if self.growth_state is not None:
            values.update({"Progress/resolution": self.growth_state.resolution,
                           "Progress/alpha": self.growth_state.alpha})
        if self.device.type == "cuda":
            values["Resources/peak_gpu_mem_gb"] = torch.cuda.max_memory_allocated(self.device) / 2 ** 30
            torch.cuda.reset_peak_memory_stats(self.device)
        return values

    def _tick_line(self, v: Dict[str, float]) -> str:
        parts = [f"tick {self.tick:<4d}", f"kimg {self.nimg / 1000:<8.2f}",
                 f"time {format_duration(self.elapsed):>9s}", f"sec/kimg {v['Timing/sec_per_kimg']:<7.2f}"]
        if self.growth is not None:
            parts.append(f"res {v['Progress/resolution']:.0f} alpha {v['Progress/alpha']:.2f}")
        for key, label in (("Loss/G/loss", "G"), ("Loss/D/loss", "D"), ("Loss/scores/real", "D(real)"),
                           ("Loss/scores/fake", "D(fake)"), ("Loss/r1_penalty", "R1"), ("Loss/pl_penalty", "PL")):
            if key in v:
                parts.append(f"{label} {v[key]:.3f}")
        if "Progress/augment" in v:
            parts.append(f"augment {v['Progress/augment']:.3f}")
        if "Progress/ada_rt" in v:
            parts.append(f"r_t {v['Progress/ada_rt']:.2f}")
        skipped = sum(self.nonfinite.values())
        if skipped:
            parts.append(f"non-finite steps skipped {skipped}")
        return "  ".join(parts)

    def _progress_values(self) -> Dict[str, float]:
        return {label: self.stats.sums[key].item() / self.stats.counts[key]
                for key, label in (("Loss/G/loss", "G"), ("Loss/D/loss", "D")) if key in self.stats.sums}

    def snapshot(self) -> Optional[Path]:
        """Writes a snapshot (every process takes part: the random states of all of them are stored); returns its
        path on the main process."""
        rng = gather_rng_states(self.device, self.group)
        error = path = None
        if self.group.is_main:
            try:
                path = write_snapshot(self.run_dir, self.nimg, {"G": self.G, "D": self.D, "G_ema": self.G_ema},
                                      self.state_dict(rng), info={"tick": self.tick})
                removed = prune_snapshots(self.run_dir, self.o.keep_snapshots)
                self.log(f"snapshot {path.name}" + (f" (removed {len(removed)} older)" if removed else ""))
            except Exception as e:  # noqa: BLE001 (re-raised below, after telling the other processes)
                error = e
        # Every process waits for the write and learns how it went: none exits (or trains on) while rank 0 writes.
        if not broadcast_flag(error is None, self.group, self.device):
            if error is not None:
                raise error
            raise RuntimeError("rank 0 failed to write a snapshot (see its log)")
        return path

    def evaluate_metrics(self, snapshot: Path, writer: Optional[StatsWriter]) -> None:
        """The --metrics of G_ema (main process only; the others wait at their next collective), logged, appended to
        metric-<name>.jsonl and written to the statistics."""
        start = time.monotonic()
        results = compute_metrics(self.G_ema, self.dataset, self.metrics, device=self.device,
                                  feature_extractor=self.feature_extractor, batch=self.o.batch_gpu,
                                  run_dir=self.run_dir, snapshot=snapshot)
        self.log("metrics " + "  ".join(f"{k} {v:.4g}" for k, v in results.items()) +
                 f"  ({format_duration(time.monotonic() - start)})")
        if writer is not None:
            writer.write(self.nimg, {f"Metrics/{k}": v for k, v in results.items()})

    def run(self, writer: Optional[StatsWriter]) -> None:
        """Trains until o.kimg thousand images; a snapshot every o.snap ticks and at the end."""
        o, main = self.o, self.group.is_main
        total = int(o.kimg * 1000)
        data = self._data()
        tick_start_nimg, tick_start = self.nimg, time.monotonic()
        self._set_resolution()
        if main:
            save_png(self._render_grid(), self.run_dir / f"fakes{self.nimg:09d}.png")
        while self.nimg < total:
            images, labels = next(data)
            self.step(images, labels)
            if self.stop.agreed(self.group, self.device):
                self.log(f"stopping at kimg {self.nimg / 1000:g} ({self.stop.reason}): writing a snapshot")
                self.snapshot()
                raise Stopped(self.stop.signum, self.stop.reason)
            now = time.monotonic()
            if main and self.progress is not None:
                elapsed_kimg = (self.nimg - tick_start_nimg) / 1000
                rate = (now - tick_start) / elapsed_kimg if elapsed_kimg > 0 else None
                self.progress.update(self.nimg / 1000, rate, self._progress_values)
            if self.nimg < total and self.nimg < tick_start_nimg + o.tick * 1000:
                continue
            tick_seconds = now - tick_start
            self.elapsed += tick_seconds
            self.tick += 1
            values = self._tick_values(tick_seconds, (self.nimg - tick_start_nimg) / 1000)
            if main:
                self.log(self._tick_line(values))
                grid = self._render_grid()
                save_png(grid, self.run_dir / f"fakes{self.nimg:09d}.png")
                if writer is not None:
                    writer.write(self.nimg, values)
                    writer.image("fakes", grid, self.nimg)
            if o.check_replicas:
                for name, net in (("G", self.G), ("D", self.D), ("G_ema", self.G_ema)):
                    check_replicas(net, name, self.group)
                if main:
                    self.log(f"replicas identical on all {self.group.world_size} processes")
            if self.tick % o.snap == 0 or self.nimg >= total:
                snapshot = self.snapshot()
                if main and self.metrics:
                    self.evaluate_metrics(snapshot, writer)
            tick_start_nimg, tick_start = self.nimg, time.monotonic()


def rng_state(device: torch.device) -> dict:
    return dict(torch=torch.get_rng_state(),
                cuda=torch.cuda.get_rng_state(device) if device.type == "cuda" else None)


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"], device)


def gather_rng_states(device: torch.device, group: ProcessGroup) -> list:
    """Every process's random state, on the main process (in rank order)."""
    own = rng_state(device)
    if group.world_size == 1:
        return [own]
    import torch.distributed as dist

    states = [None] * group.world_size
    dist.all_gather_object(states, own)
    return states
