/*
 * book_cmd.c: the book commands of the C trader (limit, market, cancel, orders, book, the
 * book lines of balance) and --book-orders, a random mix of orders on the book currencies.
 * The orders themselves are book.c's.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "book.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_SHOWN 5          /* levels per side the book command prints */
#define MAX_TRACKED 4096     /* own resting orders the random mode remembers */

/* ------------------------------------------------------------------ commands */

static const char *lots_of(const struct book *b, const char *text, int64_t *lots)
{
    static char why[96];
    int64_t units;
    const char *err = parse_amount(text, T.scale, false, &units);
    if (err != NULL)
        return err;
    if (units % b->lot) {
        char m[64];
        snprintf(why, sizeof why, "is not a whole number of lots (a lot is %s)",
                 money(b->lot, m, sizeof m));
        return why;
    }
    *lots = units / b->lot;
    return NULL;
}

/* A price as a rate, cash per unit: price / lot, with the digits a tick needs. */
static const char *rate_text(const struct book *b, int64_t price, char *buf, size_t size)
{
    int digits = 0;
    for (int64_t s = b->lot; s >= 10 && s % 10 == 0; s /= 10)
        digits++;
    snprintf(buf, size, "%.*f", digits, (double)price / (double)b->lot);
    return buf;
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
        printf("error: %s trades on a pool: use 'buy %s QTY' or 'sell %s QTY'\n", T.names[c],
               T.names[c], T.names[c]);
        return -1;
    }
    return c;
}

static void print_result(const char *what, int64_t c, const struct result *res)
{
    const struct book *b = &BK[c];
    char m1[64], m2[64], r1[64];
    if (res->status < 0) {
        printf("rejected: %s: %s\n", what, mmx_book_reject_name(res->status));
        return;
    }
    if (res->cancelled) {
        printf("cancelled order %" PRId64 ": %s %s released\n", res->order_id,
               money(res->cancelled * b->lot, m1, sizeof m1), T.names[c]);
        return;
    }
    if (res->filled)
        printf("%s %s %s for %s in %" PRId64 " fill(s) (last at %s)", res->side == BUY ? "bought"
               : "sold", money(res->filled * b->lot, m1, sizeof m1), T.names[c],
               money(res->cash, m2, sizeof m2), res->n_fills,
               rate_text(b, fills[res->n_fills - 1].price, r1, sizeof r1));
    else
        printf("nothing filled");
    if (res->rested)
        printf("; order %" PRId64 " rests %s %s at %s", res->order_id,
               money(res->rested * b->lot, m1, sizeof m1), T.names[c],
               rate_text(b, b->pb + res->tick * b->ps, r1, sizeof r1));
    if (res->dropped)
        printf("; %s dropped%s", money(res->dropped * b->lot, m1, sizeof m1),
               res->capped ? " (fill cap reached)" : "");
    putchar('\n');
}

