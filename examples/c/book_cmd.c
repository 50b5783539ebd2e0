/*
 * book_cmd.c: the book commands of the C trader (limit, market, cancel, orders, book, and
 * the balance and rates of a file with books) and --book-orders, a random mix of orders on
 * the book currencies.
 * The orders themselves are book.c's.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "book.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LEVELS_SHOWN 5       /* levels per side the book command prints by default */
#define MAX_LEVELS 50        /* and at most (sim/tools/trade.py) */
#define MAX_TRACKED 4096     /* own resting orders the random mode remembers */

/* ------------------------------------------------------------------ text */

/* The commands speak as sim trade does (sim/tools/trade.py, sim/tools/bookview.py): the
 * same words, the same one-line reports, prices with the digits of the ladder. */

/* Decimals that show every price on the ladder exactly, at most 8 (Ladder.digits). */
static int digits_of(const struct book *b)
{
    __int128 p10 = 1;
    for (int d = 0; d < 8; d++, p10 *= 10) {
        if ((b->pb * p10) % b->lot == 0 && (b->ps * p10) % b->lot == 0)
            return d;
    }
    return 8;
}

/* A price (cash minor units per lot) as cash per unit, with the ladder's digits. */
static const char *price_text(const struct book *b, int64_t price, char *buf, size_t size)
{
    int d = digits_of(b);
    __int128 p10 = 1;
    for (int i = 0; i < d; i++)
        p10 *= 10;
    __int128 num = (__int128)price * p10;
    if (price < 0 || num % b->lot) {
        snprintf(buf, size, "%.*f", d, (double)price / (double)b->lot);
    } else {
        __int128 q = num / b->lot;
        if (d)
            snprintf(buf, size, "%" PRId64 ".%0*" PRId64, (int64_t)(q / p10), d,
                     (int64_t)(q % p10));
        else
            snprintf(buf, size, "%" PRId64, (int64_t)q);
    }
    return buf;
}

static const char *tick_text(const struct book *b, int64_t tick, char *buf, size_t size)
{
    return price_text(b, b->pb + tick * b->ps, buf, size);
}

static const char *units_text(const struct book *b, int64_t lots, char *buf, size_t size)
{
    return money(lots * b->lot, buf, size);
}

/* Ladder.lots_of: whole lots in a quantity written as units; false after an error line. */
static bool lots_of(int64_t c, const char *text, int64_t *lots)
{
    const struct book *b = &BK[c];
    int64_t units;
    const char *why = parse_amount(text, T.scale, false, &units);
    if (why != NULL) {
        printf("error: amount '%s' %s\n", text, why);
        return false;
    }
    if (units % b->lot) {
        char one[64], lo[64], hi[64];
        int64_t n = units / b->lot;
        if (n)
            snprintf(lo, sizeof lo, "%s or ", units_text(b, n, one, sizeof one));
        else
            lo[0] = '\0';
        printf("error: quantity %s %s is not a whole number of lots (1 lot = %s %s): nearest "
               "%s%s\n", text, T.names[c], units_text(b, 1, one, sizeof one), T.names[c], lo,
               units_text(b, n + 1, hi, sizeof hi));
        return false;
    }
    *lots = units / b->lot;
    return true;
}

/* Ladder.tick_of: the tick of a price written as cash per unit, exactly on the ladder;
 * false after an error line naming the nearest prices that are. */
