"""Setting a run up: the device and process group, resuming, the dataset, the resolved options, the networks, the
run directory; then the loop (`python -m stylegan.train` calls run()). Everything the user gives is checked before the
run directory is created."""

import copy
import json
import platform
import re
import sys
from pathlib import Path
from typing import Dict, Optional, Tuple

import torch

from stylegan_ops import unavailable_reason

from ..checks import UserError, check_fits_dataset, check_outdir, os_error_text, pick_device
from ..cpu_memory import keep_freed_memory
from ..data import Dataset, open_dataset
from ..downloads import local_path
from ..network_io import load_nvidia_pickle
from ..networks import Discriminator, Generator, set_low_precision
from .distributed import ProcessGroup, broadcast_module, init_from_environment, shutdown
from .loop import TrainingLoop
from .options import NETWORK_OPTIONS, PROG, TrainingOptions, flag, options_from, resolve_options
from .report import Log, ProgressLine, StatsWriter
from .snapshot import NETWORK_KEYS, list_snapshots, read_for_resume


def process_device(spec: str, group: ProcessGroup) -> torch.device:
    """The device of this process for a --device value (checks.pick_device): 'cuda' without an index is the local
    rank's GPU, made the current one."""
    device = pick_device(spec)
    if device.type == "cuda":
        if device.index is None:
            device = torch.device("cuda", group.local_rank)
        torch.cuda.set_device(device)
    return device


def build_networks(o: TrainingOptions, dataset: Dataset) -> Tuple[torch.nn.Module, torch.nn.Module]:
    """G and D for the options (resolved) and the dataset."""
    synthesis = dict(channel_base=o.cbase, channel_max=o.cmax)
    if o.arch == "stylegan2":
        synthesis.update(architecture=o.g_arch, num_fp16_res=o.fp16_res, conv_clamp=o.conv_clamp)
    elif o.arch.startswith("stylegan3"):
        # NVIDIA's StyleGAN3 training: R's G twice as wide; magnitude EMAs with a half-life of 20k images.
        width = 2 if o.arch == "stylegan3-r" else 1
        synthesis.update(channel_base=o.cbase * width, channel_max=o.cmax * width, num_fp16_res=o.fp16_res,
                         conv_clamp=o.conv_clamp, magnitude_ema_beta=0.5 ** (o.batch / 20000))
    G = Generator(z_dim=o.z_dim, c_dim=dataset.label_dim, w_dim=o.w_dim, img_resolution=dataset.resolution,
                  img_channels=dataset.num_channels, variant=o.arch, mapping_kwargs=dict(num_layers=o.map),
                  synthesis_kwargs=synthesis, impl=o.impl)
    D = Discriminator(c_dim=dataset.label_dim, img_resolution=dataset.resolution,
                      img_channels=dataset.num_channels, architecture=o.d_arch, channel_base=o.cbase,
                      channel_max=o.cmax, num_fp16_res=o.fp16_res, conv_clamp=o.conv_clamp,
                      epilogue_kwargs=dict(mbstd_group_size=o.mbstd_group), progressive=o.growing, impl=o.impl)
    return G, D


def _next_run_dir(outdir: Path, description: str) -> Path:
    outdir.mkdir(parents=True, exist_ok=True)
    while True:
        numbers = [int(m.group(1)) for p in outdir.iterdir() if (m := re.match(r"^(\d+)-", p.name))]
        path = outdir / f"{max(numbers, default=-1) + 1:05d}-{description}"
        try:
            path.mkdir()
            return path
        except FileExistsError:  # another run took the number
            continue


def _description(o: TrainingOptions, dataset: Dataset, world_size: int) -> str:
    text = f"{dataset.name}-{o.arch}-gpus{world_size}-batch{o.batch}-gamma{o.gamma:g}"
    if o.resume:
        text += "-resumed"
    return text + (f"-{o.desc}" if o.desc else "")


