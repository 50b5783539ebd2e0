"""Strategy names as scenarios write them: pool strategies, book strategies, plug-ins.

A name may exist in both registries (``momentum``): a scenario whose market is ``book``
means the book agent, one whose market is ``pool`` the pool strategy. A name that only one
registry has means that one in either market: a pool strategy on a book sends market
orders (sim/market/schedule.py), a book strategy trades only the currencies on a book.
"""

from __future__ import annotations

from typing import Any

from sim.errors import BadScenario
from sim.market import strategies
from sim.market.book_agents import BOOK_BUILTINS
from sim.market.book_agents_base import BookStrategy
from sim.market.strategies import Strategy

__all__ = ["AnyStrategy", "all_names", "make_any", "resolve_any"]

AnyStrategy = type[Strategy[Any]] | type[BookStrategy[Any]]


def resolve_any(name: str, market: str = "pool") -> AnyStrategy:
    """The class a scenario of default market ``market`` means by ``name``."""
    book = BOOK_BUILTINS.get(name)
    if book is not None and (market == "book" or name not in strategies.BUILTINS):
        return book
    try:
        return strategies.resolve(name)
    except BadScenario:
        if ":" in name:
            raise
        raise BadScenario(f"unknown strategy '{name}'; expected one of "
                          f"{', '.join(all_names())} or module:Class") from None


def all_names() -> list[str]:
    """Every built-in name, pool and book."""
    return sorted(set(strategies.BUILTINS) | set(BOOK_BUILTINS))


def make_any(cls: AnyStrategy, params: Any, n_currencies: int,
             scale: int) -> Strategy[Any] | BookStrategy[Any]:
    """An instance of ``cls`` with validated ``params``."""
    if issubclass(cls, BookStrategy):
        return cls(params, n_currencies)
    pool: type[Strategy[Any]] = cls
    return pool(params, n_currencies, scale)