static bool tick_of(int64_t c, const char *text, int64_t *tick)
{
    /* Read at a million times the ladder's own precision: a price finer than that is not
     * on any ladder either. */
    const struct book *b = &BK[c];
    const int64_t fine = 1000000;
    int64_t v;
    const char *why = parse_amount(text, b->lot * fine, false, &v);
    if (why != NULL && strstr(why, "finer") == NULL) { /* not a number, or not positive */
        printf("error: price '%s' %s\n", text, why);
        return false;
    }
    char lo[64], hi[64], step[64], x[64], y[64];
    tick_text(b, 0, lo, sizeof lo);
    tick_text(b, b->g.ticks - 1, hi, sizeof hi);
    price_text(b, b->ps, step, sizeof step);
    __int128 t_num = why != NULL ? -1 : (__int128)v - (__int128)b->pb * fine;
    __int128 t_den = (__int128)b->ps * fine;
    if (why == NULL && t_num < 0) {
        printf("error: price %s is below %s's ladder (%s to %s in steps of %s): nearest %s\n",
               text, T.names[c], lo, hi, step, lo);
        return false;
    }
    if (why == NULL && t_num > (__int128)(b->g.ticks - 1) * t_den) {
        printf("error: price %s is above %s's ladder (%s to %s in steps of %s): nearest %s\n",
               text, T.names[c], lo, hi, step, hi);
        return false;
    }
    if (why != NULL || t_num % t_den) {
        int64_t below = why != NULL ? 0 : (int64_t)(t_num / t_den);
        if (why != NULL)
            printf("error: price %s is not on %s's ladder (%s to %s in steps of %s)\n", text,
                   T.names[c], lo, hi, step);
        else
            printf("error: price %s is not on %s's ladder (%s to %s in steps of %s): nearest "
                   "%s or %s\n", text, T.names[c], lo, hi, step,
                   tick_text(b, below, x, sizeof x), tick_text(b, below + 1, y, sizeof y));
        return false;
    }
    *tick = (int64_t)(t_num / t_den);
    return true;
}

static int64_t book_index(const char *code)
{
    char up[MMX_NAME_LEN + 1];
    size_t i = 0;
    for (; code[i] && i < MMX_NAME_LEN; i++)
        up[i] = (char)toupper((unsigned char)code[i]);
    up[i] = '\0';
    int64_t c = currency_index(up);
    if (c < 0) {
        printf("error: unknown currency '%s'; expected one of ", code);
        print_currencies();
        putchar('\n');
        return -1;
    }
    if (!is_book(c)) {
        printf("error: %s trades on a pool, not a book: use 'buy %s QTY' or 'sell %s QTY'\n",
               T.names[c], T.names[c], T.names[c]);
        return -1;
    }
    return c;
}

/* trade.py _report: the fills (quantity at each price), the id of what rested, what was
 * dropped and why; or the rejection's reason; and why cash due did not pay for it. */
static void report(const char *what, int64_t c, const struct result *res, int64_t tif)
{
    const struct book *b = &BK[c];
    char m1[64], m2[64], r1[64];
    if (res->status < 0) {
        printf("rejected: %s: %s", what, mmx_book_reject_name(res->status));
        int64_t due = ld(&stake_rec(T.account, c)->due_cash);
        if (res->status == MMX_BOOK_REJ_FUNDS && due)
            printf(" (%s cash due from fills on %s joins the cash at the next accepted order "
                   "there)", money(due, m1, sizeof m1), T.names[c]);
        putchar('\n');
        return;
    }
    printf("%s: ", what);
    const char *sep = "";
    if (res->filled) {
        printf("%s %s %s for %s in %" PRId64 " fill%s (", res->side == BUY ? "bought" : "sold",
               units_text(b, res->filled, m1, sizeof m1), T.names[c],
               money(res->cash, m2, sizeof m2), res->n_fills, res->n_fills > 1 ? "s" : "");
        const char *comma = "";
        for (int64_t i = 0; i < res->n_fills; i++) {
            bool seen = false;
            for (int64_t k = 0; k < i && !seen; k++)
                seen = fills[k].tick == fills[i].tick;
            if (seen)
                continue;
            int64_t lots = 0;
            for (int64_t k = i; k < res->n_fills; k++)
                lots += fills[k].tick == fills[i].tick ? fills[k].qty : 0;
            printf("%s%s @ %s", comma, units_text(b, lots, m1, sizeof m1),
                   tick_text(b, fills[i].tick, r1, sizeof r1));
            comma = ", ";
        }
        putchar(')');
        sep = "; ";
    }
    if (res->rested) {
        printf("%srested %s @ %s as order %" PRId64, sep, units_text(b, res->rested, m1,
               sizeof m1), tick_text(b, res->tick, r1, sizeof r1), res->order_id);
        sep = "; ";
    }
    if (res->dropped) {
        const char *why = res->capped ? "one order fills at most max_fills resting orders"
                          : tif == MMX_BOOK_IOC ? "immediate-or-cancel"
                          : res->tick != NIL ? "nothing more to fill"
                          : res->side == BUY ? "no more sellers, or the cash ran out"
                          : "no more buyers";
        printf("%sdropped %s (%s)", sep, units_text(b, res->dropped, m1, sizeof m1), why);
    }
    putchar('\n');
}