def _write_config(run_dir: Path, o: TrainingOptions, dataset: Dataset, G, D, group: ProcessGroup,
                  device: torch.device) -> None:
    config = dict(options=o.to_dict(),
                  dataset=dict(name=dataset.name, path=o.data, size=len(dataset), resolution=dataset.resolution,
                               channels=dataset.num_channels, label_dim=dataset.label_dim),
                  networks=dict(G=G.init_kwargs, D=D.init_kwargs),
                  environment=dict(world_size=group.world_size, device=str(device), torch=torch.__version__,
                                   python=platform.python_version(),
                                   fused_ops_unavailable=unavailable_reason(device.type),
                                   command=sys.argv))
    with open(run_dir / "training_options.json", "w") as f:
        json.dump(config, f, indent=2, default=str)


def _load_resume(given: dict, device: torch.device):
    """(base options, networks {'G', 'D', 'G_ema'}, state or None, a line on the newer snapshots passed over or None)
    from --resume."""
    path = local_path(given["resume"], "--resume")
    shaping = sorted(k for k in given if k in NETWORK_OPTIONS)
    if shaping:
        raise ValueError(f"--resume: the networks come from {path}; {', '.join(map(flag, shaping))} cannot change "
                         "them")
    if path.is_file():
        if path.suffix != ".pkl":
            raise ValueError(f"--resume: {path} is not something to resume from: give a snapshot directory (such as "
                             f"RUN/snapshot-NNNNNNNNN) or a run directory, which hold G, D, G_ema and the training "
                             "state, or an NVIDIA network pickle (.pkl) to fine-tune")
        data = load_nvidia_pickle(path)
        missing = [k for k in NETWORK_KEYS if not isinstance(data.get(k), torch.nn.Module)]
        if missing:
            raise ValueError(f"--resume {path}: the pickle lacks networks {missing}")
        networks = {k: data[k].to(device).train().requires_grad_(True) for k in NETWORK_KEYS}
        return None, networks, None, None
    snapshot, networks, state, broken = read_for_resume(path, device=device)
    note = f"resume: passed over {len(broken)} newer snapshot(s) that do not read back ({'; '.join(broken)}); " \
           f"resuming from {snapshot.name}, the newest intact one" if broken else None
    # The options the run was given (its 'auto' ones are resolved again, for this run's processes and flags).
    base = {k: v for k, v in state["given"].items() if k not in ("resume", "dry_run", "device")}
    return base, networks, state, note


def run(given: Dict[str, object]) -> Optional[Path]:
    """Trains with the options given (a dict of TrainingOptions fields; the rest from a resumed run or 'auto');
    returns the run directory on the main process."""
    device_spec = str(given.get("device", "auto"))
    group = init_from_environment("cuda" if device_spec.startswith("cuda") or
                                  (device_spec == "auto" and torch.cuda.is_available()) else "cpu")
    finished = False
    try:
        run_dir = _run(given, group, process_device(device_spec, group))
        finished = True
        return run_dir
    finally:
        shutdown(group, finished)


