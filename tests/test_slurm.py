"""The participant workflow through Nipype's SLURM plugin on a real single-node Slurm cluster.

The test starts its own ``munged``, ``slurmctld`` and ``slurmd`` (Debian's ``munge`` and
``slurm-wlm``) with a minimal ``slurm.conf`` in a temporary folder, runs ``mrsisr ...
--use-plugin slurm.yml`` on one tiny synthetic subject (FSL stand-ins: the point is the
scheduling, not the anatomy), checks the outputs, and stops the daemons it started (by pid).
Skipped, with the reason printed, only where Slurm cannot start (not installed, not root, ...).

CI installs the daemons with::

    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y slurm-wlm munge
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from bids_fixtures import copy_dataset, install_fsl_standins, tiny_weights

pytestmark = [pytest.mark.slow, pytest.mark.slurm]
DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _skip(reason: str):
    print(f"\nSKIPPED (Slurm cannot start): {reason}")
    pytest.skip(reason)


def _slurm_conf(folder: Path, host: str, socket_path: Path) -> str:
    return f"""ClusterName=mrsisrtest
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
AuthInfo=socket={socket_path}
CredType=cred/munge
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 1} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def _wait(check, seconds: float) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


def _stop(pid: int) -> None:
    """SIGTERM, then SIGKILL if the daemon is still there after 10 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        if _wait(lambda: not Path(f"/proc/{pid}").exists(), 10):
            return


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """Start munged + slurmctld + slurmd; yields the environment that points the clients at them."""
    missing = [name for name in DAEMONS if shutil.which(name) is None]
    if missing:
        _skip(f"{', '.join(missing)} not installed (apt-get install -y slurm-wlm munge)")
    if os.geteuid() != 0:
        _skip("the daemons are started as root in this test; not running as root")
    folder = tmp_path_factory.mktemp("slurm")
    for sub in ("state", "spool", "munge"):
        (folder / sub).mkdir()
    os.chmod(folder / "munge", 0o700)
    key, socket_path = folder / "munge" / "munge.key", folder / "munge" / "munge.socket"
    started: list[int] = []
    subprocess.run(["mungekey", "--create", "--keyfile", str(key)], check=True, capture_output=True)
    munge_dir = folder / "munge"
    munge = subprocess.run(["munged", "--force", f"--key-file={key}", f"--socket={socket_path}",
                            f"--pid-file={munge_dir / 'munged.pid'}", f"--log-file={munge_dir / 'munged.log'}",
                            f"--seed-file={munge_dir / 'munged.seed'}"], capture_output=True, text=True)
    if munge.returncode != 0:
        _skip(f"munged did not start: {munge.stderr.strip()}")
    munge_pid = folder / "munge" / "munged.pid"
    _wait(lambda: munge_pid.exists() and munge_pid.read_text().strip(), 10)
    started.append(int(munge_pid.read_text().strip()))
    host = socket.gethostname().split(".")[0]
    conf = folder / "slurm.conf"
    conf.write_text(_slurm_conf(folder, host, socket_path))
    env = dict(os.environ, SLURM_CONF=str(conf))
    try:
        for daemon in ("slurmctld", "slurmd"):
            result = subprocess.run([daemon, "-f", str(conf)], env=env, capture_output=True, text=True, timeout=60)
            pid_file = folder / f"{daemon}.pid"
            written = lambda path=pid_file: path.exists() and path.read_text().strip()  # noqa: E731
            if result.returncode != 0 or not _wait(written, 20):
                log = (folder / f"{daemon}.log").read_text() if (folder / f"{daemon}.log").exists() else ""
                _skip(f"{daemon} did not start: {result.stderr.strip()} {log[-500:]}")
            started.append(int(pid_file.read_text().strip()))

        def node_idle() -> bool:
            out = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True).stdout
            return out.strip().startswith("idle")

        if not _wait(node_idle, 60):
            _skip(f"the Slurm node never became idle: {(folder / 'slurmd.log').read_text()[-500:]}")
        yield {"SLURM_CONF": str(conf), "folder": folder}
    finally:
        for pid in reversed(started):  # only the daemons this fixture started, by pid
            _stop(pid)


def test_participant_workflow_on_slurm(slurm_cluster, tmp_path, monkeypatch, capsys):
    from mrsisr.bids_app.cli import main

    bids_dir = copy_dataset(tmp_path / "bids")
    weights = tiny_weights(tmp_path / "tiny.safetensors")
    for key, value in install_fsl_standins(tmp_path / "fsl").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SLURM_CONF", slurm_cluster["SLURM_CONF"])
    plugin = tmp_path / "slurm.yml"
    plugin.write_text("plugin: SLURM\nplugin_args:\n  sbatch_args: '--partition=debug --cpus-per-task=1'\n"
                      "  max_jobs: 2\n  poll_sleep_duration: 0.5\n")
    code = main([str(bids_dir), str(tmp_path / "out"), "participant", "--participant-label", "01",
                 "-w", str(tmp_path / "work"), "--weights", str(weights), "--backend", "fsl",
                 "--use-plugin", str(plugin),
                 "--metabolites", "NAA", "--min-valid-fraction", "0.2", "--device", "cpu", "--skip-bids-validation"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "with SLURM" in printed
    assert list((tmp_path / "out" / "sub-01" / "mrs").glob("*_met-NAA_desc-srLam0_mrsi.nii.gz"))
    batch_scripts = list((tmp_path / "work").rglob("batch/*.sh"))
    assert batch_scripts, "no node went through sbatch"