/* ------------------------------------------------------------------ looking */

static void show_book(int64_t c, int64_t levels)
{
    const struct book *b = &BK[c];
    char r[64], m[64];
    printf("%s book: %" PRId64 " resting orders\n", T.names[c], ld(&b->h->live));
    for (int64_t s = SELL; s >= BUY; s--) {
        /* best levels outward from the spread; asks printed highest first */
        int64_t ticks[MAX_LEVELS], n = 0;
        int64_t t = ld(s == BUY ? &b->h->best_bid : &b->h->best_ask);
        while (t != NIL && n < levels) {
            ticks[n++] = t;
            int64_t nt = t + (s == BUY ? -1 : 1);
            t = nt >= 0 && nt < b->g.ticks ? book_next_best(b, s, nt) : NIL;
        }
        if (n == 0)
            printf("  %s: none\n", s == BUY ? "bids" : "asks");
        for (int64_t i = 0; i < n; i++) {
            int64_t k = s == SELL ? ticks[n - 1 - i] : ticks[i];
            printf("  %s %s  %s (%" PRId64 " orders)\n", s == BUY ? "bid" : "ask",
                   tick_text(b, k, r, sizeof r),
                   money(level_field(&b->lv[k].bid_qty, s) * b->lot, m, sizeof m),
                   level_field(&b->lv[k].bid_count, s));
        }
    }
}

static void show_orders(void)
{
    char r[64], m[64];
    int64_t shown = 0;
    for (int64_t c = 0; c < T.nc; c++) {
        if (!is_book(c))
            continue;
        const struct book *b = &BK[c];
        for (int64_t o = 0; o < b->g.capacity; o++) {
            if (ld(&b->ord[o].state) != MMX_BOOK_ORDER_LIVE
                || ld(&b->ord[o].account) != T.account)
                continue;
            printf("order %" PRId64 ": %s %s %s @ %s\n", mmx_order_id(ld(&b->ord[o].gen), o),
                   ld(&b->ord[o].side) == BUY ? "buy" : "sell",
                   units_text(b, ld(&b->ord[o].qty), m, sizeof m), T.names[c],
                   tick_text(b, ld(&b->ord[o].tick), r, sizeof r));
            shown++;
        }
    }
    if (!shown)
        puts("no live orders");
}

/* At the end of a session: the orders of this account that stay in the books. */
void book_left_note(void)
{
    int64_t left = 0;
    for (int64_t c = 0; c < T.nc; c++) {
        if (!is_book(c))
            continue;
        const struct book *b = &BK[c];
        for (int64_t o = 0; o < b->g.capacity; o++)
            left += ld(&b->ord[o].state) == MMX_BOOK_ORDER_LIVE
                    && ld(&b->ord[o].account) == T.account;
    }
    if (left == 1)
        printf("1 order of account %" PRId64 " still rests in the book until filled (sim "
               "inspect shows the books)\n", T.account);
    else if (left > 1)
        printf("%" PRId64 " orders of account %" PRId64 " still rest in the book until filled "
               "(sim inspect shows the books)\n", left, T.account);
}

/* The rates command's entry of a book: the last fill's rate, the best bid and ask. */
void book_rate(int64_t c, const char *sep)
{
    const struct book *b = &BK[c];
    char r1[64], r2[64];
    int64_t bid = ld(&T.cur[c].best_bid), ask = ld(&T.cur[c].best_ask);
    printf("%s%s last %.*f bid %s ask %s", sep, T.names[c], digits_of(b),
           ldd(&T.cur[c].last_rate), bid == NIL ? "-" : tick_text(b, bid, r1, sizeof r1),
           ask == NIL ? "-" : tick_text(b, ask, r2, sizeof r2));
}

/* The balance line of a file with books: cash, and what is due from fills and held by
 * resting buys; each currency, and what resting sells hold. */
