"""``sim trade FILE``: trade from stdin as a new writer with its own account, under the
same locks as everyone.

Reads lines such as ``buy EUR 10``, ``sell EUR 2.5``, ``balance``, ``rates``, ``quit``.
Amounts are units of the currency, exact to the file's scale; each fill or rejection is
one line. Works against a file a running ``sim run`` is using.
"""

from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation
from typing import IO

from sim.core import layout as L
from sim.core.claims import join
from sim.core.exchange import Exchange
from sim.core.transaction import REJECT_REASONS, Writer
from sim.errors import BadInput, NoFreeSlot

__all__ = ["parse_amount", "trade_session"]

HELP = "commands: buy CODE QTY | sell CODE QTY | balance | rates | help | quit"


def parse_amount(text: str, scale: int) -> int:
    """Units as written (``10``, ``2.5``) to minor units; exact or an error."""
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise BadInput(f"amount {text!r} is not a number") from None
    if not d.is_finite() or d <= 0:
        raise BadInput(f"amount {text!r} must be a positive number")
    minor = d * scale
    if minor != minor.to_integral_value():
        raise BadInput(f"amount {text!r} is finer than 1/{scale} of a unit")
    return int(minor)


def _money(minor: int, scale: int) -> str:
    digits = len(str(scale)) - 1
    return f"{minor / scale:,.{digits}f}"


def trade_session(path: str, inp: IO[str], out: IO[str], cash: float = 1000.0,
                  holdings: float = 0.0) -> int:
    with Exchange.open(path) as ex:
        scale = ex.scale
        names = ex.names()
        index = {n.upper(): i for i, n in enumerate(names)}
        cash_minor = round(cash * scale)
        hold_minor = round(holdings * scale)
        if cash_minor < 0 or hold_minor < 0:
            raise BadInput("--cash and --holdings must be >= 0")
        try:
            w, a = join(ex, L.KIND_INTERACTIVE, cash_minor, [hold_minor] * len(names),
                        pid=os.getpid())
        except NoFreeSlot as e:
            raise NoFreeSlot(f"{e}; joiners get the writers and accounts a scenario keeps "
                             "free: give it a larger spare_slots (default 4, e.g. "
                             "spare_slots: 8) and run it again") from None
        acc = _Session(Writer(ex, w), a)
        out.write(f"joined {path} as writer {w} with account {a} and "
                  f"{_money(cash_minor, scale)} cash; currencies {' '.join(names)}\n{HELP}\n")
        out.flush()
        try:
            for line in inp:
                words = line.split()
                if not words:
                    continue
                cmd = words[0].lower()
                if cmd in ("quit", "exit"):
                    break
                try:
                    out.write(_command(ex, acc, index, names, cmd, words) + "\n")
                except BadInput as e:
                    out.write(f"error: {e}\n")
                out.flush()
        finally:
            acc.writer.close()
            ex.q[ex.wword(w, "status")] = L.SLOT_DONE
        return 0


class _Session:
    """The joined writer and its one account."""

    def __init__(self, writer: Writer, account: int) -> None:
        self.writer = writer
        self.account = account


def _command(ex: Exchange, acc: _Session, index: dict[str, int], names: list[str], cmd: str,
             words: list[str]) -> str:
    scale = ex.scale
    if cmd == "help":
        return HELP
    if cmd == "balance":
        q = ex.q
        parts = [f"cash {_money(q[ex.aword(acc.account, 'cash')], scale)}"]
        h0 = ex.aword(acc.account, "holdings")
        parts += [f"{n} {_money(q[h0 + c], scale)}" for c, n in enumerate(names)]
        return "  ".join(parts)
    if cmd == "rates":
        return "  ".join(
            f"{n} {ex.q[ex.cword(c, 'cash_reserve')] / ex.q[ex.cword(c, 'unit_reserve')]:.4f}"
            for c, n in enumerate(names))
    if cmd not in ("buy", "sell"):
        raise BadInput(f"unknown command {cmd!r}; {HELP}")
    if len(words) != 3:
        raise BadInput(f"expected '{cmd} CODE QTY', e.g. '{cmd} {names[0]} 10'")
    code = words[1].upper()
    if code not in index:
        raise BadInput(f"unknown currency {words[1]!r}; expected one of {' '.join(names)}")
    c = index[code]
    qty = parse_amount(words[2], scale)
    side = L.SIDE_BUY if cmd == "buy" else L.SIDE_SELL
    got = acc.writer.trade(acc.account, c, side, qty)
    if got < 0:
        return f"rejected: {cmd} {_money(qty, scale)} {code}: {REJECT_REASONS[got]}"
    verb = "bought" if side == L.SIDE_BUY else "sold"
    return (f"{verb} {_money(qty, scale)} {code} for {_money(got, scale)} "
            f"(rate {got / qty:.4f})")
