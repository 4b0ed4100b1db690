// chain/parallel_verify.h — signature checks spread over the machine's cores.
//
// Consensus stays single-threaded and pure: this step only warms the signature cache. Every
// transaction whose signature verifies is inserted into `cache`; a bad one is left out, so the
// consensus check that follows verifies it again and rejects it with its reason.
#pragma once

#include <span>

#include "chain/sig_cache.h"
#include "primitives/transaction.h"

namespace peerchain::chain {

// REQUIRES: ids[i] == txs[i].id(). Thread-safe. Uses up to `threads` threads (0: one per core);
// small batches are checked on the calling thread.
void verify_signatures(std::span<const primitives::Transaction> txs, std::span<const primitives::TxId> ids,
                       SigCache& cache, unsigned threads = 0);
// The same for transactions gathered from several places (e.g. the blocks of a sync batch), in
// one batch.
void verify_signatures(std::span<const primitives::Transaction* const> txs, std::span<const primitives::TxId> ids,
                       SigCache& cache, unsigned threads = 0);

}  // namespace peerchain::chain
