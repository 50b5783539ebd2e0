/*
 * book.c: orders on the limit order books of the exchange file, with the effect of
 * sim/core/book.py (the engine) and sim/core/book_txn.py (what the order adds in the file).
 * The commands and the random orders that send them are in book_cmd.c.
 *
 * One order is one transaction under its currency's lock, as in Python:
 *
 *   1. match against an overlay of pending writes (word -> new value), reading through it
 *      and storing nothing; a rejection found then (funds, a post-only that would cross, a
 *      full book) changes nothing but its counter;
 *   2. add to the overlay what the order moves outside the book: the taker's due cash
 *      swept into its cash, the writers' running totals, the currency's mirror of the book
 *      (best bid and ask, resting orders, reserved and due totals, sequence, volumes, last
 *      rate) and the ledger count; the ledger rows themselves go into the ring past the
 *      committed count, where they are scratch until the commit;
 *   3. commit through the book's undo journal: every (word, pre-image) pair, then
 *      state = n, then the currency's version odd, every store, then state = 0 (the commit
 *      point), then the version even.
 *
 * The currency's inflight names this writer from the lock's taking to its release, so the
 * next holder of the lock (C or Python) that finds it set after a death rolls back a
 * journal left with state != 0 (recover_currency). Every store goes through st()
 * (trader.h): program order is store order, so a process killed between two stores leaves
 * a prefix. Word indexes are taken from the structs of mmx.h (wi(&rec->field)), never
 * typed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "book.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct book BK[MMX_MAX_CURRENCIES];
struct fill *fills;
static int64_t *Q;                     /* the whole mapping as int64 words */

/* The order being built: its currency (-1 between orders), its side and the tick it rests
 * at or leaves. */
static int64_t o_cur = -1, o_side, o_tick;

/* ------------------------------------------------------------------ the overlay */

static struct {
    int64_t *key, *val;                /* the pending writes, in the order they were made */
    int32_t *slot;                     /* open addressing: 1 + index into key/val, 0 empty */
    int64_t *slot_of;                  /* the slot of each pending write, to clear it */
    int64_t n, cap, mask;
} W;

static inline int64_t wi(const int64_t *p)
{
    return p - Q;
}

static inline int64_t hash_slot(int64_t i)
{
    return (int64_t)(((uint64_t)i * 0x9E3779B97F4A7C15u) >> 20) & W.mask;
}

static int64_t find(int64_t i)
{
    for (int64_t s = hash_slot(i);; s = (s + 1) & W.mask) {
        int32_t k = W.slot[s];
        if (k == 0)
            return -1 - s;
        if (W.key[k - 1] == i)
            return k - 1;
    }
}

static inline bool has(int64_t i)
{
    return find(i) >= 0;
}

static inline int64_t get(int64_t i)
{
    int64_t k = find(i);
    return k >= 0 ? W.val[k] : ld(&Q[i]);
}

static void put(int64_t i, int64_t v)
{
    int64_t k = find(i);
    if (k >= 0) {
        W.val[k] = v;
        return;
    }
    if (W.n == W.cap)
        fail(EXIT_BAD, "%s: a book order writes more than %" PRId64 " words (a bug in the "
             "journal bound)", T.path, W.cap);
    W.slot[-1 - k] = (int32_t)(W.n + 1);
    W.slot_of[W.n] = -1 - k;
    W.key[W.n] = i;
    W.val[W.n++] = v;
}

static inline void add(int64_t i, int64_t d)
{
    put(i, get(i) + d);
}

static void reset(void)
{
    for (int64_t k = 0; k < W.n; k++)
        W.slot[W.slot_of[k]] = 0;
    W.n = 0;
}

/* ------------------------------------------------------------------ attaching */

bool is_book(int64_t c)
{
    return (T.book_mask >> c & 1) != 0;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL)
        fail(EXIT_BAD, "out of memory");
    return p;
}

