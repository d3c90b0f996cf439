/*
 * fsync/fdatasync latency shim for the RDS-like benchmark (infra/bench/src/rdslike.rs),
 * LD_PRELOAD'd into a private mariadbd: every fsync(2) and fdatasync(2) of the server takes
 * FSYNC_DELAY_US microseconds (default 1000), the stand-in for a durable write acknowledged by
 * networked storage (EBS).
 *
 * The real call is NOT made: this VM's own disk flush (a few ms, varying with the other work on
 * the machine) would add an uncontrolled amount to the modelled latency, and the data directory
 * is throwaway. (tmpfs is no way out: MariaDB >= 10.8 memory-maps a redo log that lies on
 * /dev/shm and then never fsyncs it.)
 *
 * If FSYNC_DELAY_COUNTER names a file of at least 8 bytes, the number of calls is kept in it
 * (a native-endian uint64, shared mapping): the bench reads it to check the shim is in effect.
 *
 * C rather than a Rust cdylib: ~70 lines compiled by `cc` at bench time, no extra workspace
 * member or build profile, and no Rust runtime or panic machinery inside mariadbd.
 *
 * Build: cc -O2 -shared -fPIC -o libfsync_delay.so fsync_delay.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static long delay_us = 1000;
static uint64_t *calls;

__attribute__((constructor)) static void fsync_delay_init(void) {
    const char *v = getenv("FSYNC_DELAY_US");
    if (v != NULL && *v != '\0') {
        char *end = NULL;
        long n = strtol(v, &end, 10);
        if (end != NULL && *end == '\0' && n >= 0) {
            delay_us = n;
        }
    }
    const char *counter = getenv("FSYNC_DELAY_COUNTER");
    if (counter != NULL && *counter != '\0') {
        int fd = open(counter, O_RDWR | O_CLOEXEC);
        if (fd >= 0) {
            void *p = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (p != MAP_FAILED) {
                calls = (uint64_t *)p;
            }
            close(fd);
        }
    }
    /* The default timer slack (50 us) would add up to 5% to a 1 ms sleep; threads inherit the
     * slack of the thread that creates them, so setting it here covers the whole server. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
}

static int fsync_delay(int fd) {
    if (fcntl(fd, F_GETFD) == -1) {
        return -1; /* EBADF, as the real call would say */
    }
    if (calls != NULL) {
        __atomic_fetch_add(calls, 1, __ATOMIC_RELAXED);
    }
    if (delay_us > 0) {
        struct timespec ts = {delay_us / 1000000, (delay_us % 1000000) * 1000};
        while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
        }
    }
    return 0;
}

int fsync(int fd) { return fsync_delay(fd); }

int fdatasync(int fd) { return fsync_delay(fd); }
