"""The folder of files the app offers for download, kept bounded.

Every Generate/Compare writes a CSV and every Evaluate a bundle of results; a classroom day
would fill /tmp without bound. Before each new entry, entries older than ``max_age_s`` and
all but the newest ``max_entries`` are removed (a download link of the last hour still works).
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from pathlib import Path

MAX_ENTRIES = 200  # files and folders kept; a class of 30 clicking for an hour fits
MAX_AGE_S = 6 * 3600  # a school day's morning; older links are gone


class ResultsDir:
    """A private temporary folder whose entries are pruned by age and count."""

    def __init__(
        self, root: Path | None = None, max_entries: int = MAX_ENTRIES, max_age_s: float = MAX_AGE_S
    ):
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="grpo-eval-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_entries = max_entries
        self.max_age_s = max_age_s

    def new_file(self, prefix: str, suffix: str) -> Path:
        """A fresh path for one file (room is made first)."""
        self.prune()
        return self.root / f"{prefix}-{uuid.uuid4().hex[:12]}{suffix}"

    def new_folder(self, prefix: str) -> Path:
        """A fresh, empty folder for a bundle of files (room is made first)."""
        self.prune()
        return Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=self.root))

    def prune(self) -> None:
        """Make room for a new entry: remove those past the age limit, then the oldest extras."""
        now = time.time()
        entries = sorted(self.root.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
        gone = [p for p in entries if now - p.stat().st_mtime > self.max_age_s]
        gone += [p for p in entries if p not in gone][max(self.max_entries - 1, 0) :]
        for path in gone:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
