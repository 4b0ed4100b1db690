#include "rpc/node_api.h"

#include <dirent.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <chrono>
#include <cstring>
#include <map>
#include <string_view>

#include "chain/miner.h"
#include "consensus/pow.h"
#include "primitives/address.h"
#include "rpc/web_assets.h"
#include "util/host_port.h"
#include "util/version.h"

namespace peerchain::rpc {

namespace {

std::string addr(const node::Node& n, const primitives::AccountKey& k) {
  return primitives::encode_address(n.params().address_prefix, k);
}

Json tx_json(const node::Node& n, const primitives::Transaction& tx) {
  return Json{{"id", tx.id().hex()},       {"from", addr(n, tx.sender)}, {"to", addr(n, tx.recipient)},
              {"amount", tx.amount},       {"fee", tx.fee},               {"nonce", tx.nonce}};
}

crypto::Hash256 parse_id(const std::string& s, const char* what) {
  auto id = crypto::Hash256::from_hex(s);
  if (!id) throw RpcError{code::kInvalidParams, std::string(what) + " must be 64 hex characters"};
  return *id;
}

primitives::BlockId resolve_block(node::Node& n, const Json& v) {
  if (v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0)) {
    auto h = v.get<uint64_t>();
    auto id = h <= UINT32_MAX ? n.chain().block_id_at(static_cast<uint32_t>(h)) : std::nullopt;
    if (!id) throw RpcError{code::kNotFound, "no block at height " + std::to_string(h)};
    return *id;
  }
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (!s.empty() && s.size() <= 10 && s.find_first_not_of("0123456789") == std::string::npos)
      return resolve_block(n, Json(std::stoull(s)));
    return parse_id(s, "block id");
  }
  throw RpcError{code::kInvalidParams, "block must be a height or an id"};
}

// A read that failed because the database is corrupt must not answer "not found": the data
// exists, the node cannot read it (and is stopping).
void throw_if_storage_failed(node::Node& n) {
  auto s = n.chain().storage_status();
  if (s.state == chain::StorageState::kCorrupt)
    throw RpcError{code::kInternal, "storage corrupt: " + s.message + "; the node is stopping"};
}

// verbosity 0: the raw block in hex; 1: header fields and the txids; 2: every transaction in full.
Json block_json(node::Node& n, const primitives::BlockId& id, int verbosity) {
  auto b = n.chain().block(id);
  if (!b) throw_if_storage_failed(n);  // unreadable is not "not found"
  if (!b) throw RpcError{code::kNotFound, "block " + id.hex() + " not found"};
  if (verbosity == 0) return util::to_hex(primitives::encode_block(*b));
  bool active = n.chain().in_active_chain(id);
  auto tip = n.chain().tip();
  Json j{{"id", id.hex()},
         {"height", b->header.height},
         {"prev_id", b->header.prev_id.hex()},
         {"merkle_root", b->header.merkle_root.hex()},
         {"time_ms", b->header.time_ms},
         {"bits", b->header.bits},
         {"nonce", b->header.nonce},
         {"miner", addr(n, b->header.miner)},
         {"in_active_chain", active},
         {"confirmations", active ? tip.height - b->header.height + 1 : 0},
         {"tx_count", b->txs.size()},
         {"size", b->encoded_size()}};
  Json txs = Json::array();
  if (verbosity == 1) {
    for (const auto& tx : b->txs) txs.push_back(tx.id().hex());
    j["txids"] = std::move(txs);
  } else {
    for (const auto& tx : b->txs) txs.push_back(tx_json(n, tx));
    j["txs"] = std::move(txs);
  }
  return j;
}

Json tx_rejection(const chain::ChainError& e) {
  // A local storage error is not the transaction's fault: its own reason, and the caller may
  // resend once the node's health (getblockchaininfo "storage") is ok again.
  if (const auto* l = e.local())
    return Json{{"reason", "storage"}, {"storage", std::string(chain::storage_state_token(l->state))}, {"message", e.to_string()}};
  const auto& r = *e.rejection();
  return Json{{"reason", std::string(consensus::reject_token(r.code))}, {"message", r.to_string()}};
}

Json storage_json(node::Node& n) {
  auto s = n.chain().storage_status();
  return Json{{"state", std::string(chain::storage_state_token(s.state))}, {"message", s.message}};
}

// Difficulty (easiest target over the tip's), the network's hash rate estimated from the work and
// time of the last up to 120 blocks (work / seconds: expected hashes per second), and the target
// interval.
// The miner's block-size policy: what it measured and the limit that follows.
Json block_policy_json(node::Node& n) {
  const uint64_t ns = n.peers().counters().validation_ns_per_tx.load();
  const size_t limit = n.template_txs_limit();
  const size_t consensus_max = n.params().max_block_txs;
  const auto [built, extended] = n.chain().template_counts();
  return Json{{"validation_share", n.options().block_validation_share},
              {"validation_us_per_tx", static_cast<double>(ns) / 1000.0},
              {"max_template_txs", std::min(limit, consensus_max)},
              {"templates_built", built},
              {"templates_extended", extended},
              {"template_min_tx_age_ms", n.options().template_min_tx_age_ms},
              {"template_refresh_ms", n.options().template_refresh_ms}};
}

