/*
 * book.h: what book.c (the orders and their transaction) shares with book_cmd.c (the
 * commands, the printing and the random orders).
 */
#ifndef BOOK_H
#define BOOK_H

#include "trader.h"

#define NIL MMX_BOOK_NIL
#define BUY MMX_BOOK_BUY
#define SELL MMX_BOOK_SELL
#define SF MMX_BOOK_SIDE_FIELDS

struct book {
    struct mmx_book_geometry g;
    int64_t base;            /* first word of the region */
    struct mmx_book *h;
    struct mmx_book_journal *j;
    struct mmx_book_journal_entry *e;
    struct mmx_level *lv;
    struct mmx_order *ord;
    int64_t leaf[2], sum[2]; /* words of the bitmaps, per side */
    int64_t lot, pb, ps;
};

struct fill {
    int64_t maker_id, maker, tick, price, qty;
};

/* What one order did (sim/core/book_result.py Result), and its side and tick (the tick it
 * rested at or left; NIL for a market order). */
struct result {
    int64_t status, order_id, filled, cash, rested, dropped, cancelled;
    bool capped;
    int64_t n_fills;
    int64_t side, tick;
};

enum kind { LIMIT, MARKET, CANCEL };

extern struct book BK[MMX_MAX_CURRENCIES];
extern struct fill *fills; /* the fills of the last order, max_fills of them */

void book_order(enum kind kind, int64_t c, int64_t side, int64_t tick, int64_t qty,
                int64_t tif, struct result *res);
int64_t book_next_best(const struct book *b, int64_t side, int64_t t);
struct mmx_stake *stake_rec(int64_t a, int64_t c);

/* A field of side s of a level, from the address of its bid field: the ask fields follow
 * the bid fields (mmx.h asserts it). */
static inline int64_t level_field(const int64_t *bid_field, int64_t side)
{
    return ld(bid_field + MMX_BOOK_SIDE_FIELDS * side);
}

#endif /* BOOK_H */
