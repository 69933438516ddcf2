"""bailbench inside Inspect AI (`pip install 'bailbench[inspect]'`).

`inspect eval bailbench/bail_tool`, `bailbench/bail_string`, `bailbench/bail_prompt`, and
`bailbench/bail_method -T method=NAME` for any registered method: the entry point `[project.entry-points.inspect_ai] bailbench = "bailbench.inspect_tasks"` makes
Inspect import this package, and importing the tasks registers them.

The tasks are imported here only when Inspect itself is already loaded (always the case
when Inspect reads its entry points), so that `bailbench.inspect_tasks.command`, which the
`bailbench` CLI imports for `import-inspect`, costs no Inspect import (about 2 s) and works
without the extra. `from bailbench.inspect_tasks import bail_tool` imports them on demand.
"""

from __future__ import annotations

import sys

TASKS = ("bail_tool", "bail_string", "bail_prompt", "bail_method")

if "inspect_ai" in sys.modules:
    from .tasks import bail_method, bail_prompt, bail_string, bail_tool  # noqa: F401  (registers the tasks)


def __getattr__(name: str):
    if name in TASKS:
        from . import tasks

        return getattr(tasks, name)
    raise AttributeError(name)
