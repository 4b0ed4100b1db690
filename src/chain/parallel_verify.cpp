#include "chain/parallel_verify.h"

#include <algorithm>
#include <atomic>

#include "consensus/checks.h"
#include "util/thread_name.h"
#include "util/thread_priority.h"

namespace peerchain::chain {

VerifyPool::VerifyPool(unsigned workers) {
  workers_.reserve(workers);
  for (unsigned i = 0; i < workers; ++i) workers_.emplace_back([this] { loop(); });
}

VerifyPool::~VerifyPool() {
  {
    std::lock_guard lock(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

unsigned VerifyPool::default_workers() { return std::max(1u, std::thread::hardware_concurrency()) - 1; }

bool VerifyPool::try_run(const std::function<void()>& work, unsigned helpers) {
  std::unique_lock busy(busy_mu_, std::try_to_lock);
  if (!busy.owns_lock()) return false;
  helpers = std::min(helpers, workers());
  {
    std::lock_guard lock(mu_);
    work_ = &work;
    wanted_ = helpers;
    running_ = 0;
    ++generation_;
  }
  cv_.notify_all();
  work();
  std::unique_lock lock(mu_);
  // work() returns once every share is taken, so a worker that has not woken by now would find
  // nothing left: it is called off, not waited for. Waiting for it made a block's check wait
  // for a bulk-priority thread to be scheduled on a busy core (tens of milliseconds, traced),
  // even when the caller had done every share itself.
  wanted_ = 0;
  done_cv_.wait(lock, [&] { return running_ == 0; });
  work_ = nullptr;
  return true;
}

void VerifyPool::loop() {
  util::set_thread_name("pc-verify-pool");
  util::set_thread_bulk();
  uint64_t seen = 0;
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return quit_ || (generation_ != seen && wanted_ > 0); });
    if (quit_) return;
    seen = generation_;
    --wanted_;
    ++running_;
    const std::function<void()>* w = work_;
    lock.unlock();
    (*w)();
    lock.lock();
    --running_;
    if (wanted_ == 0 && running_ == 0) done_cv_.notify_all();
  }
}

SharePlan share_plan(size_t n, unsigned cores, VerifyMode mode) {
  const bool latency = mode == VerifyMode::kLatency;
  if (n == 0) return {};
  if (cores == 0 || (latency && n < kLatencyMinShared)) cores = 1;
  // The signatures of a chunk are checked as one batch, whose cost per signature falls with its
  // size (ADR 0022: ~0.9 of a single check at 16, 0.6-0.8 at 128, 0.5-0.7 from 256 on). So each
  // core takes an equal share of up to 512 (~15 ms of work), and a small call still spreads;
  // a latency-bound call takes shares of kLatencyShare at most (see VerifyMode).
  const size_t chunk = std::clamp<size_t>((n + cores - 1) / cores, 4, latency && cores > 1 ? kLatencyShare : 512);
  return {chunk, static_cast<unsigned>(std::min<size_t>(cores - 1, (n + chunk - 1) / chunk - 1))};
}

namespace {

// tx(i): the i-th transaction to check.
template <class TxAt>
void verify_each(size_t n, TxAt tx, std::span<const primitives::TxId> ids, SigCache& cache, VerifyPool* pool,
                 VerifyMode mode) {
  if (n == 0) return;
  const SharePlan plan = share_plan(n, pool ? pool->workers() + 1 : 1, mode);
  const size_t chunk = plan.chunk;
  std::atomic<size_t> next{0};
  std::function<void()> work = [&] {
    std::vector<size_t> todo;
    std::vector<const primitives::Transaction*> txs;
    for (;;) {
      size_t begin = next.fetch_add(chunk);
      if (begin >= n) return;
      size_t end = std::min(n, begin + chunk);
      todo.clear();
      txs.clear();
      for (size_t i = begin; i < end; ++i) {
        if (cache.contains(ids[i])) continue;
        todo.push_back(i);
        txs.push_back(&tx(i));
      }
      if (todo.empty()) continue;
      if (consensus::check_tx_signatures(txs)) {
        for (size_t i : todo) cache.insert(ids[i]);
        continue;
      }
      // Some signature is bad: find which, one by one (a forger pays for this; its peer is
      // banned and its client's call refused).
      for (size_t k = 0; k < todo.size(); ++k)
        if (consensus::check_tx_signature(*txs[k])) cache.insert(ids[todo[k]]);
    }
  };
  if (plan.helpers == 0 || !pool->try_run(work, plan.helpers)) work();
}

}  // namespace

void verify_signatures(std::span<const primitives::Transaction> txs, std::span<const primitives::TxId> ids,
                       SigCache& cache, VerifyPool* pool, VerifyMode mode) {
  verify_each(txs.size(), [&](size_t i) -> const primitives::Transaction& { return txs[i]; }, ids, cache, pool, mode);
}

void verify_signatures(std::span<const primitives::Transaction* const> txs, std::span<const primitives::TxId> ids,
                       SigCache& cache, VerifyPool* pool, VerifyMode mode) {
  verify_each(txs.size(), [&](size_t i) -> const primitives::Transaction& { return *txs[i]; }, ids, cache, pool,
              mode);
}

}  // namespace peerchain::chain