/* Book.__init__: attach every book and validate its header against the file's shape. */
void book_attach(void)
{
    Q = (int64_t *)(void *)T.base;
    if (!T.book_mask)
        return;
    struct mmx_book_geometry g = mmx_book_geometry(T.book_shape[0], T.book_shape[1],
                                                   T.book_shape[2]);
    for (int64_t c = 0; c < T.nc; c++) {
        if (!is_book(c))
            continue;
        struct book *b = &BK[c];
        int64_t at = mmx_book_at(T.nc, T.nw, T.na, T.rows, T.book_mask, T.book_words, c);
        if (ld(&T.cur[c].market) != MMX_MARKET_BOOK || ld(&T.cur[c].book_at) != at)
            fail(EXIT_BAD, "%s: currency %" PRId64 " (%s) is in book_mask but its record "
                 "says market %" PRId64 ", book_at %" PRId64 " (expected %d, %" PRId64 ")",
                 T.path, c, T.names[c], ld(&T.cur[c].market), ld(&T.cur[c].book_at),
                 MMX_MARKET_BOOK, at);
        b->g = g;
        b->base = at / 8;
        b->h = (struct mmx_book *)(void *)(Q + b->base);
        b->j = (struct mmx_book_journal *)(void *)(Q + b->base + g.journal);
        b->e = (struct mmx_book_journal_entry *)(void *)(Q + b->base + g.journal_first_entry);
        b->lv = (struct mmx_level *)(void *)(Q + b->base + g.levels);
        b->ord = (struct mmx_order *)(void *)(Q + b->base + g.orders);
        b->leaf[BUY] = b->base + g.bid_leaf;
        b->leaf[SELL] = b->base + g.ask_leaf;
        b->sum[BUY] = b->base + g.bid_summary;
        b->sum[SELL] = b->base + g.ask_summary;
        if (ld(&b->h->ticks) != g.ticks || ld(&b->h->capacity) != g.capacity
            || ld(&b->h->max_fills) != g.max_fills || ld(&b->j->entries) != g.journal_entries)
            fail(EXIT_BAD, "%s: book of %s at byte %" PRId64 ": its shape (%" PRId64 ", %"
                 PRId64 ", %" PRId64 ") or journal capacity %" PRId64 " differs from the "
                 "header's", T.path, T.names[c], at, ld(&b->h->ticks), ld(&b->h->capacity),
                 ld(&b->h->max_fills), ld(&b->j->entries));
        b->lot = ld(&b->h->lot);
        b->pb = ld(&b->h->price_base);
        b->ps = ld(&b->h->price_step);
        if (b->lot < 1 || b->pb < 1 || b->ps < 1)
            fail(EXIT_BAD, "%s: book of %s: lot, price_base and price_step must be positive, "
                 "found %" PRId64 ", %" PRId64 " and %" PRId64, T.path, T.names[c], b->lot,
                 b->pb, b->ps);
    }
    /* A match logs up to max_fills + 1 rows before the ring is drained again. */
    int64_t drain_at = T.rows / 2 > 1 ? T.rows / 2 : 1;
    if (T.rows - drain_at < g.max_fills + 2)
        fail(EXIT_BAD, "%s: ring_rows %" PRId64 " is too small for books of max_fills %" PRId64
             ": expected at least %" PRId64, T.path, T.rows, g.max_fills,
             2 * (g.max_fills + 2));
    W.cap = 2 * g.journal_entries;
    int64_t size = 1;
    while (size < 4 * W.cap)
        size <<= 1;
    W.mask = size - 1;
    W.key = xcalloc((size_t)W.cap, sizeof *W.key);
    W.val = xcalloc((size_t)W.cap, sizeof *W.val);
    W.slot_of = xcalloc((size_t)W.cap, sizeof *W.slot_of);
    W.slot = xcalloc((size_t)size, sizeof *W.slot);
    fills = xcalloc((size_t)g.max_fills, sizeof *fills);
}

/* On the way out of a failure inside an order (a corrupt record found while matching,
 * before any store): no longer in flight, as Writer._book_unlock does in its finally. A
 * commit never fails half way, so an active journal is left for the next holder. */
void book_abandon(void)
{
    if (o_cur < 0)
        return;
    struct Currency *cu = &T.cur[o_cur];
    if (ld(&BK[o_cur].j->state) == 0 && ld(&cu->inflight) == T.writer)
        st(&cu->inflight, MMX_NO_WRITER);
    o_cur = -1;
}

/* ------------------------------------------------------------------ journal */

/* book_journal.rollback: restore the pre-images of a transaction left in flight, under
 * an odd version moved on to the next even value afterwards, so a reader never sees again
 * a version it saw with other words; a committed order killed before its last store
 * (the version even) only has its version made even. */
