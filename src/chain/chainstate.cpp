#include "chain/chainstate.h"

#include <algorithm>
#include <chrono>
#include <tuple>
#include <utility>

#include "chain/parallel_verify.h"
#include "chain/planted.h"
#include "consensus/pow.h"
#include "crypto/random.h"
#include "util/log.h"

namespace peerchain::chain {

using consensus::reject;
using consensus::RejectCode;
using primitives::Account;
using primitives::AccountKey;
using primitives::TxId;
using storage::Column;

namespace {

util::ByteSpan key_of(std::string_view s) { return util::as_bytes(s); }

}  // namespace

std::string_view storage_state_token(StorageState s) {
  switch (s) {
    case StorageState::kOk: return "ok";
    case StorageState::kDiskFull: return "disk-full";
    case StorageState::kWriteFailing: return "write-failing";
    case StorageState::kCorrupt: return "corrupt";
  }
  return "unknown";
}

LocalError ChainState::note_fault(const util::Error& e, bool on_read) const {
  // A read that fails is corruption or a dying disk: either way the state can no longer be
  // trusted. A write that fails for space is expected to heal; another failed write may.
  StorageState s = on_read || e.code == storage::kErrCorrupt ? StorageState::kCorrupt
                   : e.code == storage::kErrNoSpace       ? StorageState::kDiskFull
                                                          : StorageState::kWriteFailing;
  std::lock_guard lock(fault_mu_);
  if (s > fault_.state) {
    fault_ = {s, e.to_string()};
    fault_state_.store(static_cast<uint8_t>(s), std::memory_order_release);
    switch (s) {
      case StorageState::kDiskFull:
      case StorageState::kWriteFailing:
        util::log().error("storage {}: {}; block and transfer intake paused (reads still served) until writes "
                          "succeed again", storage_state_token(s), e.to_string());
        break;
      case StorageState::kCorrupt:
        util::log().error("storage corrupt: {}; the node must stop: run `peerchain-ledger --datadir HOME verify` "
                          "to see the damage and `peerchain-ledger --datadir HOME reindex` to rebuild the state "
                          "from the stored blocks", e.to_string());
        break;
      case StorageState::kOk: break;
    }
  }
  return LocalError{s, e.to_string()};
}

StorageStatus ChainState::storage_status() const {
  if (fault_state_.load(std::memory_order_acquire) == 0) return {};
  std::lock_guard lock(fault_mu_);
  return fault_;
}

bool ChainState::CandidateOrder::operator()(const BlockIndexEntry* a, const BlockIndexEntry* b) const {
  // Best first: more work, then earlier arrival; the pointer breaks exact ties of distinct entries.
  if (a->chain_work != b->chain_work) return a->chain_work > b->chain_work;
  if (a->sequence != b->sequence) return a->sequence < b->sequence;
  return a < b;
}

ChainState::ChainState(const consensus::Params& params, std::unique_ptr<storage::Database> db,
                       const util::Clock& clock, ChainOptions opts)
    : params_(params),
      engine_(consensus::make_pow_engine(params_)),
      db_(std::move(db)),
      clock_(clock),
      opts_(opts),
      sig_cache_(opts.sig_cache_entries),
      account_cache_(opts.account_cache_entries, crypto::random_u64()),
      mempool_(opts.mempool),
      pending_index_(crypto::random_u64()) {
  template_cache_.next_nonce = decltype(template_cache_.next_nonce)(16, util::SaltedHasher{crypto::random_u64()});
}

ChainState::~ChainState() = default;

util::Result<std::unique_ptr<ChainState>> ChainState::open(const consensus::Params& params,
                                                           std::unique_ptr<storage::Database> db,
                                                           const util::Clock& clock, ChainOptions opts) {
  std::unique_ptr<ChainState> cs(new ChainState(params, std::move(db), clock, opts));
  if (auto st = cs->load(); !st) return util::unexpected(st.error());
  return cs;
}

void ChainState::set_events(ChainEvents events) {
  std::lock_guard lock(mu_);
  events_ = std::move(events);
}

BlockIndexEntry* ChainState::add_entry(const BlockHeader& h, const BlockId& id, uint8_t status, uint64_t seq) {
  auto e = std::make_unique<BlockIndexEntry>();
  e->header = h;
  e->id = id;
  e->status = status;
  e->sequence = seq;
  auto pit = index_.find(h.prev_id);
  if (h.height > 0 && pit != index_.end()) e->parent = pit->second.get();
  e->chain_work = engine_->block_work(h);
  if (e->parent) e->chain_work.add(e->parent->chain_work);
  auto* raw = e.get();
  index_[id] = std::move(e);
  by_height_.insert(raw);
  leaves_.insert(raw);
  if (raw->parent) leaves_.erase(raw->parent);
  note_header(raw);
  return raw;
}

void ChainState::note_header(BlockIndexEntry* e) {
  if (e->failed()) return;
  if (!best_header_ || e->chain_work > best_header_->chain_work) best_header_ = e;
}

util::Status ChainState::init_genesis() {
  storage::WriteBatch batch;
  const auto& g = params_.genesis;
  batch.put(Column::kBlocks, params_.genesis_id.span(), primitives::encode_block(g));
  batch.put(Column::kBlockIndex, params_.genesis_id.span(),
            storage::encode_index_record({g.header, storage::kStatusHaveData, 0}));
  for (const auto& a : params_.allocations) {
    Account acc{a.amount, 0};
    batch.put(Column::kAccounts, a.key.span(), primitives::encode_account(acc));
  }
  batch.put(Column::kMeta, key_of(storage::kMetaSchema), storage::encode_schema_version(storage::kSchemaVersion));
  batch.put(Column::kMeta, key_of(storage::kMetaGenesis), params_.genesis_id.span());
  batch.put(Column::kMeta, key_of(storage::kMetaTip), params_.genesis_id.span());
  batch.put(Column::kMeta, key_of(storage::kMetaIndexedTip), params_.genesis_id.span());
  return db_->write(batch, true);
}

util::Status ChainState::load() {
  std::lock_guard lock(mu_);
  auto genesis = db_->get(Column::kMeta, key_of(storage::kMetaGenesis));
  if (!genesis) return util::unexpected(genesis.error());
  if (!*genesis) {
    if (auto st = init_genesis(); !st) return st;
  } else {
    if (**genesis != util::Bytes(params_.genesis_id.begin(), params_.genesis_id.end()))
      return util::fail("wrong-network", "the database holds a chain with genesis " +
                                             util::to_hex(**genesis) + ", not the " + params_.network +
                                             " network's " + params_.genesis_id.hex());
    auto schema = db_->get(Column::kMeta, key_of(storage::kMetaSchema));
    if (!schema) return util::unexpected(schema.error());
    if (*schema && **schema == storage::encode_schema_version(storage::kSchemaJournalByTxid)) {
      if (auto st = upgrade_journal_keys(); !st) return st;
    } else if (!*schema || **schema != storage::encode_schema_version(storage::kSchemaVersion)) {
      return util::fail("corrupt", "unsupported or missing database schema version");
    }
  }

  // Load the block index; entries are linked and their work summed in height order.
  std::vector<std::pair<BlockId, storage::BlockIndexRecord>> records;
  std::string bad;
  auto st = db_->for_each(Column::kBlockIndex, [&](util::ByteSpan k, util::ByteSpan v) {
    auto rec = storage::decode_index_record(v);
    if (k.size() != 32 || !rec) {
      bad = util::to_hex(k);
      return false;
    }
    records.emplace_back(BlockId::from_span(k), *rec);
    return true;
  });
  if (!st) return st;
  if (!bad.empty()) return util::fail("corrupt", "unreadable block index record " + bad);
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
    return a.second.header.height < b.second.header.height;
  });
  for (const auto& [id, rec] : records) {
    if (rec.header.id() != id) return util::fail("corrupt", "block index record " + id.hex() + " does not match its key");
    if (rec.header.height > 0 && !index_.count(rec.header.prev_id)) {
      util::log().warn("block index: {} has no parent in the index; ignored", id.hex());
      continue;
    }
    auto* e = add_entry(rec.header, id, rec.status, rec.sequence);
    next_sequence_ = std::max(next_sequence_, rec.sequence + 1);
    if (e->parent && e->parent->failed()) e->status |= storage::kStatusFailed;
  }
  auto git = index_.find(params_.genesis_id);
  if (git == index_.end()) return util::fail("corrupt", "genesis block missing from the index");
  best_header_ = nullptr;  // failure marks were inherited after insertion: recompute
  for (auto& [id, e] : index_) note_header(e.get());

  auto tip = db_->get(Column::kMeta, key_of(storage::kMetaTip));
  if (!tip) return util::unexpected(tip.error());
  if (!*tip || (*tip)->size() != 32) return util::fail("corrupt", "tip record missing");
  auto tit = index_.find(BlockId::from_span(**tip));
  if (tit == index_.end()) return util::fail("corrupt", "tip block missing from the index");
  std::vector<BlockIndexEntry*> chain;
  for (auto* e = tit->second.get(); e; e = e->parent) chain.push_back(e);
  if (chain.back() != git->second.get()) return util::fail("corrupt", "tip does not descend from genesis");
  active_.assign(chain.rbegin(), chain.rend());

  // Completeness and candidates (blocks stored but not yet connected when the node stopped).
  std::vector<BlockIndexEntry*> by_height;
  for (auto& [id, e] : index_) by_height.push_back(e.get());
  std::sort(by_height.begin(), by_height.end(), [](auto* a, auto* b) { return a->height() < b->height(); });
  for (auto* e : by_height) {
    if (!e->have_data()) continue;
    if (!e->parent || e->parent->chain_complete) {
      e->chain_complete = true;
      if (!e->failed()) candidates_.insert(e);
    } else {
      unlinked_.emplace(e->header.prev_id, e);
    }
  }
  if (auto s = catch_up_tx_index(); !s) {
    if (opts_.activate_on_open) return s;
    // verify reports the records missing; reindex rebuilds them.
    util::log().warn("tx index not caught up with the tip: {}", s.error().to_string());
  }
  ProcessResult result;
  std::vector<Block> disconnected;
  std::set<AccountKey> touched;
  if (opts_.activate_on_open) {
    if (auto s = activate_best_chain(result, disconnected, touched); !s) return s;
    flush_deferred_writes();
  }
  if (std::exchange(sync_due_, false))  // opening: nobody else waits on the lock yet
    if (auto s = db_->sync(); !s) return s;
  if (!disconnected.empty()) {
    // A reorg while opening (a better stored branch than the stored tip): the disconnected
    // blocks' transfers go back to the mempool journal, which replay_mempool_journal() re-admits
    // (those still valid). Their records were erased when the blocks were connected; dropping
    // them here lost acknowledged transfers (found by the simulator, ADR 0013).
    storage::WriteBatch journal;
    for (const auto& b : disconnected)
      for (const auto& tx : b.txs)
        journal.put(Column::kMempool, storage::journal_key(tx.sender, tx.nonce, tx.id()), primitives::encode_transaction(tx));
    if (!journal.empty())
      if (auto w = db_->write(journal, true); !w) {
        note_fault(w.error(), false);
        return w;
      }
    util::log().info("reorg while opening: {} blocks disconnected, their transactions back in the mempool journal",
                     disconnected.size());
  }
  publish_tip_hint();
  util::log().info("chain loaded: network={} height={} tip={} blocks_indexed={}", params_.network,
                   tip_entry()->height(), tip_entry()->id.hex(), index_.size());
  return {};
}