static void show_book(int64_t c)
{
    const struct book *b = &BK[c];
    char r[64], m[64];
    printf("%s book: %" PRId64 " resting orders\n", T.names[c], ld(&b->h->live));
    for (int64_t s = SELL; s >= BUY; s--) {
        /* best levels outward from the spread; asks printed highest first */
        int64_t ticks[MAX_SHOWN], n = 0;
        int64_t t = ld(s == BUY ? &b->h->best_bid : &b->h->best_ask);
        while (t != NIL && n < MAX_SHOWN) {
            ticks[n++] = t;
            int64_t nt = t + (s == BUY ? -1 : 1);
            t = nt >= 0 && nt < b->g.ticks ? book_next_best(b, s, nt) : NIL;
        }
        if (n == 0)
            printf("  %s: none\n", s == BUY ? "bids" : "asks");
        for (int64_t i = 0; i < n; i++) {
            int64_t k = s == SELL ? ticks[n - 1 - i] : ticks[i];
            printf("  %s %s  %s (%" PRId64 " orders)\n", s == BUY ? "bid" : "ask",
                   rate_text(b, b->pb + k * b->ps, r, sizeof r),
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
            int64_t t = ld(&b->ord[o].tick);
            printf("order %" PRId64 ": %s %s %s @ %s\n", mmx_order_id(ld(&b->ord[o].gen), o),
                   ld(&b->ord[o].side) == BUY ? "buy" : "sell",
                   money(ld(&b->ord[o].qty) * b->lot, m, sizeof m), T.names[c],
                   rate_text(b, b->pb + t * b->ps, r, sizeof r));
            shown++;
        }
    }
    if (!shown)
        puts("no resting orders");
}

/* The rates command's entry of a book: the last fill's rate, then the best bid and ask. */
void book_rate(int64_t c, const char *sep)
{
    const struct book *b = &BK[c];
    char r[64];
    int64_t bid = ld(&T.cur[c].bid_price), ask = ld(&T.cur[c].ask_price);
    printf("%s%s %.4f (bid %s", sep, T.names[c], ldd(&T.cur[c].last_rate),
           bid ? rate_text(b, bid, r, sizeof r) : "none");
    printf(", ask %s)", ask ? rate_text(b, ask, r, sizeof r) : "none");
}

/* What this account's resting orders hold and its fills left due, per book. */
void book_balance(void)
{
    char m1[64], m2[64], m3[64];
    for (int64_t c = 0; c < T.nc; c++) {
        if (!is_book(c))
            continue;
        const struct mmx_stake *sk = stake_rec(T.account, c);
        if (ld(&sk->reserved_cash) || ld(&sk->reserved_units) || ld(&sk->due_cash))
            printf("  %s book: reserved cash %s, reserved %s %s, due cash %s\n", T.names[c],
                   money(ld(&sk->reserved_cash), m1, sizeof m1), T.names[c],
                   money(ld(&sk->reserved_units), m2, sizeof m2),
                   money(ld(&sk->due_cash), m3, sizeof m3));
    }
}

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

/* cancel ID [CODE]: on CODE's book, or on the one book where ID is a live order of this
 * account. */
static void cancel_command(char **words, int n)
{
    struct result res;
    char *end = NULL;
    long long oid = n == 2 || n == 3 ? strtoll(words[1], &end, 10) : 0;
    if ((n != 2 && n != 3) || *end != '\0' || oid <= 0) {
        printf("error: expected 'cancel ID [CODE]' with the id of one of your resting "
               "orders\n");
        return;
    }
    int64_t c;
    if (n == 3) {
        if ((c = book_index(words[2])) < 0)
            return;
    } else {
        int64_t mask = books_of(oid);
        if (mask == 0) {
            /* Live on no book: refused before any book, so no book counts it. */
            T.n_rejected++;
            printf("rejected: cancel %lld: %s\n", oid,
                   mmx_book_reject_name(MMX_BOOK_REJ_CANCEL));
            return;
        }
        if (mask & (mask - 1)) {
            printf("error: order %lld rests on several books:", oid);
            for (c = 0; c < T.nc; c++) {
                if (mask >> c & 1)
                    printf(" %s", T.names[c]);
            }
            printf("; say which, e.g. 'cancel %lld %s'\n", oid, T.names[__builtin_ctzll(
                (unsigned long long)mask)]);
            return;
        }
        c = __builtin_ctzll((unsigned long long)mask);
    }
    book_order(CANCEL, c, BUY, NIL, oid, 0, &res);
    char what[48];
    snprintf(what, sizeof what, "cancel %lld", oid);
    print_result(what, c, &res);
}

static int64_t side_of(const char *word)
{
    if (strcasecmp(word, "buy") == 0)
        return BUY;
    if (strcasecmp(word, "sell") == 0)
        return SELL;
    printf("error: side '%s': expected buy or sell\n", word);
    return -1;
}

/* limit buy|sell CODE QTY @ RATE [gtc|ioc|post], market buy|sell CODE QTY,
 * cancel ID [CODE], orders, book CODE; false when cmd is none of them. */
bool book_command(const char *cmd, char **words, int n)
{
    struct result res;
    if (strcmp(cmd, "orders") == 0) {
        show_orders();
    } else if (strcmp(cmd, "book") == 0) {
        if (n != 2) {
            printf("error: expected 'book CODE'\n");
            return true;
        }
        int64_t c = book_index(words[1]);
        if (c >= 0)
            show_book(c);
    } else if (strcmp(cmd, "cancel") == 0) {
        cancel_command(words, n);
    } else if (strcmp(cmd, "market") == 0) {
        if (n != 4) {
            printf("error: expected 'market buy|sell CODE QTY', e.g. 'market buy %s 5'\n",
                   T.names[0]);
            return true;
        }
        int64_t side = side_of(words[1]), c = side < 0 ? -1 : book_index(words[2]), lots;
        const char *why;
        if (c < 0)
            return true;
        if ((why = lots_of(&BK[c], words[3], &lots)) != NULL) {
            printf("error: amount '%s' %s\n", words[3], why);
            return true;
        }
        book_order(MARKET, c, side, NIL, lots, 0, &res);
        print_result("market order", c, &res);
    } else if (strcmp(cmd, "limit") == 0) {
        if ((n != 6 && n != 7) || strcmp(words[4], "@") != 0) {
            printf("error: expected 'limit buy|sell CODE QTY @ RATE [gtc|ioc|post]', e.g. "
                   "'limit buy %s 10 @ 1.0950'\n", T.names[0]);
            return true;
        }
        int64_t side = side_of(words[1]), c = side < 0 ? -1 : book_index(words[2]), lots;
        int64_t tif = MMX_BOOK_GTC, price;
        const char *why;
        if (c < 0)
            return true;
        const struct book *b = &BK[c];
        if (n == 7) {
            if (strcasecmp(words[6], "ioc") == 0) {
                tif = MMX_BOOK_IOC;
            } else if (strcasecmp(words[6], "post") == 0) {
                tif = MMX_BOOK_POST_ONLY;
            } else if (strcasecmp(words[6], "gtc") != 0) {
                printf("error: time in force '%s': expected gtc, ioc or post\n", words[6]);
                return true;
            }
        }
        if ((why = lots_of(b, words[3], &lots)) != NULL) {
            printf("error: amount '%s' %s\n", words[3], why);
            return true;
        }
        /* A rate in cash per unit is price / lot: parsed at scale lot, it is the price. */
        if ((why = parse_amount(words[5], b->lot, false, &price)) != NULL) {
            printf("error: rate '%s' %s\n", words[5], why);
            return true;
        }
        if (price < b->pb || (price - b->pb) % b->ps
            || (price - b->pb) / b->ps >= b->g.ticks) {
            char lo[64], hi[64], step[64];
            printf("error: rate '%s' is not on the ladder of %s: %s to %s in steps of %s\n",
                   words[5], T.names[c], rate_text(b, b->pb, lo, sizeof lo),
                   rate_text(b, b->pb + (b->g.ticks - 1) * b->ps, hi, sizeof hi),
                   rate_text(b, b->ps, step, sizeof step));
            return true;
        }
        book_order(LIMIT, c, side, (price - b->pb) / b->ps, lots, tif, &res);
        print_result("limit order", c, &res);
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