int book_recover(int64_t c)
{
    struct book *b = &BK[c];
    int64_t *version = &T.cur[c].version;
    int64_t n = ld(&b->j->state), v = ld(version);
    if (n == 0) {
        if (v & 1)
            st(version, v + 1);
        return 0;
    }
    if (n < 0 || n > ld(&b->j->entries))
        fail(EXIT_BAD, "%s: book of %s: journal state %" PRId64 " is out of range 0..%" PRId64,
             T.path, T.names[c], n, ld(&b->j->entries));
    int64_t words = (int64_t)(T.map_len / 8), odd = v | 1;
    st(version, odd);
    for (int64_t k = n - 1; k >= 0; k--) {
        int64_t i = b->base + ld(&b->e[k].word);
        if (i < 0 || i >= words)
            fail(EXIT_BAD, "%s: book of %s: journal entry %" PRId64 " names word %" PRId64
                 ", outside the file", T.path, T.names[c], k, i);
        if (i != wi(version))
            st(&Q[i], ld(&b->e[k].old));
    }
    st(&b->j->state, 0);
    st(version, odd + 1);
    return 1;
}

/* transaction._recover_books_of: a book order this writer's previous process left in
 * flight journals pre-images of this writer's own words (log_count, its totals): rolled
 * back later, under that book's lock, they would undo what this process wrote meanwhile
 * under other locks. So before its first order each book that names this writer in flight
 * is recovered under its lock. Returns 1 when an order was rolled back. */
int book_recover_own(void)
{
    int rolled = 0;
    for (int64_t c = 0; c < T.nc; c++) {
        if (!is_book(c) || ld(&T.cur[c].inflight) != T.writer)
            continue;
        bool died = lock_currency(c);
        if (died && T.sync == MMX_SYNC_GLOBAL) {
            for (int64_t r = 0; r < T.nc; r++)
                rolled |= recover_currency(r);
        } else if (died || ld(&T.cur[c].inflight) == T.writer) {
            rolled |= recover_currency(c);
        }
        unlock_currency(c);
    }
    /* Rows drained past the count restored are drained again, over the same places. */
    if (ld(&T.wr->log_head) > ld(&T.wr->log_count))
        st(&T.wr->log_head, ld(&T.wr->log_count));
    return rolled;
}

/* book_journal.commit: the overlay as one transaction; the currency's version is the
 * seqlock, odd from before the first store until after the commit point. */
static void commit(int64_t c)
{
    struct book *b = &BK[c];
    int64_t *version = &T.cur[c].version;
    int64_t v = ld(version);
    int64_t n = W.n; /* nothing else writes the version, so it is not among them */
    if (n > ld(&b->j->entries))
        fail(EXIT_BAD, "%s: a book order writes %" PRId64 " words; the journal holds %" PRId64,
             T.path, n, ld(&b->j->entries));
    for (int64_t k = 0; k < n; k++) {
        st(&b->e[k].word, W.key[k] - b->base);
        st(&b->e[k].old, ld(&Q[W.key[k]]));
    }
    st(&b->j->state, n);
    st(version, v + 1);
    for (int64_t k = 0; k < n; k++) {
        if (k == n / 2 && T.pause_ns)
            sleep_ns(T.pause_ns);
        st(&Q[W.key[k]], W.val[k]);
    }
    st(&b->j->state, 0);
    st(version, v + 2);
    reset();
}

/* ------------------------------------------------------------------ words of an order */

/* Words of side s of level t: the ask fields follow the bid fields (mmx.h asserts it). */
#define LQ(b, s, t) (wi(&(b)->lv[t].bid_qty) + SF * (s))
#define LH(b, s, t) (wi(&(b)->lv[t].bid_head) + SF * (s))
#define LT(b, s, t) (wi(&(b)->lv[t].bid_tail) + SF * (s))
#define LC(b, s, t) (wi(&(b)->lv[t].bid_count) + SF * (s))
#define OF(b, o, f) wi(&(b)->ord[o].f)
#define HF(b, f) wi(&(b)->h->f)

struct mmx_stake *stake_rec(int64_t a, int64_t c)
{
    return (struct mmx_stake *)(void *)(T.base
                                        + mmx_stake_at(T.nc, T.nw, T.na, T.rows, a, c));
}

/* StakeAccounts.words: an account's cash, units, reserved cash and reserved units words
 * on book c; a maker other than the taker is paid into its stake's due cash. */
