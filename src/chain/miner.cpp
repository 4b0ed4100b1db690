#include "chain/miner.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>

#include "util/log.h"
#include "util/thread_name.h"

namespace peerchain::chain {

namespace {

void lower_thread_priority() {
  sched_param param{};
  param.sched_priority = 0;
  if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &param) != 0) {
    // Fall back to the lowest nice value for this thread only.
    setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 19);
  }
}

// One thread at idle priority that runs the tasks it is given, one at a time, while the caller
// waits. The miner hashes on it; everything that takes the chain's lock (templates, submitting a
// found block) stays on the caller's normal-priority thread, so a starved idle thread never holds
// that lock (priority inversion: under full load it would stall validation for seconds).
class IdleWorker {
 public:
  explicit IdleWorker(bool idle) : thread_([this, idle] {
    util::set_thread_name("pc-hasher");
    if (idle) lower_thread_priority();
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return task_ || quit_; });
      if (quit_) return;
      lock.unlock();
      task_();
      lock.lock();
      task_ = nullptr;
      cv_.notify_all();
    }
  }) {}
  ~IdleWorker() {
    {
      std::lock_guard lock(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void run(std::function<void()> f) {
    std::unique_lock lock(mu_);
    task_ = std::move(f);
    cv_.notify_all();
    cv_.wait(lock, [this] { return !task_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> task_;  // GUARDED_BY(mu_)
  bool quit_ = false;           // GUARDED_BY(mu_)
  std::thread thread_;          // last: starts after the members it uses
};

}  // namespace

MinerOptions default_miner_options(const consensus::Params& params, const primitives::AccountKey& reward) {
  MinerOptions o;
  o.reward_key = reward;
  o.max_hashes_per_second = params.network == "dev" ? kDevHashRateCap : 0;
  return o;
}

size_t policy_block_txs(uint64_t ns_per_tx, int64_t spacing_ms, double share, size_t floor) {
  if (share <= 0 || ns_per_tx == 0 || spacing_ms <= 0) return SIZE_MAX;
  const double budget_ns = share * static_cast<double>(spacing_ms) * 1e6;
  const double n = budget_ns / static_cast<double>(ns_per_tx);
  if (n >= static_cast<double>(SIZE_MAX / 2)) return SIZE_MAX;
  return std::max(floor, static_cast<size_t>(n));
}

Miner::Miner(ChainState& chain, MinerOptions opts) : chain_(chain), opts_(std::move(opts)) {}

Miner::~Miner() { stop(); }

void Miner::start() {
  if (running_.exchange(true)) return;
  thread_ = std::thread([this] { run(); });
}

void Miner::stop() {
  running_.store(false);
  if (thread_.joinable()) thread_.join();
}

namespace {
int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

void Miner::hold(uint32_t height) {
  uint32_t h = hold_height_.load();
  while (h < height && !hold_height_.compare_exchange_weak(h, height)) {
  }
  hold_until_ms_.store(steady_ms() + opts_.max_hold_ms);
  holds_.fetch_add(1, std::memory_order_relaxed);
}

bool Miner::held(const BlockTemplate& tmpl) const {
  // The template extends the tip; a held block at its height or above is ahead of that tip.
  return hold_height_.load(std::memory_order_relaxed) >= tmpl.block.header.height &&
         steady_ms() < hold_until_ms_.load(std::memory_order_relaxed);
}

void Miner::run() {
  util::set_thread_name("pc-miner");
  using clock = std::chrono::steady_clock;
  // A capped miner's CPU is bounded by its cap (the dev cap is ~0.5% of a core): it hashes at
  // normal priority, so blocks keep coming at the expected rate when validation fills every
  // core. An uncapped miner would take whatever is left: it hashes at idle priority.
  IdleWorker hasher(opts_.idle_priority && opts_.max_hashes_per_second <= 0);
  const double share = opts_.cpu_share > 0 && opts_.cpu_share <= 1 ? opts_.cpu_share : 1.0;
  // One pacer over the miner's life (not per template), so easy targets that are met in a few
  // attempts cannot escape the cap; it banks no idle time (HashPacer).
  const auto born = clock::now();
  auto seconds = [&born](clock::time_point t) { return std::chrono::duration<double>(t - born).count(); };
  HashPacer pacer(opts_.max_hashes_per_second, share, 4096, 0.0);
  uint64_t attempts_total = 0, attempts_paced = 0;
  auto last_mark = clock::now();
  // Sleeps until the attempts so far fit the hash-rate cap and the CPU share, or `stop_now`.
  auto pace = [&](const auto& stop_now) {
    auto now = clock::now();
    double wait_s = pacer.after(attempts_total - attempts_paced, seconds(now) - seconds(last_mark), seconds(now));
    attempts_paced = attempts_total;
    const auto until = now + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(wait_s));
    for (;;) {
      if (stop_now()) return true;
      now = clock::now();
      if (now >= until) break;
      // Short naps: a tip change (stop_now) is noticed within 5 ms, not after a 50 ms sleep.
      std::this_thread::sleep_for(std::min<clock::duration>(until - now, std::chrono::milliseconds(5)));
    }
    last_mark = clock::now();
    return false;
  };
  while (running_.load()) {
    uint64_t gen = chain_.tip_generation();
    uint64_t mgen = chain_.mempool_generation();
    const size_t limit = std::min(opts_.max_block_txs, opts_.block_txs_policy ? opts_.block_txs_policy() : SIZE_MAX);
    BlockTemplate tmpl = chain_.create_template(opts_.reward_key, limit, opts_.min_tx_age_ms);
    if (held(tmpl)) {
      // A better block is being rebuilt or validated: wait for it (or the hold's end) and mine
      // on whatever the tip is then. The wait is not counted as busy time.
      while (running_.load() && held(tmpl) && chain_.tip_generation() == gen)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      last_mark = clock::now();
      continue;
    }
    const auto started = clock::now();
    auto stop_now = [&] {
      if (!running_.load(std::memory_order_relaxed)) return true;
      if (chain_.tip_generation() != gen) return true;
      if (held(tmpl)) return true;
      auto age = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started).count();
      // New transfers, or young ones left out that may be old enough by now.
      if ((chain_.mempool_generation() != mgen || tmpl.young_left_out) && age >= opts_.template_refresh_ms) return true;
      return age >= 1000;  // keep the timestamp fresh
    };
    uint64_t counted = 0;  // attempts of this template already added to the totals
    uint64_t done = 0;     // attempts of this template, as solve() reports them
    auto should_stop = [&] {
      // Called every 4096 attempts.
      attempts_total += 4096;
      counted += 4096;
      hashes_.fetch_add(4096, std::memory_order_relaxed);
      return pace(stop_now);
    };
    bool found = false;
    hasher.run([&] { found = solve(tmpl, should_stop, done); });
    if (done > counted) {
      attempts_total += done - counted;
      hashes_.fetch_add(done - counted, std::memory_order_relaxed);
    }
    if (found) {
      util::log().debug("found block {} height {} txs {}", tmpl.block.id().hex(), tmpl.block.header.height,
                        tmpl.block.txs.size());
      if (opts_.on_found) opts_.on_found(tmpl.block, tmpl.ids);
      // The root was computed from these ids by create_template: not again (~3 ms for 10,000).
      auto r = chain_.process_block(tmpl.block, &tmpl.ids, ChainState::Durability::kBeforeReturn,
                                    /*root_matched=*/true);
      if (r) {
        blocks_found_.fetch_add(1);
        util::log().info("mined block {} height {} txs {}", tmpl.block.id().hex(), tmpl.block.header.height,
                         tmpl.block.txs.size());
      } else if (!r.error().is(consensus::RejectCode::kDuplicateBlock)) {
        util::log().warn("mined block refused: {}", r.error().to_string());
      }
    }
    hasher.run([&] { pace([&] { return !running_.load(std::memory_order_relaxed); }); });
  }
}

HashPacer::HashPacer(double hashes_per_second, double cpu_share, uint64_t step_attempts, double now_s)
    : rate_(hashes_per_second),
      share_(cpu_share > 0 && cpu_share <= 1 ? cpu_share : 1.0),
      max_credit_s_(hashes_per_second > 0 ? static_cast<double>(step_attempts) / hashes_per_second : 0.005),
      origin_s_(now_s) {}

double HashPacer::after(uint64_t attempts, double hashing_s, double now_s) {
  attempts_ += static_cast<double>(attempts);
  busy_s_ += hashing_s;
  double need_s = busy_s_ / share_;
  if (rate_ > 0) need_s = std::max(need_s, attempts_ / rate_);
  const double elapsed = now_s - origin_s_;
  // More than one step of slack: the miner was not hashing. Forget it (no burst later).
  if (elapsed > need_s + max_credit_s_) origin_s_ += elapsed - need_s - max_credit_s_;
  return std::max(0.0, need_s - (now_s - origin_s_));
}

std::vector<primitives::BlockId> Miner::generate(ChainState& chain, const primitives::AccountKey& reward,
                                                 uint32_t n, const std::atomic<bool>* cancel, size_t max_txs) {
  std::vector<primitives::BlockId> ids;
  int failures = 0;
  while (ids.size() < n && failures < 100) {
    if (cancel && cancel->load()) break;
    BlockTemplate tmpl = chain.create_template(reward, max_txs);
    uint64_t gen = chain.tip_generation();
    uint64_t hashes = 0;
    bool found = solve(tmpl, [&] { return (cancel && cancel->load()) || chain.tip_generation() != gen; }, hashes);
    if (!found) continue;
    auto r = chain.process_block(tmpl.block);
    if (r && chain.in_active_chain(tmpl.block.id())) {
      ids.push_back(tmpl.block.id());
      util::log().info("generated block {} height {} txs {}", tmpl.block.id().hex(), tmpl.block.header.height,
                       tmpl.block.txs.size());
    } else {
      ++failures;  // lost a race with another block; mine on the new tip
    }
  }
  return ids;
}

}  // namespace peerchain::chain
