"""Running the workflow: plugin settings, progress lines, crash files, each subject's status
from its own nodes, the working-directory lock and the final summary."""

from __future__ import annotations

import errno
import fcntl
import os
import re
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Progress", "SubjectStatus", "WorkDirBusy", "collect_crashes", "format_table", "lock_work_dir",
           "plugin_settings", "read_plugin_file", "settle_statuses", "subject_key_of", "subject_nodes"]

_SUBJECT_WF = re.compile(r"(?:^|\.)sub_([A-Za-z0-9]+?)(?:_ses_([A-Za-z0-9]+))?_wf(?:\.|$)")


def subject_key_of(node_fullname: str) -> str | None:
    """``sub-01_ses-pre`` from a node name such as ``mrsisr_wf.sub_01_ses_pre_wf.anat_wf.skullstrip``."""
    match = _SUBJECT_WF.search(node_fullname)
    if not match:
        return None
    return f"sub-{match.group(1)}" + (f"_ses-{match.group(2)}" if match.group(2) else "")


class Progress:
    """Nipype ``status_callback``: one line per step and subject (picklable, prints to stdout).

    It also records how every node ended (``outcomes``: full name → ``end``/``exception``), from
    which :func:`settle_statuses` gives each subject its status. Linear, MultiProc and the batch
    plugins (SLURM, SGE, PBS ...) call it in the main process.
    """

    def __init__(self, stream_name: str = "stdout") -> None:
        self.stream_name = stream_name
        self.started: dict[str, float] = {}
        self.outcomes: dict[str, str] = {}

    def __call__(self, node, status: str) -> None:
        name = node.fullname
        if status in ("end", "exception"):
            self.outcomes[name] = status
        if name.startswith("_") or any(part in name for part in (".inputnode", ".outputnode", ".ds_", "sidecars")):
            return  # map-node copies, identity nodes and derivative writers: no line of their own
        key = subject_key_of(name) or "run"
        step = name.split(f"{key.replace('-', '_')}_wf.", 1)[-1]
        now = time.time()
        if status == "start":
            self.started[name] = now
            return
        elapsed = now - self.started.pop(name, now)
        word = {"end": "done", "exception": "FAILED"}.get(status, status)
        stream = getattr(sys, self.stream_name)
        print(f"[{key}] {step:<32s} {word} ({elapsed:.1f} s)", file=stream, flush=True)


