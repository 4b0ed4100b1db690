#include "chain/pending_tx_index.h"

namespace peerchain::chain {

namespace {
constexpr size_t kMinSlots = 1 << 14;
}

PendingTxIndex::PendingTxIndex(uint64_t salt) : places_{salt, kMinSlots} {}

void PendingTxIndex::add(const primitives::BlockId& block, std::vector<primitives::TxId> ids) {
  records_ += ids.size();
  places_.reserve(records_);
  chunks_.push_back(std::make_unique<Chunk>(Chunk{block, std::move(ids)}));
  index_chunk(static_cast<uint32_t>(chunks_.size() - 1));
}

void PendingTxIndex::index_chunk(uint32_t chunk) {
  const auto& ids = chunks_[chunk]->ids;
  for (uint32_t i = 0; i < ids.size(); ++i) places_.insert(ids[i], Place{chunk, i});
}

std::optional<storage::TxLocation> PendingTxIndex::find(const primitives::TxId& id) const {
  const Place* p = places_.find(id, [&](Place v) { return id_at(v) == id; });
  if (!p) return std::nullopt;
  return storage::TxLocation{chunks_[p->chunk]->block, p->pos};
}

std::vector<const PendingTxIndex::Chunk*> PendingTxIndex::take() {
  std::vector<const Chunk*> out;
  for (const auto& c : chunks_) out.push_back(c.get());
  taken_ = chunks_.size();
  return out;
}

void PendingTxIndex::forget() {
  for (size_t i = 0; i < taken_; ++i) records_ -= chunks_[i]->ids.size();
  chunks_.erase(chunks_.begin(), chunks_.begin() + static_cast<std::ptrdiff_t>(taken_));
  taken_ = 0;
  // The chunks left moved to the front: their places are rebuilt (usually there are none).
  places_.clear();
  for (uint32_t c = 0; c < chunks_.size(); ++c) index_chunk(c);
}

void PendingTxIndex::put_back() { taken_ = 0; }

void PendingTxIndex::clear() {
  chunks_.clear();
  taken_ = 0;
  records_ = 0;
  places_.clear();
}

}  // namespace peerchain::chain