void book_balance(void)
{
    char m1[64], m2[64];
    int64_t due = 0, bids = 0;
    for (int64_t c = 0; c < T.nc; c++) {
        if (is_book(c)) {
            due += ld(&stake_rec(T.account, c)->due_cash);
            bids += ld(&stake_rec(T.account, c)->reserved_cash);
        }
    }
    printf("cash %s", money(ld(&T.acc->cash), m1, sizeof m1));
    if (due && bids)
        printf(" (+ %s due from fills, %s in resting buys)", money(due, m1, sizeof m1),
               money(bids, m2, sizeof m2));
    else if (due || bids)
        printf(" (+ %s %s)", money(due ? due : bids, m1, sizeof m1),
               due ? "due from fills" : "in resting buys");
    for (int64_t c = 0; c < T.nc; c++) {
        printf("  %s %s", T.names[c], money(ld(&T.acc->holdings[c]), m1, sizeof m1));
        int64_t asks = is_book(c) ? ld(&stake_rec(T.account, c)->reserved_units) : 0;
        if (asks)
            printf(" (+ %s in resting sells)", money(asks, m1, sizeof m1));
    }
    putchar('\n');
}

/* ------------------------------------------------------------------ orders */

/* The books on which oid is a live order of this account, as a mask of currencies: an id
 * names a record of one book, so the same id may live on several. */
static int64_t books_of(int64_t oid)
{
    int64_t mask = 0;
    for (int64_t c = 0; c < T.nc; c++) {
        if (!is_book(c))
            continue;
        const struct book *b = &BK[c];
        int64_t o = mmx_order_index(oid);
        if (o < b->g.capacity && ld(&b->ord[o].state) == MMX_BOOK_ORDER_LIVE
            && ld(&b->ord[o].gen) == mmx_order_gen(oid)
            && ld(&b->ord[o].account) == T.account)
            mask |= (int64_t)1 << c;
    }
    return mask;
}

/* cancel [CODE] ID: the live order ID of this account, on CODE's book or the one book
 * where it rests. */
static void cancel_command(char **words, int n)
{
    const char *usage = "expected 'cancel ID' or 'cancel CODE ID' (the ids 'orders' lists)";
    if (n != 2 && n != 3) {
        printf("error: %s\n", usage);
        return;
    }
    const char *text = words[n - 1];
    char *end = NULL;
    errno = 0;
    long long oid = strtoll(text, &end, 10);
    if (errno || end == text || *end != '\0') {
        printf("error: order id '%s' is not a whole number; %s\n", text, usage);
        return;
    }
    int64_t mask = books_of(oid);
    if (n == 3) {
        int64_t only = book_index(words[1]);
        if (only < 0)
            return;
        mask &= (int64_t)1 << only;
    }
    if (mask & (mask - 1)) {
        printf("error: order %lld rests on several books (", oid);
        const char *space = "";
        for (int64_t c = 0; c < T.nc; c++) {
            if (mask >> c & 1) {
                printf("%s%s", space, T.names[c]);
                space = " ";
            }
        }
        printf("): say which, e.g. 'cancel %s %lld'\n",
               T.names[__builtin_ctzll((unsigned long long)mask)], oid);
        return;
    }
    if (mask == 0) {
        printf("rejected: cancel %lld: %s\n", oid, mmx_book_reject_name(MMX_BOOK_REJ_CANCEL));
        return;
    }
    int64_t c = __builtin_ctzll((unsigned long long)mask);
    const struct book *b = &BK[c];
    struct result res;
    book_order(CANCEL, c, BUY, NIL, oid, 0, &res);
    if (res.status < 0) {
        printf("rejected: cancel %lld: %s\n", oid, mmx_book_reject_name(res.status));
        return;
    }
    char units[64], freed[64], price[64];
    units_text(b, res.cancelled, units, sizeof units);
    tick_text(b, res.tick, price, sizeof price);
    if (res.side == BUY)
        printf("cancelled order %lld: buy %s %s @ %s; %s cash released\n", oid, units,
               T.names[c], price, money((b->pb + res.tick * b->ps) * res.cancelled, freed,
                                        sizeof freed));
    else
        printf("cancelled order %lld: sell %s %s @ %s; %s %s released\n", oid, units,
               T.names[c], price, units, T.names[c]);
}