Json mining_info(node::Node& n) {
  const auto tip = n.chain().tip();
  const auto& p = n.params();
  auto target = consensus::decode_compact(tip.bits);
  double difficulty = target ? consensus::difficulty(p.pow_limit, *target) : 0;
  double hash_rate = 0;
  constexpr uint32_t kWindow = 120;
  if (tip.height > 0) {
    uint32_t from = tip.height > kWindow ? tip.height - kWindow : 0;
    auto from_id = n.chain().block_id_at(from);
    auto from_header = from_id ? n.chain().header(*from_id) : std::nullopt;
    if (from_header && tip.time_ms > from_header->time_ms) {
      double work = 0;  // each block's work at the tip's target: a fair estimate over a short window
      if (target && !target->is_zero()) work = consensus::to_double(consensus::work_from_target(*target)) * (tip.height - from);
      hash_rate = work / (static_cast<double>(tip.time_ms - from_header->time_ms) / 1000.0);
    }
  }
  auto* miner = n.miner();
  return Json{{"height", tip.height},
              {"bits", tip.bits},
              {"difficulty", difficulty},
              {"target", target ? target->hex() : std::string()},
              {"network_hash_rate", hash_rate},
              {"target_block_interval_ms", p.target_spacing_ms},
              {"mining", miner != nullptr},
              {"block_policy", block_policy_json(n)},
              {"miner_hashes", miner ? miner->hashes() : uint64_t{0}},
              {"miner_blocks", miner ? miner->blocks_found() : uint64_t{0}},
              {"miner_holds", miner ? miner->holds() : uint64_t{0}},
              {"mempool_size", n.chain().mempool_size()},
              // Who this node's blocks pay (the network view colours blocks by it); null when the
              // node has no miner key (not mining on main).
              {"miner", n.options().miner_key ? Json(addr(n, *n.options().miner_key)) : Json(nullptr)}};
}

// A node's label for people: the first line of HOME/label (`peerchain-cli testnet start` writes
// node0, node1, ...). At most kLabelMax characters of [A-Za-z0-9._-]; anything else, or no file,
// is null: the label is shown in web pages, so it is never passed through unchecked.
constexpr size_t kLabelMax = 32;
Json node_label(const node::Node& n) {
  std::FILE* f = std::fopen((n.options().data_dir + "/label").c_str(), "rb");
  if (!f) return nullptr;
  char buf[kLabelMax + 2] = {};
  size_t got = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  std::string s(buf, got);
  if (auto nl = s.find_first_of("\r\n"); nl != std::string::npos) s.resize(nl);
  if (s.empty() || s.size() > kLabelMax) return nullptr;
  for (unsigned char c : s)
    if (!std::isalnum(c) && c != '.' && c != '_' && c != '-') return nullptr;
  return s;
}

// listtransfers: the account's transfers, newest first — the mempool's (pending), then the
// active chain's from the tip down, reading at most `scan` blocks (a bounded walk: there is no
// address index). `complete` says whether the walk reached genesis.
constexpr uint64_t kTransfersDefaultCount = 50;
constexpr uint64_t kTransfersMaxCount = 500;
constexpr uint64_t kTransfersDefaultScan = 1000;
constexpr uint64_t kTransfersMaxScan = 10000;

Json list_transfers(node::Node& n, const Json& p) {
  auto a = param_string(p, 0, "address");
  auto key = primitives::decode_address(n.params().address_prefix, a);
  if (!key) throw RpcError{code::kInvalidParams, key.error().message};
  uint64_t count = has_param(p, 1, "count") ? param_u64(p, 1, "count") : kTransfersDefaultCount;
  uint64_t scan = has_param(p, 2, "scan_blocks") ? param_u64(p, 2, "scan_blocks") : kTransfersDefaultScan;
  if (count == 0 || count > kTransfersMaxCount)
    throw RpcError{code::kInvalidParams, "count must be 1.." + std::to_string(kTransfersMaxCount)};
  if (scan == 0 || scan > kTransfersMaxScan)
    throw RpcError{code::kInvalidParams, "scan_blocks must be 1.." + std::to_string(kTransfersMaxScan)};
  Json out = Json::array();
  auto entry = [&](const primitives::Transaction& tx) {
    Json j = tx_json(n, tx);
    j["direction"] = tx.sender == *key ? (tx.recipient == *key ? "self" : "sent") : "received";
    return j;
  };
  auto ids = n.chain().mempool_ids();
  auto pool = n.chain().mempool_transactions(ids);
  for (const auto& tx : pool) {
    if (out.size() >= count) break;
    if (!tx || (tx->sender != *key && tx->recipient != *key)) continue;
    Json j = entry(*tx);
    j["status"] = "pending";
    j["height"] = nullptr;
    j["block"] = nullptr;
    j["confirmations"] = 0;
    out.push_back(std::move(j));
  }
  const auto tip = n.chain().tip();
  uint64_t scanned = 0;
  bool complete = false;
  Json lowest = nullptr;
  std::optional<primitives::BlockId> expected;  // prev_id of the block scanned before
  for (uint32_t h = tip.height; scanned < scan && out.size() < count; --h) {
    auto id = n.chain().block_id_at(h);
    if (!id || (expected && *expected != *id)) break;  // the tip moved under the walk: stop at what is consistent
    auto b = n.chain().block(*id);
    if (!b) throw_if_storage_failed(n);
    if (!b) break;
    ++scanned;
    lowest = h;
    for (auto it = b->txs.rbegin(); it != b->txs.rend() && out.size() < count; ++it) {
      if (it->sender != *key && it->recipient != *key) continue;
      Json j = entry(*it);
      j["status"] = "confirmed";
      j["height"] = h;
      j["block"] = id->hex();
      j["confirmations"] = tip.height - h + 1;
      out.push_back(std::move(j));
    }
    expected = b->header.prev_id;
    if (h == 0) {
      complete = true;
      break;
    }
  }
  return Json{{"address", a},
              {"tip", tip.id.hex()},
              {"height", tip.height},
              {"scanned_blocks", scanned},
              {"lowest_height", lowest},
              {"complete", complete},
              {"transfers", out}};
}

