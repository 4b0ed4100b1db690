#include "node/peer_manager.h"

#include <algorithm>
#include <chrono>

#include "chain/planted.h"
#include "util/log.h"

namespace peerchain::node {

namespace {
// One write for the headers a message brings, however its handling ends: accept_header leaves
// their records for the next write (chain::ChainState::write_headers; a failure is logged there
// and they wait for the next one).
struct HeaderWriteScope {
  chain::ChainState& chain;
  ~HeaderWriteScope() { (void)chain.write_headers(); }
};
}  // namespace

using consensus::RejectCode;
using primitives::BlockId;

PeerManager::PeerManager(chain::ChainState& chain, PeerNetwork& net, const util::Clock& clock,
                         PeerManagerOptions opts)
    : chain_(chain), net_(net), clock_(clock), opts_(opts) {}

int PeerManager::penalty(RejectCode code) {
  switch (code) {
    // Provably invalid data: only a broken or hostile peer sends it.
    case RejectCode::kMalformed:
    case RejectCode::kWrongChain:
    case RejectCode::kBadAmount:
    case RejectCode::kBadFee:
    case RejectCode::kSelfTransfer:
    case RejectCode::kBadRecipient:
    case RejectCode::kBadSender:
    case RejectCode::kBadSignature:
    case RejectCode::kBadVersion:
    case RejectCode::kBadPow:
    case RejectCode::kBadTarget:
    case RejectCode::kBadMerkleRoot:
    case RejectCode::kBadHeight:
    case RejectCode::kTimeTooOld:
    case RejectCode::kTooManyTxs:
    case RejectCode::kBlockTooLarge:
    case RejectCode::kBadTx:
    case RejectCode::kInvalidParent:
    case RejectCode::kBadGenesis:
      return 100;
    // Honest peers send these in the normal course of events (races, forks, clock skew, policy).
    case RejectCode::kNonceTooLow:
    case RejectCode::kNonceTooHigh:
    case RejectCode::kInsufficientFunds:
    case RejectCode::kBalanceOverflow:
    case RejectCode::kDuplicate:
    case RejectCode::kMempoolFull:
    case RejectCode::kReplacementFeeTooLow:
    case RejectCode::kTooManyPending:
    case RejectCode::kFeeTooLow:
    case RejectCode::kMissingParent:
    case RejectCode::kDuplicateBlock:
      return 0;
    // Our clock may be the one that is behind.
    case RejectCode::kTimeTooNew:
      return chain::planted::on(3) ? 100 : 0;
  }
  return 0;
}

void PeerManager::mark_known(Peer& p, const crypto::Hash256& id) {
  if (!p.known.insert(id).second) return;
  p.known_order.push_back(id);
  while (p.known_order.size() > opts_.max_known_per_peer) {
    p.known.erase(p.known_order.front());
    p.known_order.pop_front();
  }
}

int64_t PeerManager::timer_now_ms() {
  const int64_t wall = clock_.now_ms();
  if (!last_wall_ms_) timer_ms_ = wall;
  else if (wall > *last_wall_ms_) timer_ms_ += wall - *last_wall_ms_;
  last_wall_ms_ = wall;
  return timer_ms_;
}

void PeerManager::on_connected(PeerId id, const std::string& address, bool inbound, uint32_t best_height,
                               uint32_t protocol_version) {
  {
    std::lock_guard lock(mu_);
    Peer& p = peers_[id];
    p.address = address;
    p.inbound = inbound;
    p.best_height = best_height;
    p.batch_txs = protocol_version >= kProtocolVersionTxs;
  }
  // net logs the connection at info ("net: peer N connected ..."): one line per connect.
  util::log().debug("peer {} connected: {} ({}), height {}", id, address, inbound ? "inbound" : "outbound", best_height);
  // Always ask where the peer is: if it has more work, its headers start our sync.
  send_getheaders(id);
  // And what it has pending (BIP35): a node restarted after a crash relearns its peers'
  // transfers, so its accounts' next nonces are not stale.
  net_.send(id, msg::kMempool, {});
  if (opts_.compact_relay) {
    // We understand sketches; the first peers also get asked to push them until peers that
    // deliver blocks first take their slots (promote_hb).
    bool hb = false;
    {
      std::lock_guard lock(mu_);
      if (hb_peers_.size() < opts_.compact_hb_peers) {
        hb_peers_.push_back(id);
        hb = true;
      }
    }
    net_.send(id, msg::kSendCmpct, encode_sendcmpct(hb));
  }
}

bool PeerManager::bulk_type(uint16_t type) {
  return type == msg::kInv || type == msg::kTx || type == msg::kTxs || type == msg::kGetData || type == msg::kMempool;
}

bool PeerManager::deliver(PeerId id, uint16_t type, util::Bytes payload) {
  if (!opts_.queue_messages) {
    on_message(id, type, std::move(payload));
    return true;
  }
  // The miner stops hashing on a tip that has just lost, now, not once the handler below gets
  // the chain lock: under load that waited for a connect, and the blocks it found meanwhile
  // went stale.
  if ((type == msg::kCmpctBlock || type == msg::kBlock) && opts_.on_better_block &&
      payload.size() >= primitives::BlockHeader::kEncodedSize) {
    auto h = primitives::decode_header(util::ByteSpan(payload).first(primitives::BlockHeader::kEncodedSize));
    const bool better = h && chain_.extends_tip(*h);
    if (better) opts_.on_better_block(h->height);
    if (h && util::log().should_log(spdlog::level::debug))  // the id is a hash: only when it is printed
      util::log().debug("{} {} height {} from peer {}: {}", type == msg::kCmpctBlock ? "sketch" : "block",
                        h->id().hex(), h->height, id, better ? "holds the miner" : "does not extend the tip");
  }
  // A peer rebuilding one of our recent blocks waits for this answer: under load the message
  // thread was often blocked on the chain lock (our own connect of that block, 50-150 ms).
  if (type == msg::kGetBlockTxn && serve_recent_blocktxn(id, payload)) return true;
  const size_t bytes = payload.size() + sizeof(Inbound);
  bool more = true;
  {
    std::lock_guard lock(inbox_mu_);
    auto& p = inbox_peers_[id];
    p.bytes += bytes;
    if (p.bytes > opts_.max_inbox_bytes_per_peer && !p.paused) {
      p.paused = true;
      counters_.reading_pauses.fetch_add(1, std::memory_order_relaxed);
    }
    more = !p.paused;
    (bulk_type(type) ? inbox_bulk_ : inbox_blocks_).push_back({id, type, std::move(payload), clock_.steady_ns()});
  }
  inbox_cv_.notify_one();
  return more;
}

size_t PeerManager::handle_queued_messages(std::chrono::milliseconds wait, size_t max) {
  size_t handled = 0;
  while (handled < max) {
    Inbound m;
    {
      std::unique_lock lock(inbox_mu_);
      if (handled == 0 &&
          !inbox_cv_.wait_for(lock, wait, [this] { return !inbox_blocks_.empty() || !inbox_bulk_.empty(); }))
        return 0;
      auto& q = !inbox_blocks_.empty() ? inbox_blocks_ : inbox_bulk_;
      if (q.empty()) break;
      m = std::move(q.front());
      q.pop_front();
    }
    const size_t bytes = m.payload.size() + sizeof(Inbound);
    handling_queued_ns_ = m.queued_ns;
    const int64_t started_ns = clock_.steady_ns();
    on_message(m.peer, m.type, std::move(m.payload));
    handling_queued_ns_ = 0;
    if (const int64_t took_ns = clock_.steady_ns() - started_ns; took_ns >= 20'000'000)
      util::log().debug("message {} from peer {} took {} ms ({} bytes, queued {} ms before)", m.type, m.peer,
                        took_ns / 1'000'000, bytes, (started_ns - m.queued_ns) / 1'000'000);
    ++handled;
    bool resume = false;
    {
      std::lock_guard lock(inbox_mu_);
      auto it = inbox_peers_.find(m.peer);
      if (it != inbox_peers_.end()) {  // gone: disconnected meanwhile
        it->second.bytes -= std::min(it->second.bytes, bytes);
        if (it->second.paused && it->second.bytes <= opts_.max_inbox_bytes_per_peer / 2) {
          it->second.paused = false;
          resume = true;
        }
      }
    }
    if (resume) net_.resume_reading(m.peer);
  }
  return handled;
}

bool PeerManager::inbox_full(PeerId id) const {
  std::lock_guard lock(inbox_mu_);
  auto it = inbox_peers_.find(id);
  return it != inbox_peers_.end() && it->second.paused;
}

size_t PeerManager::queued_messages() const {
  std::lock_guard lock(inbox_mu_);
  return inbox_blocks_.size() + inbox_bulk_.size();
}

void PeerManager::on_disconnected(PeerId id) {
  {
    std::lock_guard lock(inbox_mu_);
    inbox_peers_.erase(id);  // its waiting messages are dropped by on_message (unknown peer)
  }
  std::lock_guard lock(mu_);
  auto it = peers_.find(id);
  if (it == peers_.end()) return;
  for (const auto& [block, at] : it->second.in_flight) {
    auto rq = requested_.find(block);
    if (rq != requested_.end() && rq->second == id) requested_.erase(rq);
  }
  peers_.erase(it);
  std::erase(hb_peers_, id);
}

void PeerManager::on_message(PeerId id, uint16_t type, util::Bytes payload) {
  {
    std::lock_guard lock(mu_);
    if (!peers_.count(id)) return;  // not (or no longer) connected
  }
  switch (type) {
    case msg::kGetHeaders: return handle_getheaders(id, payload);
    case msg::kHeaders: return handle_headers(id, payload);
    case msg::kInv: return handle_inv(id, payload);
    case msg::kGetData: return handle_getdata(id, payload);
    case msg::kTx: return handle_tx(id, payload);
    case msg::kTxs: return handle_txs(id, payload);
    case msg::kBlock: return handle_block(id, payload);
    case msg::kNotFound: return handle_notfound(id, payload);
    case msg::kMempool: return handle_mempool(id, payload);
    case msg::kSendCmpct: return handle_sendcmpct(id, payload);
    case msg::kCmpctBlock: return handle_cmpctblock(id, payload);
    case msg::kGetBlockTxn: return handle_getblocktxn(id, payload);
    case msg::kBlockTxn: return handle_blocktxn(id, payload);
    default: return misbehave(id, 10, "unexpected message type " + std::to_string(type));
  }
}

void PeerManager::send_getheaders(PeerId id, const std::vector<BlockId>& prefix) {
  auto loc = chain_.locator();
  if (!prefix.empty()) loc.insert(loc.begin(), prefix.begin(), prefix.end());
  if (loc.size() > kMaxLocator) loc.erase(loc.begin() + static_cast<long>(kMaxLocator) - 1, loc.end() - 1);
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    it->second.last_headers_request_ms = timer_now_ms();
  }
  net_.send(id, msg::kGetHeaders, encode_locator(loc));
}

