"""`bailbench import-inspect`, registered on the CLI by `register(app)`.

Nothing here imports Inspect at import time: the `bailbench` command starts without it,
and works without the extra until this command is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("import-inspect")
    def import_inspect(
        logs: list[Path] = typer.Argument(..., help="Inspect logs (.eval/.json) of bailbench/bail_tool, bail_string, bail_prompt, or folders of them."),
        out: Optional[Path] = typer.Option(None, help="Run directory (default runs/inspect-MODEL-DATASET-HASH); import into it again to add logs."),
    ) -> None:
        """Turn Inspect logs of bailbench's tasks into a bailbench run (for report, compare)."""
        from .. import console
        from ..errors import UserError
        from .importer import import_logs

        try:
            result = import_logs(logs, out)
        except UserError as exc:
            console.err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2)
        s = result.summary
        console.out.print(console.method_table(s))
        console.out.print(console.category_table(s))
        console.out.print(f"run directory: {result.out} ({s['new_samples']} new samples, {s['reused_samples']} reused, "
                          f"{len(s['inspect']['logs'])} logs)")
        console.out.print(f"figures, tables and a transcript browser: bailbench report {result.out}")