Json chain_info(node::Node& n) {
  auto tip = n.chain().tip();
  auto best = n.chain().best_header();
  auto target = consensus::decode_compact(tip.bits);
  return Json{{"network", n.params().network},
              {"chain_id", n.params().chain_id},
              {"genesis", n.params().genesis_id.hex()},
              {"height", tip.height},
              {"tip", tip.id.hex()},
              {"tip_time_ms", tip.time_ms},
              {"cumulative_work", tip.chain_work.hex()},
              {"bits", tip.bits},
              {"target", target ? target->hex() : ""},
              {"best_header_height", best.height},
              {"syncing", best.height > tip.height},
              {"mempool_size", n.chain().mempool_size()},
              {"storage", storage_json(n)},
              {"peers", n.peers().stats().size()},
              {"mining", n.miner() != nullptr && n.miner()->running()}};
}

// --- The web view's reads: getchaintips and getblocktree (docs/api.md).

// Bitcoin Core's chain tip vocabulary, applied per block: active (in the active chain), invalid
// (failed validation, or an ancestor did), headers-only (only the header is here),
// valid-headers (data here but an ancestor's is missing), valid-fork (every block to genesis
// stored, not active: a side branch, e.g. the stale blocks of a reorg).
const char* tree_status(const chain::ChainState::TreeEntry& e) {
  if (e.in_active_chain) return "active";
  if (e.failed) return "invalid";
  if (!e.have_data) return "headers-only";
  if (!e.chain_complete) return "valid-headers";
  return "valid-fork";
}

constexpr uint64_t kTreeDefaultMax = 200;
constexpr uint64_t kTreeMaxMax = 2000;
constexpr uint32_t kTreeDefaultDepth = 50;  // default from_height: this many heights below the tip

void add_tree_methods(Dispatcher& d, node::Node& n) {
  d.add("getchaintips", [&n](const Json&) {
    // At most 1000 tips, highest first (ChainState::block_tree's default cap).
    auto snap = n.chain().block_tree(UINT32_MAX, 0);
    Json out = Json::array();
    for (const auto& t : snap.tips)
      out.push_back(Json{{"height", t.height}, {"id", t.id.hex()}, {"branchlen", t.branch_len}, {"status", tree_status(t)}});
    return out;
  });
  d.add("getblocktree", [&n](const Json& p) {
    auto tip = n.chain().tip();
    uint64_t from = tip.height > kTreeDefaultDepth ? tip.height - kTreeDefaultDepth : 0;
    if (has_param(p, 0, "from_height") && !param(p, 0, "from_height").is_null()) from = param_u64(p, 0, "from_height");
    uint64_t max = has_param(p, 1, "max") ? param_u64(p, 1, "max") : kTreeDefaultMax;
    if (from > UINT32_MAX) throw RpcError{code::kInvalidParams, "from_height must be at most 4294967295"};
    if (max == 0 || max > kTreeMaxMax)
      throw RpcError{code::kInvalidParams, "max must be 1.." + std::to_string(kTreeMaxMax)};
    auto snap = n.chain().block_tree(static_cast<uint32_t>(from), static_cast<size_t>(max), 0);
    Json blocks = Json::array();
    for (const auto& e : snap.blocks) {
      Json tx_count = nullptr;
      if (e.have_data)
        if (auto b = n.chain().block(e.id)) tx_count = b->txs.size();
      blocks.push_back(Json{{"id", e.id.hex()},
                            {"prev", e.prev.hex()},
                            {"height", e.height},
                            {"miner", addr(n, e.miner)},
                            {"time_ms", e.time_ms},
                            {"tx_count", tx_count},
                            {"status", tree_status(e)},
                            {"in_active_chain", e.in_active_chain}});
    }
    return Json{{"from_height", from},     {"tip", tip.id.hex()}, {"height", tip.height},
                {"truncated", snap.truncated}, {"blocks", blocks}};
  });
}

}  // namespace