void PeerManager::handle_getheaders(PeerId id, util::ByteSpan payload) {
  auto loc = decode_locator(payload);
  if (!loc) return misbehave(id, 100, "malformed getheaders: " + loc.error().to_string());
  auto headers = chain_.headers_after(*loc, kMaxHeaders);
  net_.send(id, msg::kHeaders, encode_headers(headers));
}

void PeerManager::handle_headers(PeerId id, util::ByteSpan payload) {
  auto decoded = decode_headers(payload);
  if (!decoded) return misbehave(id, 100, "malformed headers: " + decoded.error().to_string());
  const auto& headers = *decoded;
  if (headers.empty()) {
    // The peer has nothing after what we asked: a pre-sync waiting on it is over.
    std::lock_guard lock(mu_);
    if (auto it = peers_.find(id); it != peers_.end()) it->second.presync.reset();
    return;
  }
  for (size_t i = 1; i < headers.size(); ++i)
    if (headers[i].prev_id != headers[i - 1].id()) return misbehave(id, 100, "headers not a chain");
  std::optional<HeaderPresync> pre;
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    pre = it->second.presync;
  }
  if (pre && pre->redownload) {
    // Anything but the batch awaited (an announcement, the answer to an older getheaders) is
    // ignored; a peer that never sends it stalls the pre-sync, which tick() then drops.
    if (headers.front().prev_id == pre->stored_last) redownload_headers(id, headers);
    return;
  }
  // Nothing new (a peer behind us answering with our own chain): as before.
  if (chain_.header(headers.back().id())) return store_headers(id, headers);
  const bool continues = pre && headers.front().prev_id == pre->run.last_id;
  auto run = chain_.check_header_run(headers, continues ? &pre->run : nullptr);
  if (!run) {
    if (run.error().code == RejectCode::kMissingParent) {
      // We are further apart than the peer thought: ask again from our locator. Not while a
      // pre-sync runs: that is an announcement on the branch being pre-synced, which the
      // pre-sync fetches; asking again would restart it.
      if (!pre) send_getheaders(id);
      return;
    }
    if (int p = penalty(run.error().code); p > 0) {
      {
        std::lock_guard lock(mu_);
        if (auto it = peers_.find(id); it != peers_.end()) it->second.presync.reset();
      }
      return misbehave(id, p, "invalid header: " + run.error().to_string());
    }
    return;
  }
  const bool enough = !(run->chain_work < chain_.min_branch_work(opts_.low_work_margin_blocks));
  if (enough && !continues) return store_headers(id, headers);
  BlockId ask_after;
  bool drop = false, phase2 = false;
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    Peer& p = it->second;
    if (!continues) {
      // The same branch again (the answer to an older getheaders, or to a poll): the pre-sync
      // goes on. A new branch replaces it.
      if (p.presync && headers.front().prev_id == p.presync->fork) return;
      p.presync.emplace();
      p.presync->fork = headers.front().prev_id;
    }
    auto& ps = *p.presync;
    ps.progress_ms = timer_now_ms();
    ps.run = *run;
    ps.count += headers.size();
    ps.marks.emplace_back(ps.count, run->last_id);
    p.best_height = std::max(p.best_height, headers.back().height);
    if (enough) {
      ps.redownload = true;
      ps.stored = 0;
      ps.stored_last = ps.fork;
      ask_after = ps.fork;
      phase2 = true;
    } else if (ps.count > opts_.max_presync_headers || headers.size() < kMaxHeaders) {
      drop = true;  // too long, or the peer has no more: a branch with less work than ours
      p.presync.reset();
    } else {
      ask_after = run->last_id;
    }
  }
  if (phase2) {
    util::log().info("headers pre-sync: peer {}'s branch from {} reaches our chain's work after {} headers; fetching it again to store it",
                     id, pre ? pre->fork.hex() : headers.front().prev_id.hex(), pre ? pre->count + headers.size() : headers.size());
  } else if (drop) {
    util::log().info("headers pre-sync: peer {}'s branch ending at height {} has too little work; not stored", id,
                     headers.back().height);
    return;
  }
  send_getheaders(id, {ask_after});
}

void PeerManager::redownload_headers(PeerId id, const std::vector<primitives::BlockHeader>& headers) {
  HeaderPresync ps;
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(id);
    if (it == peers_.end() || !it->second.presync) return;
    ps = *it->second.presync;
  }
  // The furthest remembered batch end this message reaches.
  std::optional<std::pair<uint64_t, BlockId>> mark;
  for (const auto& m : ps.marks)
    if (m.first > ps.stored && m.first <= ps.stored + headers.size()) mark = m;
  auto abandon = [&](const std::string& why) {
    util::log().info("headers pre-sync with peer {} abandoned: {}", id, why);
    std::lock_guard lock(mu_);
    if (auto it = peers_.find(id); it != peers_.end()) it->second.presync.reset();
  };
  const size_t k = mark ? static_cast<size_t>(mark->first - ps.stored) : 0;
  if (!mark || headers[k - 1].id() != mark->second)
    return abandon("the branch sent again differs from the one checked");
  {
    HeaderWriteScope write_headers{chain_};
    for (size_t i = 0; i < k; ++i) {
      auto r = chain_.accept_header(headers[i]);
      if (!r) {
        abandon("invalid header: " + r.error().to_string());
        if (int p = penalty(r.error().code); p > 0) misbehave(id, p, "invalid header: " + r.error().to_string());
        return;
      }
    }
  }
  const bool done = mark->first == ps.marks.back().first;
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    Peer& p = it->second;
    for (size_t i = 0; i < k; ++i) mark_known(p, headers[i].id());
    if (done) {
      p.presync.reset();
    } else if (p.presync) {
      p.presync->stored = mark->first;
      p.presync->stored_last = mark->second;
      p.presync->progress_ms = timer_now_ms();
    }
  }
  if (!done) return send_getheaders(id, {mark->second});
  util::log().info("headers pre-sync with peer {}: stored {} headers", id, mark->first);
  // What follows the remembered end (the peer's chain grew meanwhile) goes the usual way.
  std::vector<primitives::BlockHeader> rest(headers.begin() + static_cast<long>(k), headers.end());
  if (!rest.empty()) {
    auto run = chain_.check_header_run(rest);
    if (run && !(run->chain_work < chain_.min_branch_work(opts_.low_work_margin_blocks))) return store_headers(id, rest);
  }
  if (headers.size() == kMaxHeaders) send_getheaders(id, {headers.back().id()});
  request_blocks(id);
}

