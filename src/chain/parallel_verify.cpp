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
  done_cv_.wait(lock, [&] { return wanted_ == 0 && running_ == 0; });
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

namespace {

// tx(i): the i-th transaction to check.
template <class TxAt>
void verify_each(size_t n, TxAt tx, std::span<const primitives::TxId> ids, SigCache& cache, VerifyPool* pool) {
  if (n == 0) return;
  const unsigned cores = pool ? pool->workers() + 1 : 1;
  // Small chunks so a 10-transaction block still spreads; each chunk is ~4 verifications (~150 us).
  const size_t chunk = std::clamp<size_t>(n / (cores * 8), 4, 64);
  std::atomic<size_t> next{0};
  std::function<void()> work = [&] {
    for (;;) {
      size_t begin = next.fetch_add(chunk);
      if (begin >= n) return;
      size_t end = std::min(n, begin + chunk);
      for (size_t i = begin; i < end; ++i) {
        if (cache.contains(ids[i])) continue;
        if (consensus::check_tx_signature(tx(i))) cache.insert(ids[i]);
      }
    }
  };
  auto helpers = static_cast<unsigned>(std::min<size_t>(cores - 1, (n + chunk - 1) / chunk - 1));
  if (helpers == 0 || !pool->try_run(work, helpers)) work();
}

}  // namespace

void verify_signatures(std::span<const primitives::Transaction> txs, std::span<const primitives::TxId> ids,
                       SigCache& cache, VerifyPool* pool) {
  verify_each(txs.size(), [&](size_t i) -> const primitives::Transaction& { return txs[i]; }, ids, cache, pool);
}

void verify_signatures(std::span<const primitives::Transaction* const> txs, std::span<const primitives::TxId> ids,
                       SigCache& cache, VerifyPool* pool) {
  verify_each(txs.size(), [&](size_t i) -> const primitives::Transaction& { return *txs[i]; }, ids, cache, pool);
}

}  // namespace peerchain::chain
