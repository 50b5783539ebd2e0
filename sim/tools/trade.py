"""``sim trade FILE``: trade from stdin as a new writer with its own account, under the
same locks as everyone.

Reads one command a line; each answer is one line (or a table). On a pool currency:
``buy EUR 10``, ``sell EUR 2.5``. On a limit order book currency: ``limit buy EUR 10 @
1.0950`` (good till cancelled; ``ioc`` or ``post-only`` after the price), ``market sell
EUR 5``, ``cancel ID``, ``orders`` (this account's live orders), ``book EUR`` (the top
levels and the spread). Always: ``balance``, ``rates``, ``help``, ``quit``. Amounts are
units of the currency, exact to the file's scale (on a book, whole lots); prices are cash
per unit, exactly on the book's ladder. Works against a file a running ``sim run`` is
using. Orders still resting when the session ends stay in the book until filled.
"""

from __future__ import annotations

import os
from typing import IO, Final

from sim.core import layout as L
from sim.core.book_layout import BUY, GTC, IOC, NIL, POST_ONLY, SELL
from sim.core.book_result import REJ_CANCEL, REJ_FUNDS, Result
from sim.core.book_result import REJECT_REASONS as BOOK_REJECT_REASONS
from sim.core.claims import join
from sim.core.exchange import Exchange
from sim.core.transaction import REJECT_REASONS, Writer
from sim.errors import BadInput, NoFreeSlot
from sim.tools.bookview import (
    DEPTH_HEADER,
    DEPTH_RIGHT,
    LEVELS_SHOWN,
    Ladder,
    account_orders,
    depth_rows,
    ladder,
    money,
    parse_amount,
    read_depth,
    spread_text,
)
from sim.viz.terminal import plain_lines, table

__all__ = ["MAX_LEVELS", "help_text", "parse_amount", "trade_session"]

# ``book CODE N`` shows at most this many levels a side.
MAX_LEVELS: Final = 50
_SIDES: Final = {"buy": BUY, "sell": SELL}
_TIFS: Final = {"gtc": GTC, "ioc": IOC, "post-only": POST_ONLY}
_TIF_NAMES: Final = {GTC: "", IOC: " ioc", POST_ONLY: " post-only"}
_STAKE: Final = L.STAKE.word


def help_text(pools: bool = True, books: bool = False) -> str:
    """The commands a file with pool and/or book currencies takes."""
    parts = ["buy CODE QTY | sell CODE QTY"] if pools else []
    if books:
        parts.append("limit buy|sell CODE QTY @ PRICE [ioc|post-only] | market buy|sell "
                     "CODE QTY | cancel [CODE] ID | orders | book CODE [LEVELS]")
    return "commands: " + " | ".join([*parts, "balance | rates | help | quit"])


def trade_session(path: str, inp: IO[str], out: IO[str], cash: float = 1000.0,
                  holdings: float = 0.0) -> int:
    with Exchange.open(path) as ex:
        scale = ex.scale
        names = ex.names()
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
        writer: Writer | None = None
        try:
            writer = Writer(ex, w)
            s = _Session(ex, writer, a)
            kinds = " ".join(f"{n} ({'book' if ex.is_book(c) else 'pool'})"
                             for c, n in enumerate(names))
            out.write(f"joined {path} as writer {w} with account {a} and "
                      f"{money(cash_minor, scale)} cash; currencies {kinds}\n{s.help}\n")
            out.flush()
            for line in inp:
                words = line.replace("@", " @ ").split()
                if not words:
                    continue
                cmd = words[0].lower()
                if cmd in ("quit", "exit"):
                    break
                try:
                    out.write(s.command(cmd, words) + "\n")
                except BadInput as e:
                    out.write(f"error: {e}\n")
                out.flush()
            left = len(account_orders(ex, a))
            if left:
                some = f"{left} orders of account {a} still rest" if left > 1 else (
                    f"1 order of account {a} still rests")
                out.write(f"{some} in the book until filled (sim inspect shows the books)\n")
        finally:
            if writer is not None:
                writer.close()
            ex.q[ex.wword(w, "status")] = L.SLOT_DONE
        return 0


