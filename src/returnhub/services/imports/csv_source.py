"""The CSV import as a source: the orders file, then (optionally) the returns file, whose
returns refer to orders by name and so need the orders stored first."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from returnhub.domain.imported import Batch
from returnhub.services.imports.csv_file import CsvFile
from returnhub.services.imports.csv_orders import OrdersCsv
from returnhub.services.imports.csv_returns import ReturnsCsv

ORDERS, RETURNS = "orders", "returns"


class CsvSource:
    name = "csv"

    def __init__(
        self,
        orders: Path,
        returns: Path | None,
        now: datetime,
        *,
        returns_source: str = "csv",
        chunk: int = 2000,
    ) -> None:
        self.orders = OrdersCsv(CsvFile(orders), now, chunk)
        self.returns = (
            ReturnsCsv(CsvFile(returns), returns_source, now, max(1, chunk // 4))
            if returns is not None
            else None
        )
        self.returns_source = returns_source
        self._parameters: dict[str, Any] | None = None

    def parameters(self) -> dict[str, Any]:
        if self._parameters is None:
            self._parameters = {
                ORDERS: self.orders.file.fingerprint(),
                RETURNS: self.returns.file.fingerprint() if self.returns else None,
                "returns_source": self.returns_source,
            }
        return self._parameters

    def total(self) -> int:
        return self.orders.file.size + (self.returns.file.size if self.returns else 0)

    def batches(self, checkpoint: dict[str, Any]) -> Iterator[Batch]:
        phase = checkpoint.get("phase", ORDERS)
        if phase == ORDERS and not checkpoint.get("done"):
            for batch in self.orders.batches(checkpoint):
                last = bool(batch.checkpoint.get("done")) and self.returns is not None
                batch.checkpoint = (
                    {"phase": RETURNS} if last else {"phase": ORDERS, **batch.checkpoint}
                )
                batch.part = ORDERS
                yield batch
            checkpoint = {"phase": RETURNS}
        if self.returns is None:
            return
        offset = self.orders.file.size
        resume = {k: v for k, v in checkpoint.items() if k != "phase"}
        if checkpoint.get("phase") == RETURNS and not resume.get("done"):
            for batch in self.returns.batches(resume):
                batch.checkpoint = {"phase": RETURNS, **batch.checkpoint}
                batch.position += offset
                batch.part = RETURNS
                yield batch