static void account_words(int64_t a, int64_t c, int64_t out[4])
{
    if (a < 0 || a >= T.na)
        fail(EXIT_BAD, "%s: book of %s names account %" PRId64 ", out of range", T.path,
             T.names[c], a);
    struct mmx_account *acc = account_rec(a);
    struct mmx_stake *sk = stake_rec(a, c);
    out[0] = a == T.account ? wi(&acc->cash) : wi(&sk->due_cash);
    out[1] = wi(&acc->holdings[c]);
    out[2] = wi(&sk->reserved_cash);
    out[3] = wi(&sk->reserved_units);
}

/* ------------------------------------------------------------------ the bitmaps */

static inline int64_t bit_length(uint64_t x)
{
    return x ? 64 - __builtin_clzll(x) : 0;
}

static void set_tick(int64_t leaf, int64_t summary, int64_t t)
{
    int64_t li = t / MMX_BOOK_BITS;
    int64_t old = get(leaf + li);
    put(leaf + li, old | (int64_t)1 << (t - li * MMX_BOOK_BITS));
    if (old == 0) {
        int64_t si = li / MMX_BOOK_BITS;
        put(summary + si, get(summary + si) | (int64_t)1 << (li - si * MMX_BOOK_BITS));
    }
}

static void clear_tick(int64_t leaf, int64_t summary, int64_t t)
{
    int64_t li = t / MMX_BOOK_BITS;
    int64_t now = get(leaf + li) & ~((int64_t)1 << (t - li * MMX_BOOK_BITS));
    put(leaf + li, now);
    if (now == 0) {
        int64_t si = li / MMX_BOOK_BITS;
        put(summary + si, get(summary + si) & ~((int64_t)1 << (li - si * MMX_BOOK_BITS)));
    }
}

/* book_ladder.next_best: the best marked tick at t or further from the spread. */
int64_t book_next_best(const struct book *b, int64_t side, int64_t t)
{
    int64_t leaf = b->leaf[side], summary = b->sum[side];
    int64_t li = t / MMX_BOOK_BITS, bit = t % MMX_BOOK_BITS;
    int64_t si = li / MMX_BOOK_BITS, sb = li % MMX_BOOK_BITS;
    uint64_t x = (uint64_t)get(leaf + li), y = (uint64_t)get(summary + si);
    if (side == BUY) {
        x &= (2ull << bit) - 1;
        if (x)
            return li * MMX_BOOK_BITS + bit_length(x) - 1;
        y &= (1ull << sb) - 1;
        while (!y) {
            if (--si < 0)
                return NIL;
            y = (uint64_t)get(summary + si);
        }
        li = si * MMX_BOOK_BITS + bit_length(y) - 1;
        return li * MMX_BOOK_BITS + bit_length((uint64_t)get(leaf + li)) - 1;
    }
    x = x >> bit << bit;
    if (x)
        return li * MMX_BOOK_BITS + __builtin_ctzll(x);
    y = y >> (sb + 1) << (sb + 1);
    while (!y) {
        if (++si >= b->g.summary_words)
            return NIL;
        y = (uint64_t)get(summary + si);
    }
    li = si * MMX_BOOK_BITS + __builtin_ctzll(y);
    return li * MMX_BOOK_BITS + __builtin_ctzll((uint64_t)get(leaf + li));
}

/* ------------------------------------------------------------------ the engine */

/* Book._reject: a counted rejection that changes nothing else. */
static void reject(int64_t *counter, struct result *res, int64_t code)
{
    st(counter, ld(counter) + 1);
    res->status = code;
}

/* Book._release: record o back on the free list. */
static void release(const struct book *b, int64_t o)
{
    put(OF(b, o, state), MMX_BOOK_ORDER_FREE);
    put(OF(b, o, qty), 0);
    put(OF(b, o, next), get(HF(b, free_head)));
    put(HF(b, free_head), o);
    add(HF(b, live), -1);
}

/* Book._match: fill qty against the opposite side up to tick limit (-1: any) and, when
 * budget >= 0, within that much cash; returns the quantity left. */
