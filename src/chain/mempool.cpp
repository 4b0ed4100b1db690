#include "chain/mempool.h"

#include <algorithm>
#include <queue>

namespace peerchain::chain {

using consensus::reject;
using consensus::RejectCode;

void Mempool::erase_tail_key(const AccountKey& sender, const Queue& q) {
  if (q.by_nonce.empty()) return;
  const auto& e = q.by_nonce.rbegin()->second;
  tails_.erase(TailKey{e.tx.fee, ~e.sequence, sender});
}

void Mempool::insert_tail_key(const AccountKey& sender, const Queue& q) {
  if (q.by_nonce.empty()) return;
  const auto& e = q.by_nonce.rbegin()->second;
  tails_.insert(TailKey{e.tx.fee, ~e.sequence, sender});
}

void Mempool::remove_from(const AccountKey& sender, Queue& q,
                          std::map<uint64_t, MempoolEntry>::iterator it) {
  erase_tail_key(sender, q);
  q.total_cost -= it->second.tx.amount + it->second.tx.fee;
  by_id_.erase(it->second.id);
  q.by_nonce.erase(it);
  insert_tail_key(sender, q);
}

bool Mempool::evict_one(Amount than_fee, const AccountKey& protect, std::vector<Removed>& evicted) {
  for (auto it = tails_.begin(); it != tails_.end(); ++it) {
    if (it->fee >= than_fee) return false;
    if (it->sender == protect) continue;
    AccountKey sender = it->sender;
    auto qit = queues_.find(sender);
    auto last = std::prev(qit->second.by_nonce.end());
    evicted.push_back({last->second.id, sender, last->first});
    remove_from(sender, qit->second, last);
    if (qit->second.by_nonce.empty()) queues_.erase(qit);
    return true;
  }
  return false;
}

Checked<std::vector<Removed>> Mempool::add(const Transaction& tx, const TxId& id, const AccountLookup& state) {
  if (by_id_.count(id)) return reject(RejectCode::kDuplicate, "already in the mempool");
  if (tx.fee < opts_.min_fee)
    return reject(RejectCode::kFeeTooLow, "fee " + std::to_string(tx.fee) + " below minimum " +
                                              std::to_string(opts_.min_fee));
  Account acc = state(tx.sender);
  auto qit = queues_.find(tx.sender);
  size_t pending = qit == queues_.end() ? 0 : qit->second.by_nonce.size();
  uint64_t expected = acc.nonce + pending;
  if (tx.nonce < acc.nonce)
    return reject(RejectCode::kNonceTooLow, "nonce " + std::to_string(tx.nonce) + ", account expects " +
                                                std::to_string(acc.nonce));
  if (tx.nonce > expected)
    return reject(RejectCode::kNonceTooHigh, "nonce " + std::to_string(tx.nonce) + ", next acceptable is " +
                                                 std::to_string(expected));
  Amount cost = tx.amount + tx.fee;
  std::vector<Removed> removed;

  if (tx.nonce < expected) {
    // Replacement of a pooled transaction.
    Queue& q = qit->second;
    auto old = q.by_nonce.find(tx.nonce);
    Amount old_fee = old->second.tx.fee;
    Amount bump = std::max<Amount>(1, old_fee / 100 * opts_.replace_bump_percent);
    if (tx.fee < old_fee + bump)
      return reject(RejectCode::kReplacementFeeTooLow,
                    "replacing needs fee >= " + std::to_string(old_fee + bump));
    Amount before = 0;
    for (auto it = q.by_nonce.begin(); it != old; ++it) before += it->second.tx.amount + it->second.tx.fee;
    if (before + cost > acc.balance)
      return reject(RejectCode::kInsufficientFunds, "balance " + std::to_string(acc.balance) +
                                                        " does not cover pending + this transaction");
    erase_tail_key(tx.sender, q);
    removed.push_back({old->second.id, tx.sender, tx.nonce});
    by_id_.erase(old->second.id);
    q.total_cost -= old->second.tx.amount + old->second.tx.fee;
    old->second = MempoolEntry{tx, id, next_sequence_++};
    q.total_cost += cost;
    by_id_.emplace(id, std::make_pair(tx.sender, tx.nonce));
    // Later transactions that no longer fit the balance go.
    Amount running = 0;
    for (auto it = q.by_nonce.begin(); it != q.by_nonce.end();) {
      running += it->second.tx.amount + it->second.tx.fee;
      if (running > acc.balance) {
        while (it != q.by_nonce.end()) {
          q.total_cost -= it->second.tx.amount + it->second.tx.fee;
          removed.push_back({it->second.id, tx.sender, it->first});
          by_id_.erase(it->second.id);
          it = q.by_nonce.erase(it);
        }
        break;
      }
      ++it;
    }
    insert_tail_key(tx.sender, q);
    reshaped();
    return removed;
  }

  Amount pending_cost = qit == queues_.end() ? 0 : qit->second.total_cost;
  if (pending_cost + cost > acc.balance)
    return reject(RejectCode::kInsufficientFunds,
                  "balance " + std::to_string(acc.balance) + " < pending " + std::to_string(pending_cost) +
                      " + amount + fee " + std::to_string(cost));
  if (pending >= opts_.max_per_sender)
    return reject(RejectCode::kTooManyPending, std::to_string(pending) + " transactions already pending");
  while (by_id_.size() + 1 > opts_.max_count ||
         (by_id_.size() + 1) * Transaction::kEncodedSize > opts_.max_bytes) {
    if (!evict_one(tx.fee, tx.sender, removed))
      return reject(RejectCode::kMempoolFull, "mempool full and fee does not beat the cheapest entry");
  }
  Queue& q = queues_[tx.sender];
  erase_tail_key(tx.sender, q);
  q.by_nonce.emplace(tx.nonce, MempoolEntry{tx, id, next_sequence_++});
  q.total_cost += cost;
  by_id_.emplace(id, std::make_pair(tx.sender, tx.nonce));
  insert_tail_key(tx.sender, q);
  if (!removed.empty() || appended_.size() >= opts_.max_count) reshaped();
  else appended_.push_back(id);
  return removed;
}

std::vector<Removed> Mempool::update_accounts(const std::set<AccountKey>& accounts,
                                           const std::vector<Transaction>& returned,
                                           const AccountLookup& state) {
  reshaped();
  std::vector<Removed> dropped;
  // The common case, a block that confirmed a prefix of each sender's queue: the confirmed
  // front goes, and if the rest still starts at the account's nonce and fits its balance the
  // invariant holds as it is (exactly what re-admitting it would keep, and the entries keep
  // their arrival order). Only a sender with returned transactions, or whose queue no longer
  // fits (a conflicting transaction confirmed, a balance that fell), is rebuilt below.
  std::set<AccountKey> returned_senders;
  for (const auto& tx : returned) returned_senders.insert(tx.sender);
  std::set<AccountKey> rebuild;
  for (const auto& key : accounts) {
    if (returned_senders.count(key)) {
      rebuild.insert(key);
      continue;
    }
    auto qit = queues_.find(key);
    if (qit == queues_.end()) continue;
    Queue& q = qit->second;
    const Account acc = state(key);
    while (!q.by_nonce.empty() && q.by_nonce.begin()->first < acc.nonce) {
      auto it = q.by_nonce.begin();
      if (q.by_nonce.size() == 1) erase_tail_key(key, q);  // the last one is also the tail
      q.total_cost -= it->second.tx.amount + it->second.tx.fee;
      dropped.push_back({it->second.id, key, it->first});
      by_id_.erase(it->second.id);
      q.by_nonce.erase(it);
    }
    if (q.by_nonce.empty()) {
      queues_.erase(qit);
      continue;
    }
    if (q.by_nonce.begin()->first != acc.nonce || q.total_cost > acc.balance) rebuild.insert(key);
  }
  // Gather, per sender to rebuild, its pooled and returned transactions.
  std::map<AccountKey, std::map<uint64_t, std::pair<Transaction, TxId>>> work;
  std::map<TxId, std::pair<AccountKey, uint64_t>> before;  // rebuilt: id -> sender, nonce
  for (const auto& tx : returned) {
    auto& slot = work[tx.sender];
    slot.emplace(tx.nonce, std::make_pair(tx, tx.id()));  // first (oldest block) wins
  }
  for (const auto& key : rebuild) {
    auto qit = queues_.find(key);
    if (qit == queues_.end()) continue;
    auto& slot = work[key];
    for (auto& [nonce, e] : qit->second.by_nonce) {
      before.emplace(e.id, std::make_pair(key, nonce));
      // A pooled transaction keeps its place unless a returned one already holds the nonce.
      slot.emplace(nonce, std::make_pair(e.tx, e.id));
    }
    erase_tail_key(key, qit->second);
    for (auto& [nonce, e] : qit->second.by_nonce) by_id_.erase(e.id);
    queues_.erase(qit);
  }
  for (auto& [sender, txs] : work) {
    if (!rebuild.count(sender)) {
      // A returned transaction's sender whose state did not change but who has a queue:
      // merge it in as well.
      auto qit = queues_.find(sender);
      if (qit != queues_.end()) {
        for (auto& [nonce, e] : qit->second.by_nonce) {
          before.emplace(e.id, std::make_pair(sender, nonce));
          txs.emplace(nonce, std::make_pair(e.tx, e.id));
        }
        erase_tail_key(sender, qit->second);
        for (auto& [nonce, e] : qit->second.by_nonce) by_id_.erase(e.id);
        queues_.erase(qit);
      }
    }
    for (auto& [nonce, pair] : txs) (void)add(pair.first, pair.second, state);
  }
  for (const auto& [id, at] : before)
    if (!by_id_.count(id)) dropped.push_back({id, at.first, at.second});
  return dropped;
}

std::vector<Removed> Mempool::remove(const TxId& id) {
  std::vector<Removed> removed;
  auto bit = by_id_.find(id);
  if (bit == by_id_.end()) return removed;
  reshaped();
  AccountKey sender = bit->second.first;
  uint64_t nonce = bit->second.second;
  auto qit = queues_.find(sender);
  Queue& q = qit->second;
  // From the highest nonce down, so each removal leaves the tail key right.
  while (!q.by_nonce.empty() && q.by_nonce.rbegin()->first >= nonce) {
    auto last = std::prev(q.by_nonce.end());
    removed.push_back({last->second.id, sender, last->first});
    remove_from(sender, q, last);
  }
  if (q.by_nonce.empty()) queues_.erase(qit);
  return removed;
}

std::vector<const MempoolEntry*> Mempool::select(size_t max_txs, uint64_t below_sequence) const {
  std::vector<const MempoolEntry*> out;
  struct Head {
    const MempoolEntry* e;
    std::map<uint64_t, MempoolEntry>::const_iterator it, end;
    bool operator<(const Head& o) const {  // max-heap: highest fee, then earliest arrival
      if (e->tx.fee != o.e->tx.fee) return e->tx.fee < o.e->tx.fee;
      return e->sequence > o.e->sequence;
    }
  };
  std::priority_queue<Head> heap;
  for (const auto& [sender, q] : queues_) {
    auto it = q.by_nonce.begin();
    if (it != q.by_nonce.end() && it->second.sequence < below_sequence) heap.push(Head{&it->second, it, q.by_nonce.end()});
  }
  while (!heap.empty() && out.size() < max_txs) {
    Head h = heap.top();
    heap.pop();
    out.push_back(h.e);
    if (++h.it != h.end && h.it->second.sequence < below_sequence) heap.push(Head{&h.it->second, h.it, h.end});
  }
  return out;
}

const MempoolEntry* Mempool::get(const TxId& id) const {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return nullptr;
  return &queues_.at(it->second.first).by_nonce.at(it->second.second);
}

const MempoolEntry* Mempool::at(const AccountKey& sender, uint64_t nonce) const {
  auto qit = queues_.find(sender);
  if (qit == queues_.end()) return nullptr;
  auto it = qit->second.by_nonce.find(nonce);
  return it == qit->second.by_nonce.end() ? nullptr : &it->second;
}

std::pair<size_t, Amount> Mempool::pending(const AccountKey& sender) const {
  auto it = queues_.find(sender);
  if (it == queues_.end()) return {0, 0};
  return {it->second.by_nonce.size(), it->second.total_cost};
}

std::vector<TxId> Mempool::ids() const {
  std::vector<TxId> out;
  out.reserve(by_id_.size());
  for (const auto& [sender, q] : queues_)
    for (const auto& [nonce, e] : q.by_nonce) out.push_back(e.id);
  return out;
}

void Mempool::visit_short_ids(const std::function<uint64_t(const TxId&)>& short_id,
                              const std::function<void(const MempoolEntry&, uint64_t)>& take) const {
  // Walks the queues, whose entries carry their ids: looking each id's entry up again (sender
  // in queues_, then nonce) cost more than the SipHash, ~10 ms per block of 4,000 under load.
  for (const auto& [sender, q] : queues_)
    for (const auto& [nonce, e] : q.by_nonce) take(e, short_id(e.id));
}

}  // namespace peerchain::chain