void ChainState::publish_tip_hint() {
  const BlockIndexEntry* tip = tip_entry();
  TipHint h{tip->id, tip->height(), engine_->next_bits(parent_context(tip)), tip->header.time_ms};
  std::lock_guard lock(hint_mu_);
  tip_hint_ = h;
}

bool ChainState::extends_tip(const BlockHeader& h) const {
  TipHint tip, pending;
  {
    std::lock_guard lock(hint_mu_);
    tip = tip_hint_;
    pending = pending_hint_;
  }
  auto child_of = [&](const TipHint& p) {
    return p.next_bits != 0 && h.prev_id == p.id && h.height == p.height + 1 && h.bits == p.next_bits;
  };
  const TipHint* parent = child_of(tip) ? &tip : child_of(pending) ? &pending : nullptr;
  if (parent == nullptr || !engine_->check_seal(h)) return false;
  // What h's own child must carry, from h and its parent's time alone (the target rule reads no
  // further back).
  consensus::ParentContext ctx;
  ctx.parent = h;
  ctx.grandparent_time_ms = parent->time_ms;
  TipHint next{h.id(), h.height, engine_->next_bits(ctx), h.time_ms};
  std::lock_guard lock(hint_mu_);
  pending_hint_ = next;
  return true;
}

consensus::ParentContext ChainState::parent_context(const BlockIndexEntry* parent) const {
  consensus::ParentContext ctx;
  ctx.parent = parent->header;
  if (parent->parent) ctx.grandparent_time_ms = parent->parent->header.time_ms;
  std::vector<uint64_t> times;
  const BlockIndexEntry* e = parent;
  for (int i = 0; i < params_.median_time_span && e; ++i, e = e->parent) times.push_back(e->header.time_ms);
  std::sort(times.begin(), times.end());
  ctx.median_time_past_ms = times[times.size() / 2];
  return ctx;
}

Account ChainState::load_account(const AccountKey& key) const {
  // An unreadable record is never an empty account: that would make valid blocks look invalid.
  // The lookup's callers cannot return an error, so the failure is parked in read_fault_ and
  // checked by them (connect_tip, admit_transactions) before they trust the answer.
  auto fault = [&](util::Error e) {
    note_fault(e, true);
    if (!read_fault_) read_fault_ = std::move(e);
    return Account{};
  };
  if (auto cached = account_cache_.get(key)) return *cached;
  auto v = db_->get(Column::kAccounts, key.span());
  if (!v) return fault(v.error());
  Account a;  // absent == empty, by the schema
  if (*v) {
    auto decoded = primitives::decode_account(**v);
    if (!decoded)
      return fault({std::string(storage::kErrCorrupt), "account record " + key.hex() + ": " + decoded.error().to_string()});
    a = *decoded;
  }
  account_cache_.put(key, a);
  return a;
}

util::Result<std::optional<Block>> ChainState::read_block(const BlockId& id) const {
  auto v = db_->get(Column::kBlocks, id.span());
  if (!v) {
    note_fault(v.error(), true);
    return util::unexpected(v.error());
  }
  if (!*v) return std::optional<Block>();
  auto b = primitives::decode_block(**v);
  util::Error bad{std::string(storage::kErrCorrupt), ""};
  if (!b) bad.message = "stored block " + id.hex() + ": " + b.error().to_string();
  else if (b->id() != id) bad.message = "stored block " + id.hex() + " has the header of " + b->id().hex();
  if (!bad.message.empty()) {
    note_fault(bad, true);
    return util::unexpected(bad);
  }
  return std::optional<Block>(std::move(*b));
}

util::Status ChainState::connect_tip(BlockIndexEntry* e, const Block& b, const std::vector<TxId>* ids_in,
                                     std::set<AccountKey>& touched, consensus::Rejection* why, bool sync) {
  read_fault_.reset();
  const int64_t started_ns = clock_.steady_ns();
  auto eff = consensus::apply_block(params_, b, [this](const AccountKey& k) { return load_account(k); });
  // A state that could not be read decides nothing: neither valid nor invalid.
  if (read_fault_) return util::unexpected(*read_fault_);
  if (!eff) {
    *why = eff.error();
    return util::fail("rejected", eff.error().to_string());
  }
  std::vector<TxId> local_ids;
  if (!ids_in) {
    local_ids = primitives::transaction_ids(b.txs);
    ids_in = &local_ids;
  }
  storage::WriteBatch batch;
  storage::UndoRecord undo;
  for (const auto& [key, before] : eff->before) {
    undo.accounts.push_back({key, before.is_empty() ? std::nullopt : std::optional<Account>(before)});
  }
  for (const auto& [key, after] : eff->after) {
    if (after.is_empty()) batch.erase(Column::kAccounts, key.span());
    else batch.put(Column::kAccounts, key.span(), primitives::encode_account(after));
    touched.insert(key);
  }
  batch.put(Column::kUndo, e->id.span(), storage::encode_undo(undo));
  // Confirmed: out of the journal, in the same atomic batch. A sender's pooled transfers hold
  // consecutive nonces from its confirmed one, so those the block confirmed or conflicts with
  // are [its nonce before, min(after, before + pending)): a long run goes in one range, a short
  // one key by key. Range tombstones are kept in memory by every table file that holds them
  // until compaction drops them (ADR 0018: one per sender per block took the long run's peak
  // RSS from ~210 to ~270 MB), so only runs of kJournalRangeMin or more use one.
  std::vector<std::tuple<AccountKey, uint64_t, uint64_t>> erased;
  storage::WriteBatch erasures;  // written after the tip is announced (flush_deferred_writes)
  for (const auto& [key, before] : eff->before) {
    auto after = eff->after.find(key);
    const uint64_t to = after == eff->after.end() ? before.nonce : after->second.nonce;
    const size_t pending = to > before.nonce ? mempool_.pending(key).first : 0;
    const uint64_t end = std::min<uint64_t>(to, before.nonce + pending);
    if (end <= before.nonce) continue;
    if (end - before.nonce >= kJournalRangeMin) {
      erasures.erase_range(Column::kMempool, storage::journal_bound(key, before.nonce), storage::journal_bound(key, end));
    } else {
      for (uint64_t n = before.nonce; n < end; ++n)
        if (const auto* pooled = mempool_.at(key, n)) erasures.erase(Column::kMempool, storage::journal_key(key, n, pooled->id));
    }
    erased.emplace_back(key, before.nonce, end);
  }
  batch.put(Column::kMeta, key_of(storage::kMetaTip), e->id.span());
  const int64_t write_ns = clock_.steady_ns();
  // Written unsynced; the fsync a durable connect needs comes after the chain lock is released
  // and the new tip announced (sync_due_, ADR 0024), so neither waits for the disk.
  auto written = db_->write(batch, false);
  if (written && sync) sync_due_ = true;
  if (b.txs.size() >= 256)
    util::log().debug("connect {} height {}: state {} ms, write {} ms{}", e->id.hex(), e->height(),
                      (write_ns - started_ns) / 1'000'000, (clock_.steady_ns() - write_ns) / 1'000'000,
                      sync ? " (to be synced)" : "");
  if (auto st = written; !st) {
    account_cache_.clear();  // what the database holds is its business now: read it again
    note_fault(st.error(), false);
    return st;
  }
  for (const auto& [key, after] : eff->after) account_cache_.put(key, after);
  for (const auto& [key, from, to] : erased) journal_erased_[key].emplace_back(from, to);
  {
    // The tx index follows (flush_deferred_writes); lookups see these records meanwhile.
    std::lock_guard pending(deferred_mu_);
    if (!erasures.empty()) pending_erasures_.append(std::move(erasures));
    pending_index_.add(e->id, *ids_in);
  }
  active_.push_back(e);
  publish_tip_hint();
  return {};
}

