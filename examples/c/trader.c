/*
 * trader.c: a C trader on the mmap exchange file, speaking the protocol of sim/core/transaction.py.
 *
 *   trader FILE [--writer W --account A] [--random COUNT | --book-orders COUNT] [--seed S]
 *          [--cash UNITS] [--holdings UNITS] [--max-qty UNITS]
 *          [--limit 'buy|sell CODE QTY @ PRICE [ioc|post-only]'] [--market 'buy|sell CODE QTY']
 *          [--cancel '[CODE] ID']
 *
 * The file is validated from its header bytes (pread) before anything is mapped. The
 * program is one writer (a process that trades: journal, ledger ring, running totals)
 * with one account. With --writer and --account it trades as the writer, on the account,
 * that the coordinator funded; without them it claims a free writer and a free account
 * like sim.core.claims.join. --random trades on the pools, --book-orders on the limit
 * order books (book.c); --limit, --market and --cancel send one order each. Without any
 * of them it reads commands (buy CODE QTY, sell CODE QTY, limit ..., market ...,
 * cancel [CODE] ID, orders, book CODE, balance, rates, help, quit) from stdin.
 *
 * Every store to the mapping goes through st()/std_() (trader.h): a relaxed atomic store
 * followed by a compiler barrier, so the compiler emits the stores in program order.
 * On x86-64 (TSO) the CPU then makes them visible to other processes in that same order,
 * which is what crash recovery relies on: a trader killed between two stores leaves
 * exactly a prefix of the transaction, as with sim/core/transaction.py.
 *
 * Layout, constants and geometry come from mmx.h, generated from sim/core/layout.py by
 * sim/codegen/cheader.py (see the Makefile); nothing about the file is retyped here except the
 * header value ranges of sim/core/exchange.py validate_header.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "trader.h"

struct trader T = {.fd = -1, .ledger_fd = -1, .writer = -1, .account = -1};
volatile sig_atomic_t stop_requested;

static void __attribute__((noreturn)) cleanup_and_exit(int status);

static void say(const char *fmt, va_list ap)
{
    fputs("trader: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

/* One line on stderr, then release what is held, settle the writer and exit. */
void __attribute__((noreturn, format(printf, 2, 3))) fail(int status, const char *fmt,
                                                                  ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(fmt, ap);
    va_end(ap);
    cleanup_and_exit(status);
}

void __attribute__((format(printf, 1, 2))) warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(fmt, ap);
    va_end(ap);
}

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void on_alarm(int sig)
{
    (void)sig; /* only interrupts a blocking F_OFD_SETLKW */
}

int64_t mono_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        fail(EXIT_BAD, "clock_gettime(CLOCK_MONOTONIC): %s", strerror(errno));
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void sleep_ns(int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    while (nanosleep(&ts, &ts) != 0) {
        if (errno != EINTR)
            fail(EXIT_BAD, "nanosleep: %s", strerror(errno));
    }
}

/* ------------------------------------------------------------------ locks */

static void __attribute__((noreturn)) lock_timeout(const char *what, int64_t c)
{
    if (c >= 0)
        fail(EXIT_TIMEOUT, "%s: %s lock for currency %" PRId64 " (%s): still held after %g s "
             "(holder stopped or stuck)", T.path, what, c, T.names[c],
             (double)T.timeout_ms / 1000.0);
    fail(EXIT_TIMEOUT, "%s: %s lock: still held after %g s (holder stopped or stuck)", T.path,
         what, (double)T.timeout_ms / 1000.0);
}

/* Robust mutex: trylock, then a wait bounded by lock_timeout_ms on CLOCK_MONOTONIC.
 * Returns true when the previous holder died holding it (made consistent here). */
static bool robust_lock(pthread_mutex_t *m, const char *what, int64_t c)
{
    int rc = pthread_mutex_trylock(m);
    if (rc == 0)
        return false;
    if (rc == EBUSY) {
        int64_t deadline = mono_ns() + T.timeout_ms * 1000000;
        struct timespec ts = {.tv_sec = deadline / 1000000000,
                              .tv_nsec = deadline % 1000000000};
        rc = pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &ts);
        if (rc == 0)
            return false;
    }
    if (rc == EOWNERDEAD) {
        int rc2 = pthread_mutex_consistent(m);
        if (rc2 != 0)
            fail(EXIT_BAD, "%s: %s lock: pthread_mutex_consistent: %s", T.path, what,
                 strerror(rc2));
        return true;
    }
    if (rc == ETIMEDOUT)
        lock_timeout(what, c);
    fail(EXIT_BAD, "%s: %s lock: %s", T.path, what, strerror(rc));
}

static void robust_unlock(pthread_mutex_t *m, const char *what)
{
    int rc = pthread_mutex_unlock(m);
    if (rc != 0)
        fail(EXIT_BAD, "%s: %s unlock: %s", T.path, what, strerror(rc));
}

static pthread_mutex_t *mutex_at(int64_t offset)
{
    return (pthread_mutex_t *)(void *)(T.base + offset);
}

static void ofd_set(int64_t c, short type, int cmd)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET,
                       .l_start = (off_t)mmx_currency_lock_offset(c), .l_len = 1, .l_pid = 0};
    if (fcntl(T.fd, cmd, &fl) != 0)
        fail(EXIT_BAD, "%s: ofd lock for currency %" PRId64 ": fcntl: %s", T.path, c,
             strerror(errno));
}

static void arm_alarm(int64_t ns)
{
    /* The interval re-fires the alarm, so one that lands just before fcntl() blocks
     * cannot leave the wait unbounded. */
    struct itimerval it = {
        .it_interval = {.tv_sec = 0, .tv_usec = ns ? 10000 : 0},
        .it_value = {.tv_sec = ns / 1000000000, .tv_usec = (ns % 1000000000) / 1000},
    };
    if (ns && !it.it_value.tv_sec && !it.it_value.tv_usec)
        it.it_value.tv_usec = 1;
    if (setitimer(ITIMER_REAL, &it, NULL) != 0)
        fail(EXIT_BAD, "setitimer: %s", strerror(errno));
}

/* OFD write lock on the byte at currency c's lock field; never reports a dead holder (the
 * kernel drops the locks of a dead process), like OfdLocks.acquire. */
static void ofd_lock(int64_t c)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET,
                       .l_start = (off_t)mmx_currency_lock_offset(c), .l_len = 1, .l_pid = 0};
    if (fcntl(T.fd, F_OFD_SETLK, &fl) == 0)
        return;
    if (errno != EAGAIN && errno != EACCES)
        fail(EXIT_BAD, "%s: ofd lock for currency %" PRId64 ": fcntl: %s", T.path, c,
             strerror(errno));
    int64_t deadline = mono_ns() + T.timeout_ms * 1000000;
    for (;;) {
        int64_t left = deadline - mono_ns();
        if (left <= 0)
            lock_timeout("ofd", c);
        arm_alarm(left);
        int rc = fcntl(T.fd, F_OFD_SETLKW, &fl);
        int err = errno;
        arm_alarm(0);
        if (rc == 0)
            return;
        if (err != EINTR)
            fail(EXIT_BAD, "%s: ofd lock for currency %" PRId64 ": fcntl: %s", T.path, c,
                 strerror(err));
    }
}

/* Take the lock guarding currency c; true when its previous holder died holding it. */
bool lock_currency(int64_t c)
{
    bool died = false;
    switch (T.sync) {
    case MMX_SYNC_GLOBAL:
        died = robust_lock(mutex_at(MMX_GLOBAL_LOCK_OFFSET), "global", -1);
        T.held_global = true;
        break;
    case MMX_SYNC_PER_CURRENCY:
        died = robust_lock((pthread_mutex_t *)(void *)T.cur[c].lock, "per_currency", c);
        T.held_cur |= 1u << c;
        break;
    case MMX_SYNC_OFD:
        ofd_lock(c);
        T.held_cur |= 1u << c;
        break;
    default:
        break;
    }
    return died;
}

