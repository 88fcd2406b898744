"""Real boards behind the target interface: `ssh://[user@]host[:port]`
(ARM Linux: Raspberry Pi, RK3399, Jetson-class) and `adb[:SERIAL]`
(Android phones).

The project's runner (built for the board's architecture against the
runtime that matches the `.nb`), the runtime library and the `.nb` are
copied into a work dir on the board under names derived from their
SHA-256, so an unchanged file is not sent twice; a file counts only after
its checksum was verified on the board (a half-copied file is never
trusted), and an existing one is re-verified before each use. The runner
then speaks the same stdin/stdout protocol as on the emulated and x86
targets, through the ssh or adb channel."""
from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from pathlib import Path

from .. import runtimes
from ..errors import LiteError
from ..nbfile import NbInfo
from ..protocol import RunnerProcess
from .base import POWER_MODES, BenchResult, Session, Target, power_mode_index, register
from .transport import Transport, transport_for
from .transport import quote_path as _q

ARCH_OF_UNAME = {"aarch64": "armv8", "arm64": "armv8", "armv8l": "armv7hf", "armv7l": "armv7hf"}
DEFAULT_WORKDIR = {"ssh": "~/.cache/ocrslim-board", "adb": "/data/local/tmp/ocrslim"}
PROBE = ("uname -m; echo ---; (grep -m1 -E '^(model name|Hardware|Model)' /proc/cpuinfo || true); "
         "grep -c ^processor /proc/cpuinfo; "
         "cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null || echo unknown; "
         "(grep -m1 '^CPU part' /proc/cpuinfo || true); getprop ro.product.model 2>/dev/null || true")