util::Status ChainState::disconnect_tip(std::vector<Block>& disconnected, std::set<AccountKey>& touched) {
  // The erasures of earlier connects land before anything this disconnect lets be journaled
  // again (a transfer it returns to the mempool, a nonce it makes valid again), those another
  // thread is writing included: ADR 0024.
  flush_deferred_writes(/*barrier=*/true);
  BlockIndexEntry* e = tip_entry();
  if (!e->parent) return util::fail("internal", "cannot disconnect genesis");
  {
    // The barrier's write failed (noted): the block's index records are not on disk to erase.
    std::lock_guard pending(deferred_mu_);
    if (!pending_index_.empty()) return util::fail(std::string(storage::kErrIo), "tx index records not yet written");
  }
  auto corrupt = [this](std::string what) {
    util::Error err{std::string(storage::kErrCorrupt), std::move(what)};
    note_fault(err, true);
    return util::unexpected(err);
  };
  auto block = read_block(e->id);
  if (!block) return util::unexpected(block.error());
  if (!*block) return corrupt("block " + e->id.hex() + " missing while disconnecting");
  auto raw_undo = db_->get(Column::kUndo, e->id.span());
  if (!raw_undo) {
    note_fault(raw_undo.error(), true);
    return util::unexpected(raw_undo.error());
  }
  if (!*raw_undo) return corrupt("undo data of " + e->id.hex() + " missing");
  auto undo = storage::decode_undo(**raw_undo);
  if (!undo) return corrupt("undo data of " + e->id.hex() + ": " + undo.error().to_string());
  storage::WriteBatch batch;
  std::vector<std::pair<AccountKey, Account>> restored;
  for (const auto& a : undo->accounts) {
    if (planted::on(1) && &a == &undo->accounts.front()) continue;
    if (a.prior) batch.put(Column::kAccounts, a.key.span(), primitives::encode_account(*a.prior));
    else batch.erase(Column::kAccounts, a.key.span());
    restored.emplace_back(a.key, a.prior.value_or(Account{}));
    touched.insert(a.key);
  }
  batch.erase(Column::kUndo, e->id.span());
  for (const auto& tx : (*block)->txs) batch.erase(Column::kTxIndex, tx.id().span());
  batch.put(Column::kMeta, key_of(storage::kMetaTip), e->parent->id.span());
  batch.put(Column::kMeta, key_of(storage::kMetaIndexedTip), e->parent->id.span());
  if (auto st = db_->write(batch, true); !st) {
    account_cache_.clear();
    note_fault(st.error(), false);
    return st;
  }
  for (const auto& [key, prior] : restored) account_cache_.put(key, prior);
  active_.pop_back();
  publish_tip_hint();
  candidates_.insert(e);  // still valid: may win again
  disconnected.push_back(std::move(**block));
  return {};
}

void ChainState::mark_failed(BlockIndexEntry* e) {
  e->status |= storage::kStatusFailed;
  if (best_header_) {
    const BlockIndexEntry* a = best_header_;
    while (a && a->height() > e->height()) a = a->parent;
    if (a == e) {
      // The best header descends from the invalid block: fall back to the best valid one.
      // Each entry's verdict (no failed ancestor) is remembered, so this is linear in the
      // index, not in index size x chain length (a peer can make us run it).
      best_header_ = nullptr;
      std::unordered_map<const BlockIndexEntry*, bool> clean;
      std::vector<const BlockIndexEntry*> walk;
      for (auto& [id, entry] : index_) {
        walk.clear();
        const BlockIndexEntry* x = entry.get();
        bool ok = true;
        for (; x; x = x->parent) {
          if (auto c = clean.find(x); c != clean.end()) {
            ok = c->second;
            break;
          }
          if (x->failed()) {
            ok = false;
            break;
          }
          walk.push_back(x);
        }
        for (auto* w : walk) clean.emplace(w, ok);
        if (ok) note_header(entry.get());
      }
    }
  }
  storage::WriteBatch batch;
  batch.put(Column::kBlockIndex, e->id.span(), storage::encode_index_record({e->header, e->status, e->sequence}));
  if (auto st = db_->write(batch, false); !st)
    util::log().error("persisting invalid status of {} failed: {}", e->id.hex(), st.error().to_string());
  for (auto it = candidates_.begin(); it != candidates_.end();) {
    const BlockIndexEntry* a = *it;
    while (a && a->height() > e->height()) a = a->parent;
    if (a == e) {
      const_cast<BlockIndexEntry*>(*it)->status |= storage::kStatusFailed;
      it = candidates_.erase(it);
    } else {
      ++it;
    }
  }
}

void ChainState::mark_complete_from(BlockIndexEntry* first) {
  std::vector<BlockIndexEntry*> todo{first};
  while (!todo.empty()) {
    BlockIndexEntry* e = todo.back();
    todo.pop_back();
    e->chain_complete = true;
    if (!e->failed()) candidates_.insert(e);
    auto range = unlinked_.equal_range(e->id);
    for (auto it = range.first; it != range.second; ++it) todo.push_back(it->second);
    unlinked_.erase(range.first, range.second);
  }
}

util::Status ChainState::activate_best_chain(ProcessResult& result, std::vector<Block>& disconnected,
                                             std::set<AccountKey>& touched, const Block* have, const BlockId& have_id,
                                             const std::vector<TxId>* have_ids) {
  journal_erased_.clear();
  for (;;) {
    if (candidates_.empty()) break;
    BlockIndexEntry* best = *candidates_.begin();
    BlockIndexEntry* tip = tip_entry();
    if (best == tip || !engine_->better_chain(best->chain_work, best->sequence, tip->chain_work, tip->sequence))
      break;
    // Fork point: walk both back to a common ancestor.
    const BlockIndexEntry* a = tip;
    const BlockIndexEntry* b = best;
    while (a->height() > b->height()) a = a->parent;
    while (b->height() > a->height()) b = b->parent;
    while (a != b) {
      a = a->parent;
      b = b->parent;
    }
    const BlockIndexEntry* fork = a;
    while (tip_entry() != fork) {
      if (auto st = disconnect_tip(disconnected, touched); !st) return st;
      result.disconnected++;
    }
    std::vector<BlockIndexEntry*> path;
    for (BlockIndexEntry* e = best; e != fork; e = e->parent) path.push_back(e);
    std::reverse(path.begin(), path.end());
    for (auto* e : path) {
      // The block just received is at hand; the others are read back from storage.
      std::optional<Block> stored;
      const Block* block = have && e->id == have_id ? have : nullptr;
      if (!block) {
        auto r = read_block(e->id);
        if (!r) return util::unexpected(r.error());
        if (!*r) {
          util::Error err{std::string(storage::kErrCorrupt), "stored block " + e->id.hex() + " missing"};
          note_fault(err, true);
          return util::unexpected(err);
        }
        stored = std::move(**r);
        block = &*stored;
      }
      consensus::Rejection why{RejectCode::kBadTx, {}};
      // While catching up (more blocks known to follow), connects are written without fsync:
      // a killed process loses nothing (the OS has the write-ahead log); a power cut rolls back
      // to an earlier consistent tip, whose successors are fetched again. The last is synced.
      bool more_coming = e != path.back() || (best_header_ && best_header_->height() > e->height());
      // At least once a second it is synced anyway (headers alone never keep it unsynced).
      const int64_t now = clock_.steady_ms();
      bool sync = !more_coming || now - last_sync_ms_ >= 1000;
      auto st = connect_tip(e, *block, block == have ? have_ids : nullptr, touched, &why, sync);
      if (sync) last_sync_ms_ = now;
      if (!st) {
        if (st.error().code != "rejected") return st;
        util::log().warn("block {} at height {} invalid: {}", e->id.hex(), e->height(), why.to_string());
        last_invalid_ = {e->id, why};
        mark_failed(e);
        break;
      }
      result.connected++;
    }
    result.tip_changed = true;
    // Candidates no better than the tip can never win: drop them (disconnected ones come back
    // through disconnect_tip if the tip ever moves back).
    tip = tip_entry();
    for (auto it = candidates_.begin(); it != candidates_.end();) {
      if (*it != tip && !engine_->better_chain((*it)->chain_work, (*it)->sequence, tip->chain_work, tip->sequence))
        it = candidates_.erase(it);
      else
        ++it;
    }
  }
  return {};
}

const std::vector<std::pair<uint64_t, uint64_t>>* ChainState::journal_erased(const AccountKey& sender) const {
  auto it = journal_erased_.find(sender);
  return it == journal_erased_.end() ? nullptr : &it->second;
}

void ChainState::after_tip_change(const ProcessResult& result, std::vector<Block>& disconnected,
                                  const std::set<AccountKey>& touched, std::vector<TxId>& readmitted,
                                  TipInfo& tip_after, ChainEvents& events) {
  std::vector<primitives::Transaction> returned;
  for (auto bit = disconnected.rbegin(); bit != disconnected.rend(); ++bit)
    for (const auto& tx : bit->txs) {
      sig_cache_.insert(tx.id());  // validated in a block already
      if (!planted::on(2)) returned.push_back(tx);
    }
  // Kept between blocks (its memory reused), bounded by the pool's size: given back when a
  // block dropped far fewer than the largest one did.
  auto& dropped = dropped_scratch_;
  if (dropped.capacity() > (64 << 10) && dropped.size() * 4 < dropped.capacity()) dropped = {};
  dropped.clear();
  mempool_.update_accounts(touched, returned, [this](const AccountKey& k) { return load_account(k); }, dropped);
  note_arrivals();  // what came back (or was re-queued) arrives anew
  // Transactions back from disconnected blocks are announced again, like new ones: peers
  // on the winning branch may never have seen them.
  storage::WriteBatch journal;
  for (const auto& tx : returned) {
    auto txid = tx.id();
    if (!mempool_.contains(txid)) continue;
    readmitted.push_back(txid);
    journal.put(Column::kMempool, storage::journal_key(tx.sender, tx.nonce, txid), primitives::encode_transaction(tx));
  }
  // The dropped transactions come a sender at a time (Mempool::update_accounts): a sender's
  // erased ranges are looked up once for its run.
  const AccountKey* sender = nullptr;
  const std::vector<std::pair<uint64_t, uint64_t>>* ranges = nullptr;
  for (const auto& d : dropped) {
    if (!sender || *sender != d.sender) {
      sender = &d.sender;
      ranges = journal_erased(d.sender);
    }
    const bool erased = ranges && std::any_of(ranges->begin(), ranges->end(), [&](const auto& range) {
                          return range.first <= d.nonce && d.nonce < range.second;
                        });
    if (!erased) journal.erase(Column::kMempool, storage::journal_key(d.sender, d.nonce, d.id));
  }
  journal_erased_.clear();
  // Synced when transfers came back: the disconnect that took them out of the chain is synced,
  // so a power cut after it must not lose them too (nothing re-reads a stale block on restart;
  // the simulator found acknowledged transfers lost this way, ADR 0013). Only drops: unsynced,
  // a stale record is refused by replay anyway.
  if (!journal.empty())
    if (auto st = db_->write(journal, !readmitted.empty()); !st) note_fault(st.error(), false);
  if (!readmitted.empty()) mempool_generation_.fetch_add(1, std::memory_order_acq_rel);
  tip_generation_.fetch_add(1, std::memory_order_acq_rel);
  tip_after = tip_info();
  events = events_;
  if (result.disconnected)
    util::log().info("reorg: disconnected {} connected {} new tip {} height {}", result.disconnected,
                     result.connected, tip_after.id.hex(), tip_after.height);
}

ChainResult<ProcessResult> ChainState::process_block(const Block& block) { return process_block(block, nullptr); }

