#ifndef BMQ_PROCESSOR_H
#define BMQ_PROCESSOR_H

/// One step of a polling loop: tells the CPU the thread is waiting, so a sibling hardware thread
/// (or the hypervisor's other guest) gets the core's resources meanwhile.
static inline void bmq_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/// CPUs this process may run on (its affinity mask, as `taskset` sets it), at least 1. The
/// count of online CPUs overstates it under `taskset`, and threads beyond it share a core.
int bmq_usable_cpus(void);

/// Gives the core to another runnable thread, if there is one.
void bmq_yield(void);

#endif
