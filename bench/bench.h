/*
 * bench/bench.h: what every benchmark program measures with: wall-clock
 * seconds, the CPU seconds of the whole process (user + system, every
 * thread of the libraries included) and its peak resident set. Each run is
 * one process for one library, so the peak is that library's.
 */
#ifndef YK_BENCH_H
#define YK_BENCH_H

#include <sys/resource.h>
#include <time.h>

static inline double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static inline double cpu_s(void)
{
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec / 1e6 + (double)usage.ru_stime.tv_sec
           + (double)usage.ru_stime.tv_usec / 1e6;
}

/* CPU time of the calling thread. */
static inline double thread_cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static inline long peak_rss_kb(void)
{
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

#endif