void PeerManager::store_headers(PeerId id, const std::vector<primitives::BlockHeader>& headers) {
  HeaderWriteScope write_headers{chain_};
  for (size_t i = 0; i < headers.size(); ++i) {
    const auto& h = headers[i];
    auto r = chain_.accept_header(h);
    if (!r) {
      if (r.error().code == RejectCode::kMissingParent) {
        // We are further apart than the peer thought: ask again from our locator.
        if (i == 0) send_getheaders(id);
        return;
      }
      if (int p = penalty(r.error().code); p > 0) return misbehave(id, p, "invalid header: " + r.error().to_string());
      return;
    }
  }
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    Peer& p = it->second;
    p.best_height = std::max(p.best_height, headers.back().height);
    for (const auto& h : headers) mark_known(p, h.id());
  }
  if (headers.size() == kMaxHeaders) send_getheaders(id, {headers.back().id()});  // more to come
  auto best = chain_.best_header();
  auto tip = chain_.tip();
  if (best.height > tip.height) {
    util::log().info("sync: {} headers from peer {}, best header {}, tip {}", headers.size(), id, best.height, tip.height);
    catching_up_ = true;  // tick() says "synced" once the tip reaches the best header
  }
  request_blocks(id);
}

void PeerManager::request_blocks(PeerId id) {
  if (opts_.queue_blocks) {
    // Backpressure: while half the block queue is used, nothing more is asked for.
    std::lock_guard lock(blkq_mu_);
    if (blkq_bytes_ > 0 && blkq_bytes_ >= opts_.max_queued_block_bytes / 2) return;
  }
  auto wanted = chain_.blocks_to_fetch(256);
  const BlockId tip_id = opts_.compact_relay ? chain_.tip().id : BlockId{};
  std::vector<InvItem> ask;
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    Peer& p = it->second;
    int64_t now = timer_now_ms();
    for (const auto& bid : wanted) {
      if (p.in_flight.size() >= opts_.max_blocks_in_flight) break;
      if (requested_.count(bid)) continue;  // another peer is fetching it: parallel download
      if (taken_.count(bid)) continue;      // delivered, waiting for validation
      if (auto ra = retry_after_.find(bid); ra != retry_after_.end()) {
        if (now < ra->second) continue;
        retry_after_.erase(ra);
      }
      auto hdr = chain_.header(bid);
      if (hdr && hdr->height > p.best_height) continue;  // the peer has not shown it has it
      requested_[bid] = id;
      p.in_flight[bid] = now;
      // Low-bandwidth compact relay (BIP152): the block that extends our tip, from a peer that
      // understands sketches, is asked for as one; our mempool most likely holds its transfers.
      // Blocks further back (a sync) come whole.
      if (opts_.compact_relay && p.compact && hdr && hdr->prev_id == tip_id) {
        p.sketch_asked.insert(bid);
        ask.push_back({InvKind::kCmpctBlock, bid});
        counters_.sketches_requested.fetch_add(1, std::memory_order_relaxed);
      } else {
        ask.push_back({InvKind::kBlock, bid});
      }
    }
  }
  if (!ask.empty()) net_.send(id, msg::kGetData, encode_inv(ask));
}

void PeerManager::handle_inv(PeerId id, util::ByteSpan payload) {
  auto items = decode_inv(payload);
  if (!items) return misbehave(id, 100, "malformed inv: " + items.error().to_string());
  std::vector<InvItem> want_txs;
  std::vector<primitives::TxId> tx_ids;
  bool unknown_block = false;
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    for (const auto& item : *items) mark_known(it->second, item.id);
  }
  for (const auto& item : *items) {
    if (item.kind == InvKind::kTx) tx_ids.push_back(item.id);
    else if (item.kind == InvKind::kBlock && !chain_.header(item.id)) unknown_block = true;
  }
  // Overloaded (admission queue half full): ask for nothing more now, so relay traffic cannot
  // crowd out blocks and headers; tick() asks for them once the queue has room.
  bool overloaded = opts_.queue_txs && queued_txs() >= opts_.max_queued_txs / 2;
  if (!tx_ids.empty() && overloaded) {
    std::lock_guard lock(txq_mu_);
    for (const auto& t : tx_ids) defer_tx(id, t);
  } else if (!tx_ids.empty()) {
    auto known = chain_.known_transactions(tx_ids);
    for (size_t i = 0; i < tx_ids.size(); ++i)
      if (!known[i]) want_txs.push_back({InvKind::kTx, tx_ids[i]});
  }
  if (!want_txs.empty()) net_.send(id, msg::kGetData, encode_inv(want_txs));
  if (unknown_block) send_getheaders(id);
  else request_blocks(id);
}

void PeerManager::handle_getdata(PeerId id, util::ByteSpan payload) {
  auto items = decode_inv(payload);
  if (!items) return misbehave(id, 100, "malformed getdata: " + items.error().to_string());
  std::vector<InvItem> missing;
  // Transactions are served from the mempool only (one lock for the whole request); a confirmed
  // one travels in its block. Each id once: a getdata naming one id 5,000 times costs one.
  std::vector<primitives::TxId> tx_ids;
  std::vector<BlockId> block_ids;
  std::vector<RecentBlock> sketches;  // kCmpctBlock items found among the recent blocks
  bool batch_txs = false;
  {
    std::unordered_set<crypto::Hash256, util::FixedBytesHasher> seen;
    std::lock_guard lock(mu_);
    auto pit = peers_.find(id);
    if (pit == peers_.end()) return;
    batch_txs = pit->second.batch_txs;
    auto& served = pit->second.sketches_served;
    for (const auto& item : *items) {
      if (!seen.insert(item.id).second) continue;
      if (item.kind == InvKind::kCmpctBlock && opts_.compact_relay &&
          std::find(served.begin(), served.end(), item.id) == served.end()) {
        auto rb = std::find_if(recent_.begin(), recent_.end(), [&](const RecentBlock& r) { return r.id == item.id; });
        if (rb != recent_.end()) {
          sketches.push_back(*rb);
          served.push_back(item.id);
          while (served.size() > std::max<size_t>(1, opts_.recent_blocks)) served.pop_front();
          continue;
        }
      }
      // Not among the recent blocks (BIP152: a deep block is sent whole), or asked for again:
      // as a block request.
      (item.kind == InvKind::kTx ? tx_ids : block_ids).push_back(item.id);
    }
  }
  for (const auto& rb : sketches) send_sketch(id, rb);
  auto txs = chain_.mempool_transactions(tx_ids);
  if (batch_txs) {
    // One `txs` frame per kMaxTxsPerMessage transfers: one frame, seal and send instead of one
    // per transfer.
    std::vector<const primitives::Transaction*> found;
    found.reserve(tx_ids.size());
    for (size_t i = 0; i < tx_ids.size(); ++i) {
      if (txs[i]) found.push_back(&*txs[i]);
      else missing.push_back({InvKind::kTx, tx_ids[i]});
    }
    for (size_t off = 0; off < found.size(); off += kMaxTxsPerMessage)
      net_.send(id, msg::kTxs,
                encode_txs(std::span(found).subspan(off, std::min(kMaxTxsPerMessage, found.size() - off))));
  } else {
    for (size_t i = 0; i < tx_ids.size(); ++i) {
      if (txs[i]) net_.send(id, msg::kTx, primitives::encode_transaction(*txs[i]));
      else missing.push_back({InvKind::kTx, tx_ids[i]});
    }
  }
  // Blocks: an index lookup now (unknown ones get notfound at once); those we know wait in the
  // peer's queue, at most max_pending_getdata_blocks, and are read and sent a budget at a time.
  // Past the cap the rest get notfound: an honest peer asks for max_blocks_in_flight at a time.
  std::vector<BlockId> known;
  auto in_index = chain_.known_headers(block_ids);
  for (size_t i = 0; i < block_ids.size(); ++i) {
    if (in_index[i]) known.push_back(block_ids[i]);
    else missing.push_back({InvKind::kBlock, block_ids[i]});
  }
  size_t refused = 0;
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    Peer& p = it->second;
    for (const auto& bid : known) {
      if (p.getdata_pending.count(bid)) continue;  // already waiting: served once
      if (p.getdata_blocks.size() >= opts_.max_pending_getdata_blocks) {
        missing.push_back({InvKind::kBlock, bid});
        ++refused;
        continue;
      }
      p.getdata_pending.insert(bid);
      p.getdata_blocks.push_back(bid);
    }
  }
  if (refused) util::log().debug("peer {}: getdata beyond {} waiting blocks, {} refused", id, opts_.max_pending_getdata_blocks, refused);
  if (!missing.empty()) net_.send(id, msg::kNotFound, encode_inv(missing));
  serve_getdata(id);
}

