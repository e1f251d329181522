"""Reading a stranger's CSV file safely: streamed record by record with the byte offset after
each one (so an import resumes mid-file), never a line longer than we can hold, and every
unreadable part (bad UTF-8, an endless line, broken quoting) reported on its row instead of
stopping the file.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

# No field of ours needs more; a longer line is skipped (and reported) without being held.
MAX_LINE_BYTES = 1 << 20
# The csv module's own cap on one field (its default), which also bounds a quote never closed.
MAX_FIELD_CHARS = 131_072
UTF8_BOM = b"\xef\xbb\xbf"


class UnreadableFile(Exception):
    """The file as a whole cannot be imported (missing, empty, a header we cannot use)."""


@dataclass(frozen=True)
class Record:
    # The record's number in the file, the header being row 1 (a spreadsheet's row number
    # when no field holds a line break).
    row: int
    fields: list[str]
    # Byte offsets where the record starts and just after it ends.
    start: int
    end: int
    # Why the record could not be read as it stands, or "".
    trouble: str = ""


class _Lines:
    """The file's lines, decoded, for csv.reader, counting bytes as it hands them over: the
    reader pulls lines only as a record needs them, so after each record ``offset`` is where
    the next one starts."""

    def __init__(self, handle: BinaryIO, offset: int) -> None:
        self.handle = handle
        self.offset = offset
        self.trouble = ""

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = self.handle.readline(MAX_LINE_BYTES + 1)
        if not raw:
            raise StopIteration
        start = self.offset
        self.offset += len(raw)
        if len(raw) > MAX_LINE_BYTES:
            while raw and not raw.endswith(b"\n"):
                raw = self.handle.readline(MAX_LINE_BYTES)
                self.offset += len(raw)
            self.trouble = (
                f"a line longer than {MAX_LINE_BYTES // 1024} KiB (no field of the format needs "
                "that much); it was skipped: shorten the field or remove the row"
            )
            return "\n"
        if start == 0 and raw.startswith(UTF8_BOM):
            raw = raw[len(UTF8_BOM) :]
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.trouble = (
                f"not UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} of the line); "
                "save the file as CSV UTF-8"
            )
            return raw.decode("utf-8", "replace")


class CsvFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.is_file():
            raise UnreadableFile(f"{path}: no such file")
        self.size = path.stat().st_size
        if self.size == 0:
            raise UnreadableFile(f"{path}: the file is empty; it needs a header row")

    def fingerprint(self) -> dict[str, object]:
        """Name, size and sha256: what a resume checks it is reading the same file."""
        digest = hashlib.sha256()
        with self.path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
        return {"name": self.path.name, "size": self.size, "sha256": digest.hexdigest()}

    def header(self) -> Record:
        for record in self.records(0, 0):
            if record.trouble:
                raise UnreadableFile(f"{self.path}: the header row is {record.trouble}")
            if any(field.strip() for field in record.fields):
                return record
        raise UnreadableFile(f"{self.path}: no header row")

    def records(self, offset: int, row: int) -> Iterator[Record]:
        """Records from byte ``offset`` on (the start of a record), numbered after ``row``;
        blank lines are skipped."""
        with self.path.open("rb") as handle:
            handle.seek(offset)
            lines = _Lines(handle, offset)
            reader = csv.reader(lines, strict=True)
            while True:
                start = lines.offset
                lines.trouble = ""
                try:
                    fields = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    row += 1
                    yield Record(row, [], start, lines.offset, _csv_trouble(exc))
                    continue
                row += 1
                if not lines.trouble and not any(fields):
                    continue
                yield Record(row, fields, start, lines.offset, lines.trouble)


def _csv_trouble(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return (
            f"a field longer than {MAX_FIELD_CHARS:,} characters (often a quote that is never "
            "closed); shorten the field or close the quote"
        )
    return f"not valid CSV ({text}); check the quoting of this row"