ChainResult<ProcessResult> ChainState::process_block(const Block& block, const std::vector<TxId>* given_ids) {
  return process_block(block, given_ids, Durability::kBeforeReturn);
}

ChainResult<BlockIndexEntry*> ChainState::check_place(const Block& block, const BlockId& id) const {
  auto it = index_.find(id);
  if (it != index_.end() && it->second->have_data()) return reject(RejectCode::kDuplicateBlock);
  auto pit = index_.find(block.header.prev_id);
  if (pit == index_.end() || block.header.height == 0)
    return reject(RejectCode::kMissingParent, "parent " + block.header.prev_id.hex() + " unknown");
  BlockIndexEntry* parent = pit->second.get();
  if (parent->failed()) return reject(RejectCode::kInvalidParent, "parent is invalid");
  if (auto r = consensus::check_header_contextual(params_, block.header, parent_context(parent), clock_.now_ms()); !r)
    return util::unexpected(r.error());
  return parent;
}

util::Status ChainState::sync_pending() {
  flush_deferred_writes();
  {
    std::lock_guard lock(mu_);
    if (!std::exchange(sync_due_, false)) return {};
  }
  return sync_storage();
}

ChainResult<ProcessResult> ChainState::process_block(const Block& block, const std::vector<TxId>* given_ids,
                                                     Durability durability, bool root_matched) {
  const BlockId id = block.id();
  // A full, failing or corrupt store takes nothing new; the block is not judged.
  if (auto s = storage_status(); s.state != StorageState::kOk)
    return local_error(s.state, "block intake paused: " + s.message);
  {
    std::lock_guard lock(mu_);
    auto it = index_.find(id);
    if (it != index_.end() && it->second->have_data()) return reject(RejectCode::kDuplicateBlock);
    if (it != index_.end() && it->second->failed()) return reject(RejectCode::kInvalidParent, "block known invalid");
  }
  // Context-free checks, signatures included, without the lock. Signatures not already cached
  // are first verified on all cores (warming the cache); consensus then checks only the rest.
  // The ids are taken once here (after the proof of work and the count, which bound the work)
  // and serve the signature lookups, the block's checks and the tx index of its connect.
  const int64_t t0 = clock_.steady_ns();
  if (auto r = consensus::check_header_pow(params_, block.header); !r) return util::unexpected(r.error());
  if (block.txs.size() > params_.max_block_txs)
    return reject(RejectCode::kTooManyTxs, std::to_string(block.txs.size()) + " transactions");
  std::vector<TxId> taken;
  if (!given_ids || given_ids->size() != block.txs.size()) {
    taken = primitives::transaction_ids(block.txs);
    given_ids = &taken;
    root_matched = false;
  }
  const std::vector<TxId>& ids = *given_ids;
  if (block.txs.size() > 1) {
    const Block* b = &block;
    warm_signatures(std::span(&b, 1), std::span(&given_ids, 1));
  }
  if (auto r = consensus::check_block_with_ids(
          params_, block, ids, [this](const TxId& t) { return sig_cache_.contains(t); }, root_matched);
      !r)
    return util::unexpected(r.error());
  // Encoded before the lock is taken (a megabyte for 6,000 transfers, copied byte by byte).
  const util::Bytes encoded = primitives::encode_block(block);
  const int64_t t1 = clock_.steady_ns();
  // Its place in the index is checked (a block with no known parent, a failed one or a bad
  // timestamp is not stored), then its bytes are written without the chain lock: a megabyte's
  // write took 10 ms on average and up to 130 ms under load while the disk wrote back other
  // nodes' syncs, and the miner, admission and the next sketch waited behind it (ADR 0028).
  // Put first and alone, the bytes reach the log before the index record that names them
  // (RocksDB recovers a prefix of the writes), so no crash leaves a block indexed as stored
  // without its bytes; bytes without a record (a crash between the two writes, or the checks
  // below failing after a race) are never read, and the block is fetched and written again.
  {
    std::lock_guard lock(mu_);
    if (auto r = check_place(block, id); !r) return util::unexpected(r.error());
  }
  {
    storage::WriteBatch data;
    data.put(Column::kBlocks, id.span(), encoded);
    if (auto st = db_->write(data, false); !st) return util::unexpected(note_fault(st.error(), false));
  }
  const int64_t t2_store = clock_.steady_ns();
  int64_t t2 = 0, t3 = 0;

  ProcessResult result;
  std::vector<Block> disconnected;
  std::set<AccountKey> touched;
  ChainEvents events;
  TipInfo tip_after;
  std::optional<consensus::Rejection> invalid;
  std::optional<LocalError> local;
  std::vector<TxId> readmitted;
  bool sync = false;  // a connect asked to be durable: synced once the lock is released
  {
    std::lock_guard lock(mu_);
    // Again: another thread may have stored the block, or failed its parent, since.
    auto placed = check_place(block, id);
    if (!placed) return util::unexpected(placed.error());
    BlockIndexEntry* parent = *placed;
    auto it = index_.find(id);
    BlockIndexEntry* e = it != index_.end() ? it->second.get() : add_entry(block.header, id, 0, 0);
    e->status |= storage::kStatusHaveData;
    e->sequence = next_sequence_++;
    storage::WriteBatch batch;
    // The headers accepted before (this block's own among them, if its sketch came first) go
    // in the same write, ahead of this block's record, which supersedes its header-only one.
    put_unwritten_headers(batch);
    batch.put(Column::kBlockIndex, id.span(), storage::encode_index_record({e->header, e->status, e->sequence}));
    // Not synced: the synced batch of the connect that follows (or any later one) makes it
    // durable, and until then nothing depends on it.
    if (auto st = db_->write(batch, false); !st) {
      // Our disk, not the block: the entry stays as a header only (children, best_header_ and
      // the fetch path may point at it), so the block is fetched again once writes resume.
      e->status &= static_cast<uint8_t>(~storage::kStatusHaveData);
      return util::unexpected(note_fault(st.error(), false));
    }
    unwritten_headers_.clear();
    result.stored = true;
    if (parent->chain_complete) mark_complete_from(e);
    else unlinked_.emplace(parent->id, e);

    last_invalid_.reset();
    t2 = clock_.steady_ns();
    if (auto st = activate_best_chain(result, disconnected, touched, &block, id, &ids); !st) {
      // Stored but not (all) connected: a local failure. The candidates stay, and
      // try_resume_writes() connects them once writes succeed.
      note_fault(st.error(), st.error().code == storage::kErrCorrupt);  // kept if already worse
      local = LocalError{storage_status().state, st.error().to_string()};
    }
    if (e->failed()) {
      invalid = last_invalid_ && last_invalid_->first == id
                    ? last_invalid_->second
                    : consensus::Rejection{RejectCode::kInvalidParent, "descends from an invalid block"};
    }
    t3 = clock_.steady_ns();
    if (result.tip_changed) after_tip_change(result, disconnected, touched, readmitted, tip_after, events);
    if (durability == Durability::kBeforeReturn) sync = std::exchange(sync_due_, false);
  }
  const int64_t t4 = clock_.steady_ns();
  if (result.tip_changed && events.on_tip_changed) events.on_tip_changed(tip_after, result.disconnected);
  if (events.on_tx_accepted)
    for (const auto& t : readmitted) events.on_tx_accepted(t);
  // Durable before the caller hears back, as before; but the tip was announced and the lock
  // released first, so peers, the miner and readers did not wait for the fsync, nor for the
  // journal's erasures of the transfers the block confirmed.
  if (durability == Durability::kBeforeReturn) flush_deferred_writes();
  if (sync)
    if (auto st = sync_storage(); !st && !local) local = LocalError{storage_status().state, st.error().to_string()};
  if (block.txs.size() >= 256)  // where a large block's time went (the connect line has its write)
    util::log().debug("block {} txs {}: checks {} ms, store {}+{} ms, connect {} ms, mempool {} ms, sync {} ms",
                      id.hex(), block.txs.size(), (t1 - t0) / 1'000'000, (t2_store - t1) / 1'000'000,
                      (t2 - t2_store) / 1'000'000, (t3 - t2) / 1'000'000,
                      (t4 - t3) / 1'000'000, sync ? (clock_.steady_ns() - t4) / 1'000'000 : 0);
  if (invalid) return util::unexpected(*invalid);
  if (local) return util::unexpected(*local);
  return result;
}

void ChainState::flush_deferred_writes(bool barrier) {
  if (!barrier) {
    std::lock_guard pending(deferred_mu_);
    // Nothing of ours; whoever took the rest writes it.
    if (pending_erasures_.empty() && pending_index_.empty()) return;
  }
  std::lock_guard writing(deferred_write_mu_);
  storage::WriteBatch batch;
  std::vector<const PendingTxIndex::Chunk*> indexed;  // unchanged until forgotten or put back
  {
    std::lock_guard pending(deferred_mu_);
    std::swap(batch, pending_erasures_);
    indexed = pending_index_.take();
  }
  if (batch.empty() && indexed.empty()) return;
  // Written in slices of kDeferredSliceOps: RocksDB applies writes a group at a time, so a large
  // block's records in one batch (11,000 puts, 47 ms under load) held up every write queued
  // behind it, a block's store and a header's record among them, taken under the chain lock. A
  // record is the same whenever it is written and "indexed_tip" goes last, so a crash between
  // slices leaves records that open writes again (catch_up_tx_index); the journal's erasures
  // (ADR 0024) are all written before this returns, as before.
  util::Status st;
  storage::WriteBatch slice;
  auto write_slice = [&](bool last) {
    if (st && !slice.empty() && (last || slice.size() >= kDeferredSliceOps)) {
      st = db_->write(slice, false);
      slice.clear();
    }
  };
  for (size_t i = 0; i < batch.size() && st; ++i) {
    slice.push(batch.op(i));
    write_slice(false);
  }
  for (const auto* c : indexed) {
    for (uint32_t i = 0; i < c->ids.size() && st; ++i) {
      slice.put(Column::kTxIndex, c->ids[i].span(), storage::encode_tx_location({c->block, i}));
      write_slice(false);
    }
  }
  if (!indexed.empty()) slice.put(Column::kMeta, key_of(storage::kMetaIndexedTip), indexed.back()->block.span());
  write_slice(true);
  // Unsynced: a journal record left by a power cut is stale (its nonce confirmed), refused and
  // erased by replay_mempool_journal; index records lost with it are taken again from the blocks
  // at open (catch_up_tx_index). The sync that makes the connect durable usually covers both.
  if (!st) note_fault(st.error(), false);
  std::lock_guard pending(deferred_mu_);
  // A failed write's index records are kept for the next flush (its erasures are not needed).
  if (st) pending_index_.forget();
  else pending_index_.put_back();
}

