"""The rule registry: refuses duplicates, orders rules by their needs.

Built-in blocks are listed in `kubeplan.blocks.BUILTIN`; third-party blocks register through the
`kubeplan.blocks` entry-point group. Tests can build a fresh Registry with just the rules they need.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from kubeplan.decide.rules import Rule


class DuplicateBlock(ValueError):
    pass


class Registry:
    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self._rules: dict[str, Rule] = {}
        for rule in rules:
            self.add(rule)

    def add(self, rule: Rule) -> None:
        if rule.block in self._rules:
            raise DuplicateBlock(
                f"block {rule.block!r} is registered twice "
                f"({type(self._rules[rule.block]).__module__} and {type(rule).__module__})"
            )
        ids = rule.choice_ids()
        if len(set(ids)) != len(ids):
            raise DuplicateBlock(f"block {rule.block!r} lists a choice id twice: {ids}")
        self._rules[rule.block] = rule

    def __contains__(self, block: str) -> bool:
        return block in self._rules

    def __getitem__(self, block: str) -> Rule:
        return self._rules[block]

    def blocks(self) -> tuple[str, ...]:
        return tuple(self._rules)

    def ordered(self) -> Iterator[Rule]:
        """Rules in registration order, except that a rule comes after every rule it needs."""
        done: set[str] = set()
        visiting: set[str] = set()
        order: list[Rule] = []

        def visit(block: str, chain: tuple[str, ...]) -> None:
            if block in done:
                return
            if block in visiting:
                raise ValueError(f"rules need each other in a cycle: {' -> '.join((*chain, block))}")
            if block not in self._rules:
                raise ValueError(f"rule {chain[-1]!r} needs unknown block {block!r}")
            visiting.add(block)
            for need in self._rules[block].needs:
                visit(need, (*chain, block))
            visiting.discard(block)
            done.add(block)
            order.append(self._rules[block])

        for block in self._rules:
            visit(block, ())
        return iter(order)
