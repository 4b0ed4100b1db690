// util/thread_priority.h — a lower scheduling weight for threads that do bulk work.
#pragma once

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace peerchain::util {

// The nice value of bulk threads: CFS gives a runnable nice-0 thread three times their weight,
// so a thread that wakes for latency-bound work (the network thread with a block's sketch, the
// message handler, a block's connect, the miner) runs within a few milliseconds, while the bulk
// threads still take every cycle nobody else wants. A weight, not a starvation: a bulk thread
// holding a lock others wait for still runs (docs/adr/0021-message-inbox-and-bulk-threads.md).
inline constexpr int kBulkNice = 5;

// Lowers the calling thread's priority to kBulkNice (Linux: per thread). Unprivileged (a raise
// of the nice value); best effort: a failure leaves the thread as it was.
inline void set_thread_bulk() {
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), kBulkNice);
}

}  // namespace peerchain::util