void PeerManager::serve_getdata(PeerId id) {
  size_t budget = opts_.serve_bytes_per_turn;
  std::vector<InvItem> missing;
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(id);
    if (it == peers_.end() || it->second.serving || it->second.getdata_blocks.empty()) return;
    it->second.serving = true;
  }
  bool abandon = false;
  for (;;) {
    BlockId bid;
    const size_t queued = net_.queued_bytes(id);  // net's lock, not taken under ours
    {
      std::lock_guard lock(mu_);
      auto it = peers_.find(id);
      if (it == peers_.end()) return;  // gone: its queue went with it
      Peer& p = it->second;
      if (abandon) {
        p.getdata_blocks.clear();
        p.getdata_pending.clear();
      }
      if (p.getdata_blocks.empty() || budget == 0 || queued > opts_.serve_pause_bytes) {
        p.serving = false;
        break;
      }
      bid = p.getdata_blocks.front();
      p.getdata_blocks.pop_front();
      p.getdata_pending.erase(bid);
    }
    auto b = chain_.block(bid);
    if (!b) {
      missing.push_back({InvKind::kBlock, bid});
      continue;
    }
    auto bytes = primitives::encode_block(*b);
    budget -= std::min(budget, bytes.size());
    counters_.blocks_sent_full.fetch_add(1, std::memory_order_relaxed);
    counters_.block_bytes_sent.fetch_add(bytes.size(), std::memory_order_relaxed);
    // A failed send means the peer is gone or its queue overflowed (it is being dropped as a
    // slow reader): nothing more is read for it.
    if (!net_.send(id, msg::kBlock, std::move(bytes))) abandon = true;
  }
  if (!missing.empty() && !abandon) net_.send(id, msg::kNotFound, encode_inv(missing));
}

void PeerManager::handle_mempool(PeerId id, util::ByteSpan payload) {
  if (!payload.empty()) return misbehave(id, 100, "malformed mempool request");
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    // Once per connection: the answer costs a pass over the mempool.
    if (it->second.answered_mempool) return misbehave(id, 10, "mempool requested twice");
    it->second.answered_mempool = true;
  }
  auto ids = chain_.mempool_ids();
  if (ids.size() > opts_.max_mempool_inv) ids.resize(opts_.max_mempool_inv);
  std::vector<InvItem> items;
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    items.reserve(ids.size());
    for (const auto& t : ids) {
      mark_known(it->second, t);
      items.push_back({InvKind::kTx, t});
    }
  }
  for (size_t off = 0; off < items.size(); off += kMaxInv) {
    auto end = std::min(items.size(), off + kMaxInv);
    net_.send(id, msg::kInv, encode_inv(std::vector<InvItem>(items.begin() + static_cast<long>(off),
                                                              items.begin() + static_cast<long>(end))));
  }
}

void PeerManager::handle_tx(PeerId id, util::ByteSpan payload) {
  auto tx = primitives::decode_transaction(payload);
  if (!tx) return misbehave(id, 100, "malformed tx: " + tx.error().to_string());
  std::vector<primitives::Transaction> txs;
  txs.push_back(std::move(*tx));
  take_txs(id, std::move(txs));
}

void PeerManager::handle_txs(PeerId id, util::ByteSpan payload) {
  auto txs = decode_txs(payload);
  if (!txs) return misbehave(id, 100, "malformed txs: " + txs.error().to_string());
  take_txs(id, std::move(*txs));
}

void PeerManager::take_txs(PeerId id, std::vector<primitives::Transaction> txs) {
  std::vector<primitives::TxId> ids;
  ids.reserve(txs.size());
  for (const auto& tx : txs) ids.push_back(tx.id());
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    for (const auto& t : ids) mark_known(it->second, t);
  }
  if (opts_.queue_txs) {
    size_t before = 0, after = 0;
    {
      std::lock_guard lock(txq_mu_);
      before = txq_.size();
      for (size_t i = 0; i < txs.size(); ++i) {
        if (txq_.size() >= opts_.max_queued_txs) defer_tx(id, ids[i]);  // overloaded: asked again later
        else txq_.push_back({id, std::move(txs[i])});
      }
      after = txq_.size();
    }
    // Wake the admission thread for the first transaction and when a batch is full; it
    // gathers the rest itself (a wake-up per transaction cost more than the checks).
    if ((before == 0 && after > 0) || (before < kAdmissionBatch && after >= kAdmissionBatch)) txq_cv_.notify_one();
    return;
  }
  auto results = chain_.submit_transactions(txs);  // each success fires on_tx_accepted: relay
  for (size_t i = 0; i < results.size(); ++i) {
    // A local (storage) error is ours, never the peer's: no penalty.
    if (results[i] || !results[i].error().rejection()) continue;
    counters_.txs_rejected.add(consensus::reject_token(results[i].error().rejection()->code));
    if (int p = penalty(results[i].error().rejection()->code); p > 0)
      misbehave(id, p, "invalid tx " + ids[i].hex() + ": " + results[i].error().to_string());
  }
}

size_t PeerManager::admit_queued_txs(std::chrono::milliseconds wait) {
  constexpr size_t kBatch = 4096;
  std::vector<QueuedTx> batch;
  {
    std::unique_lock lock(txq_mu_);
    if (!txq_cv_.wait_for(lock, wait, [this] { return !txq_.empty(); })) return 0;
    // Let a batch gather for up to 10 ms: verifying on every core pays off from tens of
    // transactions, and relay adds ~100 ms of batching anyway.
    txq_cv_.wait_for(lock, std::chrono::milliseconds(10), [this] { return txq_.size() >= kAdmissionBatch; });
    if (txq_.size() <= kBatch) {
      batch.swap(txq_);
    } else {
      batch.assign(std::make_move_iterator(txq_.begin()), std::make_move_iterator(txq_.begin() + kBatch));
      txq_.erase(txq_.begin(), txq_.begin() + kBatch);
    }
  }
  std::vector<primitives::Transaction> txs;
  txs.reserve(batch.size());
  for (auto& q : batch) txs.push_back(q.tx);
  auto results = chain_.submit_transactions(txs);  // each success fires on_tx_accepted: relay
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i] || !results[i].error().rejection()) continue;  // local errors are ours: no penalty
    counters_.txs_rejected.add(consensus::reject_token(results[i].error().rejection()->code));
    if (int p = penalty(results[i].error().rejection()->code); p > 0)
      misbehave(batch[i].peer, p, "invalid tx " + txs[i].id().hex() + ": " + results[i].error().to_string());
  }
  return batch.size();
}

void PeerManager::defer_tx(PeerId peer, const primitives::TxId& id) {
  deferred_txs_.emplace_back(peer, id);
  while (deferred_txs_.size() > opts_.max_queued_txs) deferred_txs_.pop_front();
}

void PeerManager::fetch_deferred_txs() {
  // As many as the admission queue has room for below its overload mark, oldest first.
  std::vector<std::pair<PeerId, primitives::TxId>> take;
  {
    std::lock_guard lock(txq_mu_);
    const size_t mark = opts_.max_queued_txs / 2;
    if (deferred_txs_.empty() || txq_.size() >= mark) return;
    const size_t n = std::min(deferred_txs_.size(), mark - txq_.size());
    take.assign(deferred_txs_.begin(), deferred_txs_.begin() + static_cast<std::ptrdiff_t>(n));
    deferred_txs_.erase(deferred_txs_.begin(), deferred_txs_.begin() + static_cast<std::ptrdiff_t>(n));
  }
  std::vector<primitives::TxId> ids;
  ids.reserve(take.size());
  for (const auto& [peer, id] : take) ids.push_back(id);
  auto known = chain_.known_transactions(ids);  // confirmed or pooled meanwhile: not asked for
  std::map<PeerId, std::vector<InvItem>> want;
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < take.size(); ++i)
      if (!known[i] && peers_.count(take[i].first)) want[take[i].first].push_back({InvKind::kTx, ids[i]});
  }
  for (auto& [peer, items] : want)
    for (size_t off = 0; off < items.size(); off += kMaxInv)
      net_.send(peer, msg::kGetData,
                encode_inv(std::vector<InvItem>(items.begin() + static_cast<std::ptrdiff_t>(off),
                                                items.begin() + static_cast<std::ptrdiff_t>(std::min(items.size(), off + kMaxInv)))));
}

size_t PeerManager::queued_txs() const {
  std::lock_guard lock(txq_mu_);
  return txq_.size();
}

void PeerManager::handle_block(PeerId id, util::ByteSpan payload) {
  auto block = primitives::decode_block(payload);
  if (!block) return misbehave(id, 100, "malformed block: " + block.error().to_string());
  auto bid = block->id();
  take_block(id, std::move(*block), bid, payload.size(), false);
}

