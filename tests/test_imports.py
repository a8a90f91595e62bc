"""The layers, as imports: no module of slack_hitl imports itself back, and none drags in what its layer must not.

``slack_hitl/cli.py`` and ``service/{app,commands,settings}.py`` once imported each other, so
importing the settings loaded the command line, the demo's commands and uvicorn. Two checks
keep that from coming back: the import graph (every ``import`` in every module, also those
inside functions, but not those only for type checkers) has no cycle; and each module,
imported as by a fresh interpreter, loads nothing its layer must not (see ``RULES``).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "slack_hitl"
NOT_IMPORTABLE = {"slack_hitl.migrations.env"}
"""Alembic runs it as a script, inside a migration."""

SLACK_IO = ("slack_hitl.slack", "slack_sdk", "aiohttp")
WEB = ("fastapi", "starlette", "uvicorn", "httpx")
SURFACES = ("slack_hitl.server", "slack_hitl.service", "slack_hitl.cli", "slack_hitl.demo", "slack_hitl.testing")
CORE = (
    "slack_hitl",
    "slack_hitl.adapter",
    "slack_hitl.approvals",
    "slack_hitl.background",
    "slack_hitl.classifier",
    "slack_hitl.decisions",
    "slack_hitl.engine",
    "slack_hitl.errors",
    "slack_hitl.events",
    "slack_hitl.inbox",
    "slack_hitl.metrics",
    "slack_hitl.policies",
    "slack_hitl.requirements",
    "slack_hitl.status",
    "slack_hitl.storable",
    "slack_hitl.store",
    "slack_hitl.times",
    "slack_hitl.traces",
)


@dataclass(frozen=True)
class Rule:
    """The modules under ``applies_to`` (or exactly those, with ``exactly``), minus those under ``except_for``,
    load nothing under ``never``."""

    why: str
    applies_to: tuple[str, ...]
    never: tuple[str, ...]
    except_for: tuple[str, ...] = ()
    exactly: bool = False

    def covers(self, module: str) -> bool:
        named = module in self.applies_to if self.exactly else _under(module, self.applies_to)
        return named and not _under(module, self.except_for)


RULES = (
    Rule("only the command line loads the command line", ("slack_hitl",), ("slack_hitl.cli",), ("slack_hitl.cli",)),
    Rule(
        "the demo is loaded by the demo and the command line only",
        ("slack_hitl",),
        ("slack_hitl.demo",),
        ("slack_hitl.demo", "slack_hitl.cli"),
    ),
    Rule(
        "the Slack emulator and the harness are for tests (and the demo): production never loads them",
        ("slack_hitl",),
        ("slack_hitl.testing",),
        ("slack_hitl.testing", "slack_hitl.demo", "slack_hitl.cli"),
    ),
    Rule(
        "the domain, the store and the engine know nothing of Slack, the web or the surfaces",
        CORE,
        (*SLACK_IO, *WEB, *SURFACES),
        exactly=True,
    ),
    Rule("Slack I/O sits below the surfaces", ("slack_hitl.slack",), ("uvicorn", *SURFACES)),
    Rule(
        "the settings are read before anything heavy is loaded: a misconfigured start fails at once",
        ("slack_hitl.service.settings",),
        ("uvicorn", "fastapi", "starlette", "slack_hitl.server", "slack_hitl.service.app"),
    ),
    Rule(
        "only what serves loads uvicorn",
        ("slack_hitl",),
        ("uvicorn",),
        ("slack_hitl.service.serving", "slack_hitl.testing", "slack_hitl.demo", "slack_hitl.cli"),
    ),
)


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(f"{prefix}.") for prefix in prefixes)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    paths = [p for p in PACKAGE.rglob("*.py") if "versions" not in p.relative_to(PACKAGE).parts]
    return {_module_name(path): path for path in sorted(paths)}


# -- the import graph -----------------------------------------------------------------------------


class _ImportsOf(ast.NodeVisitor):
    """Every module a module imports, anywhere (inside functions too), except under ``if TYPE_CHECKING:``."""

    def __init__(self, modules: dict[str, Path]) -> None:
        self.modules = modules
        self.found: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        if "TYPE_CHECKING" in ast.unparse(node.test):
            for statement in node.orelse:
                self.visit(statement)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found.update(alias.name for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module is None or node.level:
            return
        for alias in node.names:
            # ``from slack_hitl import migrations`` imports the module, not (only) the package.
            submodule = f"{node.module}.{alias.name}"
            self.found.add(submodule if submodule in self.modules else node.module)


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of ``modules`` that ``path`` imports."""
    visitor = _ImportsOf(modules)
    visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
    return {name for name in visitor.found if name in modules}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph[module]):
            if imported not in index:
                connect(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1 or module in graph[module]:
                cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            connect(module)
    return cycles


def test_no_module_of_slack_hitl_imports_itself_back() -> None:
    modules = package_modules()
    graph = {name: _imports(path, modules) for name, path in modules.items()}
    assert "slack_hitl.cli" not in graph["slack_hitl.service.settings"]  # the cycle this test was written for
    assert import_cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle_through_a_lazy_import() -> None:
    graph = {"cli": {"commands"}, "commands": {"settings"}, "settings": {"cli"}, "store": set(), "engine": {"store"}}
    assert import_cycles(graph) == [["cli", "commands", "settings"]]
    assert import_cycles({"a": {"a"}}) == [["a"]]


# -- each module in a fresh interpreter -----------------------------------------------------------


@pytest.fixture(scope="module")
def loaded_by() -> dict[str, list[str]]:
    """For each module, what importing it loads in a fresh interpreter (the ``slack_hitl`` package included)."""
    modules = [name for name in package_modules() if name not in NOT_IMPORTABLE and name != "slack_hitl"]
    probe = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "import_probe.py"), *modules],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    reports = [json.loads(line) for line in probe.stdout.splitlines()]
    errors = {report["module"]: report["error"] for report in reports if "error" in report}
    assert errors == {}
    package = reports[0]["loaded"]
    loaded = {report["module"]: sorted({*package, *report["loaded"]}) for report in reports}
    assert sorted(loaded) == sorted(["slack_hitl", *modules])
    return loaded


