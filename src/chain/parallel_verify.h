// chain/parallel_verify.h — signature checks spread over a pool of worker threads.
//
// Consensus stays single-threaded and pure: this step only warms the signature cache. Every
// transaction whose signature verifies is inserted into `cache`; a bad one is left out, so the
// consensus check that follows verifies it again and rejects it with its reason.
//
// The pool is handed in (ChainOptions::verify_pool), never a process-wide singleton: threads are
// created only where the real world is wired (node/, apps/), and the simulator, which runs many
// nodes in one thread, passes none and verifies on the calling thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "chain/sig_cache.h"
#include "primitives/transaction.h"

namespace peerchain::chain {

// Worker threads kept for the pool's life (spawning threads per block costs more than
// verifying a small block's signatures). One batch at a time: a caller that finds the pool busy
// verifies on its own thread instead of waiting.
//
// Thread-safety: try_run() may be called from any thread. The owner destroys the pool after
// every user (ChainState) is gone; the destructor joins the workers.
class VerifyPool {
 public:
  // Starts `workers` threads (0: none; every batch then runs on its caller).
  explicit VerifyPool(unsigned workers);
  ~VerifyPool();
  VerifyPool(const VerifyPool&) = delete;
  VerifyPool& operator=(const VerifyPool&) = delete;

  // One worker per core but the caller's, which joins in on its own batch.
  static unsigned default_workers();

  unsigned workers() const { return static_cast<unsigned>(workers_.size()); }

  // Runs work() on the calling thread and on up to `helpers` workers. work() takes shares of a
  // batch until none is left; try_run() returns when the caller's work() has returned and every
  // worker that joined in is done (a worker that had not started by then is not waited for).
  // false: the pool is busy with another caller's batch (nothing ran).
  bool try_run(const std::function<void()>& work, unsigned helpers);

 private:
  void loop();

  std::mutex busy_mu_;  // held by the caller whose batch runs
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void()>* work_ = nullptr;  // GUARDED_BY(mu_)
  unsigned wanted_ = 0;                          // GUARDED_BY(mu_): workers still to join in
  unsigned running_ = 0;                         // GUARDED_BY(mu_)
  uint64_t generation_ = 0;                      // GUARDED_BY(mu_)
  bool quit_ = false;                            // GUARDED_BY(mu_)
  std::vector<std::thread> workers_;
};

// How a batch is shared with the pool's workers, which run at bulk priority (a lower weight,
// util/thread_priority.h) and can be held back by the scheduler while a caller waits for the
// share one of them took:
// - kThroughput (transfers being admitted): shares of up to 512, the cheapest per signature.
// - kLatency (a block on its way to the tip): a batch under kLatencyMinShared stays on the
//   calling thread, and shares are at most kLatencyShare, so a held-back worker keeps little the
//   caller waits for. Traced under load: a 375-transfer block's 126 signatures not cached took
//   62 ms, the caller waiting for its helper's half.
enum class VerifyMode { kThroughput, kLatency };
inline constexpr size_t kLatencyMinShared = 256;
inline constexpr size_t kLatencyShare = 128;

// How a batch of n signatures is split over `cores` (the caller's and the pool's workers):
// shares of `chunk`, and how many workers are asked to help (0: the caller alone).
struct SharePlan {
  size_t chunk = 0;
  unsigned helpers = 0;
  bool operator==(const SharePlan&) const = default;
};
SharePlan share_plan(size_t n, unsigned cores, VerifyMode mode);

// REQUIRES: ids[i] == txs[i].id(). Thread-safe. Uses the calling thread and `pool`'s workers;
// pool nullptr (or busy, or a batch too small to share): the calling thread alone.
void verify_signatures(std::span<const primitives::Transaction> txs, std::span<const primitives::TxId> ids,
                       SigCache& cache, VerifyPool* pool, VerifyMode mode = VerifyMode::kThroughput);
// The same for transactions gathered from several places (e.g. the blocks of a sync batch), in
// one batch.
void verify_signatures(std::span<const primitives::Transaction* const> txs, std::span<const primitives::TxId> ids,
                       SigCache& cache, VerifyPool* pool, VerifyMode mode = VerifyMode::kThroughput);

}  // namespace peerchain::chain