std::optional<storage::TxLocation> ChainState::tx_location(const TxId& id) const {
  {
    std::lock_guard pending(deferred_mu_);
    if (auto loc = pending_index_.find(id)) return loc;
  }
  auto v = db_->get(Column::kTxIndex, id.span());
  if (!v) note_fault(v.error(), true);
  if (!v || !*v) return std::nullopt;
  auto loc = storage::decode_tx_location(**v);
  if (!loc) {
    note_fault({std::string(storage::kErrCorrupt), "tx index record of " + id.hex() + ": " + loc.error().to_string()},
               true);
    return std::nullopt;
  }
  return *loc;
}

util::Status ChainState::catch_up_tx_index() {
  auto v = db_->get(Column::kMeta, key_of(storage::kMetaIndexedTip));
  if (!v) return util::unexpected(v.error());
  const BlockIndexEntry* tip = tip_entry();
  if (!*v) {  // written before ADR 0026: each connect's batch held its index records
    if (!opts_.activate_on_open) return {};  // nothing written before verify/reindex look
    storage::WriteBatch batch;
    batch.put(Column::kMeta, key_of(storage::kMetaIndexedTip), tip->id.span());
    return db_->write(batch, true);
  }
  auto it = (*v)->size() == 32 ? index_.find(BlockId::from_span(**v)) : index_.end();
  if (it == index_.end() || it->second->height() >= active_.size() ||
      active_[it->second->height()] != it->second.get())
    return util::fail("corrupt", "indexed tip " + util::to_hex(**v) + " is not on the active chain");
  const uint32_t from = it->second->height();
  std::lock_guard pending(deferred_mu_);
  for (uint32_t h = from + 1; h <= tip->height(); ++h) {
    auto b = read_block(active_[h]->id);
    if (!b) return util::unexpected(b.error());
    if (!*b) return util::fail("corrupt", "block " + active_[h]->id.hex() + " of the active chain missing");
    pending_index_.add(active_[h]->id, primitives::transaction_ids((*b)->txs));
  }
  if (tip->height() > from)
    util::log().info("tx index: {} blocks after {} taken again from the blocks", tip->height() - from, it->first.hex());
  return {};
}

util::Status ChainState::sync_storage() {
  auto st = db_->sync();
  if (!st) note_fault(st.error(), false);
  return st;
}

bool ChainState::try_resume_writes() {
  auto s = storage_status();
  if (s.state == StorageState::kOk) return true;
  if (s.state == StorageState::kCorrupt) return false;
  if (auto st = db_->resume(); !st) {
    util::log().debug("storage resume refused: {}", st.error().to_string());
    // Not for want of space: the storage needs a restart (ADR 0029); say so once, at error.
    if (st.error().code == storage::kErrIo) note_fault(st.error(), false);
    return false;
  }
  // RocksDB may accept the resume before the disk has room again: only a synced write proves it.
  storage::WriteBatch probe;
  probe.put(Column::kMeta, key_of("probe"), key_of("ok"));
  if (auto st = db_->write(probe, true); !st) return false;
  {
    std::lock_guard lock(fault_mu_);
    if (fault_.state == StorageState::kCorrupt) return false;
    fault_ = {};
    fault_state_.store(0, std::memory_order_release);
  }
  util::log().warn("storage writes succeed again: block and transfer intake resumed");
  // Blocks stored before the failure but not connected are connected now.
  ProcessResult result;
  std::vector<Block> disconnected;
  std::set<AccountKey> touched;
  ChainEvents events;
  TipInfo tip_after;
  std::vector<TxId> readmitted;
  {
    std::lock_guard lock(mu_);
    if (auto st = activate_best_chain(result, disconnected, touched); !st)
      note_fault(st.error(), st.error().code == storage::kErrCorrupt);
    if (result.tip_changed) after_tip_change(result, disconnected, touched, readmitted, tip_after, events);
  }
  if (result.tip_changed && events.on_tip_changed) events.on_tip_changed(tip_after, result.disconnected);
  if (events.on_tx_accepted)
    for (const auto& t : readmitted) events.on_tx_accepted(t);
  (void)sync_pending();  // the journal erasures of what was connected, then the sync it is due
  return storage_status().state == StorageState::kOk;
}

consensus::Checked<bool> ChainState::accept_header(const BlockHeader& header) {
  const BlockId id = header.id();
  std::lock_guard lock(mu_);
  auto it = index_.find(id);
  if (it != index_.end()) {
    if (it->second->failed()) return reject(RejectCode::kInvalidParent, "header known invalid");
    return false;
  }
  if (auto r = engine_->check_seal(header); !r) return util::unexpected(r.error());
  auto pit = index_.find(header.prev_id);
  if (pit == index_.end() || header.height == 0)
    return reject(RejectCode::kMissingParent, "parent " + header.prev_id.hex() + " unknown");
  BlockIndexEntry* parent = pit->second.get();
  if (parent->failed()) return reject(RejectCode::kInvalidParent, "parent is invalid");
  if (auto r = consensus::check_header_contextual(params_, header, parent_context(parent), clock_.now_ms()); !r)
    return util::unexpected(r.error());
  unwritten_headers_.push_back(add_entry(header, id, 0, 0));
  if (unwritten_headers_.size() >= kMaxUnwrittenHeaders) (void)write_unwritten_headers();  // a failure is logged
  return true;
}

void ChainState::put_unwritten_headers(storage::WriteBatch& batch) const {
  // Encoded now, under the lock, from the entries as they are: a record written later never
  // carries an older status than one written before it.
  for (const BlockIndexEntry* e : unwritten_headers_)
    batch.put(Column::kBlockIndex, e->id.span(), storage::encode_index_record({e->header, e->status, e->sequence}));
}

util::Status ChainState::write_headers() {
  std::lock_guard lock(mu_);
  return write_unwritten_headers();
}

util::Status ChainState::write_unwritten_headers() {
  if (unwritten_headers_.empty()) return {};
  storage::WriteBatch batch;
  put_unwritten_headers(batch);
  auto st = db_->write(batch, false);
  if (!st) {
    util::log().warn("storing {} headers failed: {}", unwritten_headers_.size(), st.error().to_string());
    return st;
  }
  unwritten_headers_.clear();
  return {};
}

size_t ChainState::unwritten_headers() const {
  std::lock_guard lock(mu_);
  return unwritten_headers_.size();
}

consensus::Checked<ChainState::HeaderRun> ChainState::check_header_run(std::span<const BlockHeader> headers,
                                                                     const HeaderRun* from) const {
  std::lock_guard lock(mu_);
  HeaderRun run;
  if (from) {
    run = *from;
  } else {
    if (headers.empty()) return reject(RejectCode::kMissingParent, "no headers");
    auto pit = index_.find(headers[0].prev_id);
    if (pit == index_.end() || headers[0].height == 0)
      return reject(RejectCode::kMissingParent, "parent " + headers[0].prev_id.hex() + " unknown");
    const BlockIndexEntry* parent = pit->second.get();
    if (parent->failed()) return reject(RejectCode::kInvalidParent, "parent is invalid");
    run.last = parent->header;
    run.last_id = parent->id;
    if (parent->parent) run.prev_time_ms = parent->parent->header.time_ms;
    for (const BlockIndexEntry* e = parent; e && run.times.size() < static_cast<size_t>(params_.median_time_span);
         e = e->parent)
      run.times.push_back(e->header.time_ms);
    std::reverse(run.times.begin(), run.times.end());
    run.chain_work = parent->chain_work;
  }
  const int64_t now = clock_.now_ms();
  bool in_index = from == nullptr;
  std::vector<uint64_t> sorted;
  for (const auto& h : headers) {
    if (h.prev_id != run.last_id) return reject(RejectCode::kMissingParent, "headers not a chain");
    const BlockId id = h.id();
    const BlockIndexEntry* known = nullptr;
    if (in_index) {
      auto it = index_.find(id);
      if (it != index_.end()) known = it->second.get();
      else in_index = false;  // a child of an unknown header is unknown too
    }
    if (known) {
      if (known->failed()) return reject(RejectCode::kInvalidParent, "header known invalid");
      run.chain_work = known->chain_work;
    } else {
      if (auto r = engine_->check_seal(h); !r) return util::unexpected(r.error());
      consensus::ParentContext ctx;
      ctx.parent = run.last;
      ctx.grandparent_time_ms = run.prev_time_ms;
      sorted = run.times;
      std::sort(sorted.begin(), sorted.end());
      ctx.median_time_past_ms = sorted[sorted.size() / 2];
      if (auto r = consensus::check_header_contextual(params_, h, ctx, now); !r) return util::unexpected(r.error());
      run.chain_work.add(engine_->block_work(h));
    }
    run.prev_time_ms = run.last.time_ms;
    run.last = h;
    run.last_id = id;
    run.times.push_back(h.time_ms);
    if (run.times.size() > static_cast<size_t>(params_.median_time_span)) run.times.erase(run.times.begin());
  }
  return run;
}

std::vector<bool> ChainState::known_headers(std::span<const BlockId> ids) const {
  std::lock_guard lock(mu_);
  std::vector<bool> out;
  out.reserve(ids.size());
  for (const auto& id : ids) out.push_back(index_.count(id) != 0);
  return out;
}

Uint256 ChainState::min_branch_work(uint32_t margin_blocks) const {
  std::lock_guard lock(mu_);
  Uint256 margin = engine_->block_work(tip_entry()->header);
  Uint256 total;
  for (uint32_t i = 0; i < margin_blocks; ++i) total.add(margin);
  Uint256 min = tip_entry()->chain_work;
  if (min.sub(total)) return Uint256();  // underflow: a young chain, everything may matter
  return min;
}

std::vector<BlockId> ChainState::locator() const {
  std::lock_guard lock(mu_);
  std::vector<BlockId> out;
  int64_t h = static_cast<int64_t>(active_.size()) - 1;
  int64_t step = 1;
  while (h > 0) {
    out.push_back(active_[static_cast<size_t>(h)]->id);
    if (out.size() >= 10) step *= 2;
    h -= step;
  }
  out.push_back(active_[0]->id);
  return out;
}