def _violations(loaded_by: dict[str, list[str]]) -> Iterator[str]:
    for module, loaded in sorted(loaded_by.items()):
        for rule in RULES:
            if rule.covers(module):
                for forbidden in rule.never:
                    if any(_under(name, (forbidden,)) for name in loaded):
                        yield f"{module} loads {forbidden}: {rule.why}"


def test_no_module_loads_what_its_layer_must_not(loaded_by: dict[str, list[str]]) -> None:
    assert list(_violations(loaded_by)) == []


def test_the_rules_see_what_a_module_loads(loaded_by: dict[str, list[str]]) -> None:
    """The probe is not blind: what each surface needs is loaded, and a rule broken is reported."""
    assert "uvicorn" in loaded_by["slack_hitl.service.serving"]
    assert "slack_hitl.cli" in loaded_by["slack_hitl.cli"] and "slack_hitl.demo" in loaded_by["slack_hitl.cli"]
    assert "slack_sdk" in loaded_by["slack_hitl.slack.client"]
    broken = {"slack_hitl.service.settings": [*loaded_by["slack_hitl.service.settings"], "slack_hitl.cli", "uvicorn"]}
    assert list(_violations(broken)) == [
        "slack_hitl.service.settings loads slack_hitl.cli: only the command line loads the command line",
        "slack_hitl.service.settings loads uvicorn: the settings are read before anything heavy is loaded: "
        "a misconfigured start fails at once",
        "slack_hitl.service.settings loads uvicorn: only what serves loads uvicorn",
    ]
