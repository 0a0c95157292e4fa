"""The error CSV of an import: the rows it rejected, each with its line and reason."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import IO, Any

from subscribers.csvfile import CsvFileError, spreadsheet_safe


class Rejects:
    """The error CSV: written only when a row is rejected; removed if the import fails.

    Staff open it in a spreadsheet, so cells that would run as formulas are quoted.
    """

    def __init__(self, path: Path, header: list[str]) -> None:
        self.path = path
        self._header = header
        self._file: IO[str] | None = None
        self._writer: Any = None
        self.count = 0

    def add(self, line: int, reason: str, cells: list[str]) -> None:
        if self._file is None:
            try:
                self._file = self.path.open("w", encoding="utf-8", newline="")
            except OSError as exc:
                raise CsvFileError(
                    f"cannot write rejected rows to {self.path}: {exc.strerror}; "
                    "nothing was imported (choose another place with --errors)"
                ) from None
            self._writer = csv.writer(self._file)
            self._writer.writerow(["line", "reason", *map(spreadsheet_safe, self._header)])
        self._writer.writerow([line, spreadsheet_safe(reason), *map(spreadsheet_safe, cells)])
        self.count += 1

    def close(self, *, keep: bool) -> Path | None:
        if self._file is not None:
            self._file.close()
            if not keep:
                self.path.unlink(missing_ok=True)
        return self.path if keep and self.count else None


def default_errors_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.errors.csv")