std::vector<BlockHeader> ChainState::headers_after(const std::vector<BlockId>& locator, size_t max) const {
  std::lock_guard lock(mu_);
  size_t start = 0;
  for (const auto& id : locator) {
    auto it = index_.find(id);
    if (it == index_.end()) continue;
    auto h = it->second->height();
    if (h < active_.size() && active_[h] == it->second.get()) {
      start = h;
      break;
    }
  }
  std::vector<BlockHeader> out;
  for (size_t h = start + 1; h < active_.size() && out.size() < max; ++h) out.push_back(active_[h]->header);
  return out;
}

std::vector<BlockId> ChainState::blocks_to_fetch(size_t max) const {
  // While storage takes no blocks, asking peers for them would only waste their bandwidth.
  if (fault_state_.load(std::memory_order_acquire) != 0) return {};
  std::lock_guard lock(mu_);
  std::vector<BlockId> out;
  if (!best_header_) return out;
  auto active = [this](const BlockIndexEntry* e) {
    auto h = e->height();
    return h < active_.size() && active_[h] == e;
  };
  // The path from the active chain up to the best header is kept between calls and rebuilt
  // only when the best header changes: walking it on every call made catching up on a long
  // chain quadratic (this runs after every block). Entries are never removed from the index,
  // and a block on the active chain has data for good, so blocks that connected since only
  // lengthen the path's active prefix.
  if (fetch_path_head_ != best_header_) {
    fetch_path_.clear();
    for (const BlockIndexEntry* e = best_header_; e && !active(e); e = e->parent) fetch_path_.push_back(e);
    std::reverse(fetch_path_.begin(), fetch_path_.end());
    fetch_path_head_ = best_header_;
  }
  // Being active is monotone along a chain (an active block's ancestors are active): skip the
  // active prefix by binary search.
  auto it = std::partition_point(fetch_path_.begin(), fetch_path_.end(), active);
  for (; it != fetch_path_.end() && out.size() < max; ++it)
    if (!(*it)->have_data()) out.push_back((*it)->id);
  return out;
}

TipInfo ChainState::best_header() const {
  std::lock_guard lock(mu_);
  const BlockIndexEntry* e = best_header_ && best_header_->chain_work > tip_entry()->chain_work ? best_header_ : tip_entry();
  return TipInfo{e->id, e->height(), e->chain_work, e->header.bits, e->header.time_ms};
}

size_t ChainState::warm_signatures(std::span<const Block* const> blocks, std::span<const std::vector<TxId>* const> ids) {
  std::vector<const primitives::Transaction*> txs;
  std::vector<TxId> uncached;
  for (size_t k = 0; k < blocks.size() && k < ids.size(); ++k) {
    const auto& b = *blocks[k];
    const auto& bids = *ids[k];
    for (size_t i = 0; i < b.txs.size() && i < bids.size(); ++i) {
      if (sig_cache_.contains(bids[i])) continue;
      txs.push_back(&b.txs[i]);
      uncached.push_back(bids[i]);
    }
  }
  verify_signatures(std::span<const primitives::Transaction* const>(txs), uncached, sig_cache_, opts_.verify_pool,
                    VerifyMode::kLatency);
  return uncached.size();
}

ChainResult<TxId> ChainState::submit_transaction(const primitives::Transaction& tx) {
  return std::move(submit_transactions(std::span(&tx, 1)).front());
}

std::vector<ChainResult<TxId>> ChainState::submit_transactions(std::span<const primitives::Transaction> txs) {
  return admit_transactions(txs, /*journal=*/true);
}

std::vector<ChainResult<TxId>> ChainState::admit_transactions(std::span<const primitives::Transaction> txs,
                                                              bool journal) {
  std::vector<ChainResult<TxId>> out;
  out.reserve(txs.size());
  // Nothing is acknowledged that cannot be made durable.
  if (auto s = storage_status(); s.state != StorageState::kOk) {
    for (size_t i = 0; i < txs.size(); ++i) out.push_back(local_error(s.state, "transfer intake paused: " + s.message));
    return out;
  }
  std::vector<TxId> ids(txs.size());
  std::vector<uint8_t> shape_ok(txs.size(), 0);
  for (size_t i = 0; i < txs.size(); ++i) {
    if (consensus::check_tx_shape(params_, txs[i])) {
      ids[i] = txs[i].id();
      shape_ok[i] = 1;
    }
  }
  // Warm the signature cache, on the verify pool for a large batch and outside the lock (a bad
  // signature is left out, and rejected below with its reason by the single-threaded check).
  {
    if (std::all_of(shape_ok.begin(), shape_ok.end(), [](uint8_t ok) { return ok; })) {
      verify_signatures(txs, ids, sig_cache_, opts_.verify_pool);
    } else {
      std::vector<primitives::Transaction> good;
      std::vector<TxId> good_ids;
      for (size_t i = 0; i < txs.size(); ++i)
        if (shape_ok[i]) {
          good.push_back(txs[i]);
          good_ids.push_back(ids[i]);
        }
      verify_signatures(good, good_ids, sig_cache_, opts_.verify_pool);
    }
  }
  std::vector<TxId> accepted;
  std::vector<size_t> accepted_at;  // accepted[k] answers out[accepted_at[k]]
  storage::WriteBatch batch;        // the journal records of this call
  ChainEvents events;
  // The lock is taken per slice, so a block arriving meanwhile waits for at most one slice.
  constexpr size_t kSlice = 256;
  for (size_t begin = 0; begin < txs.size(); begin += kSlice) {
    std::lock_guard lock(mu_);
    for (size_t i = begin; i < std::min(txs.size(), begin + kSlice); ++i) {
      const auto& tx = txs[i];
      if (!shape_ok[i]) {
        auto r = consensus::check_tx_shape(params_, tx);
        out.push_back(util::unexpected(r.error()));
        continue;
      }
      const TxId& id = ids[i];
      if (!sig_cache_.contains(id)) {
        if (auto r = consensus::check_tx_signature(tx); !r) {
          out.push_back(util::unexpected(r.error()));
          continue;
        }
        sig_cache_.insert(id);
      }
      read_fault_.reset();
      auto r = mempool_.add(tx, id, [this](const AccountKey& k) { return load_account(k); });
      if (read_fault_) {  // the sender's state was unreadable: no verdict on the transaction
        if (r)
          for (const auto& gone : mempool_.remove(id))
            batch.erase(Column::kMempool, storage::journal_key(gone.sender, gone.nonce, gone.id));
        out.push_back(util::unexpected(LocalError{StorageState::kCorrupt, read_fault_->to_string()}));
        continue;
      }
      if (!r) {
        // A transaction already in a block has a spent nonce: only then look it up, to give
        // the better reason (no index read on the hot path).
        if (r.error().code == RejectCode::kNonceTooLow) {
          if (tx_location(id)) {
            out.push_back(reject(RejectCode::kDuplicate, "already in a block"));
            continue;
          }
        }
        out.push_back(util::unexpected(r.error()));
        continue;
      }
      for (const auto& gone : *r)  // evicted or replaced
        batch.erase(Column::kMempool, storage::journal_key(gone.sender, gone.nonce, gone.id));
      if (journal)
        batch.put(Column::kMempool, storage::journal_key(tx.sender, tx.nonce, id), primitives::encode_transaction(tx));
      accepted.push_back(id);
      accepted_at.push_back(out.size());
      out.push_back(id);
    }
    if (!accepted.empty()) {
      note_arrivals();
      mempool_generation_.fetch_add(1, std::memory_order_acq_rel);
    }
    events = events_;
  }
  // Acknowledged means durable: one write for the whole call, outside the lock, then an fsync
  // that concurrent callers share (group commit) and that other threads' writes, a block's
  // connect among them, do not queue behind (Database::sync, ADR 0024).
  if (!batch.empty()) {
    auto st = db_->write(batch, false);
    if (st && journal) st = db_->sync();
    if (!st) {
      LocalError err = note_fault(st.error(), false);
      std::lock_guard lock(mu_);
      for (size_t k = 0; k < accepted.size(); ++k) {
        mempool_.remove(accepted[k]);  // also its sender's later ones, which needed it
        out[accepted_at[k]] = util::unexpected(err);
      }
      for (auto& r : out)  // a later nonce removed with an earlier one is not acknowledged either
        if (r && !mempool_.contains(*r)) r = util::unexpected(err);
      return out;
    }
  }
  if (events.on_tx_accepted)
    for (const auto& id : accepted) events.on_tx_accepted(id);
  return out;
}

util::Status ChainState::upgrade_journal_keys() {
  // Schema 1 keyed the journal by txid, schema 2 by (sender, nonce, txid) (ADR 0018): every
  // record is rewritten, with the version, in one synced batch, so a crash leaves the old journal
  // or the new one.
  size_t moved = 0;
  storage::WriteBatch batch;
  std::optional<util::Error> bad;
  auto st = db_->for_each(Column::kMempool, [&](util::ByteSpan k, util::ByteSpan v) {
    auto tx = primitives::decode_transaction(v);
    if (k.size() != 32 || !tx || tx->id() != TxId::from_span(k)) {
      bad = util::Error{std::string(storage::kErrCorrupt), "mempool journal record " + util::to_hex(k) + " does not decode"};
      return false;
    }
    batch.erase(Column::kMempool, k);
    batch.put(Column::kMempool, storage::journal_key(tx->sender, tx->nonce, tx->id()), v);
    ++moved;
    return true;
  });
  if (!st) return st;
  if (bad) return util::unexpected(*bad);
  batch.put(Column::kMeta, key_of(storage::kMetaSchema), storage::encode_schema_version(storage::kSchemaVersion));
  if (auto w = db_->write(batch, true); !w) return w;
  util::log().info("database schema {} -> {}: {} mempool journal records keyed by sender, nonce and txid",
                   storage::kSchemaJournalByTxid, storage::kSchemaVersion, moved);
  return {};
}