static int64_t match(int64_t c, struct result *res, const int64_t tw[4], int64_t side,
                     int64_t limit, int64_t qty, int64_t budget)
{
    const struct book *b = &BK[c];
    int64_t opp = 1 - side;
    int64_t best_w = opp == BUY ? HF(b, best_bid) : HF(b, best_ask);
    int64_t t = ld(&Q[best_w]);
    int64_t rem = qty, cost = 0, last = NIL;
    while (rem && t != NIL) {
        if (limit >= 0 && (side == BUY ? t > limit : t < limit))
            break;
        int64_t price = b->pb + t * b->ps;
        int64_t o = get(LH(b, opp, t));
        if (o < 0 || o >= b->g.capacity)
            fail(EXIT_BAD, "%s: book of %s: level %" PRId64 " links to record %" PRId64
                 ", off the pool", T.path, T.names[c], t, o);
        int64_t mq = get(OF(b, o, qty));
        int64_t f = rem < mq ? rem : mq;
        if (budget >= 0) {
            if (budget / price < f)
                f = budget / price;
            if (f == 0)
                break;
        }
        if (res->n_fills == b->g.max_fills) {
            res->capped = true;
            break;
        }
        if (budget >= 0)
            budget -= f * price;
        int64_t maker = ld(&b->ord[o].account);
        int64_t mw[4];
        account_words(maker, c, mw);
        if (opp == BUY) {
            add(mw[2], -price * f);
            add(mw[1], f * b->lot);
        } else {
            add(mw[3], -f * b->lot);
            add(mw[0], price * f);
        }
        add(LQ(b, opp, t), -f);
        fills[res->n_fills++] = (struct fill){
            mmx_order_id(ld(&b->ord[o].gen), o), maker, t, price, f};
        cost += price * f;
        rem -= f;
        last = t;
        if (f < mq) {
            put(OF(b, o, qty), mq - f);
            continue;
        }
        int64_t nxt = get(OF(b, o, next));
        put(LH(b, opp, t), nxt);
        put(nxt == NIL ? LT(b, opp, t) : OF(b, nxt, prev), NIL);
        int64_t cnt = get(LC(b, opp, t)) - 1;
        put(LC(b, opp, t), cnt);
        release(b, o);
        if (cnt == 0) {
            clear_tick(b->leaf[opp], b->sum[opp], t);
            t = book_next_best(b, opp, t);
            put(best_w, t);
        }
    }
    if (res->n_fills) {
        int64_t filled = qty - rem;
        put(HF(b, fills), ld(&b->h->fills) + res->n_fills);
        put(HF(b, volume_qty), ld(&b->h->volume_qty) + filled);
        put(HF(b, volume_cash), ld(&b->h->volume_cash) + cost);
        put(HF(b, last_tick), last);
        if (side == BUY) {
            add(tw[0], -cost);
            add(tw[1], filled * b->lot);
        } else {
            add(tw[1], -filled * b->lot);
            add(tw[0], cost);
        }
        res->filled = filled;
        res->cash = cost;
    }
    return rem;
}

/* Book._rest: a new order at the tail of its level; returns its id. */
static int64_t rest(const struct book *b, int64_t account, int64_t side, int64_t tick,
                    int64_t qty)
{
    int64_t o = get(HF(b, free_head));
    put(HF(b, free_head), get(OF(b, o, next)));
    int64_t gen = mmx_next_gen(get(OF(b, o, gen)));
    /* The order's own side of the ladder is untouched by its match. */
    int64_t tail = ld(&Q[LT(b, side, tick)]), cnt = ld(&Q[LC(b, side, tick)]);
    put(OF(b, o, state), MMX_BOOK_ORDER_LIVE);
    put(OF(b, o, gen), gen);
    put(OF(b, o, side), side);
    put(OF(b, o, tick), tick);
    put(OF(b, o, qty), qty);
    put(OF(b, o, account), account);
    put(OF(b, o, prev), tail);
    put(OF(b, o, next), NIL);
    put(tail == NIL ? LH(b, side, tick) : OF(b, tail, next), o);
    put(LT(b, side, tick), o);
    put(LC(b, side, tick), cnt + 1);
    put(LQ(b, side, tick), ld(&Q[LQ(b, side, tick)]) + qty);
    if (cnt == 0)
        set_tick(b->leaf[side], b->sum[side], tick);
    int64_t bw = side == BUY ? HF(b, best_bid) : HF(b, best_ask);
    int64_t best = ld(&Q[bw]);
    if (best == NIL || (side == BUY ? tick > best : tick < best))
        put(bw, tick);
    add(HF(b, live), 1);
    return mmx_order_id(gen, o);
}

