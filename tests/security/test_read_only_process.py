"""The controller process writes no file: it works on a read-only root filesystem.

The pod mounts its root filesystem read-only (``tests/security/test_deploy_hardening.py``),
so any file the process writes at run time (a cache, a temp file, bytecode, a
kubeconfig written back) would crash it in production only. This runs the
real ``run`` command with an audit hook (PEP 578) that refuses every
filesystem change the way a read-only mount does (``EROFS``) and prints what
was attempted, with ``HOME``, ``TMPDIR`` and the working directory on a
read-only directory, the environment the Containerfile sets
(``PYTHONDONTWRITEBYTECODE``), and checks that the process starts, syncs,
answers ``/readyz``, repairs a ServiceEntry and stops cleanly without
attempting a single write. The hook, not file permissions, is the proof:
tests may run as root, for whom a read-only directory is writable.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from reconciler.simulator.cluster import simulated_cluster
from reconciler.simulator.simulator import Simulator

from .commands import RunCommand, wait_for_repair, web_world

WRITE_ATTEMPT = "FILESYSTEM WRITE REFUSED"

READ_ONLY_ROOT = f"""
import errno, os, sys

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_CHANGES = frozenset({{
    "os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.symlink", "os.link",
    "os.truncate", "os.chmod", "os.chown", "os.utime", "os.mkfifo", "os.mknod",
    "shutil.copyfile", "shutil.copymode", "shutil.copystat", "shutil.rmtree",
    "tempfile.mkstemp", "tempfile.mkdtemp",
}})


def _refuse(event, args):
    sys.__stderr__.write("{WRITE_ATTEMPT}: %s %r\\n" % (event, args))
    raise OSError(errno.EROFS, "Read-only file system")


def _read_only(event, args):
    if event == "open":
        path, mode, flags = args
        if path is None or isinstance(path, int):
            return
        if (mode and set(mode) & set("wax+")) or (flags or 0) & _WRITE_FLAGS:
            _refuse(event, args)
    elif event in _CHANGES:
        _refuse(event, args)


sys.addaudithook(_read_only)
from reconciler.cli import main
main()
"""


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with simulated_cluster() as simulator:
        yield simulator


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "read-only"
    directory.mkdir()
    directory.chmod(0o555)
    return directory


async def test_run_starts_syncs_serves_and_repairs_without_writing_a_file(
    sim: Simulator, tmp_path: Path, read_only_dir: Path
) -> None:
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
    kubeconfig.chmod(0o400)
    async with sim.api_client() as api:
        wanted = await web_world(api)
        command = await RunCommand.start(
            kubeconfig,
            environment={
                "HOME": str(read_only_dir),
                "TMPDIR": str(read_only_dir),
                "PYTHONDONTWRITEBYTECODE": "1",
                "KUBECONFIG": "",
            },
            cwd=read_only_dir,
            python=("-c", READ_ONLY_ROOT),
        )
        try:
            url = await command.endpoint_url()
            await command.wait_for_log(lambda e: str(e["message"]).startswith("caches synced"))
            async with aiohttp.ClientSession() as http, http.get(url + "/readyz") as ready:
                readiness = (ready.status, await ready.text())
            await wait_for_repair(api, wanted)
        finally:
            code = await command.stop()

    assert readiness == (200, "ok\n")
    assert code == 0, command.output[-3000:]
    assert WRITE_ATTEMPT not in command.output, command.output[-3000:]
    assert "Traceback" not in command.output
    assert any(e["message"] == "stopped" for e in command.logged())


async def test_the_audit_hook_refuses_and_reports_a_write(tmp_path: Path) -> None:
    """The hook above is what the first test relies on: show it catches a write."""
    probe = READ_ONLY_ROOT.replace(
        "from reconciler.cli import main\nmain()",
        f"open({str(tmp_path / 'written')!r}, 'w')",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", probe, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 10)

    assert process.returncode != 0
    assert WRITE_ATTEMPT.encode() in stderr
    assert b"Read-only file system" in stderr
    assert not (tmp_path / "written").exists()