void unlock_currency(int64_t c)
{
    switch (T.sync) {
    case MMX_SYNC_GLOBAL:
        T.held_global = false;
        robust_unlock(mutex_at(MMX_GLOBAL_LOCK_OFFSET), "global");
        break;
    case MMX_SYNC_PER_CURRENCY:
        T.held_cur &= ~(1u << c);
        robust_unlock((pthread_mutex_t *)(void *)T.cur[c].lock, "per_currency");
        break;
    case MMX_SYNC_OFD:
        T.held_cur &= ~(1u << c);
        ofd_set(c, F_UNLCK, F_OFD_SETLK);
        break;
    default:
        break;
    }
}

/* Every currency's lock (the global policy: its one mutex), in index order. */
static bool lock_all(void)
{
    if (T.sync == MMX_SYNC_GLOBAL)
        return lock_currency(0);
    bool died = false;
    for (int64_t c = 0; c < T.nc; c++)
        died |= lock_currency(c);
    return died;
}

static void unlock_all(void)
{
    if (T.sync == MMX_SYNC_GLOBAL) {
        unlock_currency(0);
        return;
    }
    for (int64_t c = T.nc - 1; c >= 0; c--)
        unlock_currency(c);
}

static void lock_registry(void)
{
    (void)robust_lock(mutex_at(MMX_REGISTRY_LOCK_OFFSET), "registry", -1);
    T.held_registry = true;
}

static void unlock_registry(void)
{
    T.held_registry = false;
    robust_unlock(mutex_at(MMX_REGISTRY_LOCK_OFFSET), "registry");
}

/* Best effort on the way out: give back whatever is still held. */
static void release_held(void)
{
    book_abandon();
    for (int64_t c = T.nc - 1; c >= 0; c--) {
        if (!(T.held_cur & (1u << c)))
            continue;
        T.held_cur &= ~(1u << c);
        if (T.sync == MMX_SYNC_PER_CURRENCY) {
            (void)pthread_mutex_unlock((pthread_mutex_t *)(void *)T.cur[c].lock);
        } else {
            struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET,
                               .l_start = (off_t)mmx_currency_lock_offset(c), .l_len = 1};
            (void)fcntl(T.fd, F_OFD_SETLK, &fl);
        }
    }
    if (T.held_global) {
        T.held_global = false;
        (void)pthread_mutex_unlock(mutex_at(MMX_GLOBAL_LOCK_OFFSET));
    }
    if (T.held_registry) {
        T.held_registry = false;
        (void)pthread_mutex_unlock(mutex_at(MMX_REGISTRY_LOCK_OFFSET));
    }
}

/* ------------------------------------------------------------------ pricing */

/* floor(a * b / d) exactly (Python's // semantics), for |a|, |d| < 2^95, d != 0. The
 * result saturates at the int64 range and *sat says which way (+1 / -1, 0 exact). */
static int64_t muldiv_floor(__int128 a, int64_t b, __int128 d, int *sat)
{
    typedef unsigned __int128 u128;
    *sat = 0;
    if (a == 0 || b == 0)
        return 0;
    bool neg = (a < 0) ^ (b < 0) ^ (d < 0);
    u128 ua = a < 0 ? (u128)-a : (u128)a;
    u128 ud = d < 0 ? (u128)-d : (u128)d;
    uint64_t ub = b < 0 ? -(uint64_t)b : (uint64_t)b;
    u128 q, r, p;
    if (!__builtin_mul_overflow(ua, (u128)ub, &p)) {
        q = p / ud;
        r = p % ud;
    } else {
        /* a * b = a * hi * 2^32 + a * lo; each partial product fits 128 bits. */
        u128 x = ua * (ub >> 32);
        u128 q1 = x / ud, r1 = x % ud;
        u128 y = (r1 << 32) + ua * (ub & 0xffffffffu);
        u128 q2 = y / ud;
        if (q1 >> 64 || q2 >> 96) {
            *sat = neg ? -1 : 1;
            return neg ? INT64_MIN : INT64_MAX;
        }
        q = (q1 << 32) + q2;
        r = y % ud;
    }
    if (neg) {
        if (r)
            q += 1;
        if (q > (u128)INT64_MAX + 1) {
            *sat = -1;
            return INT64_MIN;
        }
        return q == (u128)INT64_MAX + 1 ? INT64_MIN : -(int64_t)q;
    }
    if (q > (u128)INT64_MAX) {
        *sat = 1;
        return INT64_MAX;
    }
    return (int64_t)q;
}

/* sim.pricing.buy_cost: cash the pool takes for qty units; -1 if that would empty it.
 * A true value beyond int64 comes back saturated, which keeps the caller's decision
 * (amount < 0: pool, amount > cash: funds) the same as with Python's unbounded ints. */
static int64_t buy_cost(int64_t cash, int64_t units, int64_t qty, int64_t fee)
{
    if (qty <= 0 || qty >= units)
        return -1;
    int sat;
    int64_t v = muldiv_floor((__int128)BPS * cash, qty, (__int128)(BPS - fee) * (units - qty),
                             &sat);
    if (sat > 0 || v == INT64_MAX)
        return INT64_MAX;
    return v + 1;
}

/* sim.pricing.sell_proceeds: cash the pool pays for qty units (0: too small to pay).
 * *range is set when Python's result would not fit int64 or it would divide by zero;
 * a result below the int64 range saturates and is rejected as too small, like Python. */
static int64_t sell_proceeds(int64_t cash, int64_t units, int64_t qty, int64_t fee, bool *range)
{
    *range = false;
    if (qty <= 0)
        return 0;
    int64_t g = BPS - fee;
    __int128 den = (__int128)BPS * units + (__int128)g * qty;
    if (den == 0) {
        *range = true;
        return 0;
    }
    int sat;
    int64_t v = muldiv_floor((__int128)g * qty, cash, den, &sat);
    if (sat > 0)
        *range = true; /* Python would go on with an amount no int64 field can hold */
    return v;
}

/* ------------------------------------------------------------------ recovery */

static void __attribute__((noreturn)) bad_inflight(int64_t c, int64_t w)
{
    fail(EXIT_BAD, "%s: currency %" PRId64 " inflight names writer %" PRId64 ", out of range",
         T.path, c, w);
}

struct mmx_writer *writer_rec(int64_t w)
{
    return (struct mmx_writer *)(void *)(T.base + mmx_writer_at(T.nc, w));
}

struct mmx_account *account_rec(int64_t a)
{
    return (struct mmx_account *)(void *)(T.base + mmx_account_at(T.nc, T.nw, a));
}

/* sim.core.transaction.recover_currency: undo what a dead writer left in flight on currency
 * c (its book's journal first, for a book). The caller holds c's lock. Returns 1 when a
 * transaction was rolled back. */
