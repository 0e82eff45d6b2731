"""The runs browser: the study runs (Inspect logs) in the lab's run folders, with their reports and log files.

Files are only ever served through the runs index: a run's id names a log and a report that a scan of the
configured folders found, so nothing in a URL can point the lab at another file on the disk.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse

from characterlab.store import RunRecord
from characterlab.web._lab import Lab, lab_of
from characterlab.web._pages import page
from characterlab.web._security import SHARED_PAGE_POLICY, require_csrf

__all__ = ["RunsScan", "router", "scan_runs"]

router = APIRouter(dependencies=[Depends(require_csrf)])

LabDep = Annotated[Lab, Depends(lab_of)]

REPORT_NAME = "report.html"


@dataclass
class RunsScan:
    """What a scan of the run folders found."""

    runs: list[RunRecord] = field(default_factory=list)
    """The runs found, as indexed (newest first)."""
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    """Log files that could not be read, with the reason."""
    folders: list[Path] = field(default_factory=list)
    """The run folders that exist."""
    missing: list[Path] = field(default_factory=list)
    """The run folders that do not exist (yet)."""


def _find_report(log_folder: Path, root: Path, cache: dict[tuple[Path, Path], Path | None]) -> Path | None:
    """The HTML report of a run, if there is one.

    Looked for from the log's folder up to the run folder's parent (``out/demo/report.html`` beside
    ``out/demo/runs/``), nearest first; a ``report.html`` anywhere there wins over any other page.
    """
    key = (log_folder, root)
    if key in cache:
        return cache[key]
    levels: list[Path] = []
    level = log_folder
    while level.is_relative_to(root):
        levels.append(level)
        if level == root:
            break
        level = level.parent
    levels = list(dict.fromkeys([*levels, root, root.parent]))
    found = next((level / REPORT_NAME for level in levels if (level / REPORT_NAME).is_file()), None)
    if found is None:
        # Under another name, only a page characterlab wrote counts (not any HTML file lying about).
        found = next((page for level in levels for page in sorted(level.glob("*.html")) if _is_report(page)), None)
    cache[key] = found
    return found


def _is_report(page: Path) -> bool:
    """Whether ``page`` is a report characterlab wrote (its head names characterlab as the generator)."""
    try:
        with page.open("r", encoding="utf-8", errors="replace") as file:
            head = file.read(4096)
    except OSError:
        return False
    return '<meta name="generator" content="characterlab' in head


def _started(created: str) -> datetime | None:
    try:
        return datetime.fromisoformat(created)
    except ValueError:
        return None


def scan_runs(lab: Lab) -> RunsScan:
    """Read the header of every Inspect log in the lab's run folders, and index each in the lab's database.

    Args:
        lab: The lab whose ``settings.runs`` are scanned.
    """
    # Inspect is slow to import; the lab's other pages should not wait for it.
    from inspect_ai.log import read_eval_log

    from characterlab.analysis import log_files

    scan = RunsScan()
    found: set[str] = set()
    roots: list[Path] = []
    reports: dict[tuple[Path, Path], Path | None] = {}
    for configured in dict.fromkeys(lab.settings.runs):
        root = configured.expanduser().resolve()
        if not root.is_dir():
            scan.missing.append(configured)
            continue
        scan.folders.append(root)
        roots.append(root)
        try:
            paths = log_files(root)
        except Exception as error:
            # One unlistable folder (permissions, a broken link) must not hide the others' runs.
            scan.unreadable.append((str(root), f"{type(error).__name__}: {error}"))
            continue
        for path in paths:
            try:
                stat = path.stat()
                version = (stat.st_mtime_ns, stat.st_size)
                known = lab.run_headers.get(str(path))
                # A log unchanged since the last visit is not read again (a header read opens the whole zip).
                header = known[1] if known is not None and known[0] == version else None
                if header is None:
                    header = read_eval_log(str(path), header_only=True)
                    lab.run_headers[str(path)] = (version, header)
            except Exception as error:
                # A half-written or foreign file is listed as unreadable rather than breaking the page.
                scan.unreadable.append((str(path), f"{type(error).__name__}: {error}"))
                continue
            # A run still going (or cut short) has no results yet: count the samples it set out to do.
            planned = header.eval.dataset.samples or 0
            samples = header.results.total_samples if header.results is not None else planned
            report = _find_report(path.parent, root, reports)
            record = lab.store.index_run(
                str(path),
                task=header.eval.task[:200],
                model=header.eval.model[:300],
                status=str(header.status)[:20],
                samples=samples,
                started_at=_started(header.eval.created),
                report=str(report) if report is not None else None,
            )
            found.add(record.id)
    indexed = lab.store.runs()
    # Logs that were in a scanned folder and are gone leave the index (runs of other folders stay).
    lab.store.forget_runs(
        run.id
        for run in indexed
        if run.id not in found and any(Path(run.location).is_relative_to(root) for root in roots)
    )
    scan.runs = [run for run in indexed if run.id in found]
    return scan


def _indexed_file(lab: Lab, path_text: str | None, what: str) -> Path:
    """A file the index recorded, if it still exists and lies within the lab's run folders (or their parents)."""
    if not path_text:
        raise HTTPException(404, f"this run has no {what}")
    path = Path(path_text).resolve()
    roots = [folder.expanduser().resolve() for folder in lab.settings.runs]
    if not path.is_file() or not any(path.is_relative_to(root.parent) for root in roots):
        raise HTTPException(404, f"this run's {what} is no longer there")
    return path


@router.get("/runs", response_class=HTMLResponse)
def runs_page(request: Request, lab: LabDep) -> HTMLResponse:
    """The study runs in the lab's run folders."""
    scan = scan_runs(lab)
    return page(
        request,
        "runs.html",
        runs=scan.runs,
        unreadable=scan.unreadable,
        folders=[(folder, f"inspect view --log-dir {shlex.quote(str(folder))}") for folder in scan.folders],
        missing=scan.missing,
    )


@router.get("/runs/{run_id}/report")
def run_report(run_id: str, lab: LabDep) -> FileResponse:
    """A run's HTML report, under the policy for shared pages (its own styles, no scripts)."""
    path = _indexed_file(lab, lab.store.run(run_id).report, "report")
    return FileResponse(path, media_type="text/html", headers={"Content-Security-Policy": SHARED_PAGE_POLICY})


@router.get("/runs/{run_id}/log")
def run_log(run_id: str, lab: LabDep) -> FileResponse:
    """A run's Inspect log file, as a download."""
    path = _indexed_file(lab, lab.store.run(run_id).location, "log file")
    return FileResponse(path, media_type="application/octet-stream", filename=path.name)