static int64_t side_of(const char *word, const char *usage)
{
    if (strcasecmp(word, "buy") == 0)
        return BUY;
    if (strcasecmp(word, "sell") == 0)
        return SELL;
    printf("error: expected buy or sell, found '%s': %s\n", word, usage);
    return -1;
}

static void market_command(char **words, int n)
{
    char usage[96];
    snprintf(usage, sizeof usage, "expected 'market buy|sell CODE QTY', e.g. 'market sell %s "
             "5'", T.names[__builtin_ctzll((unsigned long long)T.book_mask)]);
    if (n != 4) {
        printf("error: %s\n", usage);
        return;
    }
    int64_t side = side_of(words[1], usage), c = side < 0 ? -1 : book_index(words[2]), lots;
    if (c < 0 || !lots_of(c, words[3], &lots))
        return;
    struct result res;
    book_order(MARKET, c, side, NIL, lots, MMX_BOOK_GTC, &res);
    char what[128], u[64];
    snprintf(what, sizeof what, "market %s %s %s", side == BUY ? "buy" : "sell",
             units_text(&BK[c], lots, u, sizeof u), T.names[c]);
    report(what, c, &res, MMX_BOOK_GTC);
}

static void limit_command(char **words, int n)
{
    int64_t first = __builtin_ctzll((unsigned long long)T.book_mask);
    char usage[160], mid[64];
    snprintf(usage, sizeof usage, "expected 'limit buy|sell CODE QTY @ PRICE [ioc|post-only]', "
             "e.g. 'limit buy %s 10 @ %s'", T.names[first],
             tick_text(&BK[first], BK[first].g.ticks / 2, mid, sizeof mid));
    if ((n != 6 && n != 7) || strcmp(words[4], "@") != 0) {
        printf("error: %s\n", usage);
        return;
    }
    int64_t side = side_of(words[1], usage), c = side < 0 ? -1 : book_index(words[2]);
    int64_t lots, tick, tif = MMX_BOOK_GTC;
    if (c < 0 || !lots_of(c, words[3], &lots) || !tick_of(c, words[5], &tick))
        return;
    if (n == 7) {
        if (strcasecmp(words[6], "ioc") == 0) {
            tif = MMX_BOOK_IOC;
        } else if (strcasecmp(words[6], "post-only") == 0) {
            tif = MMX_BOOK_POST_ONLY;
        } else {
            printf("error: unknown order type '%s': expected ioc or post-only (without one, "
                   "the order rests until filled or cancelled)\n", words[6]);
            return;
        }
    }
    struct result res;
    book_order(LIMIT, c, side, tick, lots, tif, &res);
    char what[160], u[64], p[64];
    snprintf(what, sizeof what, "limit %s %s %s @ %s%s", side == BUY ? "buy" : "sell",
             units_text(&BK[c], lots, u, sizeof u), T.names[c],
             tick_text(&BK[c], tick, p, sizeof p),
             tif == MMX_BOOK_IOC ? " ioc" : tif == MMX_BOOK_POST_ONLY ? " post-only" : "");
    report(what, c, &res, tif);
}

/* limit buy|sell CODE QTY @ PRICE [ioc|post-only], market buy|sell CODE QTY,
 * cancel [CODE] ID, orders, book CODE [LEVELS]; false when cmd is none of them. */
