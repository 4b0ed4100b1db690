#include "chain/mempool.h"

#include <algorithm>
#include <queue>

#include "crypto/random.h"

namespace peerchain::chain {

using consensus::reject;
using consensus::RejectCode;

namespace {
constexpr size_t kMinIdSlots = 1 << 10;
}

Mempool::Mempool(MempoolOptions opts) : opts_(opts), by_id_(crypto::random_u64(), kMinIdSlots) {}

void Mempool::erase_tail_key(const AccountKey& sender, const Queue& q) {
  if (q.entries.empty()) return;
  const auto& e = q.entries.back();
  tails_.erase(TailKey{e.tx.fee, ~e.sequence, sender});
}

void Mempool::insert_tail_key(const AccountKey& sender, const Queue& q) {
  if (q.entries.empty()) return;
  const auto& e = q.entries.back();
  tails_.insert(TailKey{e.tx.fee, ~e.sequence, sender});
}

void Mempool::pop_last(const AccountKey& sender, Queue& q) {
  erase_tail_key(sender, q);
  const auto& e = q.entries.back();
  q.total_cost -= e.tx.amount + e.tx.fee;
  unindex(&e);
  q.entries.pop_back();
  insert_tail_key(sender, q);
}

bool Mempool::evict_one(Amount than_fee, const AccountKey& protect, std::vector<Removed>& evicted) {
  for (auto it = tails_.begin(); it != tails_.end(); ++it) {
    if (it->fee >= than_fee) return false;
    if (it->sender == protect) continue;
    AccountKey sender = it->sender;
    auto qit = queues_.find(sender);
    const auto& last = qit->second.entries.back();
    evicted.push_back({last.id, sender, last.tx.nonce});
    pop_last(sender, qit->second);
    if (qit->second.entries.empty()) queues_.erase(qit);
    return true;
  }
  return false;
}

Checked<std::vector<Removed>> Mempool::add(const Transaction& tx, const TxId& id, const AccountLookup& state) {
  if (find_id(id)) return reject(RejectCode::kDuplicate, "already in the mempool");
  if (tx.fee < opts_.min_fee)
    return reject(RejectCode::kFeeTooLow, "fee " + std::to_string(tx.fee) + " below minimum " +
                                              std::to_string(opts_.min_fee));
  Account acc = state(tx.sender);
  auto qit = queues_.find(tx.sender);
  size_t pending = qit == queues_.end() ? 0 : qit->second.entries.size();
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
    // Replacement of a pooled transaction (the queue starts at the account's nonce).
    Queue& q = qit->second;
    const size_t at = tx.nonce - acc.nonce;
    MempoolEntry& old = q.entries[at];
    Amount old_fee = old.tx.fee;
    Amount bump = std::max<Amount>(1, old_fee / 100 * opts_.replace_bump_percent);
    if (tx.fee < old_fee + bump)
      return reject(RejectCode::kReplacementFeeTooLow,
                    "replacing needs fee >= " + std::to_string(old_fee + bump));
    Amount before = 0;
    for (size_t i = 0; i < at; ++i) before += q.entries[i].tx.amount + q.entries[i].tx.fee;
    if (before + cost > acc.balance)
      return reject(RejectCode::kInsufficientFunds, "balance " + std::to_string(acc.balance) +
                                                        " does not cover pending + this transaction");
    erase_tail_key(tx.sender, q);
    removed.push_back({old.id, tx.sender, tx.nonce});
    unindex(&old);
    q.total_cost -= old.tx.amount + old.tx.fee;
    old = MempoolEntry{tx, id, next_sequence_++};
    q.total_cost += cost;
    index(&old);
    // Later transactions that no longer fit the balance go (the replacement itself fits).
    Amount running = before + cost;
    size_t keep = at + 1;
    for (; keep < q.entries.size(); ++keep) {
      running += q.entries[keep].tx.amount + q.entries[keep].tx.fee;
      if (running > acc.balance) break;
    }
    for (size_t i = keep; i < q.entries.size(); ++i) removed.push_back({q.entries[i].id, tx.sender, q.entries[i].tx.nonce});
    while (q.entries.size() > keep) {
      const auto& last = q.entries.back();
      q.total_cost -= last.tx.amount + last.tx.fee;
      unindex(&last);
      q.entries.pop_back();
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
  // The sender's queue, found above unless this is its first pooled transaction (an eviction
  // never takes the newcomer's sender's entries, so `qit` is still valid).
  Queue& q = qit != queues_.end() ? qit->second : queues_.try_emplace(tx.sender).first->second;
  erase_tail_key(tx.sender, q);
  q.entries.push_back(MempoolEntry{tx, id, next_sequence_++});
  q.total_cost += cost;
  index(&q.entries.back());
  insert_tail_key(tx.sender, q);
  if (!removed.empty() || appended_.size() >= opts_.max_count) reshaped();
  else appended_.push_back(id);
  return removed;
}

std::vector<Removed> Mempool::update_accounts(const std::set<AccountKey>& accounts,
                                              const std::vector<Transaction>& returned,
                                              const AccountLookup& state) {
  std::vector<Removed> dropped;
  update_accounts(accounts, returned, state, dropped);
  return dropped;
}

void Mempool::update_accounts(const std::set<AccountKey>& accounts, const std::vector<Transaction>& returned,
                              const AccountLookup& state, std::vector<Removed>& dropped) {
  reshaped();
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
    const uint64_t first = q.first_nonce();
    const size_t confirmed = acc.nonce <= first ? 0 : std::min<uint64_t>(acc.nonce - first, q.entries.size());
    if (confirmed == q.entries.size()) {  // the last one is also the tail
      erase_tail_key(key, q);
      for (const auto& e : q.entries) {
        dropped.push_back({e.id, key, e.tx.nonce});
        unindex(&e);
      }
      queues_.erase(qit);
      continue;
    }
    for (size_t i = 0; i < confirmed; ++i) {
      const auto& e = q.entries[i];
      q.total_cost -= e.tx.amount + e.tx.fee;
      dropped.push_back({e.id, key, e.tx.nonce});
      unindex(&e);
    }
    q.entries.erase(q.entries.begin(), q.entries.begin() + static_cast<std::ptrdiff_t>(confirmed));
    if (q.first_nonce() != acc.nonce || q.total_cost > acc.balance) rebuild.insert(key);
  }
  // Gather, per sender to rebuild, its pooled and returned transactions.
  std::map<AccountKey, std::map<uint64_t, std::pair<Transaction, TxId>>> work;
  std::map<TxId, std::pair<AccountKey, uint64_t>> before;  // rebuilt: id -> sender, nonce
  for (const auto& tx : returned) {
    auto& slot = work[tx.sender];
    slot.emplace(tx.nonce, std::make_pair(tx, tx.id()));  // first (oldest block) wins
  }
  // Takes a sender's queue out of the pool into its work, a returned transaction keeping its
  // nonce's place.
  auto take_queue = [&](const AccountKey& key, std::map<uint64_t, std::pair<Transaction, TxId>>& txs) {
    auto qit = queues_.find(key);
    if (qit == queues_.end()) return;
    erase_tail_key(key, qit->second);
    for (const auto& e : qit->second.entries) {
      before.emplace(e.id, std::make_pair(key, e.tx.nonce));
      txs.emplace(e.tx.nonce, std::make_pair(e.tx, e.id));
      unindex(&e);
    }
    queues_.erase(qit);
  };
  for (const auto& key : rebuild) take_queue(key, work[key]);
  for (auto& [sender, txs] : work) {
    // A returned transaction's sender whose state did not change but who has a queue: merged
    // in as well.
    if (!rebuild.count(sender)) take_queue(sender, txs);
    for (auto& [nonce, pair] : txs) (void)add(pair.first, pair.second, state);
  }
  for (const auto& [id, at] : before)
    if (!find_id(id)) dropped.push_back({id, at.first, at.second});
}

std::vector<Removed> Mempool::remove(const TxId& id) {
  std::vector<Removed> removed;
  const MempoolEntry* e = find_id(id);
  if (!e) return removed;
  reshaped();
  const AccountKey sender = e->tx.sender;
  const uint64_t nonce = e->tx.nonce;
  auto qit = queues_.find(sender);
  Queue& q = qit->second;
  // From the highest nonce down, so each removal leaves the tail key right.
  while (!q.entries.empty() && q.entries.back().tx.nonce >= nonce) {
    removed.push_back({q.entries.back().id, sender, q.entries.back().tx.nonce});
    pop_last(sender, q);
  }
  if (q.entries.empty()) queues_.erase(qit);
  return removed;
}

std::vector<const MempoolEntry*> Mempool::select(size_t max_txs, uint64_t below_sequence) const {
  std::vector<const MempoolEntry*> out;
  using It = std::deque<MempoolEntry>::const_iterator;
  struct Head {
    It it, end;
    bool operator<(const Head& o) const {  // max-heap: highest fee, then earliest arrival
      if (it->tx.fee != o.it->tx.fee) return it->tx.fee < o.it->tx.fee;
      return it->sequence > o.it->sequence;
    }
  };
  std::priority_queue<Head> heap;
  for (const auto& [sender, q] : queues_) {
    auto it = q.entries.begin();
    if (it != q.entries.end() && it->sequence < below_sequence) heap.push(Head{it, q.entries.end()});
  }
  while (!heap.empty() && out.size() < max_txs) {
    Head h = heap.top();
    heap.pop();
    out.push_back(&*h.it);
    if (++h.it != h.end && h.it->sequence < below_sequence) heap.push(h);
  }
  return out;
}

const MempoolEntry* Mempool::get(const TxId& id) const { return find_id(id); }

const MempoolEntry* Mempool::at(const AccountKey& sender, uint64_t nonce) const {
  auto qit = queues_.find(sender);
  return qit == queues_.end() ? nullptr : qit->second.find(nonce);
}

std::pair<size_t, Amount> Mempool::pending(const AccountKey& sender) const {
  auto it = queues_.find(sender);
  if (it == queues_.end()) return {0, 0};
  return {it->second.entries.size(), it->second.total_cost};
}

std::vector<TxId> Mempool::ids() const {
  std::vector<TxId> out;
  out.reserve(by_id_.size());
  for (const auto& [sender, q] : queues_)
    for (const auto& e : q.entries) out.push_back(e.id);
  return out;
}

void Mempool::visit_short_ids(const std::function<uint64_t(const TxId&)>& short_id,
                              const std::function<void(const MempoolEntry&, uint64_t)>& take) const {
  // Walks the queues, whose entries carry their ids: looking each id's entry up again (sender
  // in queues_, then nonce) cost more than the SipHash, ~10 ms per block of 4,000 under load.
  for (const auto& [sender, q] : queues_)
    for (const auto& e : q.entries) take(e, short_id(e.id));
}

}  // namespace peerchain::chain