void PeerManager::take_block(PeerId id, primitives::Block block, const BlockId& bid, size_t bytes, bool sketch,
                             std::shared_ptr<const std::vector<primitives::TxId>> ids) {
  bool requested = false;
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    mark_known(it->second, bid);
    it->second.best_height = std::max(it->second.best_height, block.header.height);
    if (taken_.count(bid)) {
      // A second copy while the first waits for validation: only the peer's window is freed.
      if (it->second.in_flight.erase(bid)) it->second.stalls = 0;
      return;
    }
    auto rq = requested_.find(bid);
    requested = it->second.in_flight.count(bid) || (rq != requested_.end() && rq->second == id);
  }
  // A block on our tip whose header holds (proof of work, target, time) is passed on as a
  // sketch now, before it is validated: the high-bandwidth peers rebuild it meanwhile.
  const auto tip = chain_.tip();
  const bool on_tip = block.header.prev_id == tip.id;
  std::optional<consensus::Checked<chain::ChainState::HeaderRun>> run;
  if (!requested || opts_.on_better_block || (opts_.compact_relay && on_tip))
    run = chain_.check_header_run(std::span(&block.header, 1));
  if (!requested) {
    // Unrequested (Bitcoin's fRequested rule): stored only if it gives us a chain with more work
    // than our tip, so a peer cannot make us store blocks nobody needs. An unknown parent or an
    // invalid header goes on to process_block, which says so without storing anything.
    if (*run && !(tip.chain_work < (*run)->chain_work)) {
      util::log().debug("unrequested block {} from peer {} adds no work: not stored", bid.hex(), id);
      return;
    }
  }
  const bool better = run && *run && tip.chain_work < (*run)->chain_work;
  if (better && opts_.on_better_block) opts_.on_better_block(block.header.height);
  auto shared = std::make_shared<const primitives::Block>(std::move(block));
  // A rebuilt block's ids are those PartialBlock::take compared with the header's Merkle root
  // (finish_rebuild); the checks do not compute it again.
  bool root_matched = sketch && ids;
  std::optional<RecentBlock> sketch_on;  // passed on to our high-bandwidth peers
  if (opts_.compact_relay && on_tip && better) {
    // Only a body that matches its header's Merkle root is kept and sketched on (see
    // remember_recent); a mutated one goes on to validation, which refuses it.
    if (!ids) {
      // Taken once here; they are this body's ids whether or not they match the header's root.
      auto taken = std::make_shared<const std::vector<primitives::TxId>>(primitives::transaction_ids(shared->txs));
      const bool matches = primitives::compute_merkle_root(*taken) == shared->header.merkle_root;
      ids = std::move(taken);
      root_matched = matches;
      if (matches) sketch_on = remember_recent(shared, bid, ids);
    } else {
      sketch_on = remember_recent(shared, bid, ids);
    }
  }
  if (!opts_.queue_blocks) {
    if (sketch_on) push_sketches(*sketch_on, id);
    return process_one_block(id, *shared, bid, sketch, ids.get(), root_matched);
  }
  {
    // Delivered: the peer's download window has room again (a sync keeps every stage busy).
    // requested_ keeps the block until it is processed, so nobody asks for it meanwhile, and
    // taken_ keeps further copies out of the queue.
    std::lock_guard lock(mu_);
    auto it = peers_.find(id);
    if (it != peers_.end() && it->second.in_flight.erase(bid)) it->second.stalls = 0;
    taken_.insert(bid);
  }
  bool dropped = false;
  {
    std::lock_guard lock(blkq_mu_);
    if (blkq_bytes_ + bytes > opts_.max_queued_block_bytes && blkq_bytes_ > 0) {
      dropped = true;
    } else {
      blkq_bytes_ += bytes;
      blkq_.push_back({id, std::move(shared), std::move(ids), bid, bytes, sketch, root_matched});
    }
  }
  if (!dropped) blkq_cv_.notify_one();
  // The sketches for our peers once the block is on its way to validation, not before: building
  // one (a short id per transaction, the prefill) took 5-10 ms of a large block's path under load.
  if (sketch_on) push_sketches(*sketch_on, id);
  if (dropped) {
    // Overloaded: forget the request (it left the peer's window above) so the block is asked
    // for again once the queue drains.
    util::log().debug("block queue full: dropped block {} from peer {}", bid.hex(), id);
    std::lock_guard lock(mu_);
    taken_.erase(bid);
    auto rq = requested_.find(bid);
    if (rq != requested_.end() && rq->second == id) requested_.erase(rq);
    return;
  }
  request_blocks(id);  // refill the peer's window now, not when this block is connected
}

size_t PeerManager::verify_queued_blocks(std::chrono::milliseconds wait) {
  std::deque<QueuedBlock> batch;
  {
    std::unique_lock lock(blkq_mu_);
    if (!blkq_cv_.wait_for(lock, wait, [this] { return !blkq_.empty(); })) return 0;
    batch.swap(blkq_);
  }
  // Every waiting block's signatures in one batch on every core, while the block thread
  // connects the previous batch: a sync keeps both busy.
  // Each block's ids are taken here once if its rebuild did not already (a block sent whole),
  // and serve the signature lookups and the block's checks and connect.
  std::vector<const primitives::Block*> blocks;
  std::vector<const std::vector<primitives::TxId>*> ids;
  blocks.reserve(batch.size());
  ids.reserve(batch.size());
  const int64_t started_ns = clock_.steady_ns();
  for (auto& q : batch) {
    if (!q.ids) q.ids = std::make_shared<const std::vector<primitives::TxId>>(primitives::transaction_ids(q.block->txs));
    blocks.push_back(q.block.get());
    ids.push_back(q.ids.get());
  }
  const size_t verified = chain_.warm_signatures(blocks, ids);
  util::log().debug("signatures of {} queued block(s) checked in {} ms ({} not cached)", blocks.size(),
                    (clock_.steady_ns() - started_ns) / 1'000'000, verified);
  size_t n = batch.size();
  {
    std::lock_guard lock(blkq_mu_);
    for (auto& q : batch) ready_.push_back(std::move(q));
  }
  ready_cv_.notify_one();
  return n;
}

size_t PeerManager::process_queued_blocks(std::chrono::milliseconds wait) {
  std::deque<QueuedBlock> batch;
  {
    std::unique_lock lock(blkq_mu_);
    if (!ready_cv_.wait_for(lock, wait, [this] { return !ready_.empty(); })) return 0;
    batch.swap(ready_);
  }
  // In arrival order; their signatures are cached by now (one verification each).
  for (auto& q : batch) {
    process_one_block(q.peer, *q.block, q.id, q.sketch, q.ids.get(), q.root_matched);
    std::lock_guard lock(blkq_mu_);
    blkq_bytes_ -= q.bytes;
  }
  return batch.size();
}

size_t PeerManager::queued_blocks() const {
  std::lock_guard lock(blkq_mu_);
  return blkq_.size() + ready_.size();
}

void PeerManager::process_one_block(PeerId id, const primitives::Block& block, const BlockId& bid, bool sketch,
                                    const std::vector<primitives::TxId>* ids, bool root_matched) {
  const int64_t started_ns = clock_.steady_ns();
  // Durable by the node's next tick (Node::tick -> sync_pending): the block thread goes on to
  // the next block instead of waiting for the fsync (ADR 0024).
  auto r = chain_.process_block(block, ids, chain::ChainState::Durability::kByNextSync, root_matched);
  {
    // Only now is it no longer in flight: erasing it before processing let tick() ask for it
    // again while a large block was being validated.
    std::lock_guard lock(mu_);
    taken_.erase(bid);
    auto it = peers_.find(id);
    if (it != peers_.end() && it->second.in_flight.erase(bid)) it->second.stalls = 0;
    auto rq = requested_.find(bid);
    if (rq != requested_.end() && rq->second == id) requested_.erase(rq);
  }
  const int64_t elapsed_ns = clock_.steady_ns() - started_ns;
  const int64_t ms = elapsed_ns / 1'000'000;
  counters_.block_processing.observe(static_cast<double>(elapsed_ns) / 1e9);
  if (r && r->tip_changed && block.txs.size() >= 256 && elapsed_ns > 0) {
    const auto sample = static_cast<uint64_t>(elapsed_ns) / block.txs.size();
    const uint64_t old = counters_.validation_ns_per_tx.load(std::memory_order_relaxed);
    counters_.validation_ns_per_tx.store(old == 0 ? sample : (old * 3 + sample) / 4, std::memory_order_relaxed);
  }
  if (!r && r.error().rejection()) counters_.blocks_rejected.add(consensus::reject_token(r.error().rejection()->code));
  if (r && r->stored)  // one info line per block taken (mined blocks: the miner's line)
    util::log().info("block {} height {} txs {} from peer {}: accepted in {} ms", bid.hex(), block.header.height,
                     block.txs.size(), id, ms);
  else
    util::log().debug("block {} height {} txs {} from peer {}: {} in {} ms", bid.hex(), block.header.height,
                      block.txs.size(), id, r ? "already known" : r.error().to_string(), ms);
  if (!r && r.error().local()) {
    // Our storage failed or is paused: the block may be perfectly valid. No penalty, and no
    // new requests (blocks_to_fetch() is empty until storage resumes).
    util::log().debug("block {} from peer {} not taken: {}", bid.hex(), id, r.error().to_string());
    return;
  }
  if (r && r->tip_changed && opts_.compact_relay) promote_hb(id);
  if (!r) {
    auto code = r.error().rejection()->code;
    if (code == RejectCode::kMissingParent) {
      send_getheaders(id);  // fetch the ancestors, headers first
    } else if (code == RejectCode::kTimeTooNew) {
      std::lock_guard lock(mu_);
      if (retry_after_.size() > 10'000) retry_after_.clear();  // bounded
      retry_after_[bid] = timer_now_ms() + 5'000;  // our clock may be behind: ask again later
    } else if (int p = penalty(code); p > 0) {
      if (sketch) {
        // Relayed before validation (as we relay), with a header that held: not the peer's doing.
        util::log().info("block {} rebuilt from peer {}'s sketch is invalid: {} (no penalty: sketches travel before validation)",
                         bid.hex(), id, r.error().to_string());
      } else {
        misbehave(id, p, "invalid block " + bid.hex() + ": " + r.error().to_string());
        return;
      }
    }
  }
  request_blocks(id);
}

void PeerManager::handle_notfound(PeerId id, util::ByteSpan payload) {
  auto items = decode_inv(payload);
  if (!items) return misbehave(id, 100, "malformed notfound: " + items.error().to_string());
  std::lock_guard lock(mu_);
  auto it = peers_.find(id);
  if (it == peers_.end()) return;
  for (const auto& item : *items) {
    if (item.kind == InvKind::kTx) continue;
    it->second.in_flight.erase(item.id);
    it->second.sketch_asked.erase(item.id);
    auto rq = requested_.find(item.id);
    if (rq != requested_.end() && rq->second == id) requested_.erase(rq);
  }
}

void PeerManager::misbehave(PeerId id, int points, const std::string& why) {
  bool ban = false;
  std::string address;
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    it->second.score += points;
    ban = it->second.score >= opts_.ban_score;
    address = it->second.address;
  }
  util::log().warn("peer {} ({}) misbehaving (+{}): {}", id, address, points, why);
  if (ban) {
    util::log().warn("peer {} ({}) banned for {} s", id, address, opts_.ban_ms / 1000);
    counters_.bans.fetch_add(1, std::memory_order_relaxed);
    net_.ban(id, opts_.ban_ms, why);
  }
}

