/*
 * trader.h: what the parts of the C trader (trader.c, book.c) share: the process's state,
 * the ordered stores to the mapping, locking, recovery, the ledger and the helpers.
 */
#ifndef TRADER_H
#define TRADER_H

#include "mmx.h"

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXIT_BAD 2     /* bad input, bad file, any error: like SimError */
#define EXIT_TIMEOUT 3 /* a lock wait passed header.lock_timeout_ms: like LockTimeout */

#define BPS 10000
/* Rejection codes and reasons of sim/core/transaction.py; REJ_RANGE is this program's own. */
#define REJ_POOL (-1)
#define REJ_FUNDS (-2)
#define REJ_HOLDINGS (-3)
#define REJ_TINY (-4)
#define REJ_RANGE (-5)

#define LINE_MAX_LEN 512
/* The commands a file takes, as sim trade's help_text says them. */
#define HELP_POOLS "buy CODE QTY | sell CODE QTY | "
#define HELP_BOOKS                                                                          \
    "limit buy|sell CODE QTY @ PRICE [ioc|post-only] | market buy|sell CODE QTY | "        \
    "cancel [CODE] ID | orders | book CODE [LEVELS] | "
#define HELP_ALWAYS "balance | rates | help | quit"

/* ------------------------------------------------------------------ mapped stores */

#define BARRIER() __atomic_signal_fence(__ATOMIC_SEQ_CST)

static inline int64_t ld(const int64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void st(int64_t *p, int64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
    BARRIER();
}

static inline double ldd(const double *p)
{
    double v;
    __atomic_load(p, &v, __ATOMIC_RELAXED);
    return v;
}

static inline void std_(double *p, double v)
{
    __atomic_store(p, &v, __ATOMIC_RELAXED);
    BARRIER();
}

/* ------------------------------------------------------------------ state */

struct trader {
    const char *path;
    int fd;                   /* kept open only for the ofd policy */
    unsigned char *base;
    size_t map_len;
    struct mmx_header *h;
    struct Currency *cur;
    int64_t nc, nw, na, rows, scale, fee, sync, timeout_ms, race_ns;
    char names[MMX_MAX_CURRENCIES][MMX_NAME_LEN + 1];
    bool recovers;            /* the policy recovers in-flight transactions (not none) */
    /* this process's writer record and its account */
    int64_t writer, account;
    bool given;               /* --writer/--account: funded by a coordinator, normally */
    struct mmx_writer *wr;
    struct mmx_account *acc;
    struct mmx_row *ring;
    int64_t drain_at;
    int ledger_fd;
    bool attached;
    bool in_drain;
    int64_t pause_ns;         /* hidden --pause-in-txn-us, mirrors Account.pause_in_txn */
    int64_t book_mask, book_words;
    int64_t book_shape[3];    /* ticks, capacity, max_fills of every book */
    /* locks held right now, released by fail() */
    bool held_registry;
    bool held_global;
    uint32_t held_cur;
    /* counters of this run */
    int64_t n_trades, n_rejected, n_rolled_back;
    int64_t n_orders, n_fills;   /* book orders accepted, fills they made */
};

extern struct trader T;
extern volatile sig_atomic_t stop_requested;

void __attribute__((noreturn, format(printf, 2, 3))) fail(int status, const char *fmt, ...);
void __attribute__((format(printf, 1, 2))) warn(const char *fmt, ...);
int64_t mono_ns(void);
void sleep_ns(int64_t ns);
bool lock_currency(int64_t c);
void unlock_currency(int64_t c);
int recover_currency(int64_t c);
void lock_and_settle(int64_t c);
struct mmx_writer *writer_rec(int64_t w);
struct mmx_account *account_rec(int64_t a);
void drain(void);
void heartbeat(void);
const char *parse_amount(const char *text, int64_t scale, bool zero_ok, int64_t *out);
const char *money(int64_t minor, char *buf, size_t size);
int64_t currency_index(const char *code);
void print_currencies(void);
uint64_t splitmix64(uint64_t *s);
uint64_t below(uint64_t *s, uint64_t n);
bool orphaned(void);
bool wait_for_start(void);

/* book.c: orders on limit order books (sim/core/book.py + sim/core/book_txn.py) */
bool is_book(int64_t c);
void book_attach(void);
int book_recover(int64_t c);
int book_recover_own(void);
bool book_command(const char *cmd, char **words, int n);
void book_balance(void);
void book_rate(int64_t c, const char *sep);
void book_left_note(void);
void book_abandon(void);
void book_random_mode(int64_t count, uint64_t seed, int64_t max_qty);

#endif /* TRADER_H */