void register_node_methods(Dispatcher& d, node::Node& n, ApiState& state, bool admin) {
  add_tree_methods(d, n);
  d.add("getblockchaininfo", [&n](const Json&) { return chain_info(n); });
  d.add("getblockcount", [&n](const Json&) { return Json(n.chain().tip().height); });
  d.add("help", [&d](const Json&) {
    Json names = Json::array();
    for (const auto& name : d.names()) names.push_back(name);
    return names;
  });
  // Compact block relay (issue 15): what crossed as sketches, and how each sketch ended.
  auto compact_block_stats = [&n] {
    const auto& c = n.peers().counters();
    auto v = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    return Json{{"enabled", n.options().compact_relay},
                {"sketches_received", v(c.sketches_received)},
                {"sketches_requested", v(c.sketches_requested)},
                {"rebuilt_without_round_trip", v(c.rebuilt_no_round_trip)},
                {"rebuilt_with_round_trip", v(c.rebuilt_round_trip)},
                {"fell_back_to_block", v(c.fell_back)},
                {"transfers_requested", v(c.txs_requested)},
                {"sketches_sent", v(c.sketches_sent)},
                {"sketch_bytes_sent", v(c.sketch_bytes_sent)},
                {"sketched_block_bytes", v(c.sketched_block_bytes)},
                {"blocktxn_bytes_sent", v(c.blocktxn_bytes_sent)},
                {"blocks_sent_whole", v(c.blocks_sent_full)},
                {"block_bytes_sent_whole", v(c.block_bytes_sent)}};
  };
  d.add("getnetworkinfo", [&n, compact_block_stats](const Json&) {
    size_t inbound = 0, outbound = 0;
    for (const auto& s : n.peers().stats()) (s.inbound ? inbound : outbound)++;
    return Json{{"version", std::string(util::version())},
                {"git_commit", std::string(util::git_commit())},
                {"build_type", std::string(util::build_type())},
                {"user_agent", n.options().user_agent},
                {"network", n.params().network},
                {"port", n.port()},
                {"connections", inbound + outbound},
                {"connections_in", inbound},
                {"connections_out", outbound},
                {"label", node_label(n)},
                {"node_id", n.node_id() ? Json(n.node_id()->hex()) : Json(nullptr)},
                {"p2p_encryption", n.options().p2p_encryption},
                {"compact_blocks", compact_block_stats()},
                {"inbox", Json{{"queued_messages", n.peers().queued_messages()},
                               {"reading_pauses", n.peers().counters().reading_pauses.load(std::memory_order_relaxed)}}}};
  });
  d.add("getmininginfo", [&n](const Json&) { return mining_info(n); });
  d.add("listtransfers", [&n](const Json& p) { return list_transfers(n, p); });
  d.add("getblockhash", [&n](const Json& p) {
    auto h = param_u64(p, 0, "height");
    auto id = h <= UINT32_MAX ? n.chain().block_id_at(static_cast<uint32_t>(h)) : std::nullopt;
    if (!id) throw RpcError{code::kNotFound, "no block at height " + std::to_string(h)};
    return Json(id->hex());
  });
  d.add("getblock", [&n](const Json& p) {
    auto id = resolve_block(n, param(p, 0, "block"));
    int verbosity = 2;  // default, and `true`: every transaction in full
    if (has_param(p, 1, "verbosity")) {
      const Json& v = param(p, 1, "verbosity");
      if (v.is_boolean()) verbosity = v.get<bool>() ? 2 : 0;
      else if (v.is_number_unsigned() && v.get<uint64_t>() <= 2) verbosity = static_cast<int>(v.get<uint64_t>());
      else throw RpcError{code::kInvalidParams, "verbosity must be 0, 1, 2, true or false"};
    }
    return block_json(n, id, verbosity);
  });
  d.add("gettransaction", [&n](const Json& p) {
    auto id = parse_id(param_string(p, 0, "id"), "transaction id");
    auto info = n.chain().transaction(id);
    if (!info) throw_if_storage_failed(n);
    if (!info) throw RpcError{code::kNotFound, "transaction " + id.hex() + " not found"};
    Json j = tx_json(n, info->tx);
    j["status"] = info->block ? "confirmed" : "pending";
    j["block"] = info->block ? Json(info->block->hex()) : Json(nullptr);
    j["height"] = info->block ? Json(info->height) : Json(nullptr);
    j["confirmations"] = info->confirmations;
    j["final"] = info->confirmations >= n.params().finality_depth;
    return j;
  });
  d.add("getaccount", [&n](const Json& p) {
    auto a = param_string(p, 0, "address");
    auto key = primitives::decode_address(n.params().address_prefix, a);
    if (!key) throw RpcError{code::kInvalidParams, key.error().message};
    auto acc = n.chain().account(*key);
    auto [pending, cost] = n.chain().mempool_pending(*key);
    return Json{{"address", a},           {"balance", acc.balance},         {"nonce", acc.nonce},
                {"pending", pending},     {"pending_cost", cost},           {"next_nonce", acc.nonce + pending}};
  });
  auto submit = [&n](const std::string& hex) -> Json {
    auto bytes = util::from_hex(hex);
    if (!bytes) return Json{{"error", {{"reason", "malformed"}, {"message", "transaction is not hex"}}}};
    auto tx = primitives::decode_transaction(*bytes);
    if (!tx) return Json{{"error", {{"reason", "malformed"}, {"message", tx.error().to_string()}}}};
    auto r = n.chain().submit_transaction(*tx);
    if (!r) return Json{{"error", tx_rejection(r.error())}};
    return Json{{"id", r->hex()}};
  };
  d.add("sendtransaction", [submit, &state](const Json& p) {
    auto out = submit(param_string(p, 0, "hex"));
    if (out.contains("error")) state.txs_rejected.add(out["error"]["reason"].get<std::string>());
    if (out.contains("error"))
      throw RpcError{out["error"]["reason"] == "storage" ? code::kUnavailable : code::kTxRejected,
                     out["error"]["message"].get<std::string>(), out["error"]};
    return out["id"];
  });
  d.add("sendtransactions", [&n, &state](const Json& p) {
    const Json& list = param(p, 0, "hexes");
    if (!list.is_array()) throw RpcError{code::kInvalidParams, "hexes must be an array"};
    if (list.size() > 50'000) throw RpcError{code::kInvalidParams, "at most 50000 transactions per call"};
    // Decode everything, then admit the batch at once (signatures checked on every core).
    Json out = Json::array();
    std::vector<primitives::Transaction> txs;
    std::vector<size_t> slot;  // txs[k] answers out[slot[k]]
    txs.reserve(list.size());
    for (const auto& h : list) {
      auto bytes = h.is_string() ? util::from_hex(h.get<std::string>()) : std::nullopt;
      if (!bytes) {
        out.push_back(Json{{"error", {{"reason", "malformed"}, {"message", h.is_string() ? "transaction is not hex" : "not a string"}}}});
        continue;
      }
      auto tx = primitives::decode_transaction(*bytes);
      if (!tx) {
        out.push_back(Json{{"error", {{"reason", "malformed"}, {"message", tx.error().to_string()}}}});
        continue;
      }
      slot.push_back(out.size());
      out.push_back(nullptr);
      txs.push_back(std::move(*tx));
    }
    auto results = n.chain().submit_transactions(txs);
    for (size_t k = 0; k < results.size(); ++k)
      out[slot[k]] = results[k] ? Json{{"id", results[k]->hex()}} : Json{{"error", tx_rejection(results[k].error())}};
    for (const auto& item : out)
      if (item.contains("error")) state.txs_rejected.add(item["error"]["reason"].get<std::string>());
    return out;
  });
  d.add("getmempoolinfo", [&n](const Json&) {
    auto size = n.chain().mempool_size();
    return Json{{"size", size}, {"bytes", size * primitives::Transaction::kEncodedSize}};
  });
  d.add("getrawmempool", [&n](const Json&) {
    Json out = Json::array();
    for (const auto& id : n.chain().mempool_ids()) out.push_back(id.hex());
    return out;
  });
  d.add("getpeerinfo", [&n](const Json&) {
    Json out = Json::array();
    auto infos = n.net().peers();
    for (const auto& s : n.peers().stats()) {
      Json j{{"id", s.id}, {"address", s.address}, {"inbound", s.inbound}, {"best_height", s.best_height},
             {"score", s.score}, {"blocks_in_flight", s.blocks_in_flight}};
      for (const auto& i : infos)
        if (i.id == s.id) {
          j["user_agent"] = i.hello.user_agent;
          j["ping_ms"] = i.last_ping_rtt_ms;
          j["bytes_sent"] = i.bytes_sent;
          j["bytes_received"] = i.bytes_received;
          j["node_id"] = i.node_id ? Json(i.node_id->hex()) : Json(nullptr);
          // Where the peer's API answers (peers serve HTTP on their peer port): an inbound peer's
          // address carries an ephemeral port, so use the port it announced.
          j["api_address"] = !i.inbound ? Json(s.address)
                             : i.hello.listen_port ? Json(s.address.substr(0, s.address.rfind(':')) + ":" +
                                                          std::to_string(i.hello.listen_port))
                                                   : Json(nullptr);
        }
      out.push_back(j);
    }
    return out;
  });
  d.add("waitfortransaction", [&n, &state](const Json& p) {
    auto id = parse_id(param_string(p, 0, "id"), "transaction id");
    uint64_t want = has_param(p, 1, "confirmations") ? param_u64(p, 1, "confirmations") : 1;
    uint64_t timeout_ms = has_param(p, 2, "timeout_ms") ? param_u64(p, 2, "timeout_ms") : 30'000;
    if (timeout_ms > 600'000) throw RpcError{code::kInvalidParams, "timeout_ms must be at most 600000"};
    if (state.waiters.fetch_add(1) >= state.max_waiters) {
      state.waiters.fetch_sub(1);
      throw RpcError{code::kUnavailable, "too many waiters (" + std::to_string(state.max_waiters) + "); try again"};
    }
    struct Release {
      std::atomic<int>& w;
      ~Release() { w.fetch_sub(1); }
    } release{state.waiters};
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      uint64_t seq = n.tip_sequence();
      // Polled on every tip change: where the transfer is, without reading its block, until it
      // is deep enough.
      auto info = n.chain().transaction_place(id);
      auto full = info && info->block && info->confirmations >= want ? n.chain().transaction(id) : std::nullopt;
      if (full && full->block) {
        info = chain::TxPlace{full->block, full->height, full->confirmations};
        Json j = tx_json(n, full->tx);
        j["status"] = "confirmed";
        j["block"] = info->block->hex();
        j["height"] = info->height;
        j["confirmations"] = info->confirmations;
        j["final"] = info->confirmations >= n.params().finality_depth;
        return j;
      }
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline)
        throw RpcError{code::kTimeout, "timeout", Json{{"known", info.has_value()},
                                                     {"confirmations", info ? info->confirmations : 0}}};
      n.wait_tip_change(seq, std::min<std::chrono::milliseconds>(
                                 std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now),
                                 std::chrono::milliseconds(1000)));
    }
  });
  if (!admin) {
    for (const char* m : kAdminMethods)
      d.add(m, [name = std::string(m)](const Json&) -> Json {
        throw RpcError{code::kUnauthorized, name + " is an admin method: send the API token (Authorization: Bearer ...)"};
      });
    return;
  }
  auto host_port = [](const Json& p) {
    std::string addr = param_string(p, 0, "address");
    if (auto at = addr.find('@'); at != std::string::npos) addr = addr.substr(at + 1);  // NODEID@HOST:PORT
    auto hp = util::parse_host_port(addr);
    if (!hp) throw RpcError{code::kInvalidParams, "address must be HOST:PORT with a port 1..65535"};
    return *hp;
  };
  d.add("addpeer", [&n](const Json& p) {
    // NODEID@HOST:PORT pins the peer's identity; HOST:PORT learns it on first contact.
    std::string addr = param_string(p, 0, "address");
    std::optional<net::NodeId> pin;
    if (auto at = addr.find('@'); at != std::string::npos) {
      auto id = net::parse_node_id(addr.substr(0, at));
      if (!id) throw RpcError{code::kInvalidParams, "address: " + id.error().message};
      if (!n.options().p2p_encryption)
        throw RpcError{code::kInvalidParams, "a pinned peer needs encrypted peer links"};
      pin = *id;
      addr = addr.substr(at + 1);
    }
    auto hp = util::parse_host_port(addr);
    if (!hp) throw RpcError{code::kInvalidParams, "address must be [NODEID@]HOST:PORT with a port 1..65535"};
    if (pin)
      n.net().add_pinned_peer(hp->host, hp->port, *pin);
    else
      n.net().add_persistent_peer(hp->host, hp->port);
    return Json(true);
  });
  d.add("stop", [&state](const Json&) {
    if (!state.request_stop) throw RpcError{code::kNotAllowed, "stop is not available in this program"};
    state.request_stop();
    return Json("peerchaind stopping");
  });
  d.add("removepeer", [&n, host_port](const Json& p) {
    auto hp = host_port(p);
    n.net().remove_persistent_peer(hp.host, hp.port);
    for (const auto& pi : n.net().peers())
      if (pi.address == param_string(p, 0, "address")) n.net().disconnect(pi.id, "removed by the operator");
    return Json(true);
  });
  d.add("generate", [&n](const Json& p) {
    if (n.params().network != "dev") throw RpcError{code::kNotAllowed, "generate is only available on the dev network"};
    auto count = param_u64(p, 0, "count");
    if (count == 0 || count > 10'000) throw RpcError{code::kInvalidParams, "count must be 1..10000"};
    // Default: whom this node's miner pays (each testnet node has its own key, so generated
    // blocks show who made them), else dev account 0.
    primitives::AccountKey to = n.options().miner_key.value_or(consensus::dev_account_key(0).pubkey());
    if (has_param(p, 1, "address")) {
      auto key = primitives::decode_address(n.params().address_prefix, param_string(p, 1, "address"));
      if (!key) throw RpcError{code::kInvalidParams, key.error().message};
      to = *key;
    }
    // Without max_txs, blocks are as big as the miner would make them (the block-size policy).
    size_t max_txs = has_param(p, 2, "max_txs") ? param_u64(p, 2, "max_txs") : n.template_txs_limit();
    Json out = Json::array();
    for (const auto& id : chain::Miner::generate(n.chain(), to, static_cast<uint32_t>(count), nullptr, max_txs))
      out.push_back(id.hex());
    return out;
  });
  // Dev only: skews the node's clock (consensus time checks, mining timestamps, bans) by
  // offset_ms, for the chaos test. Bounded to a day either way.
  d.add("setclockoffset", [&n, &state](const Json& p) {
    if (n.params().network != "dev") throw RpcError{code::kNotAllowed, "setclockoffset is only available on the dev network"};
    if (!state.clock) throw RpcError{code::kNotAllowed, "this node's clock cannot be adjusted"};
    const Json& v = param(p, 0, "offset_ms");
    constexpr int64_t kMaxOffset = 24LL * 3600 * 1000;
    if (!v.is_number_integer() || v.get<int64_t>() < -kMaxOffset || v.get<int64_t>() > kMaxOffset)
      throw RpcError{code::kInvalidParams, "offset_ms must be an integer within a day (+-86400000)"};
    state.clock->set_offset_ms(v.get<int64_t>());
    return Json{{"offset_ms", v.get<int64_t>()}};
  });
}

