// util/thread_priority.h — a lower scheduling weight for threads that do bulk work.
#pragma once

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace peerchain::util {

// The nice value of bulk threads: CFS weighs a nice-0 thread 1,024 and a nice-15 one 36, so a
// thread that wakes for latency-bound work (the network thread with a block's sketch, the message
// handler, a block's connect, the miner) takes some 80 % of a core from six runnable bulk threads
// while it runs, and the bulk threads still take every cycle nobody else wants. A weight,
// not a starvation (SCHED_IDLE would be): a bulk thread holding a lock others wait for still runs.
// Nice 5 (weight 335) left it a third of a core against the same six; 19 (weight 15) did no
// better than 15 in measured runs (docs/adr/0021-message-inbox-and-bulk-threads.md).
inline constexpr int kBulkNice = 15;

// Lowers the calling thread's priority to kBulkNice (Linux: per thread). Unprivileged (a raise
// of the nice value); best effort: a failure leaves the thread as it was.
inline void set_thread_bulk() {
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), kBulkNice);
}

}  // namespace peerchain::util
