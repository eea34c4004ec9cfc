"""Running the workflow: plugin settings, progress lines, crash files and the final summary."""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Progress", "SubjectStatus", "plugin_settings", "collect_crashes", "format_table", "subject_key_of"]

_SUBJECT_WF = re.compile(r"(?:^|\.)sub_([A-Za-z0-9]+?)(?:_ses_([A-Za-z0-9]+))?_wf(?:\.|$)")


def subject_key_of(node_fullname: str) -> str | None:
    """``sub-01_ses-pre`` from a node name such as ``mrsisr_wf.sub_01_ses_pre_wf.anat_wf.skullstrip``."""
    match = _SUBJECT_WF.search(node_fullname)
    if not match:
        return None
    return f"sub-{match.group(1)}" + (f"_ses-{match.group(2)}" if match.group(2) else "")


class Progress:
    """Nipype ``status_callback``: one line per step and subject (picklable, prints to stdout)."""

    def __init__(self, stream_name: str = "stdout") -> None:
        self.stream_name = stream_name
        self.started: dict[str, float] = {}

    def __call__(self, node, status: str) -> None:
        name = node.fullname
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


def plugin_settings(plugin_file: Path | None, nprocs: int, mem_gb: float | None) -> tuple[str, dict]:
    """Plugin name and arguments: from a Nipype plugin YAML (``plugin:``, ``plugin_args:``), else
    ``MultiProc`` with ``nprocs`` (``Linear`` for one process).

    ``poll_sleep_duration`` (seconds between scheduler polls) may sit in ``plugin_args``; the
    caller moves it to Nipype's execution configuration, where Nipype reads it.
    """
    if plugin_file is not None:
        import yaml

        settings = yaml.safe_load(Path(plugin_file).read_text()) or {}
        if not isinstance(settings, dict) or "plugin" not in settings:
            raise ValueError(f"--use-plugin {plugin_file}: expected a YAML mapping with 'plugin' (and 'plugin_args')")
        args = dict(settings.get("plugin_args") or {})
        plugin = str(settings["plugin"])
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
