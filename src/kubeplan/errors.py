"""The error tree, and the one place that maps it to exit codes.

    KubeplanError            any failure kubeplan explains to its user
    ├── SpecError            the user's input is wrong (bad YAML, unknown key, bad value)   -> 2
    │   └── DecisionConflict two inputs cannot both hold (names both fields)               -> 2
    ├── UsageError           the command line or the output folder is wrong                 -> 2
    ├── RenderError          the plan cannot be rendered (an internal inconsistency)        -> 3
    └── CheckFailure         a built tree has findings                                       -> 1

Anything else is a bug: the CLI logs its traceback to a debug file instead of the terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """`spec.traffic.staticShare`, `spec.environments[1]`: the form users see in messages."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


@dataclass(frozen=True)
class Location:
    """Where in the user's file a problem sits (1-based line and column)."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.file
        if self.column is None:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"


@dataclass
class Problem:
    """One thing wrong with the input: a message, the field path and, once known, the location."""

    message: str
    path: Path = ()
    hint: str | None = None
    location: Location | None = None

    def render(self) -> str:
        where = f"{self.location}: " if self.location else ""
        field_ = f"{format_path(self.path)}: " if self.path else ""
        text = f"{where}{field_}{self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


class KubeplanError(Exception):
    """Base of every error kubeplan reports to its user."""

    exit_code = 3

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def render(self) -> str:
        return self.message


class SpecError(KubeplanError):
    """The platform spec is invalid. Carries one or more located problems."""

    exit_code = 2

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(p.render() for p in self.problems))

    def render(self) -> str:
        count = len(self.problems)
        head = "invalid platform spec" + (f" ({count} problems)" if count > 1 else "")
        return head + ":\n" + "\n".join("  " + p.render().replace("\n", "\n  ") for p in self.problems)


@dataclass(frozen=True)
class Cause:
    """One side of a conflict: the rule and the spec field behind it."""

    rule: str
    path: Path


class DecisionConflict(SpecError):
    """Two rules (or a rule and an override) cannot both hold."""

    def __init__(self, message: str, causes: Sequence[Cause], hint: str | None = None) -> None:
        self.causes = tuple(causes)
        paths = " and ".join(format_path(c.path) for c in self.causes)
        rules = ", ".join(sorted({c.rule for c in self.causes}))
        problem = Problem(
            message=f"contradiction between {paths} (rule {rules}): {message}",
            path=self.causes[0].path if self.causes else (),
            hint=hint,
        )
        super().__init__([problem])


class UsageError(KubeplanError):
    """The command line, or the state of the output folder, does not allow the operation."""

    exit_code = 2


class RenderError(KubeplanError):
    """The plan could not be rendered; a bug or an inconsistent plan."""

    exit_code = 3


@dataclass
class Finding:
    """One validation finding on a built tree."""

    file: str
    message: str
    validator: str

    def render(self) -> str:
        return f"{self.file}: [{self.validator}] {self.message}"


@dataclass
class CheckFailure(KubeplanError):
    """A built tree has findings."""

    findings: list[Finding] = field(default_factory=list)
    exit_code = 1

    def __post_init__(self) -> None:
        super().__init__(f"{len(self.findings)} finding(s)")


EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


def exit_code_for(error: BaseException) -> int:
    """The one mapping from errors to process exit codes."""
    if isinstance(error, KubeplanError):
        return error.exit_code
    return EXIT_INTERNAL