class _Session:
    """The joined writer, its one account, and the commands it takes."""

    def __init__(self, ex: Exchange, writer: Writer, account: int) -> None:
        self.ex = ex
        self.writer = writer
        self.account = account
        self.scale = ex.scale
        self.names = ex.names()
        self.index = {n.upper(): i for i, n in enumerate(self.names)}
        self.ladders: dict[int, Ladder] = {c: ladder(ex, c) for c in ex.geo.books}
        self.help = help_text(len(self.ladders) < len(self.names), bool(self.ladders))

    def command(self, cmd: str, words: list[str]) -> str:
        if cmd == "help":
            return self.help
        if cmd == "balance":
            return self.balance()
        if cmd == "rates":
            return self.rates()
        if cmd in _SIDES:
            return self.pool_order(cmd, words)
        if cmd == "limit":
            return self.limit(words)
        if cmd == "market":
            return self.market(words)
        if cmd == "cancel":
            return self.cancel(words)
        if cmd == "orders":
            return self.orders()
        if cmd == "book":
            return self.book(words)
        raise BadInput(f"unknown command {cmd!r}; {self.help}")

    # -- currencies ------------------------------------------------------------------

    def currency(self, text: str) -> int:
        code = text.upper()
        if code not in self.index:
            raise BadInput(f"unknown currency {text!r}; expected one of {' '.join(self.names)}")
        return self.index[code]

    def book_currency(self, text: str) -> tuple[int, Ladder]:
        c = self.currency(text)
        if c not in self.ladders:
            raise BadInput(f"{self.names[c]} trades on a pool, not a book: use 'buy "
                           f"{self.names[c]} QTY' or 'sell {self.names[c]} QTY'")
        return c, self.ladders[c]

    def _example(self) -> tuple[str, str]:
        """A book currency and a price on its ladder, for usage lines."""
        c, lad = next(iter(self.ladders.items()))
        return self.names[c], lad.price_text(lad.ticks // 2)

    # -- what the account holds --------------------------------------------------------

    def balance(self) -> str:
        ex, q, a, scale = self.ex, self.ex.q, self.account, self.scale
        stake = {c: ex.geo.stake_at(a, c) // 8 for c in self.ladders}
        due = sum(q[b + _STAKE("due_cash")] for b in stake.values())
        bids = sum(q[b + _STAKE("reserved_cash")] for b in stake.values())
        extra = [f"{money(due, scale)} due from fills"] if due else []
        extra += [f"{money(bids, scale)} in resting buys"] if bids else []
        parts = [f"cash {money(q[ex.aword(a, 'cash')], scale)}"
                 + (f" (+ {', '.join(extra)})" if extra else "")]
        h0 = ex.aword(a, "holdings")
        for c, n in enumerate(self.names):
            text = f"{n} {money(q[h0 + c], scale)}"
            asks = q[stake[c] + _STAKE("reserved_units")] if c in stake else 0
            parts.append(text + (f" (+ {money(asks, scale)} in resting sells)" if asks else ""))
        return "  ".join(parts)

    def rates(self) -> str:
        q, ex = self.ex.q, self.ex
        parts = []
        for c, n in enumerate(self.names):
            lad = self.ladders.get(c)
            if lad is None:
                rate = q[ex.cword(c, "cash_reserve")] / q[ex.cword(c, "unit_reserve")]
                parts.append(f"{n} {rate:.4f}")
                continue
            bid, ask = q[ex.cword(c, "best_bid")], q[ex.cword(c, "best_ask")]
            parts.append(f"{n} last {ex.d[ex.cword(c, 'last_rate')]:.{lad.digits}f} bid "
                         f"{'-' if bid == NIL else lad.price_text(bid)} ask "
                         f"{'-' if ask == NIL else lad.price_text(ask)}")
        return "  ".join(parts)

    # -- pool orders -------------------------------------------------------------------

    def pool_order(self, cmd: str, words: list[str]) -> str:
        names, scale = self.names, self.scale
        if len(words) != 3:
            raise BadInput(f"expected '{cmd} CODE QTY', e.g. '{cmd} {names[0]} 10'")
        c = self.currency(words[1])
        code = names[c]
        if c in self.ladders:
            raise BadInput(f"{code} trades on a limit order book: use 'market {cmd} {code} "
                           f"QTY' or 'limit {cmd} {code} QTY @ PRICE'")
        qty = parse_amount(words[2], scale)
        side = L.SIDE_BUY if cmd == "buy" else L.SIDE_SELL
        got = self.writer.trade(self.account, c, side, qty)
        if got < 0:
            return f"rejected: {cmd} {money(qty, scale)} {code}: {REJECT_REASONS[got]}"
        verb = "bought" if side == L.SIDE_BUY else "sold"
        return (f"{verb} {money(qty, scale)} {code} for {money(got, scale)} "
                f"(rate {got / qty:.4f})")

    # -- book orders -------------------------------------------------------------------

    def _side(self, word: str, usage: str) -> int:
        if word.lower() not in _SIDES:
            raise BadInput(f"expected buy or sell, found {word!r}: {usage}")
        return _SIDES[word.lower()]

    def limit(self, words: list[str]) -> str:
        code, price = self._example() if self.ladders else ("EUR", "1.0950")
        usage = (f"expected 'limit buy|sell CODE QTY @ PRICE [ioc|post-only]', e.g. "
                 f"'limit buy {code} 10 @ {price}'")
        if len(words) not in (6, 7) or words[4] != "@":
            raise BadInput(usage)
        side = self._side(words[1], usage)
        c, lad = self.book_currency(words[2])
        lots = lad.lots_of(words[3])
        tick = lad.tick_of(words[5])
        tif = GTC
        if len(words) == 7:
            if words[6].lower() not in _TIFS:
                raise BadInput(f"unknown order type {words[6]!r}: expected ioc or post-only "
                               "(without one, the order rests until filled or cancelled)")
            tif = _TIFS[words[6].lower()]
        res = self.writer.limit(self.account, c, side, tick, lots, tif)
        what = (f"limit {words[1].lower()} {lad.units_text(lots)} {lad.name} @ "
                f"{lad.price_text(tick)}{_TIF_NAMES[tif]}")
        return _report(lad, side, what, res, tif=tif, limit=tick) + self._due_hint(c, res)

    def market(self, words: list[str]) -> str:
        code = self._example()[0] if self.ladders else "EUR"
        usage = f"expected 'market buy|sell CODE QTY', e.g. 'market sell {code} 5'"
        if len(words) != 4:
            raise BadInput(usage)
        side = self._side(words[1], usage)
        c, lad = self.book_currency(words[2])
        lots = lad.lots_of(words[3])
        res = self.writer.market(self.account, c, side, lots)
        what = f"market {words[1].lower()} {lad.units_text(lots)} {lad.name}"
        return _report(lad, side, what, res) + self._due_hint(c, res)

    def _due_hint(self, c: int, res: Result) -> str:
        """Why cash shown as due did not pay for a rejected order."""
        if res.status != REJ_FUNDS:
            return ""
        due = self.ex.q[self.ex.geo.stake_at(self.account, c) // 8 + _STAKE("due_cash")]
        if not due:
            return ""
        return (f" ({money(due, self.scale)} cash due from fills on {self.names[c]} joins the "
                "cash at the next accepted order there)")

    def cancel(self, words: list[str]) -> str:
        usage = "expected 'cancel ID' or 'cancel CODE ID' (the ids 'orders' lists)"
        if len(words) not in (2, 3):
            raise BadInput(usage)
        if not self.ladders:
            raise BadInput("no currency of this file trades on a book: nothing to cancel")
        try:
            oid = int(words[-1])
        except ValueError:
            raise BadInput(f"order id {words[-1]!r} is not a whole number; {usage}") from None
        only = self.book_currency(words[1])[0] if len(words) == 3 else None
        mine = [o for o in account_orders(self.ex, self.account)
                if o.order_id == oid and only in (None, o.currency)]
        if len(mine) > 1:
            raise BadInput(f"order {oid} rests on several books "
                           f"({' '.join(self.names[o.currency] for o in mine)}): say which, "
                           f"e.g. 'cancel {self.names[mine[0].currency]} {oid}'")
        if not mine:
            return f"rejected: cancel {oid}: {BOOK_REJECT_REASONS[REJ_CANCEL]}"
        o = mine[0]
        lad = self.ladders[o.currency]
        res = self.writer.cancel(self.account, o.currency, oid)
        if res.status < 0:
            return f"rejected: cancel {oid}: {BOOK_REJECT_REASONS[res.status]}"
        units = lad.units_text(res.cancelled)
        freed = (f"{money(lad.price(o.tick) * res.cancelled, self.scale)} cash" if o.side == BUY
                 else f"{units} {lad.name}")
        return (f"cancelled order {oid}: {'buy' if o.side == BUY else 'sell'} {units} "
                f"{lad.name} @ {lad.price_text(o.tick)}; {freed} released")

    # -- what the books hold -------------------------------------------------------------

    def orders(self) -> str:
        mine = account_orders(self.ex, self.account)
        if not mine:
            return "no live orders"
        rows = []
        for o in mine:
            lad = self.ladders[o.currency]
            rows.append([str(o.order_id), lad.name, "buy" if o.side == BUY else "sell",
                         lad.price_text(o.tick), lad.units_text(o.qty)])
        return "\n".join(plain_lines(table(["id", "currency", "side", "price", "qty"], rows,
                                           right={0, 3, 4})))

    def book(self, words: list[str]) -> str:
        usage = f"expected 'book CODE [LEVELS]' (levels 1..{MAX_LEVELS}, default {LEVELS_SHOWN})"
        if len(words) not in (2, 3):
            raise BadInput(usage)
        c, lad = self.book_currency(words[1])
        n = LEVELS_SHOWN
        if len(words) == 3:
            if not words[2].isdigit() or not 1 <= int(words[2]) <= MAX_LEVELS:
                raise BadInput(f"levels {words[2]!r}: {usage}")
            n = int(words[2])
        d = read_depth(self.ex, c, n)
        head = f"{lad.name} book: {spread_text(lad, *d.best())}"
        if not d.settled:
            head += " (read while orders kept arriving: levels may disagree)"
        if not d.bids and not d.asks:
            return head
        return "\n".join([head, *plain_lines(table(DEPTH_HEADER, depth_rows(lad, d),
                                                   right=DEPTH_RIGHT))])


def _report(lad: Ladder, side: int, what: str, res: Result, *, tif: int = GTC,
            limit: int = NIL) -> str:
    """One line: the fills (quantity at each price), the id of what rested, what was
    dropped and why; or the rejection's reason."""
    if res.status < 0:
        return f"rejected: {what}: {BOOK_REJECT_REASONS[res.status]}"
    parts = []
    if res.filled:
        at: dict[int, int] = {}
        for f in res.fills:
            at[f.tick] = at.get(f.tick, 0) + f.qty
        n = len(res.fills)
        parts.append(f"{'bought' if side == BUY else 'sold'} {lad.units_text(res.filled)} "
                     f"{lad.name} for {money(res.cash, lad.scale)} in {n} fill"
                     f"{'s' if n > 1 else ''} ("
                     + ", ".join(f"{lad.units_text(q)} @ {lad.price_text(t)}"
                                 for t, q in at.items()) + ")")
    if res.rested:
        parts.append(f"rested {lad.units_text(res.rested)} @ {lad.price_text(limit)} as order "
                     f"{res.order_id}")
    if res.dropped:
        if res.capped:
            why = "one order fills at most max_fills resting orders"
        elif tif == IOC:
            why = "immediate-or-cancel"
        elif limit == NIL:
            why = "no more sellers, or the cash ran out" if side == BUY else "no more buyers"
        else:
            why = "nothing more to fill"
        parts.append(f"dropped {lad.units_text(res.dropped)} ({why})")
    return f"{what}: " + "; ".join(parts)
