"""What a block rule is: its choices, a pure decision function and the products per provider.

A rule reads the spec only through `Context.get`, which records every path it reads; those
paths become the decision's `inputs`, so the record of what drove a choice cannot drift from
the code that made it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from kubeplan.errors import Path
from kubeplan.model import Decision, Scalar


@dataclass(frozen=True)
class Choice:
    """One option of a block: its id (a contract), what it is, and what it costs you."""

    id: str
    summary: str
    tradeoff: str


@dataclass(frozen=True)
class Outcome:
    """What a rule returns: the choice and a sentence naming the inputs that drove it."""

    choice: str
    rationale: str
    parameters: Mapping[str, Scalar] = field(default_factory=dict)


@dataclass(frozen=True)
class Conflict:
    """Why a choice cannot hold given another input (used for overrides and explicit asks)."""

    message: str
    other: Path
    hint: str | None = None


class Context:
    """A rule's read-only view of the spec and the earlier decisions; records what it reads."""

    def __init__(self, spec: Mapping[str, Any], name: str, decisions: Mapping[str, Decision]):
        self._spec = spec
        self.name = name
        self._decisions = decisions
        self.read: list[str] = []

    def get(self, dotted: str) -> Any:
        """The spec value at `dotted` (YAML names, e.g. 'traffic.staticShare'); recorded."""
        node: Any = self._spec
        for part in dotted.split("."):
            node = node[part]
        path = f"spec.{dotted}"
        if path not in self.read:
            self.read.append(path)
        return node

    def peek(self, dotted: str) -> Any:
        """Like `get`, without recording: for wording a sentence, not for deciding."""
        node: Any = self._spec
        for part in dotted.split("."):
            node = node[part]
        return node

    @property
    def provider(self) -> str:
        return str(self.get("provider"))

    def decision(self, block: str) -> Decision:
        """An earlier decision; the rule must list `block` in its `needs`."""
        if block not in self._decisions:
            raise KeyError(f"decision {block!r} is not available; add it to the rule's needs")
        path = f"decisions.{block}"
        if path not in self.read:
            self.read.append(path)
        return self._decisions[block]

    def choice(self, block: str) -> str:
        return self.decision(block).choice


class Rule(ABC):
    """Base of every block rule. Subclasses set the class data and implement `decide`."""

    block: ClassVar[str]
    title: ClassVar[str]
    choices: ClassVar[tuple[Choice, ...]]
    needs: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def decide(self, ctx: Context) -> Outcome:
        """The choice for this spec, with a sentence naming what drove it."""

    def components(self, choice: str, ctx: Context) -> tuple[str, ...]:
        """The concrete products for this provider."""
        return ()

    def parameters(self, choice: str, ctx: Context) -> Mapping[str, Scalar]:
        """Tunables for an overridden choice (a decided one returns them in its Outcome)."""
        return {}

    def warnings(self, choice: str, ctx: Context) -> tuple[str, ...]:
        """Risks of `choice` for this spec that the user should read (decided or overridden
        alike); the engine attaches them to the decision and lists them in the plan."""
        return ()

    def conflict(self, choice: str, ctx: Context) -> Conflict | None:
        """Why `choice` cannot hold for this spec (checked for overrides)."""
        return None

    # helpers
    def choice_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.choices)

    def choice_named(self, choice: str) -> Choice:
        for c in self.choices:
            if c.id == choice:
                return c
        raise KeyError(choice)