int recover_currency(int64_t c)
{
    struct Currency *cu = &T.cur[c];
    int64_t w = ld(&cu->inflight);
    int rolled = is_book(c) ? book_recover(c) : 0;
    if (w != MMX_NO_WRITER) {
        if (w < 0 || w >= T.nw)
            bad_inflight(c, w);
        struct mmx_writer *wr = writer_rec(w);
        if (ld(&wr->j_state) == MMX_JOURNAL_ACTIVE && ld(&wr->j_currency) == c) {
            int64_t ai = ld(&wr->j_account);
            if (ai < 0 || ai >= T.na)
                fail(EXIT_BAD, "%s: writer %" PRId64 " journal names account %" PRId64
                     ", out of range", T.path, w, ai);
            struct mmx_account *a = account_rec(ai);
            st(&cu->cash_reserve, ld(&wr->j_pool_cash));
            st(&cu->unit_reserve, ld(&wr->j_pool_units));
            st(&cu->seq, ld(&wr->j_pool_seq));
            st(&cu->volume_units, ld(&wr->j_volume_units));
            st(&cu->volume_cash, ld(&wr->j_volume_cash));
            std_(&cu->last_rate, ldd(&wr->j_last_rate));
            st(&a->cash, ld(&wr->j_cash));
            st(&a->holdings[c], ld(&wr->j_holding));
            st(&a->trades, ld(&wr->j_trades));
            st(&wr->tot_cash, ld(&wr->j_tot_cash));
            st(&wr->tot_holdings[c], ld(&wr->j_tot_holding));
            st(&wr->tot_trades, ld(&wr->j_tot_trades));
            st(&wr->log_count, ld(&wr->j_log_count));
            st(&wr->j_state, MMX_JOURNAL_IDLE);
            rolled = 1;
        }
        st(&cu->inflight, MMX_NO_WRITER);
    }
    int64_t v = ld(&cu->version);
    if (v & 1)
        st(&cu->version, v + 1);
    return rolled;
}

/* sim.core.transaction.recover_writer, as Writer opens it: settle what this writer's
 * previous process left, the book orders in flight first (book.c), then its journal;
 * counted once in its rollbacks. */
static void recover_own_writer(void)
{
    struct mmx_writer *wr = T.wr;
    if (!T.recovers)
        return;
    int rolled = book_recover_own();
    if (ld(&wr->j_state) == MMX_JOURNAL_ACTIVE) {
        int64_t c = ld(&wr->j_currency);
        if (c < 0 || c >= T.nc)
            fail(EXIT_BAD, "%s: writer %" PRId64 " journal names currency %" PRId64
                 ", out of range", T.path, T.writer, c);
        (void)lock_currency(c);
        if (ld(&T.cur[c].inflight) == T.writer)
            rolled |= recover_currency(c);
        if (ld(&wr->j_state) == MMX_JOURNAL_ACTIVE)
            st(&wr->j_state, MMX_JOURNAL_IDLE);
        unlock_currency(c);
    }
    T.n_rolled_back += rolled;
    st(&wr->rollbacks, ld(&wr->rollbacks) + rolled);
}

/* ------------------------------------------------------------------ ledger */

static void pwrite_all(int fd, const void *buf, size_t len, off_t off, const char *what)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail(EXIT_BAD, "%s: pwrite: %s", what, strerror(errno));
        }
        p += n;
        len -= (size_t)n;
        off += n;
    }
}

static char ledger_path[PATH_MAX];

/* <dir of FILE>/ledger/writer-NNNN.bin, like sim.core.ledger.open_ledger. */
static void open_ledger(void)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(T.path, '/');
    int n;
    if (slash == NULL)
        n = snprintf(dir, sizeof dir, "ledger");
    else if (slash == T.path)
        n = snprintf(dir, sizeof dir, "/ledger");
    else
        n = snprintf(dir, sizeof dir, "%.*s/ledger", (int)(slash - T.path), T.path);
    if (n < 0 || (size_t)n >= sizeof dir)
        fail(EXIT_BAD, "%s: ledger folder path too long", T.path);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        fail(EXIT_BAD, "%s: cannot create folder: %s", dir, strerror(errno));
    n = snprintf(ledger_path, sizeof ledger_path, "%s/writer-%04" PRId64 ".bin", dir,
                 T.writer);
    if (n < 0 || (size_t)n >= sizeof ledger_path)
        fail(EXIT_BAD, "%s: ledger file path too long", T.path);
    T.ledger_fd = open(ledger_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (T.ledger_fd < 0)
        fail(EXIT_BAD, "%s: cannot open ledger file: %s", ledger_path, strerror(errno));
}

/* sim.core.ledger.drain_writer: committed ring rows [log_head, log_count) go to their
 * absolute position in the ledger file, so draining the same rows twice rewrites identical
 * bytes. */
void drain(void)
{
    struct mmx_writer *a = T.wr;
    int64_t head = ld(&a->log_head), count = ld(&a->log_count);
    if (count <= head)
        return;
    if (count - head > T.rows)
        fail(EXIT_BAD, "%s: writer %" PRId64 ": %" PRId64 " undrained rows exceed the ring",
             T.path, T.writer, count - head);
    T.in_drain = true;
    for (int64_t k = head; k < count;) {
        int64_t i = k % T.rows;
        int64_t n = count - k < T.rows - i ? count - k : T.rows - i;
        pwrite_all(T.ledger_fd, &T.ring[i], (size_t)n * sizeof(struct mmx_row),
                   (off_t)(k * (int64_t)sizeof(struct mmx_row)), ledger_path);
        k += n;
    }
    T.in_drain = false;
    st(&a->log_head, count);
}

/* ------------------------------------------------------------------ the trade */