util::Result<size_t> ChainState::replay_mempool_journal() {
  // Records come in key order, which is each sender's nonce order: the order the mempool needs
  // (it refuses gaps).
  std::vector<primitives::Transaction> txs;
  std::optional<util::Error> bad;
  auto st = db_->for_each(Column::kMempool, [&](util::ByteSpan k, util::ByteSpan v) {
    auto tx = primitives::decode_transaction(v);
    if (!tx || k.size() != storage::kJournalKeySize ||
        !std::equal(k.begin(), k.end(), storage::journal_key(tx->sender, tx->nonce, tx->id()).begin())) {
      bad = util::Error{std::string(storage::kErrCorrupt), "mempool journal record " + util::to_hex(k) + " does not decode"};
      return false;
    }
    txs.push_back(std::move(*tx));
    return true;
  });
  if (!st) return util::unexpected(st.error());
  if (bad) return util::unexpected(*bad);
  // On a nonce held twice (a replacement and the one it replaced, both left by a crash) the
  // higher fee first, so the replacement wins again and the one it replaced is refused.
  std::stable_sort(txs.begin(), txs.end(), [](const primitives::Transaction& a, const primitives::Transaction& b) {
    if (a.sender != b.sender) return a.sender < b.sender;
    if (a.nonce != b.nonce) return a.nonce < b.nonce;
    return a.fee > b.fee;
  });
  auto results = admit_transactions(txs, /*journal=*/false);
  size_t readmitted = 0;
  storage::WriteBatch forget;
  for (size_t i = 0; i < txs.size(); ++i) {
    if (results[i]) {
      ++readmitted;
    } else if (const auto* local = results[i].error().local()) {
      return util::fail(std::string(local->state == StorageState::kCorrupt ? storage::kErrCorrupt : storage::kErrIo),
                        local->message);
    } else {
      util::log().debug("mempool journal: {} not re-admitted: {}", txs[i].id().hex(), results[i].error().to_string());
      // Confirmed meanwhile, or no longer valid.
      forget.erase(Column::kMempool, storage::journal_key(txs[i].sender, txs[i].nonce, txs[i].id()));
    }
  }
  if (!forget.empty())
    if (auto w = db_->write(forget, false); !w) return util::unexpected(w.error());
  return readmitted;
}

void ChainState::note_arrivals() {
  const uint64_t next = mempool_.next_sequence();
  if (!arrivals_.empty() && arrivals_.back().second == next) return;
  const int64_t now = clock_.steady_ms();
  if (!arrivals_.empty() && arrivals_.back().first >= now)
    arrivals_.back().second = next;
  else
    arrivals_.emplace_back(now, next);
  while (arrivals_.size() > kMaxArrivalMarks || now - arrivals_.front().first > kArrivalHorizonMs) {
    arrivals_floor_ = arrivals_.front().second;
    arrivals_.pop_front();
  }
}

uint64_t ChainState::arrived_by(int64_t at_ms) const {
  for (auto it = arrivals_.rbegin(); it != arrivals_.rend(); ++it)
    if (it->first <= at_ms) return it->second;
  return arrivals_floor_;
}

BlockTemplate ChainState::create_template(const AccountKey& miner, size_t max_txs, int64_t min_age_ms) const {
  BlockTemplate t;
  create_template_locked(t, miner, max_txs, min_age_ms);
  // The Merkle root outside the lock (~3 ms for 10,000 transfers: a sketch's match or a
  // relayed batch waited for it at every refresh). Fee order may interleave senders, but each
  // sender's transactions stay in nonce order, so the block applies cleanly.
  t.block.header.merkle_root = primitives::compute_merkle_root(t.ids);
  return t;
}

void ChainState::create_template_locked(BlockTemplate& t, const AccountKey& miner, size_t max_txs,
                                        int64_t min_age_ms) const {
  std::lock_guard lock(mu_);
  BlockIndexEntry* tip = tip_entry();
  auto ctx = parent_context(tip);
  auto& h = t.block.header;
  h.version = 1;
  h.height = tip->height() + 1;
  h.prev_id = tip->id;
  h.time_ms = std::max<uint64_t>(static_cast<uint64_t>(std::max<int64_t>(clock_.now_ms(), 0)),
                                 ctx.median_time_past_ms + 1);
  h.bits = engine_->next_bits(ctx);
  h.miner = miner;
  size_t room = (params_.max_block_bytes - primitives::BlockHeader::kEncodedSize - 9) /
                primitives::Transaction::kEncodedSize;
  size_t n = std::min({max_txs, static_cast<size_t>(params_.max_block_txs), room});
  auto& c = template_cache_;
  const auto& appended = mempool_.appended();
  // Entries below `cutoff` are old enough to mine.
  const uint64_t cutoff = min_age_ms > 0 ? arrived_by(clock_.steady_ms() - min_age_ms) : UINT64_MAX;
  if (c.valid && c.tip == tip->id && c.layout_generation == mempool_.layout_generation() && c.max_txs == n &&
      c.min_age_ms == min_age_ms && c.appended_seen <= appended.size() && cutoff <= c.rebuild_past) {
    // Only appends since: each extends its sender's run when the template holds all of that
    // sender's earlier pooled transactions (its nonce is the next one, or none of the sender's
    // is in and it is the sender's first pooled one: several appends of a sender new to the
    // template, or a run that waited to age, come in together). The mempool's invariant makes
    // any such prefix valid.
    ++templates_extended_;
    for (; c.appended_seen < appended.size() && c.txs.size() < n; ++c.appended_seen) {
      const auto* e = mempool_.get(appended[c.appended_seen]);
      if (!e) continue;
      if (e->sequence >= cutoff) break;  // it and every later append are too young yet
      auto it = c.next_nonce.find(e->tx.sender);
      const bool next = it != c.next_nonce.end() ? it->second == e->tx.nonce
                                                 : e->tx.nonce == 0 || !mempool_.at(e->tx.sender, e->tx.nonce - 1);
      if (!next) continue;
      c.next_nonce[e->tx.sender] = e->tx.nonce + 1;
      c.txs.push_back(e->tx);
      c.ids.push_back(e->id);
    }
  } else {
    ++templates_built_;
    auto entries = mempool_.select(n, cutoff);
    // The appends old enough are in the selection (or were passed over by it); the template
    // extends from the first younger one.
    size_t seen = appended.size();
    for (; seen > 0; --seen)
      if (const auto* e = mempool_.get(appended[seen - 1]); e && e->sequence < cutoff) break;
    c = TemplateCache{true, tip->id, mempool_.layout_generation(), seen, n, {}, {},
                      decltype(c.next_nonce)(16, util::SaltedHasher{c.next_nonce.hash_function().salt})};
    c.min_age_ms = min_age_ms;
    const auto* first = seen < appended.size() ? mempool_.get(appended[seen]) : nullptr;
    if (cutoff < (first ? first->sequence : mempool_.next_sequence())) c.rebuild_past = cutoff;
    c.ids.reserve(entries.size());
    c.txs.reserve(entries.size());
    for (const auto* e : entries) {
      c.txs.push_back(e->tx);
      c.ids.push_back(e->id);
      c.next_nonce[e->tx.sender] = e->tx.nonce + 1;
    }
  }
  t.block.txs = c.txs;
  t.ids = c.ids;
  t.young_left_out = cutoff < mempool_.next_sequence() && c.txs.size() < n;
  t.target = *consensus::decode_compact(h.bits);
}

std::pair<uint64_t, uint64_t> ChainState::template_counts() const {
  std::lock_guard lock(mu_);
  return {templates_built_, templates_extended_};
}

TipInfo ChainState::tip_info() const {
  const BlockIndexEntry* e = tip_entry();
  return TipInfo{e->id, e->height(), e->chain_work, e->header.bits, e->header.time_ms};
}

TipInfo ChainState::tip() const {
  std::lock_guard lock(mu_);
  return tip_info();
}

std::optional<BlockId> ChainState::block_id_at(uint32_t height) const {
  std::lock_guard lock(mu_);
  if (height >= active_.size()) return std::nullopt;
  return active_[height]->id;
}

std::optional<Block> ChainState::block(const BlockId& id) const {
  auto r = read_block(id);
  if (!r) return std::nullopt;  // recorded as corruption: the node stops
  if (!*r) {
    // Indexed as stored but absent: the store lost it. Not "not found". The read above took no
    // lock, so process_block may have stored the block since (it marks the entry, then writes,
    // under the lock): read again under the lock, where no write can be half done.
    std::lock_guard lock(mu_);
    auto it = index_.find(id);
    if (it == index_.end() || !it->second->have_data()) return std::nullopt;
    r = read_block(id);
    if (!r) return std::nullopt;
    if (*r) return std::move(**r);
    note_fault({std::string(storage::kErrCorrupt), "block " + id.hex() + " is indexed as stored but missing"}, true);
    return std::nullopt;
  }
  return std::move(**r);
}

std::optional<BlockHeader> ChainState::header(const BlockId& id) const {
  std::lock_guard lock(mu_);
  auto it = index_.find(id);
  if (it == index_.end()) return std::nullopt;
  return it->second->header;
}

bool ChainState::in_active_chain(const BlockId& id) const {
  std::lock_guard lock(mu_);
  auto it = index_.find(id);
  if (it == index_.end()) return false;
  auto h = it->second->height();
  return h < active_.size() && active_[h] == it->second.get();
}

Account ChainState::account(const AccountKey& key) const {
  std::lock_guard lock(mu_);
  return load_account(key);
}

ChainState::AccountCacheStats ChainState::account_cache_stats() const {
  std::lock_guard lock(mu_);
  return {account_cache_.hits(), account_cache_.misses(), account_cache_.size()};
}

std::map<AccountKey, Account> ChainState::all_accounts() const {
  std::lock_guard lock(mu_);
  std::map<AccountKey, Account> out;
  auto st = db_->for_each(Column::kAccounts, [&](util::ByteSpan k, util::ByteSpan v) {
    auto a = primitives::decode_account(v);
    if (k.size() != 32 || !a) {
      note_fault({std::string(storage::kErrCorrupt), "account record " + util::to_hex(k) + " does not decode"}, true);
      return true;
    }
    out[AccountKey::from_span(k)] = *a;
    return true;
  });
  if (!st) note_fault(st.error(), true);
  return out;
}