void PeerManager::announce(const InvItem& item) {
  std::lock_guard lock(mu_);
  for (auto& [id, p] : peers_) {
    if (p.known.count(item.id)) continue;
    mark_known(p, item.id);
    p.pending_inv.push_back(item);
  }
}

// A new tip is announced at once with its header (no inv round trip, no wait for tick()):
// a peer that has the parent asks for the block straight away; one that lacks it asks for
// headers from its locator.
void PeerManager::on_tip_changed(const chain::TipInfo& tip) {
  util::log().debug("tip {} height {}", tip.id.hex(), tip.height);
  auto header = chain_.header(tip.id);
  if (!header) return;
  std::vector<PeerId> to, sketch_to;
  std::optional<RecentBlock> recent;
  bool low_bandwidth = false;  // a peer told of it by header may ask for its sketch
  {
    std::lock_guard lock(mu_);
    for (auto& [id, p] : peers_) {
      if (p.known.count(tip.id)) continue;
      if (opts_.compact_relay && p.push_sketches) {
        sketch_to.push_back(id);  // push_sketches() marks it known
        continue;
      }
      low_bandwidth = low_bandwidth || (opts_.compact_relay && p.compact);
      mark_known(p, tip.id);
      to.push_back(id);
    }
    for (const auto& rb : recent_)
      if (rb.id == tip.id) recent = rb;
  }
  // Our own block (a peer's was kept on arrival): read back once, kept for getblocktxn and for
  // the sketch requests of low-bandwidth peers.
  if ((low_bandwidth || !sketch_to.empty()) && !recent) {
    if (auto b = chain_.block(tip.id)) recent = remember_recent(std::move(*b), tip.id);
  }
  if (!sketch_to.empty()) {
    if (recent) {
      push_sketches(*recent, std::nullopt);
    } else {
      // Unreadable (storage fault): they get the header, as everyone else.
      std::lock_guard lock(mu_);
      for (auto id : sketch_to)
        if (auto it = peers_.find(id); it != peers_.end()) {
          mark_known(it->second, tip.id);
          to.push_back(id);
        }
    }
  }
  if (to.empty()) return;
  auto payload = encode_headers({*header});
  for (auto id : to) net_.send(id, msg::kHeaders, payload);
}

void PeerManager::relay_mined_block(const primitives::Block& block, const std::vector<primitives::TxId>& ids) {
  if (!opts_.compact_relay) return;
  const auto bid = block.id();
  if (ids.size() == block.txs.size() && !block.txs.empty()) {
    // The template's ids are its header's Merkle leaves: not taken again.
    push_sketches(remember_recent(std::make_shared<const primitives::Block>(block), bid,
                                  std::make_shared<const std::vector<primitives::TxId>>(ids)),
                  std::nullopt);
  } else if (auto rb = remember_recent(block, bid)) {
    push_sketches(*rb, std::nullopt);
  }
}

void PeerManager::on_tx_accepted(const primitives::TxId& id) { announce({InvKind::kTx, id}); }

void PeerManager::tick() {
  int64_t now = 0;
  std::vector<std::pair<PeerId, std::vector<InvItem>>> flush;
  std::vector<PeerId> poll, fetch, serve;
  {
    std::lock_guard lock(mu_);
    now = timer_now_ms();
    for (auto& [id, p] : peers_) {
      if (!p.pending_inv.empty()) {
        // Blocks first, so a new tip travels ahead of the transactions it confirms.
        std::stable_partition(p.pending_inv.begin(), p.pending_inv.end(),
                              [](const InvItem& i) { return i.kind == InvKind::kBlock; });
        for (size_t off = 0; off < p.pending_inv.size(); off += kMaxInv) {
          auto end = std::min(p.pending_inv.size(), off + kMaxInv);
          flush.emplace_back(id, std::vector<InvItem>(p.pending_inv.begin() + static_cast<long>(off),
                                                      p.pending_inv.begin() + static_cast<long>(end)));
        }
        p.pending_inv.clear();
      }
      for (auto it = p.in_flight.begin(); it != p.in_flight.end();) {
        if (now - it->second > opts_.block_timeout_ms) {
          util::log().info("peer {}: block {} timed out, asking elsewhere", id, it->first.hex());
          requested_.erase(it->first);
          it = p.in_flight.erase(it);
          ++p.stalls;
        } else {
          ++it;
        }
      }
      for (auto rb = p.rebuilding.begin(); rb != p.rebuilding.end();) {
        if (p.in_flight.count(rb->first)) {
          ++rb;
        } else {
          counters_.fell_back.fetch_add(1, std::memory_order_relaxed);  // timed out: fetched whole elsewhere
          rb = p.rebuilding.erase(rb);
        }
      }
      if (p.presync && now - p.presync->progress_ms > opts_.presync_stall_ms) {
        util::log().info("headers pre-sync with peer {} stalled; dropped", id);
        p.presync.reset();
      }
      if (now - p.last_headers_request_ms >= opts_.headers_poll_ms) poll.push_back(id);
      if (!p.getdata_blocks.empty()) serve.push_back(id);
      if (p.in_flight.size() < opts_.max_blocks_in_flight) fetch.push_back(id);
    }
    // Peers that let blocks time out are asked last, so a peer that never delivers (stalled,
    // hostile) cannot take the same blocks again ahead of one that would.
    std::stable_sort(fetch.begin(), fetch.end(),
                     [this](PeerId a, PeerId b) { return peers_.at(a).stalls < peers_.at(b).stalls; });
  }
  for (auto& [id, items] : flush) net_.send(id, msg::kInv, encode_inv(items));
  for (auto id : serve) serve_getdata(id);
  if (opts_.queue_txs) fetch_deferred_txs();
  {
    auto best = chain_.best_header();
    auto tip = chain_.tip();
    if (best.height > tip.height) {
      catching_up_ = true;
      if (now - last_progress_log_ms_ >= 5000) {
        last_progress_log_ms_ = now;
        util::log().info("sync: at height {} of {} ({} blocks to go)", tip.height, best.height, best.height - tip.height);
      }
    } else if (catching_up_.exchange(false)) {
      util::log().info("synced: at height {} (tip {}), the best header known", tip.height, tip.id.hex());
    }
  }
  for (auto id : poll) send_getheaders(id);
  if (!chain_.blocks_to_fetch(1).empty())
    for (auto id : fetch) request_blocks(id);
}

// ---- Compact blocks (node/compact.h; docs/spec/p2p.md "Compact blocks") ----

namespace {
uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
}  // namespace

