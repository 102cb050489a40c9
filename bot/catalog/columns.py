"""Which columns of a query's result hold a product's name, its price and its availability.

A reply written from rows shows "• name — S/ 45.00 (disponible)". The demo catalog and
imported files call those columns name, price and availability; a store's own SQLite file has
its own words (``titulo``, ``pvp``, ``hay_stock``). The column roles found in the file
(``bot.catalog.roles``) say which is which, so the store's rows read the same way: the title
as the name, ``pvp`` in soles (and as an amount the reply may state), never "pvp: 45.0".
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from bot.catalog.money import is_money_column
from bot.catalog.roles import CatalogRoles

#: Result columns read as the product's name or availability whatever the catalog.
NAME_COLUMNS = ("name", "nombre", "product", "producto")
AVAILABILITY_COLUMNS = ("availability", "disponibilidad")
#: Result column names whose reading is remembered per catalog (model SQL can name its
#: columns anything; past this many, the others are read each time).
MAX_REMEMBERED_COLUMNS = 1_000
#: Aggregates whose result is still an amount of the column they read.
_AMOUNT_AGGREGATE = (r"(?:min|max|avg|sum|total|round)\s*\(\s*(?:[\w\"`\[\].]+\.)?"
                     r"[\"`\[]?{}[\"`\]]?\b")


@dataclass(frozen=True)
class ResultColumns:
    """How to read a result's columns: names (lower case) of the name, money and availability
    columns. ``of(None)`` reads by the standard names only."""

    names: tuple[str, ...] = NAME_COLUMNS
    availability: tuple[str, ...] = AVAILABILITY_COLUMNS
    money: tuple[str, ...] = ()
    _money_patterns: tuple[re.Pattern[str], ...] = ()
    # Each column's answer, once read: every cell of every result asks.
    _is_money: dict[str, bool] = field(default_factory=dict, compare=False, hash=False,
                                       repr=False)

    @classmethod
    def of(cls, roles: CatalogRoles | None) -> ResultColumns:
        """The reading for a catalog with these roles (None: the standard names only).

        Built once per set of columns (every question asks for it; the patterns are compiled).
        """
        if roles is None:
            return STANDARD
        return _reading(roles.column("name"), roles.column("availability"),
                        roles.column("price"))

    def is_money(self, column: str) -> bool:
        """Whether ``column`` holds amounts in soles: by its name (price, precio, costo...),
        or as the catalog's price column (alone or under min/max/avg/sum/round)."""
        known = self._is_money.get(column)
        if known is None:
            lowered = column.lower().strip()
            known = is_money_column(column) or lowered in self.money or any(
                p.search(lowered) for p in self._money_patterns)
            if len(self._is_money) < MAX_REMEMBERED_COLUMNS:
                self._is_money[column] = known
        return known


@functools.cache
def _reading(name: str | None, state: str | None, price: str | None) -> ResultColumns:
    money = (price.lower(),) if price and not is_money_column(price) else ()
    return ResultColumns(
        names=_first(name, NAME_COLUMNS),
        availability=_first(state, AVAILABILITY_COLUMNS),
        money=money,
        _money_patterns=tuple(re.compile(_AMOUNT_AGGREGATE.format(re.escape(m)), re.IGNORECASE)
                              for m in money),
    )


def _first(column: str | None, standard: tuple[str, ...]) -> tuple[str, ...]:
    if not column or column.lower() in standard:
        return standard
    return (column.lower(), *standard)


STANDARD = ResultColumns()
