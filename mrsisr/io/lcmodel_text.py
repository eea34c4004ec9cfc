"""Parsers of LCModel's text output: ``.table`` (and ``.coord``), CSI ``.csv``, control files.

LCModel's text formats are fixed-width Fortran output, so these parsers read them by
column position, not by splitting on whitespace (a prior-ratio flag is glued to the
name, e.g. ``0.416+Glc``).  The facts relied on here are listed in
``shared/fixtures/lcmodel/README.md`` and checked against real output in the tests.
Names are kept exactly as LCModel wrote them; FWHM is in ppm; S/N is LCModel's
rounded integer (``-1`` when the noise was zero).  Assembling voxels into maps is
:mod:`mrsisr.io.lcmodel`, which re-exports these readers.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mrsisr.io.errors import LCModelFitFailedError, LCModelFormatError, MapLoadingError

__all__ = ["LCModelSpreadsheet", "LCModelTable", "read_control_file", "read_spreadsheet", "read_table"]

#: A section header: ``$$CONC 36 lines in following ...`` (``.table``) or ``36 lines in ...`` (``.coord``).
_SECTION = re.compile(r"^\s*(?:\$\$(?P<tag>[A-Z]+)\s+)?(?P<count>\d+)\s+lines in following (?P<what>.*)$")
_SECTION_KINDS = {"concentration": "CONC", "misc": "MISC", "diagnostic": "DIAG", "table of input": "INPU"}
_LOCATION = re.compile(r"(?:Slice#\s*(?P<slice>\d+)\s+)?Row#\s*(?P<row>\d+)\s+Col#\s*(?P<col>\d+)")
_FWHM = re.compile(r"FWHM\s*=\s*(?P<value>\S+)\s*ppm")
_SNR = re.compile(r"S/N\s*=\s*(?P<value>-?\d+)")
_SHIFT = re.compile(r"Data shift\s*=\s*(?P<value>\S+)\s*ppm")


@dataclass(frozen=True)
class LCModelTable:
    """The content of one LCModel ``.table`` (or the same sections of a ``.coord``).

    ``conc``, ``sd`` (%SD), ``ratio`` and ``flags`` are keyed by the names as written;
    ``flags`` holds ``""``, ``"+"`` or ``"-"`` (LCModel's prior-ratio outlier mark).
    """

    path: Path
    version: str
    names: tuple[str, ...]
    conc: dict[str, float]
    sd: dict[str, float]
    ratio: dict[str, float]
    flags: dict[str, str]
    ratio_reference: str
    fwhm: float
    snr: float
    data_shift: float
    location: tuple[int | None, int, int] | None = None
    diagnostics: tuple[str, ...] = ()


@dataclass(frozen=True)
class LCModelSpreadsheet:
    """An LCModel CSI spreadsheet: one row per analysed voxel, names cut to 13 characters."""

    path: Path
    names: tuple[str, ...]
    ratio_reference: str
    rows: np.ndarray
    cols: np.ndarray
    conc: dict[str, np.ndarray]
    sd: dict[str, np.ndarray]
    ratio: dict[str, np.ndarray]


def _read_text(path: Path, what: str) -> str:
    """Read a text file or raise a :class:`MapLoadingError` that names it."""
    path = Path(path)
    if not path.is_file():
        raise MapLoadingError(f"{what} {path} does not exist (or is not a file)")
    try:
        return path.read_bytes().decode("latin-1")
    except OSError as exc:
        raise MapLoadingError(f"{what} {path} cannot be read: {exc}") from exc


def _number(text: str, path: Path, lineno: int, what: str) -> float:
    """Parse one numeric field of LCModel output, refusing overflow stars and NaN/Inf."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        hint = " (Fortran field overflow)" if "*" in text else ""
        raise LCModelFormatError(
            f"{path}, line {lineno}: cannot read {what} from {text!r}{hint}; expected a number"
        ) from None
    if not math.isfinite(value):
        raise LCModelFormatError(f"{path}, line {lineno}: {what} is {text!r}; expected a finite number")
    return value


def _sections(lines: list[str]) -> list[tuple[str, int, int, bool]]:
    """Find section headers: (kind, declared line count, line index, tagged with ``$$``)."""
    found = []
    for index, line in enumerate(lines):
        match = _SECTION.match(line)
        if not match:
            continue
        kind = next((k for prefix, k in _SECTION_KINDS.items() if match["what"].startswith(prefix)), None)
        if kind is not None:
            found.append((kind, int(match["count"]), index, match["tag"] is not None))
    return found


def _section_body(lines: list[str], start: int, limit: int) -> list[tuple[int, str]]:
    """Lines after header ``start`` up to a blank line, the next header or ``limit`` lines."""
    body = []
    for index in range(start + 1, min(len(lines), start + 1 + limit)):
        line = lines[index]
        if not line.strip() or _SECTION.match(line):
            break
        body.append((index + 1, line.rstrip("\r")))
    return body


def _parse_conc(path: Path, lines, header_index, count, tagged):
    """Parse the concentration section into per-name dictionaries (fixed-width columns)."""
    body = _section_body(lines, header_index, max(count, 1) + (0 if tagged else 10_000))
    if not body or not all(word in body[0][1] for word in ("Conc.", "%SD", "Metabolite")):
        raise LCModelFormatError(
            f"{path}, line {header_index + 2}: expected the column header '    Conc.  %SD /<ref>  Metabolite'"
        )
    header = body[0][1]
    ratio_reference = header[header.index("%SD") + 3 : header.index("Metabolite")].strip().lstrip("/")
    rows = body[1:]
    if tagged and len(rows) != count - 1:
        raise LCModelFormatError(
            f"{path}: the $$CONC header announces {count - 1} metabolite rows but {len(rows)} follow "
            "(file truncated or edited?)"
        )
    names, conc, sd, ratio, flags = [], {}, {}, {}, {}
    for lineno, line in rows:
        if len(line) < 24 or line[13] != "%":
            raise LCModelFormatError(
                f"{path}, line {lineno}: {line.strip()!r} is not a concentration row "
                "(expected 'conc %SD% ratio name' in LCModel's fixed columns)"
            )
        name = line[23:].strip()
        names.append(name)
        conc[name] = _number(line[1:9], path, lineno, f"the concentration of {name}")
        sd[name] = _number(line[9:13], path, lineno, f"the %SD of {name}")
        ratio[name] = _number(line[14:22], path, lineno, f"the ratio of {name}")
        flags[name] = line[22].strip()
    return tuple(names), conc, sd, ratio, flags, ratio_reference


def _parse_misc(path: Path, body: list[tuple[int, str]]) -> tuple[float, float, float]:
    """FWHM (ppm), S/N and data shift (ppm) from the misc section."""
    text = "\n".join(line for _, line in body)
    lineno = body[0][0] if body else 0
    fwhm, snr = _FWHM.search(text), _SNR.search(text)
    if fwhm is None or snr is None:
        raise LCModelFormatError(
            f"{path}: the misc section lacks 'FWHM = <x> ppm    S/N = <n>' (file truncated?)"
        )
    shift = _SHIFT.search(text)
    return (
        _number(fwhm["value"], path, lineno, "FWHM"),
        _number(snr["value"], path, lineno, "S/N"),
        _number(shift["value"], path, lineno, "the data shift") if shift else math.nan,
    )


def read_table(path: str | Path) -> LCModelTable:
    """Read one LCModel ``.table`` (``.coord`` files work too: same sections, no ``$$``).

    Returns concentrations, %SD, ratios and flags keyed by name as written, with FWHM
    (ppm), S/N and the voxel location parsed from the title line of CSI runs.

    Raises
    ------
    LCModelFitFailedError
        LCModel wrote no ``$$CONC`` section and reported a FATAL diagnostic (failed fit).
    LCModelFormatError
        The file is empty, truncated, or not LCModel output.
    """
    path = Path(path)
    lines = _read_text(path, "LCModel table").splitlines()
    content = [line for line in lines if line.strip()]
    if not content:
        raise LCModelFormatError(f"{path} is empty; expected LCModel output starting with ' LCModel (Version ...)'")
    if "LCModel" not in content[0]:
        raise LCModelFormatError(
            f"{path} does not look like LCModel output: its first line is {content[0].strip()[:60]!r}, "
            "expected ' LCModel (Version ...)'"
        )
    version = re.search(r"Version\s*([^)]*)\)", content[0])
    location = _LOCATION.search("\n".join(lines[:3]))
    sections = {kind: (count, index, tagged) for kind, count, index, tagged in reversed(_sections(lines))}
    diagnostics = ()
    if "DIAG" in sections:
        count, index, _ = sections["DIAG"]
        diagnostics = tuple(line.strip() for _, line in _section_body(lines, index, count))
    if "CONC" not in sections:
        fatal = [d for d in diagnostics if "FATAL" in d.upper()]
        if fatal:
            raise LCModelFitFailedError(
                f"{path}: LCModel reported {'; '.join(fatal)!r} and wrote no concentrations (failed fit)"
            )
        raise LCModelFormatError(f"{path} has no concentration section ($$CONC); file truncated or not a table?")
    count, index, tagged = sections["CONC"]
    names, conc, sd, ratio, flags, reference = _parse_conc(path, lines, index, count, tagged)
    if "MISC" not in sections:
        raise LCModelFormatError(f"{path} has no misc section ($$MISC with FWHM and S/N); file truncated?")
    count, index, _ = sections["MISC"]
    fwhm, snr, shift = _parse_misc(path, _section_body(lines, index, count))
    loc = None
    if location:
        loc = (int(location["slice"]) if location["slice"] else None, int(location["row"]), int(location["col"]))
    return LCModelTable(
        path=path, version=version.group(1).strip() if version else "", names=names, conc=conc, sd=sd,
        ratio=ratio, flags=flags, ratio_reference=reference, fwhm=fwhm, snr=snr, data_shift=shift,
        location=loc, diagnostics=diagnostics,
    )


def read_spreadsheet(path: str | Path) -> LCModelSpreadsheet:
    """Read an LCModel CSI spreadsheet (``lcsv=11``) exactly as written.

    The header is ``Row, Col, <met>, <met> %SD, <met>/<ref>, ...``; Row/Col may be any
    width (a modified build writes them 7 wide); rows come in LCModel's centre-out order.
    """
    path = Path(path)
    text = _read_text(path, "LCModel spreadsheet")
    lines = [(n + 1, line) for n, line in enumerate(text.splitlines()) if line.strip()]
    if not lines:
        raise LCModelFormatError(
            f"{path} is empty; LCModel leaves the spreadsheet empty when the fit failed (see the .table's "
            "$$DIAG). Expected a header 'Row, Col, <met>, <met> %SD, <met>/<ref>, ...'"
        )
    header = [token.strip() for token in lines[0][1].split(",")]
    triples = header[2:]
    ok = [t.lower() for t in header[:2]] == ["row", "col"] and triples and len(triples) % 3 == 0
    names = tuple(triples[0::3]) if ok else ()
    if ok:
        ok = all(s == f"{n} %SD" and r.startswith(f"{n}/") for n, s, r in zip(names, triples[1::3], triples[2::3]))
    if not ok:
        raise LCModelFormatError(
            f"{path}: header {lines[0][1][:60]!r}... is not an LCModel CSI spreadsheet header; "
            "expected 'Row, Col, <met>, <met> %SD, <met>/<ref>, ...'"
        )
    reference = triples[2][len(names[0]) + 1 :]
    values = np.empty((len(lines) - 1, len(header)))
    for out_row, (lineno, line) in enumerate(lines[1:]):
        fields = line.split(",")
        if len(fields) != len(header):
            raise LCModelFormatError(
                f"{path}, line {lineno}: {len(fields)} fields but the header has {len(header)} (file truncated?)"
            )
        values[out_row] = [_number(f, path, lineno, header[i]) for i, f in enumerate(fields)]
    if len(set(names)) != len(names):
        warnings.warn(f"{path}: names repeat after LCModel's 13-character cut; the first column of each is used")
    first = {name: names.index(name) for name in names}
    return LCModelSpreadsheet(
        path=path, names=tuple(first), ratio_reference=reference,
        rows=values[:, 0].astype(int), cols=values[:, 1].astype(int),
        conc={n: values[:, 2 + 3 * i] for n, i in first.items()},
        sd={n: values[:, 3 + 3 * i] for n, i in first.items()},
        ratio={n: values[:, 4 + 3 * i] for n, i in first.items()},
    )


def read_control_file(path: str | Path) -> dict[str, str]:
    """Parse an LCModel control namelist (``$LCMODL ... $END``) into ``{lowercase key: raw value}``."""
    text = _read_text(path, "LCModel control file")
    pairs = re.findall(r"([A-Za-z][\w()]*)\s*=\s*('[^']*'|[^\s,]+)", text)
    return {key.lower(): value.strip("'") for key, value in pairs}