PeerManager::RecentBlock PeerManager::remember_recent(std::shared_ptr<const primitives::Block> block, const BlockId& bid,
                                                      std::shared_ptr<const std::vector<primitives::TxId>> ids) {
  std::lock_guard lock(mu_);
  for (auto it = recent_.begin(); it != recent_.end(); ++it)
    if (it->id == bid) {
      if (*it->ids == *ids) return *it;
      recent_.erase(it);  // same header, another body with the same root: keep the newest
      break;
    }
  RecentBlock rb{bid, std::move(block), std::move(ids)};
  recent_.push_back(rb);
  while (recent_.size() > std::max<size_t>(1, opts_.recent_blocks)) recent_.pop_front();
  return rb;
}

std::optional<PeerManager::RecentBlock> PeerManager::remember_recent(primitives::Block block, const BlockId& bid) {
  auto ids = std::make_shared<const std::vector<primitives::TxId>>(primitives::transaction_ids(block.txs));
  if (primitives::compute_merkle_root(*ids) != block.header.merkle_root) return std::nullopt;
  return remember_recent(std::make_shared<const primitives::Block>(std::move(block)), bid, std::move(ids));
}

uint64_t PeerManager::next_salt() { return splitmix64(opts_.salt_seed ^ splitmix64(++salt_counter_)); }

std::vector<uint32_t> PeerManager::prefill_for(const Peer& p, const std::vector<primitives::TxId>& ids) const {
  // Sent whole: what the peer was never told of nor told us of (it most likely lacks it), and
  // what is still waiting in its batched announcements (marked known when queued).
  std::unordered_set<crypto::Hash256, util::FixedBytesHasher> unannounced;
  for (const auto& item : p.pending_inv)
    if (item.kind == InvKind::kTx) unannounced.insert(item.id);
  std::vector<uint32_t> prefill;
  for (uint32_t i = 0; i < ids.size() && prefill.size() < opts_.max_prefilled; ++i)
    if (!p.known.count(ids[i]) || unannounced.count(ids[i])) prefill.push_back(i);
  return prefill;
}

void PeerManager::send_cmpct(PeerId id, const RecentBlock& rb, uint64_t salt, const std::vector<uint32_t>& prefill) {
  const auto& block = *rb.block;
  auto payload = encode_cmpctblock(make_compact_block(block, *rb.ids, salt, prefill));
  const size_t full = block.encoded_size();
  counters_.sketches_sent.fetch_add(1, std::memory_order_relaxed);
  counters_.sketch_bytes_sent.fetch_add(payload.size(), std::memory_order_relaxed);
  counters_.sketched_block_bytes.fetch_add(full, std::memory_order_relaxed);
  util::log().debug("block {} height {}: sketch of {} bytes ({} prefilled) to peer {}, the block is {} bytes", rb.id.hex(),
                    block.header.height, payload.size(), prefill.size(), id, full);
  net_.send(id, msg::kCmpctBlock, std::move(payload));
}

void PeerManager::push_sketches(const RecentBlock& rb, std::optional<PeerId> from) {
  std::vector<std::pair<PeerId, std::vector<uint32_t>>> to;
  uint64_t salt = 0;
  {
    std::lock_guard lock(mu_);
    salt = next_salt();
    for (auto& [id, p] : peers_) {
      if (!p.push_sketches || (from && id == *from) || p.known.count(rb.id)) continue;
      mark_known(p, rb.id);
      to.emplace_back(id, prefill_for(p, *rb.ids));
    }
  }
  for (auto& [id, prefill] : to) send_cmpct(id, rb, salt, prefill);
}

void PeerManager::send_sketch(PeerId id, const RecentBlock& rb) {
  std::vector<uint32_t> prefill;
  uint64_t salt = 0;
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    salt = next_salt();
    mark_known(it->second, rb.id);
    prefill = prefill_for(it->second, *rb.ids);
  }
  send_cmpct(id, rb, salt, prefill);
}

void PeerManager::promote_hb(PeerId id) {
  std::optional<PeerId> demoted;
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(id);
    if (it == peers_.end() || !it->second.compact) return;
    if (auto pos = std::find(hb_peers_.begin(), hb_peers_.end(), id); pos != hb_peers_.end()) {
      hb_peers_.erase(pos);
      hb_peers_.push_back(id);  // the most recent deliverer is kept longest
      return;
    }
    hb_peers_.push_back(id);
    if (hb_peers_.size() > opts_.compact_hb_peers) {
      demoted = hb_peers_.front();
      hb_peers_.pop_front();
    }
  }
  util::log().debug("peer {} delivered our new tip first: asked to push sketches", id);
  net_.send(id, msg::kSendCmpct, encode_sendcmpct(true));
  if (demoted) net_.send(*demoted, msg::kSendCmpct, encode_sendcmpct(false));
}

void PeerManager::handle_sendcmpct(PeerId id, util::ByteSpan payload) {
  auto hb = decode_sendcmpct(payload);
  if (!hb) return misbehave(id, 100, "malformed sendcmpct: " + hb.error().to_string());
  std::lock_guard lock(mu_);
  auto it = peers_.find(id);
  if (it == peers_.end()) return;
  it->second.compact = true;
  it->second.push_sketches = *hb;
}

void PeerManager::handle_cmpctblock(PeerId id, util::ByteSpan payload) {
  // A node with compact relay off never said it understands sketches; one sent anyway is ignored.
  if (!opts_.compact_relay) return;
  const int64_t t0 = clock_.steady_ns();
  auto cb = decode_cmpctblock(payload, chain_.params().max_block_txs);
  if (!cb) return misbehave(id, 100, "malformed cmpctblock: " + cb.error().to_string());
  counters_.sketches_received.fetch_add(1, std::memory_order_relaxed);
  const auto bid = cb->header.id();
  bool other_fetching = false;
  bool asked = false;    // the answer to our getdata kCmpctBlock (low-bandwidth mode)
  bool claimed = false;  // in flight from this peer from now on, while it is rebuilt
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    Peer& p = it->second;
    mark_known(p, bid);
    p.best_height = std::max(p.best_height, cb->header.height);
    asked = p.sketch_asked.erase(bid) != 0;
    if (p.rebuilding.count(bid) || (p.in_flight.count(bid) && !asked)) return;  // already under way from this peer
    if (taken_.count(bid)) {
      // Delivered already (from another peer, or whole) and queued for validation: rebuilding
      // it again cost tens of ms of the message thread per copy under load.
      if (asked) {
        p.in_flight.erase(bid);
        if (auto rq = requested_.find(bid); rq != requested_.end() && rq->second == id) requested_.erase(rq);
      }
      return;
    }
    auto rq = requested_.find(bid);
    other_fetching = rq != requested_.end() && !(asked && rq->second == id);
    if (!other_fetching && !asked) {
      // Claimed before the rebuild, which takes a while for a large block: otherwise the
      // header accepted below made request_blocks() ask for the same block meanwhile.
      requested_[bid] = id;
      p.in_flight[bid] = timer_now_ms();
      claimed = true;
    }
  }
  // An asked-for or claimed sketch that is not rebuilt after all: the request ends here (the
  // block comes the usual way if it is still wanted).
  auto end_request = [&] {
    if (!asked && !claimed) return;
    std::lock_guard lock(mu_);
    if (auto it = peers_.find(id); it != peers_.end()) it->second.in_flight.erase(bid);
    if (auto rq = requested_.find(bid); rq != requested_.end() && rq->second == id) requested_.erase(rq);
  };
  if (chain_.in_active_chain(bid)) return end_request();
  // The header first: proof of work, target, time and parent, as for a headers message.
  auto run = chain_.check_header_run(std::span(&cb->header, 1));
  if (!run) {
    end_request();
    if (run.error().code == RejectCode::kMissingParent) return send_getheaders(id);
    if (int p = penalty(run.error().code); p > 0)
      return misbehave(id, p, "invalid cmpctblock header: " + run.error().to_string());
    return;
  }
  (void)chain_.accept_header(cb->header);
  const int64_t t1 = clock_.steady_ns();
  // Less work than our tip: nothing to rebuild. As much (a sibling of our tip, a race): rebuilt
  // only if no round trip is needed, so the block is at hand should its branch win.
  const auto tip_work = chain_.tip().chain_work;
  if (run->chain_work < tip_work) return end_request();
  const bool sibling = !(tip_work < run->chain_work);
  if (!sibling && opts_.on_better_block) opts_.on_better_block(cb->header.height);
  auto pb = PartialBlock::start(*cb);
  if (!pb) {
    end_request();
    return fall_back(id, bid, pb.error().to_string());
  }
  // Candidates: our mempool (one short id per pooled transaction), then the recent blocks' own
  // (a sibling of our tip holds transactions that left the mempool with it).
  const auto key = pb->key();
  auto sid = [&key](const primitives::TxId& t) { return short_id(key, t); };
  size_t pooled = 0;
  chain_.mempool_visit_short_ids(sid, [&pb, &pooled](const chain::MempoolEntry& e, uint64_t s) {
    ++pooled;
    pb->offer(e.tx, e.id, s);
  });
  const int64_t t2 = clock_.steady_ns();
  std::vector<RecentBlock> recent;
  if (!pb->complete()) {
    std::lock_guard lock(mu_);
    recent.assign(recent_.begin(), recent_.end());
  }
  for (const auto& rb : recent)
    for (size_t i = 0; i < rb.ids->size() && !pb->complete(); ++i)
      if (pb->wants(sid((*rb.ids)[i]))) pb->offer(rb.block->txs[i], (*rb.ids)[i]);
  if (pb->complete()) {
    {
      // In flight while it is handed on (take_block treats it as requested); one over the
      // window at most, for the time of this call.
      std::lock_guard lock(mu_);
      auto it = peers_.find(id);
      if (it == peers_.end()) return;
      it->second.in_flight[bid] = timer_now_ms();
      if (!other_fetching) requested_[bid] = id;
    }
    if (cb->tx_count() >= 256)  // where a large sketch's time went before its block is checked
      util::log().debug("sketch {} of {} transactions: {} ms in the inbox, header {} ms, mempool match {} ms ({} pooled)",
                        bid.hex(), cb->tx_count(), handling_queued_ns_ ? (t0 - handling_queued_ns_) / 1'000'000 : 0,
                        (t1 - t0) / 1'000'000, (t2 - t1) / 1'000'000, pooled);
    return finish_rebuild(id, bid, *pb, false);
  }
  if (other_fetching) return;  // the whole block is on its way from another peer
  if (sibling && !asked) return end_request();  // not needed now
  auto missing = pb->missing();
  bool full = false;
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    Peer& p = it->second;
    const size_t window = p.in_flight.size() - (claimed && p.in_flight.count(bid) ? 1 : 0);
    if (!asked && window >= opts_.max_blocks_in_flight) {
      // Its download window is full: the block comes the usual way (headers, getdata).
      p.in_flight.erase(bid);
      if (auto rq = requested_.find(bid); rq != requested_.end() && rq->second == id) requested_.erase(rq);
      return;
    } else if (p.rebuilding.size() >= opts_.max_rebuilds_per_peer) {
      full = true;
    } else {
      p.rebuilding.emplace(bid, std::move(*pb));
      p.in_flight[bid] = timer_now_ms();
      requested_[bid] = id;
    }
  }
  if (full) return fall_back(id, bid, "too many sketches waiting for transactions");
  counters_.txs_requested.fetch_add(missing.size(), std::memory_order_relaxed);
  util::log().debug("block {} height {}: sketch from peer {} lacks {} of {} transactions; asking for them", bid.hex(),
                    cb->header.height, id, missing.size(), cb->tx_count());
  net_.send(id, msg::kGetBlockTxn, encode_getblocktxn({bid, std::move(missing)}));
}