bool book_command(const char *cmd, char **words, int n)
{
    bool books = T.book_mask != 0;
    if (strcmp(cmd, "limit") == 0 && books) {
        limit_command(words, n);
    } else if (strcmp(cmd, "market") == 0 && books) {
        market_command(words, n);
    } else if (strcmp(cmd, "cancel") == 0 && books) {
        cancel_command(words, n);
    } else if (strcmp(cmd, "orders") == 0 && books) {
        show_orders();
    } else if (strcmp(cmd, "book") == 0 && books) {
        const char *usage = "expected 'book CODE [LEVELS]' (levels 1..50, default 5)";
        if (n != 2 && n != 3) {
            printf("error: %s\n", usage);
            return true;
        }
        int64_t c = book_index(words[1]), levels = LEVELS_SHOWN;
        if (c < 0)
            return true;
        if (n == 3) {
            char *end = NULL;
            long v = strtol(words[2], &end, 10);
            if (!isdigit((unsigned char)words[2][0]) || *end != '\0' || v < 1
                || v > MAX_LEVELS) {
                printf("error: levels '%s': %s\n", words[2], usage);
                return true;
            }
            levels = v;
        }
        show_book(c, levels);
    } else {
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ random orders */

/* A random mix on the book currencies, about 60 % limit (most good-till-cancel, some
 * immediate-or-cancel and post-only), 30 % cancels of this account's own resting orders,
 * 10 % market, priced around the book's middle. */
void book_random_mode(int64_t count, uint64_t seed, int64_t max_qty)
{
    int64_t books[MMX_MAX_CURRENCIES], nb = 0;
    for (int64_t c = 0; c < T.nc; c++) {
        if (is_book(c))
            books[nb++] = c;
    }
    if (nb == 0)
        fail(EXIT_BAD, "%s: --book-orders: no currency trades on a book", T.path);
    static int64_t live_c[MAX_TRACKED], live_id[MAX_TRACKED];
    int64_t n_live = 0, n_limit = 0, n_cancel = 0, n_market = 0;
    (void)wait_for_start();
    int64_t t0 = mono_ns();
    struct result res;
    for (int64_t i = 0; i < count && !stop_requested; i++) {
        if (ld(&T.h->run_state) != MMX_RUN_RUNNING)
            break;
        int64_t c = books[below(&seed, (uint64_t)nb)];
        const struct book *b = &BK[c];
        int64_t side = (int64_t)(splitmix64(&seed) >> 63);
        int64_t max_lots = max_qty / b->lot > 1 ? max_qty / b->lot : 1;
        int64_t lots = 1 + (int64_t)below(&seed, (uint64_t)max_lots);
        uint64_t r = below(&seed, 100);
        if (r < 30 && n_live) {
            int64_t k = (int64_t)below(&seed, (uint64_t)n_live);
            book_order(CANCEL, live_c[k], BUY, NIL, live_id[k], 0, &res);
            live_c[k] = live_c[--n_live];
            live_id[k] = live_id[n_live];
            n_cancel++;
        } else if (r < 40) {
            book_order(MARKET, c, side, NIL, lots, 0, &res);
            n_market++;
        } else {
            /* Read without the lock: only a reference price for a random decision. */
            int64_t bid = ld(&b->h->best_bid), ask = ld(&b->h->best_ask);
            int64_t last = ld(&b->h->last_tick), mid = b->g.ticks / 2;
            if (bid != NIL && ask != NIL)
                mid = (bid + ask) / 2;
            else if (last != NIL)
                mid = last;
            int64_t away = (int64_t)below(&seed, 20) - 4; /* < 0: crosses the middle */
            int64_t tick = mid + (side == BUY ? -away : away);
            tick = tick < 0 ? 0 : tick >= b->g.ticks ? b->g.ticks - 1 : tick;
            uint64_t f = below(&seed, 10);
            int64_t tif = f < 8 ? MMX_BOOK_GTC : f < 9 ? MMX_BOOK_IOC : MMX_BOOK_POST_ONLY;
            book_order(LIMIT, c, side, tick, lots, tif, &res);
            if (res.rested && n_live < MAX_TRACKED) {
                live_c[n_live] = c;
                live_id[n_live++] = res.order_id;
            }
            n_limit++;
        }
        if ((i & 1023) == 0) {
            heartbeat();
            if (orphaned())
                break;
        }
    }
    double secs = (double)(mono_ns() - t0) / 1e9;
    int64_t sent = n_limit + n_cancel + n_market;
    printf("trader writer %" PRId64 " account %" PRId64 ": %" PRId64 " book orders (%" PRId64
           " limit, %" PRId64 " cancel, %" PRId64 " market), %" PRId64 " fills, %" PRId64
           " rejected, %.3f s, %.0f orders/s\n", T.writer, T.account, sent, n_limit, n_cancel,
           n_market, T.n_fills, T.n_rejected, secs, secs > 0 ? (double)sent / secs : 0.0);
}