/* BookDesk._extra: what the order moves outside the book, and its ledger rows. */
static void extra(int64_t c, const struct result *res)
{
    const struct book *b = &BK[c];
    struct Currency *cu = &T.cur[c];
    struct mmx_account *acc = T.acc;
    struct mmx_writer *wr = T.wr;
    int64_t a = T.account, side = o_side, lot = b->lot;
    int64_t d_rcash = 0, d_runits = 0, d_due = 0;
    int64_t due_w = wi(&stake_rec(a, c)->due_cash), cash_w = wi(&acc->cash);
    int64_t due = get(due_w);
    if (due) {
        put(due_w, 0);
        add(cash_w, due);
        d_due -= due;
    }
    int64_t n = ld(&wr->log_count), seq = ld(&cu->seq);
    int64_t t = mono_ns() - ld(&T.h->start_ns);
    int64_t k = 0;
#define ROW(kind_, qty_, cash_, oid_, maker_, tick_)                                          \
    do {                                                                                      \
        struct mmx_row *r = &T.ring[(n + k) % T.rows];                                        \
        st(&r->t_ns, t);                                                                      \
        st(&r->cur_seq, seq + k + 1);                                                         \
        st(&r->account, a);                                                                   \
        st(&r->currency, c);                                                                  \
        st(&r->side, side);                                                                   \
        st(&r->qty, qty_);                                                                    \
        st(&r->cash, cash_);                                                                  \
        st(&r->unit_reserve, 0);                                                              \
        st(&r->kind, kind_);                                                                  \
        st(&r->order_id, oid_);                                                               \
        st(&r->maker, maker_);                                                                \
        st(&r->tick, tick_);                                                                  \
        k++;                                                                                  \
    } while (0)
    for (int64_t i = 0; i < res->n_fills; i++) {
        const struct fill *f = &fills[i];
        int64_t m = f->maker, units = f->qty * lot, cash = f->price * f->qty;
        if (side == SELL) { /* the maker bought: reserve spent, units received */
            d_rcash -= cash;
            if (m != a) {
                int64_t owner = ld(&account_rec(m)->writer);
                if (owner < 0 || owner >= T.nw)
                    fail(EXIT_BAD, "%s: account %" PRId64 " names writer %" PRId64
                         ", out of range", T.path, m, owner);
                add(wi(&writer_rec(owner)->tot_holdings[c]), units);
            }
        } else { /* the maker sold: units reserve spent, cash due */
            d_runits -= units;
            if (m != a)
                d_due += cash;
        }
        ROW(MMX_ROW_FILL, units, cash, f->maker_id, m, f->tick);
    }
    if (res->rested) {
        int64_t price = b->pb + o_tick * b->ps;
        if (side == BUY)
            d_rcash += price * res->rested;
        else
            d_runits += res->rested * lot;
        ROW(MMX_ROW_PLACED, res->rested * lot, price * res->rested, res->order_id, NIL, o_tick);
    }
    if (res->cancelled) {
        int64_t price = b->pb + o_tick * b->ps;
        if (side == BUY)
            d_rcash -= price * res->cancelled;
        else
            d_runits -= res->cancelled * lot;
        ROW(MMX_ROW_CANCELLED, res->cancelled * lot, side == BUY ? price * res->cancelled : 0,
            res->order_id, NIL, o_tick);
    }
#undef ROW
    /* The taker's writer's totals follow its account's cash and holdings. */
    int64_t hold_w = wi(&acc->holdings[c]);
    int64_t d_cash = has(cash_w) ? get(cash_w) - ld(&Q[cash_w]) : 0;
    int64_t d_hold = has(hold_w) ? get(hold_w) - ld(&Q[hold_w]) : 0;
    if (d_cash)
        put(wi(&wr->tot_cash), ld(&wr->tot_cash) + d_cash);
    if (d_hold)
        add(wi(&wr->tot_holdings[c]), d_hold);
    if (res->n_fills) {
        put(wi(&acc->trades), ld(&acc->trades) + 1);
        put(wi(&wr->tot_trades), ld(&wr->tot_trades) + 1);
        /* price and lot are below 2^53, so this division rounds as Python's does. */
        double rate = (double)fills[res->n_fills - 1].price / (double)lot;
        int64_t bits;
        memcpy(&bits, &rate, sizeof bits);
        put(wi((int64_t *)(void *)&cu->last_rate), bits);
        put(wi(&cu->volume_units), ld(&cu->volume_units) + res->filled * lot);
        put(wi(&cu->volume_cash), ld(&cu->volume_cash) + res->cash);
    }
    /* The currency's mirror of the book: only what changed, as every word written is
     * journaled. */
    int64_t bid = get(HF(b, best_bid)), ask = get(HF(b, best_ask));
    if (bid != ld(&cu->best_bid)) {
        put(wi(&cu->best_bid), bid);
        put(wi(&cu->bid_price), bid == NIL ? 0 : b->pb + bid * b->ps);
    }
    if (ask != ld(&cu->best_ask)) {
        put(wi(&cu->best_ask), ask);
        put(wi(&cu->ask_price), ask == NIL ? 0 : b->pb + ask * b->ps);
    }
    if (has(HF(b, live)))
        put(wi(&cu->book_live), get(HF(b, live)));
    if (d_rcash)
        put(wi(&cu->book_reserved_cash), ld(&cu->book_reserved_cash) + d_rcash);
    if (d_runits)
        put(wi(&cu->book_reserved_units), ld(&cu->book_reserved_units) + d_runits);
    if (d_due)
        put(wi(&cu->book_due_cash), ld(&cu->book_due_cash) + d_due);
    if (k) {
        put(wi(&cu->seq), seq + k);
        put(wi(&wr->log_count), n + k);
    }
}

