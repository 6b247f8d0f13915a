"""The chaos suite's table of figures: one row per scenario, printed at the end of the run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

COLUMNS = ("scenario", "messages", "faults", "lost", "duplicated", "recover_s", "notes")
CHAOS_ROWS: list[dict[str, Any]] = []


def table_json_path(session_temp_dir: Path) -> Path:
    """Where the figures are written: env CHAOS_TABLE_JSON, else this pytest session's own
    temporary directory (never a fixed name that concurrent sessions would overwrite)."""
    configured = os.environ.get("CHAOS_TABLE_JSON")
    return Path(configured) if configured else session_temp_dir / "mozci-monitor-chaos.json"


class ChaosTable:
    """Rows of figures, one per scenario (what the issue asks the suite to print)."""

    json_path: Path | None = None  # set by the session fixture

    def add(
        self,
        scenario: str,
        *,
        messages: int,
        faults: int,
        lost: int,
        duplicated: int,
        recover_s: float | None,
        notes: str = "",
    ) -> None:
        CHAOS_ROWS.append(
            {
                "scenario": scenario,
                "messages": messages,
                "faults": faults,
                "lost": lost,
                "duplicated": duplicated,
                "recover_s": None if recover_s is None else round(recover_s, 2),
                "notes": notes,
            }
        )


def format_table(rows: list[dict[str, Any]]) -> list[str]:
    headers = ("scenario", "messages", "faults injected", "lost", "duplicated", "recover (s)")
    cells = [
        (
            str(row["scenario"]),
            str(row["messages"]),
            str(row["faults"]),
            str(row["lost"]),
            str(row["duplicated"]),
            "-" if row["recover_s"] is None else f"{row['recover_s']:.2f}",
        )
        for row in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)) + " |"
        for cell in cells
    ]
    return [line, rule, *body]
