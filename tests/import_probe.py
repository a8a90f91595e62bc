"""What importing each module loads, each as a fresh interpreter would: ``python tests/import_probe.py MODULE...``.

The probe imports the ``slack_hitl`` package (which any of its modules imports first anyway),
then forks one child per module; the child imports it and reports, as one JSON line, every
module then loaded that the package itself had not loaded. Children run a few at a time.
"""

from __future__ import annotations

import json
import os
import sys


def _probe(module: str) -> tuple[int, int]:
    """Fork a child that imports ``module`` and writes what it loaded to a pipe: (pid, read end)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        before = set(sys.modules)
        try:
            __import__(module)
            report = {"module": module, "loaded": sorted(set(sys.modules) - before)}
        except BaseException as error:  # reported, so the test names the module that cannot be imported
            report = {"module": module, "error": f"{type(error).__name__}: {error}"}
        with os.fdopen(write, "w") as out:
            out.write(json.dumps(report))
        os._exit(0)
    os.close(write)
    return pid, read


def _collect(pid: int, read: int) -> str:
    with os.fdopen(read) as report:
        text = report.read()
    os.waitpid(pid, 0)
    return text


def main(modules: list[str]) -> None:
    import slack_hitl  # noqa: F401  - the parent of every module probed

    print(json.dumps({"module": "slack_hitl", "loaded": sorted(sys.modules)}), flush=True)
    at_once = max(os.cpu_count() or 1, 2)
    running: list[tuple[int, int]] = []
    for module in modules:
        running.append(_probe(module))
        if len(running) >= at_once:
            print(_collect(*running.pop(0)), flush=True)
    for child in running:
        print(_collect(*child), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
