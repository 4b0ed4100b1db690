#include "chain/parallel_verify.h"

#include <atomic>
#include <thread>
#include <vector>

#include "consensus/checks.h"

namespace peerchain::chain {

void verify_signatures(std::span<const primitives::Transaction> txs, std::span<const primitives::TxId> ids,
                       SigCache& cache, unsigned threads) {
  constexpr size_t kChunk = 64;
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (;;) {
      size_t begin = next.fetch_add(kChunk);
      if (begin >= txs.size()) return;
      size_t end = std::min(txs.size(), begin + kChunk);
      for (size_t i = begin; i < end; ++i) {
        if (cache.contains(ids[i])) continue;
        if (consensus::check_tx_signature(txs[i])) cache.insert(ids[i]);
      }
    }
  };
  unsigned n = threads ? threads : std::max(1u, std::thread::hardware_concurrency());
  n = static_cast<unsigned>(std::min<size_t>(n, (txs.size() + kChunk - 1) / kChunk));
  if (n <= 1) return work();
  std::vector<std::thread> pool;
  pool.reserve(n - 1);
  for (unsigned t = 1; t < n; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

}  // namespace peerchain::chain