ProcessStats read_process_stats() {
  ProcessStats st;
  if (std::FILE* f = std::fopen("/proc/self/stat", "r")) {
    char buf[1024];
    size_t len = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[len] = 0;
    // Fields after the ")" that ends the command name: state is field 3; utime, stime are 14, 15.
    if (const char* p = std::strrchr(buf, ')')) {
      unsigned long long utime = 0, stime = 0;
      if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) == 2)
        st.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
    }
  }
  if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f)) {
      unsigned long long v = 0;
      if (std::sscanf(line, "VmRSS: %llu kB", &v) == 1) st.rss_bytes = v * 1024;
      else if (std::sscanf(line, "VmHWM: %llu kB", &v) == 1) st.peak_rss_bytes = v * 1024;
      else if (std::sscanf(line, "Threads: %llu", &v) == 1) st.threads = v;
    }
    std::fclose(f);
  }
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (const dirent* e = ::readdir(d)) st.open_fds += e->d_name[0] != '.';
    ::closedir(d);
    if (st.open_fds) --st.open_fds;  // the directory stream's own descriptor
  }
  return st;
}

namespace {

// "application/json; charset=utf-8" -> "application/json"
std::string media_type(std::string_view content_type) {
  auto end = content_type.find(';');
  std::string_view t = content_type.substr(0, end);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
  std::string out(t);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

HttpResponse with_cors(HttpResponse r) {
  r.headers.emplace_back("Access-Control-Allow-Origin", "*");
  return r;
}

}  // namespace

HttpResponse route_json_rpc(const HttpRequest& req, const Dispatcher& pub, const Dispatcher& admin, ApiState& state) {
  // A browser page may POST text/plain or a form to any address without a preflight (a "simple"
  // request), so any site the operator opens could reach a loopback node. Such a request carries
  // Origin; one from a page must say application/json, which a cross-site page can only send
  // after the preflight (docs/adr/0012-hostile-clients.md). Clients that are not browsers send no
  // Origin and are not asked for a content type.
  if (!req.origin.empty() && media_type(req.content_type) != "application/json") {
    state.rpc_errors.fetch_add(1, std::memory_order_relaxed);
    return with_cors(HttpResponse{415, "application/json",
                                  error_response(nullptr, code::kInvalidRequest,
                                                 "a request from a web page must have Content-Type: application/json")
                                      .dump(),
                                  {}});
  }
  // A request from a browser page carries Origin: it reaches the admin methods only with the
  // token, even when none is configured (so no web page can make a loopback node mine or dial).
  // Preflight never allows the Authorization header, so a cross-origin page cannot send it.
  bool has_token = !state.admin_token.empty() && req.authorization == "Bearer " + state.admin_token;
  bool authorized = has_token || (state.admin_token.empty() && req.origin.empty());
  auto body = (authorized ? admin : pub).handle(req.body);
  if (body.find("\"error\"") != std::string::npos) state.rpc_errors.fetch_add(1, std::memory_order_relaxed);
  HttpResponse r{200, "application/json", std::move(body), {}};
  return authorized ? r : with_cors(std::move(r));
}

namespace {
HttpResponse route_request(const HttpRequest& req, const Dispatcher& pub, const Dispatcher& admin, node::Node& n,
                           ApiState& state, const HttpServer* http);
}  // namespace

HttpResponse route(const HttpRequest& req, const Dispatcher& pub, const Dispatcher& admin, node::Node& n,
                   ApiState& state, const HttpServer* http) {
  const auto started = std::chrono::steady_clock::now();
  HttpResponse r = route_request(req, pub, admin, n, state, http);
  state.rpc_latency.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return r;
}

namespace {
HttpResponse route_request(const HttpRequest& req, const Dispatcher& pub, const Dispatcher& admin, node::Node& n,
                           ApiState& state, const HttpServer* http) {
  // CORS: any page may read (GET) and call the public JSON-RPC methods; admin methods are never
  // opened to it (below). JSON answers to GET and to public POSTs carry this header.
  auto cors = [](HttpResponse r) {
    r.headers.emplace_back("Access-Control-Allow-Origin", "*");
    return r;
  };
  auto json = [&cors](int status, const Json& j) { return cors(HttpResponse{status, "application/json", j.dump(), {}}); };
  // REST errors have one shape, with the JSON-RPC codes: {"error": {"code": C, "message": M}}.
  auto rest_error = [&json](int status, int c, const std::string& message) {
    return json(status, Json{{"error", {{"code", c}, {"message", message}}}});
  };
  std::string path = req.target.substr(0, req.target.find('?'));
  state.rpc_requests.fetch_add(1, std::memory_order_relaxed);
  if (req.method == "POST" && path == "/") return route_json_rpc(req, pub, admin, state);
  if (req.method == "OPTIONS") {  // CORS preflight (a POST with Content-Type: application/json)
    HttpResponse r = cors(HttpResponse{204, "text/plain", "", {}});
    r.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    r.headers.emplace_back("Access-Control-Allow-Headers", "Content-Type");
    r.headers.emplace_back("Access-Control-Max-Age", "600");
    return r;
  }
  if (req.method != "GET") {
    HttpResponse r = rest_error(405, code::kInvalidRequest, "method not allowed: " + req.method);
    r.headers.emplace_back("Allow", "GET, POST, OPTIONS");
    return r;
  }
  auto call = [&](const std::string& method, Json params) {
    Json r = pub.call(Json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", method}, {"params", std::move(params)}});
    if (r.contains("error")) {
      int c = r["error"]["code"].get<int>();
      int status = c == code::kNotFound ? 404 : c == code::kUnavailable ? 503 : c == code::kInternal ? 500 : 400;
      return json(status, Json{{"error", r["error"]}});
    }
    return json(200, r["result"]);
  };
  if (path == "/health") {
    // 503 while storage takes no writes: a load balancer sends transfers elsewhere.
    auto s = n.chain().storage_status();
    bool ok = s.state == chain::StorageState::kOk;
    return json(ok ? 200 : 503, Json{{"status", ok ? "ok" : std::string(chain::storage_state_token(s.state))},
                                     {"height", n.chain().tip().height}, {"storage", storage_json(n)}});
  }
  if (path == "/status") return call("getblockchaininfo", Json::array());
  if (path == "/metrics") {
    auto tip = n.chain().tip();
    auto best = n.chain().best_header();
    auto mem = n.chain().mempool_size();
    std::string m;
    auto gauge = [&](const char* name, const char* help, double v, const char* type = "gauge") {
      m += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
           std::to_string(v) + "\n";
    };
    m += "# HELP peerchain_build_info The running build: version, git commit and build type.\n"
         "# TYPE peerchain_build_info gauge\npeerchain_build_info{version=\"" + std::string(util::version()) +
         "\",commit=\"" + std::string(util::git_commit()) + "\",build_type=\"" + std::string(util::build_type()) +
         "\"} 1\n";
    gauge("peerchain_height", "Height of the active chain's tip.", tip.height);
    gauge("peerchain_best_header_height", "Height of the best known header (> height while syncing).", best.height);
    gauge("peerchain_syncing", "1 while the node is behind the best known header.", best.height > tip.height ? 1 : 0);
    gauge("peerchain_tip_time_seconds", "Timestamp of the tip block (Unix time).", static_cast<double>(tip.time_ms) / 1000.0);
    gauge("peerchain_peers", "Connected peers.", static_cast<double>(n.peers().stats().size()));
    gauge("peerchain_storage_state", "Storage health: 0 ok, 1 disk full, 2 writes failing, 3 corrupt.",
          static_cast<double>(n.chain().storage_status().state));
    gauge("peerchain_mempool_transactions", "Transactions in the mempool.", static_cast<double>(mem));
    gauge("peerchain_mempool_bytes", "Encoded bytes of the mempool's transactions.",
          static_cast<double>(mem * primitives::Transaction::kEncodedSize));
    gauge("peerchain_blocks_connected_total", "Tip changes seen by the API.", static_cast<double>(state.blocks_connected.load()), "counter");
    gauge("peerchain_reorgs_total", "Tip changes that disconnected blocks.", static_cast<double>(state.reorgs.load()), "counter");
    gauge("peerchain_tx_accepted_total", "Transactions accepted into the mempool.", static_cast<double>(state.tx_accepted.load()), "counter");
    gauge("peerchain_rpc_requests_total", "HTTP requests served.", static_cast<double>(state.rpc_requests.load()), "counter");
    gauge("peerchain_rpc_errors_total", "JSON-RPC responses carrying an error.", static_cast<double>(state.rpc_errors.load()), "counter");
    if (auto* miner = n.miner()) {
      gauge("peerchain_miner_hashes_total", "Hashes tried by the miner.", static_cast<double>(miner->hashes()), "counter");
      gauge("peerchain_miner_blocks_total", "Blocks found by the miner.", static_cast<double>(miner->blocks_found()), "counter");
      gauge("peerchain_miner_holds_total", "Times the miner paused for a better block being validated.",
            static_cast<double>(miner->holds()), "counter");
    }
    auto ac = n.chain().account_cache_stats();
    gauge("peerchain_account_cache_hits_total", "Account reads answered by the cache in front of the database.",
          static_cast<double>(ac.hits), "counter");
    gauge("peerchain_account_cache_misses_total", "Account reads that went to the database.", static_cast<double>(ac.misses), "counter");
    gauge("peerchain_account_cache_entries", "Accounts held by the cache.", static_cast<double>(ac.entries));
    gauge("peerchain_signature_verifications_total", "Schnorr signature verifications made.",
          static_cast<double>(crypto::schnorr_verifications()), "counter");
    auto proc = read_process_stats();
    gauge("process_cpu_seconds_total", "User and system CPU time of the node process.", proc.cpu_seconds, "counter");
    gauge("process_resident_memory_bytes", "Resident set size.", static_cast<double>(proc.rss_bytes));
    gauge("process_resident_memory_peak_bytes", "Peak resident set size (VmHWM).", static_cast<double>(proc.peak_rss_bytes));
    gauge("process_open_fds", "Open file descriptors.", static_cast<double>(proc.open_fds));
    gauge("process_threads", "Threads of the node process.", static_cast<double>(proc.threads));
    if (http) gauge("peerchain_websocket_clients", "Clients of the /ws event stream.", static_cast<double>(http->websocket_clients()));
    m += state.rpc_latency.prometheus("peerchain_rpc_request_duration_seconds",
                                      "Time to answer an API request (JSON-RPC, REST, metrics).");
    const auto& pc = n.peers().counters();
    m += pc.block_processing.prometheus("peerchain_block_processing_duration_seconds",
                                        "Time to validate and connect a block from a peer.");
    gauge("peerchain_bans_total", "Peers banned for misbehaving.", static_cast<double>(pc.bans.load()), "counter");
    gauge("peerchain_p2p_reading_pauses_total", "Times a peer's waiting messages passed their budget and reading it paused.",
          static_cast<double>(pc.reading_pauses.load()), "counter");
    auto by_reason = [&m](const char* name, const char* help, const std::string& labels,
                          const std::map<std::string, uint64_t>& counts, bool header) {
      if (header) m += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n";
      for (const auto& [reason, c] : counts)
        m += std::string(name) + "{reason=\"" + reason + "\"" + labels + "} " + std::to_string(c) + "\n";
    };
    by_reason("peerchain_blocks_rejected_total", "Blocks from peers refused, by reason.", "",
              pc.blocks_rejected.snapshot(), true);
    by_reason("peerchain_transfers_rejected_total", "Transfers refused, by reason and where they came from.",
              ",source=\"api\"", state.txs_rejected.snapshot(), true);
    by_reason("peerchain_transfers_rejected_total", "", ",source=\"peer\"", pc.txs_rejected.snapshot(), false);
    return cors(HttpResponse{200, "text/plain; version=0.0.4", m, {}});
  }
  auto tail = [&](const std::string& prefix) -> std::optional<std::string> {
    if (path.rfind(prefix, 0) == 0 && path.size() > prefix.size()) return path.substr(prefix.size());
    return std::nullopt;
  };
  if (path == "/mempool") return call("getmempoolinfo", Json::array());
  if (path == "/peers") return call("getpeerinfo", Json::array());
  if (path == "/blocks" || path == "/blocks/") {  // the latest blocks, newest first: ?count=N (1..100, default 10)
    uint64_t count = 10;
    auto q = req.target.find("count=");
    if (q != std::string::npos) {
      std::string v = req.target.substr(q + 6, req.target.find('&', q) - q - 6);
      if (v.empty() || v.size() > 3 || v.find_first_not_of("0123456789") != std::string::npos || std::stoul(v) == 0 ||
          std::stoul(v) > 100)
        return rest_error(400, code::kInvalidParams, "count must be 1..100");
      count = std::stoul(v);
    }
    Json out = Json::array();
    auto tip = n.chain().tip();
    for (uint64_t k = 0; k < count && k <= tip.height; ++k) {
      auto h = static_cast<uint32_t>(tip.height - k);
      auto id = n.chain().block_id_at(h);
      auto header = id ? n.chain().header(*id) : std::nullopt;
      if (!header) break;  // a reorg moved the tip meanwhile
      out.push_back(Json{{"height", h}, {"id", id->hex()}, {"time_ms", header->time_ms}, {"bits", header->bits},
                         {"miner", primitives::encode_address(n.params().address_prefix, header->miner)}});
    }
    return json(200, out);
  }
  if (auto v = tail("/blocks/")) return call("getblock", Json::array({*v}));
  if (auto v = tail("/tx/")) return call("gettransaction", Json::array({*v}));
  if (auto v = tail("/accounts/")) return call("getaccount", Json::array({*v}));
  if (auto asset = find_web_asset(path)) {  // the web view: GET / and its files
    if (!req.if_none_match.empty() && req.if_none_match == asset->etag) {
      HttpResponse r{304, std::string(asset->content_type), "", {}};
      r.headers.emplace_back("ETag", asset->etag);
      return r;
    }
    HttpResponse r{200, std::string(asset->content_type), std::string(asset->body), {}};
    r.headers.emplace_back("Content-Security-Policy", std::string(kWebCsp));
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
    r.headers.emplace_back("Cache-Control", "no-cache");  // revalidate: a new node build serves a new page
    r.headers.emplace_back("ETag", asset->etag);
    return r;
  }
  return rest_error(404, code::kNotFound, "not found: " + path);
}
}  // namespace

}  // namespace peerchain::rpc
