#include "chain/pending_tx_index.h"

#include <algorithm>

namespace peerchain::chain {

namespace {
constexpr size_t kMinSlots = 1 << 14;
}

void PendingTxIndex::add(const primitives::BlockId& block, std::vector<primitives::TxId> ids) {
  const size_t need = (records_ + ids.size()) * 2;
  if (need > slots_.size()) {
    size_t cap = std::max(slots_.size(), kMinSlots);
    while (cap < need) cap *= 2;
    chunks_.push_back(std::make_unique<Chunk>(Chunk{block, std::move(ids)}));
    records_ += chunks_.back()->ids.size();
    rebuild(cap);
    return;
  }
  chunks_.push_back(std::make_unique<Chunk>(Chunk{block, std::move(ids)}));
  const auto c = static_cast<uint32_t>(chunks_.size() - 1);
  const auto n = static_cast<uint32_t>(chunks_.back()->ids.size());
  for (uint32_t i = 0; i < n; ++i) insert(c, i);
  records_ += n;
}

void PendingTxIndex::insert(uint32_t chunk, uint32_t pos) {
  const uint64_t tag = tag_of(chunks_[chunk]->ids[pos]);
  const size_t mask = slots_.size() - 1;
  size_t i = tag & mask;
  while (slots_[i].tag != 0) i = (i + 1) & mask;
  slots_[i] = Slot{tag, chunk, pos};
}

std::optional<storage::TxLocation> PendingTxIndex::find(const primitives::TxId& id) const {
  if (records_ == 0) return std::nullopt;
  const uint64_t tag = tag_of(id);
  const size_t mask = slots_.size() - 1;
  for (size_t i = tag & mask; slots_[i].tag != 0; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.tag == tag && chunks_[s.chunk]->ids[s.pos] == id) return storage::TxLocation{chunks_[s.chunk]->block, s.pos};
  }
  return std::nullopt;
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
  rebuild(slots_.size());
}

void PendingTxIndex::put_back() { taken_ = 0; }

void PendingTxIndex::clear() {
  chunks_.clear();
  taken_ = 0;
  records_ = 0;
  std::fill(slots_.begin(), slots_.end(), Slot{});
}

void PendingTxIndex::rebuild(size_t capacity) {
  if (slots_.size() == capacity) std::fill(slots_.begin(), slots_.end(), Slot{});
  else slots_.assign(capacity, Slot{});
  for (uint32_t c = 0; c < chunks_.size(); ++c)
    for (uint32_t i = 0; i < chunks_[c]->ids.size(); ++i) insert(c, i);
}

}  // namespace peerchain::chain