std::optional<std::pair<TxPlace, uint32_t>> ChainState::indexed_place(const TxId& id) const {
  auto loc = tx_location(id);
  if (!loc) return std::nullopt;
  auto it = index_.find(loc->block);
  if (it == index_.end()) {
    note_fault(
        {std::string(storage::kErrCorrupt), "tx index record of " + id.hex() + ": names unknown block " + loc->block.hex()},
        true);
    return std::nullopt;
  }
  uint32_t h = it->second->height();
  return std::make_pair(TxPlace{loc->block, h, tip_entry()->height() - h + 1}, loc->position);
}

std::optional<TxInfo> ChainState::transaction(const TxId& id) const {
  std::optional<std::pair<TxPlace, uint32_t>> at;
  {
    std::lock_guard lock(mu_);
    if (const auto* e = mempool_.get(id)) return TxInfo{e->tx, std::nullopt, 0, 0};
    at = indexed_place(id);
  }
  if (!at) return std::nullopt;
  // The block is read and decoded without the chain lock (blocks are never deleted, and a
  // RocksDB read needs no lock): a large one takes milliseconds, which connects need not wait.
  const auto& [place, position] = *at;
  auto b = read_block(*place.block);
  if (!b) return std::nullopt;  // recorded
  if (!*b || position >= (*b)->txs.size()) {
    note_fault({std::string(storage::kErrCorrupt), "tx index record of " + id.hex() + ": names a missing block or position"},
               true);
    return std::nullopt;
  }
  return TxInfo{std::move((*b)->txs[position]), place.block, place.height, place.confirmations};
}

std::optional<TxPlace> ChainState::transaction_place(const TxId& id) const {
  std::lock_guard lock(mu_);
  if (mempool_.get(id)) return TxPlace{};
  auto at = indexed_place(id);
  if (!at) return std::nullopt;
  return at->first;
}

std::vector<bool> ChainState::known_transactions(std::span<const TxId> ids) const {
  std::vector<bool> out(ids.size(), false);
  std::vector<size_t> look_up;
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < ids.size(); ++i) {
      if (mempool_.get(ids[i])) out[i] = true;
      else look_up.push_back(i);
    }
  }
  // The database is thread-safe: no chain lock held for the reads. A record connect_tip moved
  // from the mempool to the pending index under the lock is found there or, once written, on disk.
  for (size_t i : look_up) out[i] = tx_location(ids[i]).has_value();
  return out;
}

std::vector<std::optional<primitives::Transaction>> ChainState::mempool_transactions(std::span<const TxId> ids) const {
  std::vector<std::optional<primitives::Transaction>> out(ids.size());
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < ids.size(); ++i)
    if (const auto* e = mempool_.get(ids[i])) out[i] = e->tx;
  return out;
}

void ChainState::mempool_visit_short_ids(const std::function<uint64_t(const TxId&)>& short_id,
                                         const std::function<void(const MempoolEntry&, uint64_t)>& take) const {
  std::lock_guard lock(mu_);
  mempool_.visit_short_ids(short_id, take);
}

size_t ChainState::mempool_size() const {
  std::lock_guard lock(mu_);
  return mempool_.size();
}

std::vector<TxId> ChainState::mempool_ids() const {
  std::lock_guard lock(mu_);
  return mempool_.ids();
}

std::pair<size_t, primitives::Amount> ChainState::mempool_pending(const AccountKey& sender) const {
  std::lock_guard lock(mu_);
  return mempool_.pending(sender);
}

util::Status ChainState::reindex() {
  std::lock_guard lock(mu_);
  std::vector<BlockIndexEntry*> old_chain = active_;
  account_cache_.clear();
  {
    std::lock_guard writing(deferred_write_mu_);
    std::lock_guard pending(deferred_mu_);
    pending_index_.clear();  // the index is rebuilt from the blocks below
  }
  flush_deferred_writes(/*barrier=*/true);  // the journal's erasures (ADR 0024)
  for (auto c : {Column::kAccounts, Column::kUndo, Column::kTxIndex})
    if (auto st = db_->clear(c); !st) return st;
  storage::WriteBatch batch;
  for (const auto& a : params_.allocations)
    batch.put(Column::kAccounts, a.key.span(), primitives::encode_account(Account{a.amount, 0}));
  batch.put(Column::kMeta, key_of(storage::kMetaTip), params_.genesis_id.span());
  batch.put(Column::kMeta, key_of(storage::kMetaIndexedTip), params_.genesis_id.span());
  if (auto st = db_->write(batch, true); !st) return st;
  active_.resize(1);
  publish_tip_hint();
  std::set<AccountKey> touched;
  for (size_t h = 1; h < old_chain.size(); ++h) {
    BlockIndexEntry* e = old_chain[h];
    auto stored = read_block(e->id);
    if (!stored || !*stored)
      return util::fail("corrupt", "block at height " + std::to_string(h) + " unreadable" +
                                       (stored ? std::string() : ": " + stored.error().to_string()));
    const Block* block = &**stored;
    std::vector<TxId> ids;
    auto r = consensus::check_block(params_, *block, ids);
    if (r) r = consensus::check_header_contextual(params_, block->header, parent_context(e->parent), INT64_MAX / 2);
    consensus::Rejection why{RejectCode::kBadTx, {}};
    if (r) {
      auto st = connect_tip(e, *block, &ids, touched, &why);
      if (!st && st.error().code != "rejected") return st;
      if (st) continue;
    } else {
      why = r.error();
    }
    util::log().warn("reindex: block {} at height {} invalid: {}", e->id.hex(), h, why.to_string());
    mark_failed(e);
    break;
  }
  ProcessResult result;
  std::vector<Block> disconnected;
  if (auto st = activate_best_chain(result, disconnected, touched); !st) return st;
  flush_deferred_writes();
  if (std::exchange(sync_due_, false))
    if (auto st = db_->sync(); !st) return st;
  tip_generation_.fetch_add(1);
  util::log().info("reindex done: height {}", tip_entry()->height());
  return {};
}

util::Status ChainState::verify() const {
  std::lock_guard lock(mu_);
  std::map<AccountKey, Account> state;
  consensus::uint128_t supply = 0;
  for (const auto& a : params_.allocations) {
    state[a.key].balance += a.amount;
    supply += a.amount;
  }
  for (size_t h = 1; h < active_.size(); ++h) {
    const BlockIndexEntry* e = active_[h];
    auto stored = read_block(e->id);
    if (!stored || !*stored)
      return util::fail("corrupt", "block at height " + std::to_string(h) + " unreadable" +
                                       (stored ? std::string() : ": " + stored.error().to_string()));
    const Block* block = &**stored;
    std::vector<TxId> ids;
    auto r = consensus::check_block(params_, *block, ids);
    if (r) r = consensus::check_header_contextual(params_, block->header, parent_context(e->parent), INT64_MAX / 2);
    if (!r) return util::fail("invalid", "block at height " + std::to_string(h) + ": " + r.error().to_string());
    auto eff = consensus::apply_block(params_, *block, [&](const AccountKey& k) {
      auto it = state.find(k);
      return it == state.end() ? Account{} : it->second;
    });
    if (!eff) return util::fail("invalid", "block at height " + std::to_string(h) + ": " + eff.error().to_string());
    for (const auto& [k, a] : eff->after) state[k] = a;
    supply += consensus::block_subsidy(params_, block->header.height);
    for (uint32_t i = 0; i < ids.size(); ++i) {
      auto loc = tx_location(ids[i]);
      if (!loc || loc->block != e->id || loc->position != i)
        return util::fail("inconsistent", "tx " + ids[i].hex() + " missing from the tx index or misplaced");
    }
  }
  // Compare with the stored state, and check conservation.
  std::map<AccountKey, Account> stored;
  std::string bad;
  auto st = db_->for_each(Column::kAccounts, [&](util::ByteSpan k, util::ByteSpan v) {
    auto a = primitives::decode_account(v);
    if (k.size() != 32 || !a) {
      bad = util::to_hex(k);
      return false;
    }
    stored[AccountKey::from_span(k)] = *a;
    return true;
  });
  if (!st) return st;
  if (!bad.empty()) return util::fail("corrupt", "unreadable account record " + bad);
  std::erase_if(state, [](const auto& kv) { return kv.second.is_empty(); });
  if (stored != state)
    return util::fail("inconsistent", "stored account state differs from replaying the chain (" +
                                          std::to_string(stored.size()) + " stored vs " +
                                          std::to_string(state.size()) + " replayed accounts)");
  consensus::uint128_t total = 0;
  for (const auto& [k, a] : stored) total += a.balance;
  if (total != supply) return util::fail("inconsistent", "balances do not sum to allocations + subsidies");
  return {};
}


// Web view reads (getchaintips, getblocktree): bounded work under the lock, from the sorted sets.
ChainState::TreeSnapshot ChainState::block_tree(uint32_t from_height, size_t max, size_t max_tips) const {
  std::lock_guard lock(mu_);
  auto active = [this](const BlockIndexEntry* e) { return e->height() < active_.size() && active_[e->height()] == e; };
  auto entry = [&](const BlockIndexEntry* e) {
    TreeEntry t;
    t.id = e->id;
    t.prev = e->header.prev_id;
    t.height = e->height();
    t.miner = e->header.miner;
    t.time_ms = e->header.time_ms;
    t.chain_work = e->chain_work;
    t.have_data = e->have_data();
    t.chain_complete = e->chain_complete;
    t.failed = e->failed();
    t.in_active_chain = active(e);
    return t;
  };
  TreeSnapshot out;
  // The first entry at from_height: a probe ordered before every id at that height.
  BlockIndexEntry probe;
  probe.header.height = from_height;
  for (auto it = by_height_.lower_bound(&probe); it != by_height_.end(); ++it) {
    if (out.blocks.size() >= max) {
      out.truncated = true;
      break;
    }
    out.blocks.push_back(entry(*it));
  }
  // Highest tips first.
  for (auto it = leaves_.rbegin(); it != leaves_.rend(); ++it) {
    if (out.tips.size() >= max_tips) {
      out.tips_truncated = true;
      break;
    }
    TreeEntry t = entry(*it);
    for (const BlockIndexEntry* p = *it; p && !active(p) && t.branch_len < kMaxBranchWalk; p = p->parent) ++t.branch_len;
    out.tips.push_back(t);
  }
  std::sort(out.tips.begin(), out.tips.end(), [](const TreeEntry& a, const TreeEntry& b) {
    return a.height != b.height ? a.height > b.height : a.id < b.id;
  });
  return out;
}

}  // namespace peerchain::chain