def _run(given: dict, group: ProcessGroup, device: torch.device) -> Optional[Path]:
    base, networks, state, note = _load_resume(given, device) if given.get("resume") else (None, None, None, None)
    given = {**(base or {}), **given}
    o = options_from(given)
    if group.is_main:
        check_outdir(o.outdir)
    dataset = open_dataset(o.data, resolution=o.resolution, use_labels=o.cond, mirror=o.mirror,
                           max_size=o.max_size, on_corrupt=o.on_corrupt)
    if networks is not None:  # the networks' own architecture replaces the options that describe it
        o.arch, o.growing = networks["G"].variant, bool(networks["D"].init_kwargs.get("progressive", False))
        if state is None and o.ada_kimg is None:  # fine-tuning a published network: ADA reacts faster
            o.ada_kimg = 100
    o = resolve_options(o, dataset.resolution, o.data is None, group.world_size, device.type == "cuda")
    if o.dry_run:
        if group.is_main:
            print(json.dumps(o.to_dict(), indent=2))
        return None
    if o.precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"--precision bf16: {torch.cuda.get_device_name(device)} does not support bfloat16")
    if device.type == "cpu":
        keep_freed_memory()  # every step reuses its memory instead of faulting fresh pages in
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = o.tf32

    torch.manual_seed(o.seed)  # the same initial networks on every process (then broadcast from rank 0 anyway)
    if networks is None:
        G, D = build_networks(o, dataset)
        G, D = G.to(device), D.to(device)
        G_ema = copy.deepcopy(G)
    else:
        G, D, G_ema = networks["G"], networks["D"], networks["G_ema"]
        for key, net in (("G", G), ("D", D)):
            check_fits_dataset(net, dataset, "--resume", f"{o.resume}'s {key}",
                               hint=" (check --data, --resolution and --cond)")
    for net in (G, D, G_ema):
        broadcast_module(net, group)
        if o.precision == "bf16":
            set_low_precision(net, torch.bfloat16)
    torch.manual_seed(o.seed * group.world_size + group.rank)

    run_dir = None
    if group.is_main:
        run_dir = _next_run_dir(Path(o.outdir), _description(o, dataset, group.world_size))
        _write_config(run_dir, o, dataset, G, D, group, device)
    progress = ProgressLine(o.kimg) if group.is_main else None
    log = Log(run_dir / "log.txt" if run_dir else None, progress) if group.is_main else _silent
    loop = TrainingLoop(o, dataset, G, D, G_ema, group, device, run_dir, log, progress, given=given)
    if state is not None:
        loop.load_state_dict(state)
    writer = None
    loop.stop.install()
    try:
        if group.is_main:
            _announce(log, o, dataset, G, D, group, device, run_dir, state, note)
            loop.save_reals_grid()
            writer = StatsWriter(run_dir)
        loop.run(writer)
    except KeyboardInterrupt:
        if group.is_main:
            log(f"stopped; {_resume_hint(run_dir)}")
        raise
    except OSError as e:  # a full disk, a run directory gone read-only: what was written stays complete
        text = os_error_text(e) if e.filename is not None else f"writing in {run_dir}: {os_error_text(e)}"
        raise UserError(f"training stopped: {text}" + (f"; {_resume_hint(run_dir)}" if group.is_main else "")) from e
    finally:
        loop.stop.uninstall()
        if writer is not None:
            writer.close()
    if group.is_main:
        log(f"done: {run_dir}")
        log.close()
    return run_dir


def _silent(line: str) -> None:
    pass


def _resume_hint(run_dir: Path) -> str:
    if list_snapshots(run_dir):
        return f"continue with: {PROG} --resume {run_dir}"
    return "no snapshot was written, so there is nothing to resume"


def _announce(log, o, dataset, G, D, group, device, run_dir, state, note) -> None:
    params = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    log(f"run directory: {run_dir}")
    log(f"dataset: {dataset.name}, {len(dataset)} images, {dataset.resolution}x{dataset.resolution}x"
        f"{dataset.num_channels}, {dataset.label_dim} label dims" + (" (x-flips included)" if o.mirror else ""))
    if getattr(dataset, "skipped", None):
        log(f"dataset: skipped {len(dataset.skipped)} unreadable images (first: {dataset.skipped[0][0]})")
    log(f"networks: {o.arch} G {params(G) / 1e6:.2f}M parameters, D {params(D) / 1e6:.2f}M; "
        f"device {device}, {group.world_size} process(es), ops: {_ops_description(o.impl, device)}")
    if note is not None:
        log(note)
    if state is not None:
        log(f"resumed from {o.resume} at kimg {state['nimg'] / 1000:g}")
    log(f"training to kimg {o.kimg:g}, batch {o.batch}, tick every {o.tick:g} kimg, snapshot every {o.snap} ticks")


def _ops_description(impl: str, device: torch.device) -> str:
    if impl == "ref":
        return "reference (--impl ref)"
    reason = unavailable_reason(device.type)
    return "fused kernels" if reason is None else f"reference ({reason})"