/* Book._finish: the order's counters, then what it moves outside the book, then commit. */
static void finish(int64_t c, const struct result *res)
{
    const struct book *b = &BK[c];
    put(HF(b, orders), ld(&b->h->orders) + 1);
    if (res->dropped)
        put(HF(b, dropped), ld(&b->h->dropped) + res->dropped);
    if (res->capped)
        put(HF(b, capped), ld(&b->h->capped) + 1);
    extra(c, res);
    commit(c);
}

/* Book.limit */
static void limit_order(int64_t c, int64_t side, int64_t tick, int64_t qty, int64_t tif,
                        struct result *res)
{
    struct book *b = &BK[c];
    if (qty <= 0) {
        reject(&b->h->rej_qty, res, MMX_BOOK_REJ_QTY);
        return;
    }
    if (tick < 0 || tick >= b->g.ticks) {
        reject(&b->h->rej_price, res, MMX_BOOK_REJ_PRICE);
        return;
    }
    int64_t price = b->pb + tick * b->ps, need;
    int64_t tw[4];
    account_words(T.account, c, tw);
    /* Python compares with an unbounded product: one beyond int64 is never covered. */
    bool over = side == BUY ? __builtin_mul_overflow(price, qty, &need)
                            : __builtin_mul_overflow(qty, b->lot, &need);
    if (over || ld(&Q[side == BUY ? tw[0] : tw[1]]) < need) {
        reject(&b->h->rej_funds, res, MMX_BOOK_REJ_FUNDS);
        return;
    }
    int64_t t = ld(side == BUY ? &b->h->best_ask : &b->h->best_bid);
    bool crosses = t != NIL && (side == BUY ? t <= tick : t >= tick);
    if (crosses && tif == MMX_BOOK_POST_ONLY) {
        reject(&b->h->rej_cross, res, MMX_BOOK_REJ_CROSS);
        return;
    }
    int64_t rem = crosses ? match(c, res, tw, side, tick, qty, -1) : qty;
    if (rem) {
        if (tif == MMX_BOOK_IOC || res->capped) {
            res->dropped = rem;
        } else {
            if (get(HF(b, free_head)) == NIL) {
                reset();
                *res = (struct result){0};
                reject(&b->h->rej_full, res, MMX_BOOK_REJ_FULL);
                return;
            }
            res->order_id = rest(b, T.account, side, tick, rem);
            res->rested = rem;
            if (side == BUY) {
                add(tw[0], -price * rem);
                add(tw[2], price * rem);
            } else {
                add(tw[1], -rem * b->lot);
                add(tw[3], rem * b->lot);
            }
        }
    }
    finish(c, res);
}

/* Book.market */
static void market_order(int64_t c, int64_t side, int64_t qty, struct result *res)
{
    struct book *b = &BK[c];
    if (qty <= 0) {
        reject(&b->h->rej_qty, res, MMX_BOOK_REJ_QTY);
        return;
    }
    int64_t tw[4], need;
    account_words(T.account, c, tw);
    if (side == SELL && (__builtin_mul_overflow(qty, b->lot, &need) || ld(&Q[tw[1]]) < need)) {
        reject(&b->h->rej_funds, res, MMX_BOOK_REJ_FUNDS);
        return;
    }
    int64_t budget = side == BUY ? ld(&Q[tw[0]]) : -1;
    res->dropped = match(c, res, tw, side, -1, qty, budget);
    finish(c, res);
}

