"""`lite devices`: the boards and phones this machine can reach: boards named
in boards.yaml, Host entries of the ssh config, and `adb devices`; each
asked for its architecture unless --no-probe."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .boards import load_boards
from .errors import LiteError


def ssh_hosts() -> list[str]:
    """Concrete Host aliases (no wildcards) of the ssh config in use."""
    f = Path(os.environ.get("LITE_SSH_CONFIG") or Path.home() / ".ssh" / "config")
    if not f.is_file():
        return []
    hosts = []
    for line in f.read_text(errors="replace").splitlines():
        parts = line.strip().split()
        if len(parts) >= 2 and parts[0].lower() == "host":
            hosts += [h for h in parts[1:] if not any(c in h for c in "*?!")]
    return hosts


def adb_serials() -> list[tuple[str, str]]:
    """(serial, state) from `adb devices`; empty when adb is not installed."""
    adb = shutil.which("adb")
    if not adb:
        return []
    try:
        out = subprocess.run([adb, "devices"], capture_output=True, text=True, timeout=20).stdout
    except subprocess.TimeoutExpired:
        return []
    rows = []
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2:
            rows.append((parts[0], parts[1]))
    return rows


def list_devices(probe: bool = True) -> list[dict]:
    from .targets import get_target

    rows = [{"name": n, "target": b["target"], "source": "boards.yaml"} for n, b in load_boards().items()]
    known = {r["target"] for r in rows}
    rows += [{"name": h, "target": f"ssh://{h}", "source": "ssh config"} for h in ssh_hosts()
             if f"ssh://{h}" not in known]
    for serial, state in adb_serials():
        rows.append({"name": serial, "target": f"adb:{serial}", "source": "adb", "status": state})
    if probe:
        for r in rows:
            if r.get("status") not in (None, "device"):
                continue
            try:
                t = get_target(r["name"] if r["source"] == "boards.yaml" else r["target"])
                d = t.device()
                r["arch"] = d["arch"] or d["uname"]
                r["status"] = f"{d['cpu_model']}, {d['cores']} cores"
            except LiteError as e:
                r["status"] = f"unreachable: {e}"
    return rows