void PeerManager::finish_rebuild(PeerId id, const BlockId& bid, PartialBlock& pb, bool round_trip) {
  auto ids = std::make_shared<std::vector<primitives::TxId>>();
  const int64_t t0 = clock_.steady_ns();
  auto block = pb.take(ids.get());
  if (!block) return fall_back(id, bid, "the rebuilt block's Merkle root differs from its header's");
  (round_trip ? counters_.rebuilt_round_trip : counters_.rebuilt_no_round_trip).fetch_add(1, std::memory_order_relaxed);
  util::log().debug("block {} rebuilt from peer {}'s sketch{} (Merkle root {} ms)", bid.hex(), id,
                    round_trip ? " after a round trip" : "", (clock_.steady_ns() - t0) / 1'000'000);
  const size_t bytes = block->encoded_size();
  take_block(id, std::move(*block), bid, bytes, true, std::move(ids));
}

void PeerManager::fall_back(PeerId id, const BlockId& bid, const std::string& why) {
  counters_.fell_back.fetch_add(1, std::memory_order_relaxed);
  util::log().debug("block {}: sketch from peer {} not completed ({}); fetching the block", bid.hex(), id, why);
  bool ask = false;
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    Peer& p = it->second;
    p.rebuilding.erase(bid);
    auto rq = requested_.find(bid);
    if ((rq == requested_.end() && p.in_flight.size() < opts_.max_blocks_in_flight) ||
        (rq != requested_.end() && rq->second == id)) {
      requested_[bid] = id;
      p.in_flight[bid] = timer_now_ms();
      ask = true;
    } else {
      p.in_flight.erase(bid);
    }
  }
  if (ask) net_.send(id, msg::kGetData, encode_inv({{InvKind::kBlock, bid}}));
}

void PeerManager::handle_getblocktxn(PeerId id, util::ByteSpan payload) {
  auto req = decode_getblocktxn(payload, chain_.params().max_block_txs);
  if (!req) return misbehave(id, 100, "malformed getblocktxn: " + req.error().to_string());
  std::shared_ptr<const primitives::Block> block;
  {
    std::lock_guard lock(mu_);
    for (const auto& rb : recent_)
      if (rb.id == req->block) block = rb.block;
  }
  // Only recent blocks are answered from memory. An older one (under load our recent blocks
  // turn over between a sketch and the peer's request) is answered whole, through the getdata
  // queue and its read budget (BIP152 does the same for deep blocks); one we do not hold gets
  // notfound. Silence left the peer waiting block_timeout_ms (15 s) before asking elsewhere:
  // peerchain-bench at full speed saw a node stuck 15 s behind its peers.
  if (!block) {
    bool known = chain_.known_headers(std::span(&req->block, 1))[0];
    if (known) {
      std::lock_guard lock(mu_);
      auto it = peers_.find(id);
      if (it == peers_.end()) return;
      Peer& p = it->second;
      if (p.getdata_pending.count(req->block)) return;  // already on its way whole
      if (p.getdata_blocks.size() >= opts_.max_pending_getdata_blocks) known = false;
      else {
        p.getdata_pending.insert(req->block);
        p.getdata_blocks.push_back(req->block);
      }
    }
    if (known) return serve_getdata(id);
    net_.send(id, msg::kNotFound, encode_inv({{InvKind::kBlock, req->block}}));
    return;
  }
  if (!send_blocktxn(id, *req, *block)) {
    const auto bad = std::find_if(req->indexes.begin(), req->indexes.end(),
                                  [&](uint32_t i) { return i >= block->txs.size(); });
    return misbehave(id, 100, "getblocktxn index " + std::to_string(*bad) + " beyond the block's " +
                                  std::to_string(block->txs.size()) + " transactions");
  }
}

bool PeerManager::send_blocktxn(PeerId id, const BlockTxnRequest& req, const primitives::Block& block) {
  BlockTxn out{req.block, {}};
  out.txs.reserve(req.indexes.size());
  for (uint32_t i : req.indexes) {
    if (i >= block.txs.size()) return false;
    out.txs.push_back(block.txs[i]);
  }
  auto bytes = encode_blocktxn(out);
  counters_.blocktxn_bytes_sent.fetch_add(bytes.size(), std::memory_order_relaxed);
  net_.send(id, msg::kBlockTxn, std::move(bytes));
  return true;
}

bool PeerManager::serve_recent_blocktxn(PeerId id, util::ByteSpan payload) {
  auto req = decode_getblocktxn(payload, chain_.params().max_block_txs);
  if (!req) return false;
  std::shared_ptr<const primitives::Block> block;
  {
    std::lock_guard lock(mu_);
    if (!peers_.count(id)) return false;
    for (const auto& rb : recent_)
      if (rb.id == req->block) block = rb.block;
  }
  return block && send_blocktxn(id, *req, *block);
}

void PeerManager::handle_blocktxn(PeerId id, util::ByteSpan payload) {
  auto msg = decode_blocktxn(payload, chain_.params().max_block_txs);
  if (!msg) return misbehave(id, 100, "malformed blocktxn: " + msg.error().to_string());
  std::optional<PartialBlock> pb;
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    auto rb = it->second.rebuilding.find(msg->block);
    // Late (the rebuild timed out and went elsewhere) or never asked for: ignored.
    if (rb == it->second.rebuilding.end()) return;
    pb.emplace(std::move(rb->second));
    it->second.rebuilding.erase(rb);
  }
  if (auto st = pb->fill(msg->txs); !st) {
    fall_back(id, msg->block, st.error().to_string());
    return misbehave(id, 100, "blocktxn does not match the request: " + st.error().to_string());
  }
  finish_rebuild(id, msg->block, *pb, true);
}

std::vector<PeerStats> PeerManager::stats() const {
  std::lock_guard lock(mu_);
  std::vector<PeerStats> out;
  for (const auto& [id, p] : peers_) out.push_back({id, p.address, p.inbound, p.score, p.best_height, p.in_flight.size()});
  return out;
}

}  // namespace peerchain::node