/* Book.cancel */
static void cancel_order(int64_t c, int64_t oid, struct result *res)
{
    struct book *b = &BK[c];
    int64_t gen = mmx_order_gen(oid), o = mmx_order_index(oid);
    if (o < 0 || o >= b->g.capacity || ld(&b->ord[o].state) != MMX_BOOK_ORDER_LIVE
        || ld(&b->ord[o].gen) != gen || ld(&b->ord[o].account) != T.account) {
        reject(&b->h->rej_cancel, res, MMX_BOOK_REJ_CANCEL);
        return;
    }
    int64_t side = ld(&b->ord[o].side), t = ld(&b->ord[o].tick), rem = ld(&b->ord[o].qty);
    int64_t prev = ld(&b->ord[o].prev), nxt = ld(&b->ord[o].next);
    put(prev == NIL ? LH(b, side, t) : OF(b, prev, next), nxt);
    put(nxt == NIL ? LT(b, side, t) : OF(b, nxt, prev), prev);
    int64_t cnt = ld(&Q[LC(b, side, t)]) - 1;
    put(LC(b, side, t), cnt);
    put(LQ(b, side, t), ld(&Q[LQ(b, side, t)]) - rem);
    release(b, o);
    if (cnt == 0) {
        clear_tick(b->leaf[side], b->sum[side], t);
        int64_t bw = side == BUY ? HF(b, best_bid) : HF(b, best_ask);
        if (ld(&Q[bw]) == t)
            put(bw, book_next_best(b, side, t));
    }
    int64_t tw[4];
    account_words(T.account, c, tw);
    if (side == BUY) {
        int64_t cash = (b->pb + t * b->ps) * rem;
        add(tw[2], -cash);
        add(tw[0], cash);
    } else {
        add(tw[3], -rem * b->lot);
        add(tw[1], rem * b->lot);
    }
    put(HF(b, cancels), ld(&b->h->cancels) + 1);
    res->order_id = oid;
    res->cancelled = rem;
    finish(c, res);
}

/* ------------------------------------------------------------------ under the lock */

/* Writer.limit / market / cancel: the currency's lock, recovery of what a dead holder left
 * first, this writer named in flight on the currency for the whole order (what fault
 * counts and stall reports read), the order, the lock released, the ring drained when half
 * full. qty is in lots, or the order id of a cancel. */
void book_order(enum kind kind, int64_t c, int64_t side, int64_t tick, int64_t qty,
                int64_t tif, struct result *res)
{
    struct book *b = &BK[c];
    struct mmx_writer *wr = T.wr;
    struct Currency *cu = &T.cur[c];
    *res = (struct result){0};
    lock_and_settle(c);
    st(&cu->inflight, T.writer);
    o_cur = c;
    o_side = side;
    o_tick = tick;
    if (kind == LIMIT) {
        limit_order(c, side, tick, qty, tif, res);
    } else if (kind == MARKET) {
        o_tick = NIL;
        market_order(c, side, qty, res);
    } else {
        int64_t o = mmx_order_index(qty);
        bool live = o >= 0 && o < b->g.capacity && ld(&b->ord[o].state) == MMX_BOOK_ORDER_LIVE
                    && ld(&b->ord[o].gen) == mmx_order_gen(qty);
        o_side = live ? ld(&b->ord[o].side) : BUY;
        o_tick = live ? ld(&b->ord[o].tick) : NIL;
        cancel_order(c, qty, res);
    }
    if (res->status < 0) {
        /* A cancel of an order filled meanwhile is the book's count, not a rejection of
         * the account's order flow (BookDesk._rejected). */
        if (res->status != MMX_BOOK_REJ_CANCEL)
            st(&T.acc->rejected, ld(&T.acc->rejected) + 1);
        T.n_rejected++;
    } else {
        T.n_orders++;
        T.n_fills += res->n_fills;
    }
    res->side = o_side;
    res->tick = o_tick;
    st(&cu->inflight, MMX_NO_WRITER);
    o_cur = -1;
    unlock_currency(c);
    if (ld(&wr->log_count) - ld(&wr->log_head) >= T.drain_at)
        drain();
}