@lru_cache(maxsize=64)
def sha256_of(path: str, mtime: float, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sha(path: Path) -> str:
    st = path.stat()
    return sha256_of(str(path), st.st_mtime, st.st_size)


class RemoteTarget(Target):
    def __init__(self, name: str, threads: int = 1, power_mode: str | int = "no_bind",
                 runtime_version: str | None = None, workdir: str | None = None, timeout_s: float = 600, **_):
        self.name = name
        self.transport: Transport = transport_for(name)
        self.threads = int(threads)
        self.power = power_mode_index(power_mode)
        self.power_name = POWER_MODES[self.power]
        self.runtime_version = runtime_version
        self.workdir = workdir or DEFAULT_WORKDIR[self.transport.kind]
        self.timeout_s = timeout_s
        self._device: dict | None = None

    # -- the board ---------------------------------------------------------------------------
    def device(self) -> dict:
        """Architecture, CPU model, core count and governor, asked once per target."""
        if self._device is None:
            out = self.transport.run(PROBE, timeout=30, what="probing the board").stdout.decode("utf-8", "replace")
            head, _, rest = out.partition("---")
            uname = head.strip()
            lines = [ln.strip() for ln in rest.strip().splitlines() if ln.strip()]
            model = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith(("model name", "Hardware",
                                                                                       "Model"))), "unknown")
            cores = next((int(ln) for ln in lines if ln.isdigit()), 0)
            part = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("CPU part")), None)
            gov = next((ln for ln in lines if ln in ("performance", "powersave", "ondemand", "schedutil",
                                                      "conservative", "userspace", "interactive", "unknown")),
                       "unknown")
            self._device = {"uname": uname, "cpu_model": model, "cpu_part": part, "cores": cores,
                            "governor": gov, "arch": ARCH_OF_UNAME.get(uname)}
            phone = [ln for ln in lines if not any(c in ln for c in ":") and not ln.isdigit() and ln != gov]
            if self.transport.kind == "adb" and phone:
                self._device["model"] = phone[-1]
        return self._device

    def arch(self) -> str:
        d = self.device()
        if d["arch"] is None:
            raise LiteError(f"{self.name}: the board reports a {d['uname'] or 'unknown'} CPU; Paddle Lite's ARM "
                            "runtimes need aarch64 or armv7l (is this the right host?)")
        return ("android-" + d["arch"]) if self.transport.kind == "adb" else d["arch"]

    # -- Target -------------------------------------------------------------------------------
    def check(self, info: NbInfo) -> None:
        if "x86" in info.targets:
            raise LiteError(f"{info.path}: an x86 .nb does not run on ARM; convert with `lite opt MODEL --target arm`")
        self.runtime_for(info)

    def runtime_for(self, info: NbInfo) -> runtimes.Runtime:
        return runtimes.find(self.runtime_version or info.opt_version, self.arch())

    def open(self, nb_path: str, info: NbInfo) -> "RemoteSession":
        rt = self.runtime_for(info)
        runner = runtimes.build_runner(rt)
        nb = Path(nb_path)
        rt_dir = f"{self.workdir}/rt-{_sha(rt.lib)[:16]}"  # the runner finds the library beside it ($ORIGIN)
        files = {rt.lib: f"{rt_dir}/{runtimes.LIB}",
                 runner: f"{rt_dir}/lite_runner-{_sha(runner)[:16]}",
                 nb: f"{self.workdir}/nb/{_sha(nb)[:32]}.nb"}
        self.stage(files)
        # LD_LIBRARY_PATH too: older Android linkers ignore $ORIGIN in the runner's rpath
        cmd = (f"cd {_q(rt_dir)} && LD_LIBRARY_PATH=. exec ./{Path(files[runner]).name} {_q(files[nb])} "
               f"{self.threads} {self.power}")
        label = f"{nb_path} on {self.name} ({rt.version} runtime)"
        return RemoteSession(RunnerProcess(self.transport.shell_argv(cmd), label), info, self, rt)

    def stage(self, files: dict[Path, str]) -> dict[str, str]:
        """Copy what the board lacks; returns {remote path: 'kept' | 'sent'}."""
        want = {remote: _sha(local) for local, remote in files.items()}
        have = self._remote_sums(list(want))
        status = {}
        for local, remote in files.items():
            if have.get(remote) == want[remote]:
                status[remote] = "kept"
                continue
            tmp = f"{remote}.part"
            self.transport.run(f"mkdir -p {_q(str(Path(remote).parent))}", timeout=30, what="mkdir")
            self.transport.push(local, tmp, timeout=self.timeout_s)
            got = self._remote_sums([tmp]).get(tmp)
            if got != want[remote]:
                self.transport.run(f"rm -f {_q(tmp)}", timeout=30, check=False)
                raise LiteError(f"{self.name}: {local.name} arrived damaged (checksum {str(got)[:12]} instead of "
                                f"{want[remote][:12]}); is the board's disk full? (`df -h` there)")
            self.transport.run(f"chmod 755 {_q(tmp)} && mv -f {_q(tmp)} {_q(remote)}", timeout=30, what="rename")
            status[remote] = "sent"
        self.last_stage = status
        return status

    def _remote_sums(self, paths: list[str]) -> dict[str, str]:
        cmd = " ".join(f"sha256sum {_q(p)} 2>/dev/null;" for p in paths) + " true"
        out = self.transport.run(cmd, timeout=120, what="checksums").stdout.decode("utf-8", "replace")
        sums = {}
        for line in out.splitlines():
            m = re.match(r"([0-9a-f]{64})\s+\*?(.+)$", line.strip())
            if m:
                sums[m.group(2)] = m.group(1)
        # sha256sum prints the path as given, with ~ expanded by the shell
        return {p: sums.get(p) or sums.get(_expanded(p, sums)) for p in paths}

    def describe(self) -> dict:
        d = dict(self.device())
        return {"target": self.name, "threads": self.threads, "power_mode": self.power_name, "device": d}


def _expanded(p: str, sums: dict) -> str | None:
    if p.startswith("~/"):
        tail = p[1:]
        return next((k for k in sums if k.endswith(tail)), None)
    return None


class RemoteSession(Session):
    def __init__(self, proc, info, target, runtime):
        super().__init__(proc, info, target)
        self.runtime = runtime

    def bench(self, warmup: int = 1, repeats: int = 5) -> BenchResult:
        return BenchResult(self.proc.bench(warmup, repeats), None, {"runtime": self.runtime.version})


@register("ssh", "adb")
def _factory(name: str, **options) -> RemoteTarget:
    return RemoteTarget(name, **options)