static bool add_ok(int64_t a, int64_t b, int64_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

/* Take currency c's lock and roll back what a dead process left there (on every currency
 * the lock covers when its holder died holding it), as Writer._settle does. */
void lock_and_settle(int64_t c)
{
    bool died = lock_currency(c);
    if (!T.recovers || (!died && ld(&T.cur[c].inflight) == MMX_NO_WRITER))
        return;
    int64_t rolled = 0;
    if (died && T.sync == MMX_SYNC_GLOBAL) {
        for (int64_t r = 0; r < T.nc; r++)
            rolled += recover_currency(r);
    } else {
        rolled += recover_currency(c);
    }
    T.n_rolled_back += rolled;
    st(&T.wr->rollbacks, ld(&T.wr->rollbacks) + rolled);
}

/* Writer.trade of sim/core/transaction.py, store for store: the cash moved (> 0) or REJ_*. */
static int64_t trade(int64_t c, int64_t side, int64_t qty)
{
    struct Currency *cu = &T.cur[c];
    struct mmx_account *a = T.acc;
    struct mmx_writer *wr = T.wr;
    lock_and_settle(c);
    int64_t rc = ld(&cu->cash_reserve);
    int64_t ru = ld(&cu->unit_reserve);
    if (T.race_ns)
        sleep_ns(T.race_ns);
    int64_t cash = ld(&a->cash);
    int64_t hold = ld(&a->holdings[c]);
    int64_t amount, new_rc = 0, new_ru = 0, new_cash = 0, new_hold = 0, code = 0;
    bool ok;
    if (side == MMX_SIDE_BUY) {
        amount = buy_cost(rc, ru, qty, T.fee);
        if (amount < 0) {
            code = REJ_POOL;
            goto reject;
        }
        if (amount > cash) {
            code = REJ_FUNDS;
            goto reject;
        }
        ok = add_ok(rc, amount, &new_rc) && add_ok(ru, -qty, &new_ru)
             && add_ok(cash, -amount, &new_cash) && add_ok(hold, qty, &new_hold);
    } else {
        if (qty > hold) {
            code = REJ_HOLDINGS;
            goto reject;
        }
        bool range;
        amount = sell_proceeds(rc, ru, qty, T.fee, &range);
        if (range) {
            code = REJ_RANGE;
            goto reject;
        }
        if (amount <= 0) {
            code = REJ_TINY;
            goto reject;
        }
        ok = add_ok(rc, -amount, &new_rc) && add_ok(ru, qty, &new_ru)
             && add_ok(cash, amount, &new_cash) && add_ok(hold, -qty, &new_hold);
    }
    int64_t seq = ld(&cu->seq);
    int64_t n = ld(&wr->log_count);
    int64_t trades = ld(&a->trades);
    int64_t vu = ld(&cu->volume_units), vc = ld(&cu->volume_cash);
    int64_t t_cash = ld(&wr->tot_cash), t_hold = ld(&wr->tot_holdings[c]);
    int64_t t_trades = ld(&wr->tot_trades);
    int64_t seq1, vu1, vc1, trades1, n1, t_cash1, t_hold1, t_trades1;
    /* Python's ints cannot overflow; where int64 would, refuse before writing anything. */
    ok = ok && new_ru != 0 && add_ok(seq, 1, &seq1) && add_ok(vu, qty, &vu1)
         && add_ok(vc, amount, &vc1) && add_ok(trades, 1, &trades1) && add_ok(n, 1, &n1)
         && add_ok(t_cash, new_cash - cash, &t_cash1) && add_ok(t_hold, new_hold - hold, &t_hold1)
         && add_ok(t_trades, 1, &t_trades1);
    if (!ok) {
        code = REJ_RANGE;
        goto reject;
    }
    /* Journal: pre-images first, then name the transaction, then mark it active. */
    st(&wr->j_currency, c);
    st(&wr->j_account, T.account);
    st(&wr->j_cash, cash);
    st(&wr->j_holding, hold);
    st(&wr->j_trades, trades);
    st(&wr->j_log_count, n);
    st(&wr->j_tot_cash, t_cash);
    st(&wr->j_tot_holding, t_hold);
    st(&wr->j_tot_trades, t_trades);
    st(&wr->j_pool_cash, rc);
    st(&wr->j_pool_units, ru);
    st(&wr->j_pool_seq, seq);
    st(&wr->j_volume_units, vu);
    st(&wr->j_volume_cash, vc);
    std_(&wr->j_last_rate, ldd(&cu->last_rate));
    st(&cu->inflight, T.writer);
    st(&wr->j_state, MMX_JOURNAL_ACTIVE);
    st(&cu->version, ld(&cu->version) + 1);
    st(&cu->cash_reserve, new_rc);
    st(&cu->unit_reserve, new_ru);
    if (T.pause_ns)
        sleep_ns(T.pause_ns);
    st(&cu->seq, seq1);
    st(&cu->volume_units, vu1);
    st(&cu->volume_cash, vc1);
    std_(&cu->last_rate, (double)new_rc / (double)new_ru);
    st(&a->cash, new_cash);
    st(&a->holdings[c], new_hold);
    st(&a->trades, trades1);
    st(&wr->tot_cash, t_cash1);
    st(&wr->tot_holdings[c], t_hold1);
    st(&wr->tot_trades, t_trades1);
    struct mmx_row *r = &T.ring[n % T.rows];
    st(&r->t_ns, mono_ns() - ld(&T.h->start_ns));
    st(&r->cur_seq, seq1);
    st(&r->account, T.account);
    st(&r->currency, c);
    st(&r->side, side);
    st(&r->qty, qty);
    st(&r->cash, amount);
    st(&r->unit_reserve, new_ru);
    if (T.book_mask) {
        /* A ring slot may hold an older book row: a pool trade names itself whole. A
         * pool-only file's rows keep their zeroed book fields, read by each market. */
        st(&r->kind, MMX_ROW_TRADE);
        st(&r->order_id, 0);
        st(&r->maker, MMX_BOOK_NIL);
        st(&r->tick, MMX_BOOK_NIL);
    }
    st(&wr->log_count, n1);
    st(&wr->j_state, MMX_JOURNAL_IDLE);
    st(&cu->inflight, MMX_NO_WRITER);
    st(&cu->version, ld(&cu->version) + 1);
    unlock_currency(c);
    if (n1 - ld(&wr->log_head) >= T.drain_at)
        drain();
    T.n_trades++;
    return amount;

reject:
    st(&a->rejected, ld(&a->rejected) + 1);
    unlock_currency(c);
    T.n_rejected++;
    return code;
}

static const char *reject_reason(int64_t code)
{
    switch (code) {
    case REJ_POOL: return "would empty the pool";
    case REJ_FUNDS: return "not enough cash";
    case REJ_HOLDINGS: return "not enough units held";
    case REJ_TINY: return "amount too small to pay anything";
    case REJ_RANGE: return "amount out of the int64 range";
    default: return "rejected";
    }
}

void heartbeat(void)
{
    st(&T.wr->heartbeat_ns, mono_ns());
}

/* ------------------------------------------------------------------ joining */

/* Exchange.activate_writer and Exchange.fund: a fresh writer of kind C and one account
 * funded with cash and the same holdings of every currency, added to the writer's totals;
 * status ACTIVE last. */
static void fund(struct mmx_writer *w, struct mmx_account *a, int64_t cash, int64_t hold)
{
    st(&w->kind, MMX_KIND_C);
    st(&w->pid, (int64_t)getpid());
    st(&w->status, MMX_SLOT_ACTIVE);
    st(&a->trades, 0);
    st(&a->rejected, 0);
    st(&a->writer, T.writer);
    st(&a->group, MMX_NO_GROUP);
    st(&a->cash, cash);
    st(&a->init_cash, cash);
    for (int c = 0; c < MMX_MAX_CURRENCIES; c++) {
        int64_t h = c < T.nc ? hold : 0;
        st(&a->holdings[c], h);
        st(&a->init_holdings[c], h);
        st(&w->tot_holdings[c], ld(&w->tot_holdings[c]) + h);
        st(&w->init_tot_holdings[c], ld(&w->init_tot_holdings[c]) + h);
    }
    st(&w->tot_cash, ld(&w->tot_cash) + cash);
    st(&w->init_tot_cash, ld(&w->init_tot_cash) + cash);
    st(&w->n_accounts, ld(&w->n_accounts) + 1);
    st(&a->status, MMX_SLOT_ACTIVE);
}

/* sim.core.claims.join: registry mutex, then every currency lock, currency 0's version
 * odd, fund, version even, release. */
static void join(int64_t cash, int64_t hold)
{
    lock_registry();
    int64_t w = -1, acct = -1;
    for (int64_t i = 0; i < T.nw && w < 0; i++) {
        if (ld(&writer_rec(i)->status) == MMX_SLOT_FREE)
            w = i;
    }
    if (w < 0)
        fail(EXIT_BAD, "%s: all %" PRId64 " writer records are taken; joiners get the "
             "writers and accounts a scenario keeps free: give it a larger spare_slots",
             T.path, T.nw);
    for (int64_t i = 0; i < T.na && acct < 0; i++) {
        if (ld(&account_rec(i)->status) == MMX_SLOT_FREE)
            acct = i;
    }
    if (acct < 0)
        fail(EXIT_BAD, "%s: all %" PRId64 " accounts are taken; joiners get the accounts a "
             "scenario keeps free: give it a larger spare_slots", T.path, T.na);
    if (lock_all()) {
        for (int64_t c = 0; c < T.nc; c++)
            T.n_rolled_back += recover_currency(c);
    }
    T.writer = w;
    T.account = acct;
    int64_t *v = &T.cur[0].version;
    st(v, ld(v) + 1);
    fund(writer_rec(w), account_rec(acct), cash, hold);
    st(v, ld(v) + 1);
    unlock_all();
    unlock_registry();
}

static void attach(int64_t writer, int64_t acct, bool claim, int64_t cash, int64_t hold)
{
    if (claim) {
        join(cash, hold);
    } else {
        if (writer >= T.nw)
            fail(EXIT_BAD, "%s: writer %" PRId64 " out of range: the file has %" PRId64
                 " writers", T.path, writer, T.nw);
        if (acct >= T.na)
            fail(EXIT_BAD, "%s: account %" PRId64 " out of range: the file has %" PRId64
                 " accounts", T.path, acct, T.na);
        int64_t status = ld(&writer_rec(writer)->status);
        if (status != MMX_SLOT_ACTIVE)
            fail(EXIT_BAD, "%s: writer %" PRId64 " is %s, not active (fund it first)", T.path,
                 writer, mmx_slot_state_name(status));
        status = ld(&account_rec(acct)->status);
        if (status != MMX_SLOT_ACTIVE)
            fail(EXIT_BAD, "%s: account %" PRId64 " is %s, not active (fund it first)",
                 T.path, acct, mmx_slot_state_name(status));
        if (ld(&account_rec(acct)->writer) != writer)
            fail(EXIT_BAD, "%s: account %" PRId64 " is hosted by writer %" PRId64 ", not %"
                 PRId64, T.path, acct, ld(&account_rec(acct)->writer), writer);
        T.writer = writer;
        T.account = acct;
        T.given = true;
    }
    T.wr = writer_rec(T.writer);
    T.acc = account_rec(T.account);
    T.ring = (struct mmx_row *)(void *)(T.base
                                        + mmx_ring_at(T.nc, T.nw, T.na, T.rows, T.writer));
    T.drain_at = T.rows / 2 > 1 ? T.rows / 2 : 1;
    T.attached = true;
    if (!claim)
        st(&T.wr->pid, (int64_t)getpid());
    recover_own_writer();
    open_ledger();
}

/* Drain what is left, mark the writer done, unmap, close. */
static void __attribute__((noreturn)) cleanup_and_exit(int status)
{
    release_held();
    if (T.attached && !T.in_drain && ld(&T.wr->j_state) == MMX_JOURNAL_IDLE) {
        T.attached = false; /* a failure inside drain() comes back here once */
        if (T.ledger_fd >= 0)
            drain();
        st(&T.wr->status, MMX_SLOT_DONE);
    }
    T.attached = false;
    if (T.ledger_fd >= 0) {
        if (close(T.ledger_fd) != 0 && status == 0) {
            warn("%s: close: %s", ledger_path, strerror(errno));
            status = EXIT_BAD;
        }
        T.ledger_fd = -1;
    }
    if (T.base != NULL) {
        if (munmap(T.base, T.map_len) != 0 && status == 0) {
            warn("%s: munmap: %s", T.path, strerror(errno));
            status = EXIT_BAD;
        }
        T.base = NULL;
    }
    if (T.fd >= 0) {
        if (close(T.fd) != 0 && status == 0) {
            warn("%s: close: %s", T.path, strerror(errno));
            status = EXIT_BAD;
        }
        T.fd = -1;
    }
    if (fflush(stdout) != 0 && status == 0) {
        warn("stdout: %s", strerror(errno));
        status = EXIT_BAD;
    }
    exit(status);
}

/* ------------------------------------------------------------------ open and validate */

static void __attribute__((noreturn)) bad_field(const char *field, size_t off,
                                                 const char *expected, int64_t found)
{
    fail(EXIT_BAD, "%s: header field %s at offset %zu: expected %s, found %" PRId64, T.path,
         field, off, expected, found);
}

static void check_range(const char *field, size_t off, int64_t v, int64_t lo, int64_t hi)
{
    if (v < lo || v > hi) {
        char want[48];
        snprintf(want, sizeof want, "%" PRId64 "..%" PRId64, lo, hi);
        bad_field(field, off, want, v);
    }
}

static void check_eq(const char *field, size_t off, int64_t v, int64_t want)
{
    if (v != want) {
        char buf[32];
        snprintf(buf, sizeof buf, "%" PRId64, want);
        bad_field(field, off, buf, v);
    }
}

#define CHECK_RANGE(hdr, field, lo, hi)                                                    \
    check_range(#field, offsetof(struct mmx_header, field), (hdr).field, (lo), (hi))
#define CHECK_EQ(hdr, field, want)                                                         \
    check_eq(#field, offsetof(struct mmx_header, field), (hdr).field, (want))

/* Open FILE, validate its header against mmx.h and its real size, then map it. */
static void open_exchange(void)
{
    int fd = open(T.path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            fail(EXIT_BAD, "%s: no such file", T.path);
        if (e == ELOOP)
            fail(EXIT_BAD, "%s: is a symbolic link (refused)", T.path);
        if (e == EISDIR)
            fail(EXIT_BAD, "%s: is a directory, expected an exchange file", T.path);
        if (e == EACCES || e == EPERM)
            fail(EXIT_BAD, "%s: permission denied", T.path);
        fail(EXIT_BAD, "%s: cannot open: %s", T.path, strerror(e));
    }
    T.fd = fd;
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        fail(EXIT_BAD, "%s: fstat: %s", T.path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        fail(EXIT_BAD, "%s: not a regular file", T.path);
    if (sb.st_size < (off_t)sizeof(struct mmx_header))
        fail(EXIT_BAD, "%s: too short: %lld bytes, a header needs %d", T.path,
             (long long)sb.st_size, MMX_HEADER_SIZE);
    struct mmx_header hdr;
    size_t got = 0;
    while (got < sizeof hdr) {
        ssize_t n = pread(fd, (char *)&hdr + got, sizeof hdr - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fail(EXIT_BAD, "%s: pread: %s", T.path, strerror(errno));
        if (n == 0)
            fail(EXIT_BAD, "%s: too short: the header ends at byte %zu", T.path, got);
        got += (size_t)n;
    }
    if (memcmp(hdr.magic, MMX_MAGIC, MMX_MAGIC_LEN) != 0) {
        char shown[4 * MMX_MAGIC_LEN + 1];
        size_t k = 0;
        for (int i = 0; i < MMX_MAGIC_LEN; i++) {
            unsigned char ch = (unsigned char)hdr.magic[i];
            if (isprint(ch) && ch != '\\')
                shown[k++] = (char)ch;
            else
                k += (size_t)snprintf(shown + k, sizeof shown - k, "\\x%02x", ch);
        }
        shown[k] = '\0';
        fail(EXIT_BAD, "%s: not an exchange file: header field magic at offset 0: expected "
             "\"%s\\0\", found \"%s\"", T.path, MMX_MAGIC, shown);
    }
    if (hdr.version != MMX_VERSION)
        fail(EXIT_BAD, "%s: format version %" PRId64 ", this program reads version %d", T.path,
             hdr.version, MMX_VERSION);
    CHECK_EQ(hdr, header_size, MMX_HEADER_SIZE);
    CHECK_RANGE(hdr, n_currencies, 1, MMX_MAX_CURRENCIES);
    CHECK_RANGE(hdr, n_writers, 1, MMX_MAX_WRITERS);
    CHECK_RANGE(hdr, n_accounts, 1, MMX_MAX_ACCOUNTS);
    CHECK_RANGE(hdr, ring_rows, 1, MMX_MAX_RING_ROWS);
    int64_t nc = hdr.n_currencies, nw = hdr.n_writers, na = hdr.n_accounts;
    int64_t rows = hdr.ring_rows;
    CHECK_RANGE(hdr, book_mask, 0, ((int64_t)1 << nc) - 1);
    int64_t mask = hdr.book_mask, words = 0;
    if (mask) {
        /* BookGeometry's limits (a shape outside them has no valid region), and this
         * program's own bound on max_fills, from which it sizes an order's pending writes. */
        CHECK_RANGE(hdr, book_ticks, 1, MMX_BOOK_MAX_TICKS);
        CHECK_RANGE(hdr, book_capacity, 1, MMX_BOOK_MAX_CAPACITY - 1);
        CHECK_RANGE(hdr, book_max_fills, 1, 1 << 20);
        words = mmx_book_geometry(hdr.book_ticks, hdr.book_capacity, hdr.book_max_fills)
                    .size_words;
    } else {
        CHECK_EQ(hdr, book_ticks, 0);
        CHECK_EQ(hdr, book_capacity, 0);
        CHECK_EQ(hdr, book_max_fills, 0);
    }
    CHECK_EQ(hdr, book_words, words);
    CHECK_EQ(hdr, stake_offset, mmx_stake_offset(nc, nw, na, rows));
    CHECK_EQ(hdr, stake_size, MMX_STAKE_SIZE);
    CHECK_EQ(hdr, book_offset, mmx_book_offset(nc, nw, na, rows, mask));
    CHECK_EQ(hdr, file_size, mmx_file_size(nc, nw, na, rows, mask, words));
    CHECK_EQ(hdr, currency_offset, mmx_currency_offset());
    CHECK_EQ(hdr, currency_size, MMX_CURRENCY_SIZE);
    CHECK_EQ(hdr, writer_offset, mmx_writer_offset(nc));
    CHECK_EQ(hdr, writer_size, MMX_WRITER_SIZE);
    CHECK_EQ(hdr, account_offset, mmx_account_offset(nc, nw));
    CHECK_EQ(hdr, account_size, MMX_ACCOUNT_SIZE);
    CHECK_EQ(hdr, ring_offset, mmx_ring_offset(nc, nw, na));
    CHECK_EQ(hdr, row_size, MMX_ROW_SIZE);
    if ((int64_t)sb.st_size != hdr.file_size)
        fail(EXIT_BAD, "%s: size is %lld bytes, header field file_size at offset %zu says %"
             PRId64, T.path, (long long)sb.st_size, offsetof(struct mmx_header, file_size),
             hdr.file_size);
    /* Value ranges of sim/core/exchange.py validate_header. */
    CHECK_RANGE(hdr, sync, MMX_SYNC_NONE, MMX_SYNC_OFD);
    CHECK_RANGE(hdr, scale, 1, 1000000000);
    CHECK_RANGE(hdr, fee_bps, 0, 9999);
    CHECK_RANGE(hdr, lock_timeout_ms, 1, 3600000);

    void *base = mmap(NULL, (size_t)hdr.file_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        fail(EXIT_BAD, "%s: cannot map: %s", T.path, strerror(errno));
    T.base = base;
    T.map_len = (size_t)hdr.file_size;
    if (hdr.sync != MMX_SYNC_OFD) {
        /* Robust mutexes live in the mapping; only OFD locks need the descriptor. */
        T.fd = -1;
        if (close(fd) != 0)
            fail(EXIT_BAD, "%s: close: %s", T.path, strerror(errno));
    }
    T.h = (struct mmx_header *)base;
    T.cur = (struct Currency *)(void *)(T.base + mmx_currency_offset());
    T.nc = nc;
    T.nw = nw;
    T.na = na;
    T.rows = rows;
    T.scale = hdr.scale;
    T.fee = hdr.fee_bps;
    T.sync = hdr.sync;
    T.timeout_ms = hdr.lock_timeout_ms;
    T.race_ns = ld(&T.h->race_window_ns) > 0 ? ld(&T.h->race_window_ns) : 0;
    T.recovers = T.sync != MMX_SYNC_NONE;
    T.book_mask = mask;
    T.book_words = words;
    T.book_shape[0] = hdr.book_ticks;
    T.book_shape[1] = hdr.book_capacity;
    T.book_shape[2] = hdr.book_max_fills;
    for (int64_t c = 0; c < nc; c++) {
        for (int i = 0; i < MMX_NAME_LEN; i++) {
            char ch = T.cur[c].name[i];
            if (ch == '\0')
                break;
            T.names[c][i] = isprint((unsigned char)ch) ? ch : '?';
        }
    }
    book_attach();
}

/* ------------------------------------------------------------------ amounts */

/* Units as written ("10", "2.5", "1e3") to minor units, exactly like interactive.py's
 * parse_amount. Returns NULL and sets *out, or the reason to print after "amount 'X' ".
 * zero_ok accepts 0 (for --cash). */
const char *parse_amount(const char *text, int64_t scale, bool zero_ok, int64_t *out)
{
    typedef unsigned __int128 u128;
    static char why[64];
    const char *p = text;
    bool neg = false, any = false, dot = false, inexact = false;
    u128 mant = 0;     /* the first 28 significant digits: enough for any int64 * 1e-9 */
    int sig = 0;
    int64_t exp10 = 0; /* value = mant * 10^exp10, plus dropped digits when inexact */
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    for (;; p++) {
        if (*p == '.' && !dot) {
            dot = true;
            continue;
        }
        if (*p == '_' && any && isdigit((unsigned char)p[1]))
            continue;
        if (!isdigit((unsigned char)*p))
            break;
        any = true;
        int d = *p - '0';
        if (sig < 28) {
            if (mant || d)
                sig++;
            mant = mant * 10 + (u128)d;
            if (dot)
                exp10--;
        } else {
            if (!dot)
                exp10++;
            if (d)
                inexact = true;
        }
    }
    if (!any)
        return "is not a number";
    if (*p == 'e' || *p == 'E') {
        p++;
        bool eneg = false;
        if (*p == '+' || *p == '-')
            eneg = *p++ == '-';
        if (!isdigit((unsigned char)*p))
            return "is not a number";
        int64_t e = 0;
        for (; isdigit((unsigned char)*p); p++)
            e = e < 1000000 ? e * 10 + (*p - '0') : e;
        exp10 += eneg ? -e : e;
    }
    if (*p != '\0')
        return "is not a number";
    if (mant == 0 && zero_ok && !neg) {
        *out = 0;
        return NULL;
    }
    if (mant == 0 || neg)
        return zero_ok ? "must be >= 0" : "must be a positive number";
    snprintf(why, sizeof why, "is finer than 1/%" PRId64 " of a unit", scale);
    while (mant % 10 == 0) {
        mant /= 10;
        exp10++;
    }
    u128 v = mant * (u128)scale; /* < 10^28 * 10^9: fits */
    for (; exp10 < 0; exp10++) {
        if (v % 10)
            return why;
        v /= 10;
    }
    for (; exp10 > 0 && v <= (u128)INT64_MAX; exp10--)
        v *= 10;
    if (v > (u128)INT64_MAX)
        return "is too large";
    if (inexact)
        return why;
    *out = (int64_t)v;
    return NULL;
}

/* Python's f"{minor / scale:,.{digits}f}" with digits = len(str(scale)) - 1. */
const char *money(int64_t minor, char *buf, size_t size)
{
    int digits = 0;
    for (int64_t s = T.scale; s >= 10; s /= 10)
        digits++;
    char raw[64];
    snprintf(raw, sizeof raw, "%.*f", digits, (double)minor / (double)T.scale);
    const char *p = raw;
    size_t k = 0;
    if (*p == '-')
        buf[k++] = *p++;
    size_t int_len = strcspn(p, ".");
    for (size_t i = 0; i < int_len && k + 2 < size; i++) {
        if (i > 0 && (int_len - i) % 3 == 0)
            buf[k++] = ',';
        buf[k++] = p[i];
    }
    snprintf(buf + k, size - k, "%s", p + int_len);
    return buf;
}

/* ------------------------------------------------------------------ modes */

int64_t currency_index(const char *code)
{
    for (int64_t c = 0; c < T.nc; c++) {
        if (strcasecmp(code, T.names[c]) == 0)
            return c;
    }
    return -1;
}

void print_currencies(void)
{
    for (int64_t c = 0; c < T.nc; c++)
        printf("%s%s", c ? " " : "", T.names[c]);
}

/* The commands this file takes: the pools', the books', and the rest. */
static const char *help_text(void)
{
    static char text[sizeof "commands: " HELP_POOLS HELP_BOOKS HELP_ALWAYS];
    bool pools = T.book_mask != ((int64_t)1 << T.nc) - 1, books = T.book_mask != 0;
    snprintf(text, sizeof text, "commands: %s%s%s", pools ? HELP_POOLS : "",
             books ? HELP_BOOKS : "", HELP_ALWAYS);
    return text;
}

static void command(const char *raw)
{
    /* "@" is a word of its own even when written against the price, as in sim trade. */
    char line[3 * LINE_MAX_LEN];
    size_t k = 0;
    for (const char *p = raw; *p && k + 4 < sizeof line; p++) {
        if (*p == '@') {
            memcpy(line + k, " @ ", 3);
            k += 3;
        } else {
            line[k++] = *p;
        }
    }
    line[k] = '\0';
    char *save = NULL, *words[8];
    int n = 0;
    for (char *w = strtok_r(line, " \t\r\n\v\f", &save); w != NULL;
         w = strtok_r(NULL, " \t\r\n\v\f", &save)) {
        if (n < 8)
            words[n] = w;
        n++;
    }
    if (n == 0)
        return;
    char *cmd = words[0];
    for (char *p = cmd; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    char m1[64], m2[64];
    heartbeat();
    if (strcmp(cmd, "help") == 0) {
        puts(help_text());
    } else if (strcmp(cmd, "balance") == 0 && T.book_mask) {
        book_balance();
    } else if (strcmp(cmd, "balance") == 0) {
        printf("cash %s", money(ld(&T.acc->cash), m1, sizeof m1));
        for (int64_t c = 0; c < T.nc; c++)
            printf("  %s %s", T.names[c], money(ld(&T.acc->holdings[c]), m1, sizeof m1));
        putchar('\n');
    } else if (strcmp(cmd, "rates") == 0) {
        for (int64_t c = 0; c < T.nc; c++) {
            if (is_book(c))
                book_rate(c, c ? "  " : "");
            else
                printf("%s%s %.4f", c ? "  " : "", T.names[c],
                       (double)ld(&T.cur[c].cash_reserve) / (double)ld(&T.cur[c].unit_reserve));
        }
        putchar('\n');
    } else if (book_command(cmd, words, n)) {
        /* an order on a book, or a look at one */
    } else if (strcmp(cmd, "buy") != 0 && strcmp(cmd, "sell") != 0) {
        printf("error: unknown command '%s'; %s\n", words[0], help_text());
    } else if (n != 3) {
        printf("error: expected '%s CODE QTY', e.g. '%s %s 10'\n", cmd, cmd, T.names[0]);
    } else {
        for (char *p = words[1]; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        int64_t c = currency_index(words[1]);
        int64_t qty;
        const char *why;
        if (c < 0) {
            printf("error: unknown currency '%s'; expected one of ", words[1]);
            print_currencies();
            putchar('\n');
        } else if (is_book(c)) {
            printf("error: %s trades on a limit order book: use 'market %s %s QTY' or "
                   "'limit %s %s QTY @ PRICE'\n", T.names[c], cmd, T.names[c], cmd, T.names[c]);
        } else if ((why = parse_amount(words[2], T.scale, false, &qty)) != NULL) {
            printf("error: amount '%s' %s\n", words[2], why);
        } else {
            int64_t side = strcmp(cmd, "buy") == 0 ? MMX_SIDE_BUY : MMX_SIDE_SELL;
            int64_t got = trade(c, side, qty);
            if (got < 0)
                printf("rejected: %s %s %s: %s\n", cmd, money(qty, m1, sizeof m1), words[1],
                       reject_reason(got));
            else
                printf("%s %s %s for %s (rate %.4f)\n",
                       side == MMX_SIDE_BUY ? "bought" : "sold", money(qty, m1, sizeof m1),
                       words[1], money(got, m2, sizeof m2), (double)got / (double)qty);
        }
    }
    if (fflush(stdout) != 0)
        fail(EXIT_BAD, "stdout: %s", strerror(errno));
}

static void interactive(bool claimed)
{
    char m[64], line[LINE_MAX_LEN];
    printf("%s %s as writer %" PRId64 " with account %" PRId64 " and %s cash; currencies ",
           claimed ? "joined" : "attached to", T.path, T.writer, T.account,
           money(ld(&T.acc->cash), m, sizeof m));
    if (T.book_mask) { /* as sim trade names them */
        for (int64_t c = 0; c < T.nc; c++)
            printf("%s%s (%s)", c ? " " : "", T.names[c], is_book(c) ? "book" : "pool");
    } else {
        print_currencies();
    }
    printf("\n%s\n", help_text());
    bool prompt = isatty(STDIN_FILENO);
    for (;;) {
        if (prompt)
            fputs("> ", stdout);
        if (fflush(stdout) != 0)
            fail(EXIT_BAD, "stdout: %s", strerror(errno));
        if (stop_requested || fgets(line, sizeof line, stdin) == NULL)
            break;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            int ch;
            while ((ch = getchar()) != EOF && ch != '\n')
                ;
            printf("error: line longer than %d characters, ignored\n", LINE_MAX_LEN - 2);
            continue;
        }
        char first[16] = "";
        if (sscanf(line, "%15s", first) == 1
            && (strcasecmp(first, "quit") == 0 || strcasecmp(first, "exit") == 0))
            break;
        command(line);
    }
    if (ferror(stdin) && !stop_requested)
        fail(EXIT_BAD, "stdin: %s", strerror(errno));
    if (T.book_mask)
        book_left_note();
}

uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

uint64_t below(uint64_t *s, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)splitmix64(s) * n) >> 64);
}

/* A trader the coordinator started stops when the coordinator is gone (re-parented). */
bool orphaned(void)
{
    int64_t coordinator = ld(&T.h->coordinator_pid);
    return T.given && coordinator > 0 && (int64_t)getppid() != coordinator;
}

/* Wait while the run has not started; false when it will not (stopped, orphaned). */
bool wait_for_start(void)
{
    int64_t waited_from = mono_ns();
    bool told = false;
    while (ld(&T.h->run_state) == MMX_RUN_INIT && !stop_requested && !orphaned()) {
        if (!told && mono_ns() - waited_from > 2000000000) {
            warn("%s: waiting for the run to start (run state init)", T.path);
            told = true;
        }
        sleep_ns(500000);
    }
    return ld(&T.h->run_state) == MMX_RUN_RUNNING && !stop_requested;
}

static void random_mode(int64_t count, uint64_t seed, int64_t max_qty)
{
    int64_t lo = T.scale < max_qty ? T.scale : max_qty;
    uint64_t span = (uint64_t)(max_qty - lo) + 1;
    int64_t pools[MMX_MAX_CURRENCIES], n_pools = 0;
    for (int64_t c = 0; c < T.nc; c++) {
        if (!is_book(c))
            pools[n_pools++] = c;
    }
    if (n_pools == 0)
        fail(EXIT_BAD, "%s: --random trades on pools and every currency trades on a book: "
             "use --book-orders", T.path);
    (void)wait_for_start();
    int64_t t0 = mono_ns();
    int64_t i;
    for (i = 0; i < count && !stop_requested; i++) {
        if (ld(&T.h->run_state) != MMX_RUN_RUNNING)
            break;
        int64_t c = pools[below(&seed, (uint64_t)n_pools)];
        int64_t side = (int64_t)(splitmix64(&seed) >> 63);
        int64_t qty = lo + (int64_t)below(&seed, span);
        (void)trade(c, side, qty);
        if ((i & 1023) == 0) {
            heartbeat();
            if (orphaned())
                break;
        }
    }
    double secs = (double)(mono_ns() - t0) / 1e9;
    printf("trader writer %" PRId64 " account %" PRId64 ": %" PRId64 " trades, %" PRId64
           " rejected, %.3f s, %.0f trades/s\n", T.writer, T.account, T.n_trades,
           T.n_rejected, secs, secs > 0 ? (double)T.n_trades / secs : 0.0);
}

/* ------------------------------------------------------------------ main */

static void __attribute__((noreturn)) usage(const char *why)
{
    if (why != NULL)
        fprintf(stderr, "trader: %s\n", why);
    fputs("usage: trader FILE [--writer W --account A] [--random COUNT | --book-orders COUNT]\n"
          "              [--seed S] [--cash UNITS] [--holdings UNITS] [--max-qty UNITS]\n"
          "              [--limit 'buy|sell CODE QTY @ PRICE [ioc|post-only]'] "
          "[--market 'buy|sell CODE QTY'] [--cancel '[CODE] ID']\n"
          "  FILE            an exchange file created by the coordinator (sim run)\n"
          "  --writer W      trade as writer W, funded by the coordinator (default: claim a "
          "free writer)\n"
          "  --account A     on account A, hosted by writer W (default: claim a free "
          "account)\n"
          "  --random COUNT  place COUNT random orders, then print a summary (default: read "
          "commands\n"
          "                  from stdin: buy CODE QTY, sell CODE QTY, balance, quit)\n"
          "  --book-orders COUNT  place COUNT random orders on the book currencies (about 60 % "
          "limit,\n"
          "                  30 % cancel, 10 % market), then print a summary\n"
          "  --limit, --market, --cancel  place that one order (each may repeat, in order), "
          "then exit\n"
          "  --seed S        seed of the random orders (default: the account number)\n"
          "  --cash UNITS    cash of a claimed account (default 1000)\n"
          "  --holdings UNITS  units of every currency of a claimed account (default 0)\n"
          "  --max-qty UNITS largest random order, in units (default 10)\n", stderr);
    exit(EXIT_BAD);
}

static int64_t parse_count(const char *opt, const char *text, int64_t max)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 0 || v > max) {
        char why[160];
        snprintf(why, sizeof why, "%s: expected an integer 0..%" PRId64 ", got '%s'", opt, max,
                 text);
        usage(why);
    }
    return (int64_t)v;
}

int main(int argc, char **argv)
{
    const char *cash_text = NULL, *max_text = NULL, *hold_text = NULL;
    int64_t writer = -1, acct = -1, count = -1, book_count = -1, pause_us = 0;
    /* one-shot orders, run in the order given: "limit buy EUR 10 @ 1.0950", ... */
    static char shots[16][LINE_MAX_LEN];
    int n_shots = 0;
    uint64_t seed = 0;
    bool have_seed = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;
        const char *eq = strchr(arg, '=');
        char name[32];
        if (strncmp(arg, "--", 2) == 0 && arg[2] != '\0') {
            size_t len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
            if (len >= sizeof name)
                len = sizeof name - 1;
            memcpy(name, arg, len);
            name[len] = '\0';
            if (strcmp(name, "--help") == 0)
                usage(NULL);
            static const char *const known[] = {"--writer", "--account", "--random", "--seed",
                                                "--cash", "--holdings", "--max-qty",
                                                "--pause-in-txn-us",
                                                "--book-orders", "--limit", "--market",
                                                "--cancel"};
            bool is_known = false;
            for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
                is_known |= strcmp(name, known[k]) == 0;
            if (!is_known) {
                char why[96];
                snprintf(why, sizeof why, "unknown option %.40s", name);
                usage(why);
            }
            if (eq != NULL)
                val = eq + 1;
            else if (i + 1 < argc)
                val = argv[++i];
            else {
                char why[64];
                snprintf(why, sizeof why, "%s needs a value", name);
                usage(why);
            }
            if (strcmp(name, "--writer") == 0) {
                writer = parse_count(name, val, MMX_MAX_WRITERS - 1);
            } else if (strcmp(name, "--account") == 0) {
                acct = parse_count(name, val, MMX_MAX_ACCOUNTS - 1);
            } else if (strcmp(name, "--random") == 0) {
                count = parse_count(name, val, INT64_MAX);
            } else if (strcmp(name, "--book-orders") == 0) {
                book_count = parse_count(name, val, INT64_MAX);
            } else if (strcmp(name, "--limit") == 0 || strcmp(name, "--market") == 0
                       || strcmp(name, "--cancel") == 0) {
                if (n_shots == (int)(sizeof shots / sizeof shots[0]))
                    usage("at most 16 one-shot orders");
                int len = snprintf(shots[n_shots], sizeof shots[0], "%s %s", name + 2, val);
                if (len < 0 || (size_t)len >= sizeof shots[0])
                    usage("a one-shot order is too long");
                n_shots++;
            } else if (strcmp(name, "--seed") == 0) {
                char *end;
                errno = 0;
                seed = strtoull(val, &end, 0);
                if (errno != 0 || end == val || *end != '\0' || val[0] == '-')
                    usage("--seed: expected a non-negative integer");
                have_seed = true;
            } else if (strcmp(name, "--cash") == 0) {
                cash_text = val;
            } else if (strcmp(name, "--holdings") == 0) {
                hold_text = val;
            } else if (strcmp(name, "--max-qty") == 0) {
                max_text = val;
            } else {
                pause_us = parse_count(name, val, 60000000); /* --pause-in-txn-us */
            }
        } else if (T.path == NULL) {
            T.path = arg;
        } else {
            usage("expected one FILE");
        }
    }
    if (T.path == NULL)
        usage("missing FILE");
    if ((writer >= 0) != (acct >= 0))
        usage("--writer and --account go together");
    if (writer >= 0 && (cash_text != NULL || hold_text != NULL))
        usage("--cash and --holdings fund a claimed account; --account was funded by the "
              "coordinator");
    if ((count >= 0) + (book_count >= 0) + (n_shots > 0) > 1)
        usage("--random, --book-orders and one-shot orders (--limit, --market, --cancel) "
              "exclude each other");
    T.pause_ns = pause_us * 1000;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    if (sigemptyset(&sa.sa_mask) != 0)
        fail(EXIT_BAD, "sigemptyset: %s", strerror(errno));
    sa.sa_handler = on_stop; /* no SA_RESTART: a blocked fgets() returns */
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        fail(EXIT_BAD, "sigaction: %s", strerror(errno));
    sa.sa_handler = on_alarm;
    if (sigaction(SIGALRM, &sa, NULL) != 0)
        fail(EXIT_BAD, "sigaction: %s", strerror(errno));

    open_exchange();

    int64_t cash = 1000 * T.scale, max_qty = 10 * T.scale;
    const char *why;
    int64_t hold = 0;
    if (cash_text != NULL && (why = parse_amount(cash_text, T.scale, true, &cash)) != NULL)
        fail(EXIT_BAD, "--cash: amount '%s' %s", cash_text, why);
    if (hold_text != NULL && (why = parse_amount(hold_text, T.scale, true, &hold)) != NULL)
        fail(EXIT_BAD, "--holdings: amount '%s' %s", hold_text, why);
    if (max_text != NULL && (why = parse_amount(max_text, T.scale, false, &max_qty)) != NULL)
        fail(EXIT_BAD, "--max-qty: amount '%s' %s", max_text, why);

    /* Random orders are sent only while a run goes: on a run that is over, say why none
     * will be, and claim no account for nothing (an account the coordinator funded is its
     * own: its writer is marked done as usual). */
    int64_t state = ld(&T.h->run_state);
    if (book_count >= 0)
        count = book_count;
    if (count >= 0 && (state == MMX_RUN_STOPPING || state == MMX_RUN_CLEAN)) {
        if (writer < 0)
            fail(EXIT_BAD, "%s: the run is over (run state %s): --random trades only while "
                 "a run goes; no account taken (trade by hand without --random, or start a "
                 "new run)", T.path, mmx_run_state_name(state));
        warn("%s: the run is over (run state %s): no orders sent", T.path,
             mmx_run_state_name(state));
    }
    attach(writer, acct, writer < 0, cash, hold);
    if (book_count >= 0) {
        book_random_mode(count, have_seed ? seed : (uint64_t)T.account, max_qty);
    } else if (count >= 0) {
        random_mode(count, have_seed ? seed : (uint64_t)T.account, max_qty);
    } else if (n_shots > 0) {
        for (int k = 0; k < n_shots; k++)
            command(shots[k]);
    } else {
        interactive(writer < 0);
    }
    if (T.n_rolled_back)
        warn("%s: rolled back %" PRId64 " transaction(s) left by dead traders", T.path,
             T.n_rolled_back);
    cleanup_and_exit(0);
}