def read_plugin_file(plugin_file: Path) -> tuple[str, dict]:
    """``plugin`` and ``plugin_args`` of a Nipype plugin YAML; :class:`ValueError` saying what is
    wrong (not YAML, not a mapping, a plugin Nipype does not have, arguments that are not a mapping)."""
    import nipype.pipeline.plugins
    import yaml

    where = f"--use-plugin {plugin_file}"
    try:
        settings = yaml.safe_load(Path(plugin_file).read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ValueError(f"{where}: not readable YAML ({first})") from error
    if not isinstance(settings, dict) or "plugin" not in settings:
        raise ValueError(f"{where}: expected a YAML mapping with 'plugin' (and 'plugin_args'), "
                         f"got {type(settings).__name__}")
    plugin = str(settings["plugin"])
    known = sorted(name[:-len("Plugin")] for name in dir(nipype.pipeline.plugins) if name.endswith("Plugin"))
    if plugin not in known:
        raise ValueError(f"{where}: Nipype has no plugin {plugin!r}; known: {', '.join(known)}")
    args = settings.get("plugin_args") or {}
    if not isinstance(args, dict):
        raise ValueError(f"{where}: 'plugin_args' must be a mapping, got {type(args).__name__}")
    poll = args.get("poll_sleep_duration")
    if poll is not None and (isinstance(poll, bool) or not isinstance(poll, (int, float)) or poll < 0):
        raise ValueError(f"{where}: 'poll_sleep_duration' must be a number of seconds, got {poll!r}")
    return plugin, dict(args)


def plugin_settings(plugin_file: Path | None, nprocs: int, mem_gb: float | None) -> tuple[str, dict]:
    """Plugin name and arguments: from a Nipype plugin YAML (:func:`read_plugin_file`), else
    ``MultiProc`` with ``nprocs`` (``Linear`` for one process).

    ``poll_sleep_duration`` (seconds between scheduler polls) may sit in ``plugin_args``; the
    caller moves it to Nipype's execution configuration, where Nipype reads it.
    """
    if plugin_file is not None:
        plugin, args = read_plugin_file(plugin_file)
    else:
        plugin, args = ("MultiProc", {"n_procs": nprocs}) if nprocs > 1 else ("Linear", {})
    if plugin == "MultiProc":
        args.setdefault("poll_sleep_duration", 0.2)  # nipype's 2 s default dominates short steps
        args.setdefault("n_procs", nprocs)
        args.setdefault("raise_insufficient", False)
        if mem_gb:
            args.setdefault("memory_gb", mem_gb)
    args["status_callback"] = Progress()
    return plugin, args


@dataclass
class SubjectStatus:
    """What happened to one subject/session."""

    key: str
    status: str = "ok"
    errors: list[str] = field(default_factory=list)
    crash_files: list[str] = field(default_factory=list)


def _crash_summary(text: str) -> tuple[str | None, str]:
    """Node name and the last line of the traceback of a text crash file."""
    node = re.search(r"^Node: (\S+)", text, re.MULTILINE)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[A-Za-z_.]*(Error|Exception)\b", line)]
    return (node.group(1) if node else None), (errors[-1] if errors else (lines[-1] if lines else "unknown error"))


def collect_crashes(crash_dir: Path, statuses: dict[str, SubjectStatus]) -> None:
    """Attach the crash files of ``crash_dir`` to the subjects whose nodes crashed."""
    for crash in sorted(crash_dir.glob("crash-*")):
        try:
            text = crash.read_text(errors="replace")
        except OSError:
            continue
        node, error = _crash_summary(text)
        key = subject_key_of(node or crash.name)
        target = statuses.get(key) if key else None
        if target is None:
            continue
        target.status = "FAILED"
        step = (node or "?").split(f"{key.replace('-', '_')}_wf.", 1)[-1]
        target.errors.append(f"{step}: {error}")
        target.crash_files.append(str(crash))


def subject_nodes(workflow) -> dict[str, list[str]]:
    """The full names of the nodes that Nipype will run, per subject key (``sub-01``), from the
    workflow's execution graph (identity nodes removed, as Nipype does)."""
    from copy import deepcopy

    from nipype.pipeline.engine.utils import generate_expanded_graph

    graph = generate_expanded_graph(deepcopy(workflow._create_flat_graph()))
    nodes: dict[str, list[str]] = {}
    for node in graph.nodes():
        key = subject_key_of(node.fullname)
        if key:
            nodes.setdefault(key, []).append(node.fullname)
    return nodes


def _result_file(work_dir: Path, fullname: str) -> Path:
    *folders, name = fullname.split(".")
    return Path(work_dir, *folders, name, f"result_{name}.pklz")


def settle_statuses(statuses: dict[str, SubjectStatus], nodes: dict[str, list[str]], outcomes: dict[str, str],
                    work_dir: Path, why_unfinished: str) -> None:
    """Each subject's status from its own nodes: ``FAILED`` when one of them failed (here or in a
    crash file, see :func:`collect_crashes`), ``INCOMPLETE`` when one did not run to its end,
    else it stays ``ok`` — whatever happened to the other subjects.

    ``outcomes`` comes from :class:`Progress`. When the plugin reported no node at all (plugins
    that take no status callback, such as ``SLURMGraph``), a node counts as finished when its
    result file is in ``work_dir``.
    """

    def finished(name: str) -> bool:
        return outcomes.get(name) == "end" if outcomes else _result_file(work_dir, name).is_file()

    for key, status in statuses.items():
        names = nodes.get(key, [])
        if any(outcomes.get(name) == "exception" for name in names) and status.status == "ok":
            status.status = "FAILED"
            status.errors.append("a step failed (no crash file was found; rerun with -v)")
        unfinished = [name for name in names if not finished(name)]
        if unfinished and status.status == "ok":
            status.status = "INCOMPLETE"
            step = unfinished[0].split(f"{key.replace('-', '_')}_wf.", 1)[-1]
            status.errors.append(f"{len(unfinished)} step(s) did not run, e.g. {step}: {why_unfinished}")


class WorkDirBusy(RuntimeError):
    """Another run holds the working directory's lock."""


@contextmanager
def lock_work_dir(work_dir: Path):
    """Hold an exclusive lock (``fcntl.flock`` on ``WORK_DIR/.mrsisr.lock``) for the run, so that a
    second run on the same working directory refuses at once instead of both failing midway.
    Creates the working directory (mode 0700: it must stay private) when it does not exist."""
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(work_dir / ".mrsisr.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            holder = os.pread(descriptor, 200, 0).decode(errors="replace").strip() or "another run"
            raise WorkDirBusy(f"the working directory {work_dir} is in use by {holder}; wait for it to "
                              "finish, or give this run its own -w") from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"mrsisr process {os.getpid()} (started {time.ctime()})\n".encode(), 0)
        yield work_dir
    finally:
        os.close(descriptor)  # closing releases the lock


def format_table(rows: list[dict]) -> str:
    """A plain-text table (column widths from the content)."""
    if not rows:
        return ""
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    line = "  ".join(c.ljust(widths[c]) for c in columns)
    rule = "  ".join("-" * widths[c] for c in columns)
    body = ["  ".join(str(r[c]).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join([line, rule, *body])
