// Fuzz: the compact block messages (node/compact.h) and the rebuilding of a block from a
// sketch. Whatever a peer sends must decode to something that encodes back to the same bytes,
// or to a typed error; a sketch must never rebuild into a block whose Merkle root differs from
// its header's.
#include <cstdlib>

#include "consensus/params.h"
#include "node/compact.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace peerchain;
  static const consensus::Params params = consensus::dev_params();
  const size_t max_txs = params.max_block_txs;
  util::ByteSpan in(data, size);
  util::Bytes bytes(data, data + size);
  if (auto m = node::decode_sendcmpct(in); m && node::encode_sendcmpct(*m) != bytes) std::abort();
  if (auto r = node::decode_getblocktxn(in, max_txs)) {
    if (node::encode_getblocktxn(*r) != bytes) std::abort();
    for (size_t i = 1; i < r->indexes.size(); ++i)
      if (r->indexes[i] <= r->indexes[i - 1] || r->indexes[i] >= max_txs) std::abort();
  }
  auto txn = node::decode_blocktxn(in, max_txs);
  if (txn && node::encode_blocktxn(*txn) != bytes) std::abort();
  // A small cap too: the first byte of the input picks it, so counts near the cap are reached.
  const size_t cap = size > 0 ? 1 + data[0] % 16 : max_txs;
  for (size_t limit : {max_txs, cap}) {
    auto cb = node::decode_cmpctblock(in, limit);
    if (!cb) continue;
    if (cb->tx_count() > limit) std::abort();
    if (node::encode_cmpctblock(*cb) != bytes) std::abort();
    auto pb = node::PartialBlock::start(*cb);
    if (!pb) continue;
    // Offer the prefilled transfers again (each matches no slot or is a duplicate), then fill
    // the rest with whatever the blocktxn in the same input carried.
    for (const auto& p : cb->prefilled) pb->offer(p.tx, p.tx.id());
    if (txn && pb->fill(txn->txs)) {
      if (!pb->complete()) std::abort();
      auto block = pb->take();
      if (block && primitives::compute_merkle_root(block->txs) != cb->header.merkle_root) std::abort();
    }
  }
  return 0;
}
