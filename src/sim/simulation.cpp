#include "sim/simulation.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <functional>
#include <numeric>
#include <optional>
#include <utility>

#include "chain/miner.h"
#include "chain/planted.h"
#include "consensus/params.h"
#include "consensus/pow.h"
#include "node/node.h"
#include "sim/live.h"
#include "storage/memory_database.h"
#include "util/log.h"

namespace peerchain::sim {

namespace {

using primitives::AccountKey;
using primitives::BlockId;
using primitives::Transaction;
using primitives::TxId;

// The wall-clock instant simulated time starts at (2027-01-15T08:00:00Z).
constexpr int64_t kEpochMs = 1'800'000'000'000;

// A node's clock: simulated time plus the skew the nemesis gives it.
class NodeClock final : public util::Clock {
 public:
  explicit NodeClock(const EventLoop& loop) : loop_(loop) {}
  int64_t now_ms() const override { return kEpochMs + loop_.now() / kMs + skew_ms; }
  int64_t steady_ns() const override { return loop_.now() * 1000; }
  int64_t skew_ms = 0;

 private:
  const EventLoop& loop_;
};

// A node's timers are events of its current life.
class NodeScheduler final : public node::Scheduler {
 public:
  NodeScheduler(EventLoop& loop, std::function<Owner()> owner) : loop_(loop), owner_(std::move(owner)) {}
  TaskId after(int64_t delay_ms, std::function<void()> task) override {
    return loop_.after(std::max<int64_t>(0, delay_ms) * kMs, owner_(), std::move(task));
  }
  void cancel(TaskId id) override { loop_.cancel(id); }

 private:
  EventLoop& loop_;
  std::function<Owner()> owner_;
};

// A node's log sink: the last lines, stamped with simulated time and the node, for a violation's
// report; echoed to stderr with --verbose.
class RingSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  RingSink(const EventLoop& loop, int node, bool echo) : loop_(loop), node_(node), echo_(echo) {}
  std::deque<std::string> lines;

 protected:
  void sink_it_(const spdlog::details::log_msg& m) override {
    char head[64];
    std::snprintf(head, sizeof head, "%10.3f n%d %s: ", static_cast<double>(loop_.now()) / 1e6, node_,
                  spdlog::level::to_string_view(m.level).data());
    std::string line = head + std::string(m.payload.data(), m.payload.size());
    if (echo_) std::fprintf(stderr, "%s\n", line.c_str());
    lines.push_back(std::move(line));
    if (lines.size() > 30) lines.pop_front();
  }
  void flush_() override {}

 private:
  const EventLoop& loop_;
  const int node_;
  const bool echo_;
};

struct SimNode {
  int index = 0;
  uint64_t incarnation = 1;
  bool up = false;
  bool paused = false;
  bool fatal = false;
  bool damaged = false;  // its disk was corrupted and not yet wiped (the node may not have noticed)
  double hash_rate = 0;
  std::shared_ptr<storage::MemoryDisk> disk;
  std::unique_ptr<NodeClock> clock;
  std::unique_ptr<NodeScheduler> scheduler;
  std::shared_ptr<RingSink> sink;
  std::shared_ptr<spdlog::logger> logger;
  std::mt19937_64 rng;       // the node's protocol randomness
  std::mt19937_64 mine_rng;  // when it finds blocks
  node::Services services;
  std::unique_ptr<node::Node> node;
  SimTransport* transport = nullptr;
  EventLoop::EventId mine_event = 0;
  AccountKey reward;
  std::vector<int> peers;
  std::optional<BlockId> last_tip;  // as last reported to its listener
  std::set<TxId> acked;             // transfers this node acknowledged (forgotten only by a wipe)
};

struct Pending {
  Transaction tx;
  TxId id;
  int acked_by = -1;
  Micros sent_at = 0;
};

struct Client {
  explicit Client(crypto::SecretKey k) : key(std::move(k)), pub(key.pubkey()) {}
  crypto::SecretKey key;
  AccountKey pub;
  uint64_t next_nonce = 0;
  int home = -1;
  std::vector<Pending> pending;  // acknowledged, not yet deep in the chain; in nonce order
  // Refused on the node's local error (its disk): in doubt, not refused. Its journal record may
  // be in the log whose fsync failed, and come back after a restart (RocksDB replays such a
  // record too), so the wallet sends the same signed transfer again rather than a new one with
  // its nonce, which would be a double spend of its own making (ADR 0024).
  std::optional<Pending> in_doubt;
};

struct ActiveFault {
  std::string kind;
  std::function<void()> end;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::min<double>(static_cast<double>(v.size() - 1), std::floor(p * static_cast<double>(v.size()))));
  return v[i];
}

class Simulation {
 public:
  explicit Simulation(const SimOptions& o)
      : o_(o),
        rng_(o.seed * 0x9E3779B97F4A7C15ULL + 1),
        loop_(EventLoop::NodeGate{[this](int n) { return nodes_[static_cast<size_t>(n)].incarnation; },
                                  [this](int n) { return nodes_[static_cast<size_t>(n)].paused; }}) {}

  SimReport run();

  // --- live runs (sim/live.h) ---
  void set_tap(std::function<void(const std::string&)> tap) { trace_.tap = std::move(tap); }
  util::Status begin();
  bool advance(Micros t) {
    if (!failed_ && t > loop_.now()) loop_.run_until(t);
    return !failed_;
  }
  LiveResult command(const LiveCommand& c);
  SimReport end_live();
  Micros now() const { return loop_.now(); }
  bool failed() const { return failed_; }
  const std::string& violation_text() const { return report_.violation; }
  int node_count() const { return n(); }
  int client_count() const { return static_cast<int>(clients_.size()); }
  void flush_trace() { trace_.flush(); }
  // The nodes go before the loop and the network they use (members die in reverse order).
  void teardown() {
    for (auto& s : nodes_) {
      util::LogScope scope(s.logger.get());
      if (s.transport) s.transport->set_departure(Departure::kKill);
      s.node.reset();
      s.transport = nullptr;
    }
  }

 private:
  Owner owner(int i) const { return Owner{i, nodes_[static_cast<size_t>(i)].incarnation}; }
  SimNode& N(int i) { return nodes_[static_cast<size_t>(i)]; }
  int n() const { return static_cast<int>(nodes_.size()); }
  double uniform(double a, double b) { return a + (b - a) * std::uniform_real_distribution<double>(0, 1)(rng_); }
  int pick(int count) { return static_cast<int>(rng_() % static_cast<uint64_t>(count)); }
  bool serving(int i) { return N(i).up && !N(i).paused && !N(i).fatal; }

  void setup();
  void start_node(int i);
  void stop_node(int i, Departure how);
  void on_fatal(int i, const std::string& why);
  void on_tip(int i, const chain::TipInfo& tip, uint32_t disconnected);
  uint32_t check_reorg(int i, const BlockId& old_tip);
  void schedule_mining(int i);
  void mine_block(int i);
  void client_step();
  void client_loop();
  void resend_loop();
  void check_loop();
  void submit(Client& c, int node, const Pending& p, bool resend);
  void resend_stale();
  void nemesis_step();
  bool inject(const std::string& kind);
  void heal_everything();
  void check_node(int i, bool final);
  void violation(const std::string& what, int node = -1);
  bool converged(std::string* why);
  void final_checks();
  void balance_hash_power();
  void emit(TraceEvent e) { trace_.emit(loop_.now(), e); }
  // A live command's checks (empty: it can be applied) and its effects.
  std::string refuse(const LiveCommand& c);
  LiveResult perform(const LiveCommand& c);
  std::optional<uint64_t> fault_of(const std::function<bool(uint64_t id, const ActiveFault& f)>& match);
  void end_fault(uint64_t id);
  std::map<uint64_t, std::vector<std::pair<int, int>>> link_cuts_;  // live cut/partition fault -> the directed links it cuts
  std::map<uint64_t, int> node_faults_;                              // live crash/pause fault -> its node
  int64_t commands_ = 0;

  const SimOptions o_;
  std::mt19937_64 rng_;
  std::vector<SimNode> nodes_;
  EventLoop loop_;
  Trace trace_;
  std::unique_ptr<Network> network_;
  consensus::Params params_;
  LinkConditions default_link_;
  std::vector<Client> clients_;
  std::map<TxId, int> acked_;  // acknowledged transfers (by the first node that acknowledged)
  std::set<TxId> rejected_;    // invalid transfers, refused
  std::map<uint64_t, ActiveFault> active_;
  uint64_t next_fault_ = 0;
  bool nemesis_on_ = true;
  bool clients_on_ = true;
  bool mining_on_ = true;
  std::map<BlockId, std::pair<Micros, std::set<int>>> found_;  // block -> (found at, nodes whose tip it reached)
  std::vector<double> propagation_ms_;
  SimReport report_;
  bool failed_ = false;
};

void Simulation::setup() {
  params_ = consensus::dev_params();
  params_.target_spacing_ms = static_cast<int64_t>(o_.block_interval_s * 1000);
  params_.pow_limit = *consensus::decode_compact(0x207fffff);
  // The starting target makes the simulated hash rate find a block per interval.
  double expected = std::max(2.0, o_.hash_rate * o_.nodes * o_.block_interval_s);
  consensus::Uint256 target = (~consensus::Uint256(0)).div(consensus::Uint256(static_cast<uint64_t>(expected)));
  params_.genesis.header.bits = consensus::encode_compact(target);
  params_.genesis.header.time_ms = kEpochMs;
  params_.genesis_id = params_.genesis.header.id();

  default_link_.latency = static_cast<Micros>(o_.latency_ms * kMs);
  default_link_.jitter = static_cast<Micros>(o_.jitter_ms * kMs);
  network_ = std::make_unique<Network>(loop_, trace_, rng_, static_cast<size_t>(o_.nodes), default_link_);
  network_->owner_of = [this](int i) { return owner(i); };

  nodes_.resize(static_cast<size_t>(o_.nodes));
  const int peers = o_.peers > 0 ? std::min(o_.peers, o_.nodes - 1) : (o_.nodes <= 8 ? o_.nodes - 1 : 8);
  for (int i = 0; i < n(); ++i) {
    SimNode& s = N(i);
    s.index = i;
    s.hash_rate = o_.hash_rate;
    s.disk = std::make_shared<storage::MemoryDisk>();
    s.clock = std::make_unique<NodeClock>(loop_);
    s.scheduler = std::make_unique<NodeScheduler>(loop_, [this, i] { return owner(i); });
    s.sink = std::make_shared<RingSink>(loop_, i, o_.verbose);
    s.logger = std::make_shared<spdlog::logger>("n" + std::to_string(i), s.sink);
    s.logger->set_level(o_.verbose ? spdlog::level::debug : spdlog::level::info);
    s.rng.seed(rng_());
    s.mine_rng.seed(rng_());
    s.reward = consensus::dev_account_key(1000 + static_cast<uint32_t>(i)).pubkey();
  }
  // Topology: each node dials `peers` others, each pair one way (the transport has no
  // duplicate-connection rule); with few nodes, a full mesh.
  std::set<std::pair<int, int>> pairs;
  for (int i = 0; i < n(); ++i) {
    if (o_.nodes <= 8 && o_.peers == 0) {
      for (int j = i + 1; j < n(); ++j) N(i).peers.push_back(j);
      continue;
    }
    int tries = 0;
    while (static_cast<int>(N(i).peers.size()) < peers && tries++ < 100) {
      int j = pick(n());
      if (j == i || pairs.count({std::min(i, j), std::max(i, j)})) continue;
      pairs.insert({std::min(i, j), std::max(i, j)});
      N(i).peers.push_back(j);
    }
  }
  for (uint32_t c = 0; c < static_cast<uint32_t>(o_.clients) && c < consensus::kDevAccounts; ++c) {
    clients_.emplace_back(consensus::dev_account_key(c));
  }
}

void Simulation::start_node(int i) {
  SimNode& s = N(i);
  s.up = true;
  s.paused = false;
  s.fatal = false;
  s.services.clock = s.clock.get();
  s.services.scheduler = s.scheduler.get();
  s.services.worker_threads = false;
  s.services.verify_pool = nullptr;
  s.services.transport = [this, i](net::NetOptions no, net::NetEvents ev) -> util::Result<std::unique_ptr<net::Transport>> {
    auto t = std::make_unique<SimTransport>(*network_, i, std::move(no), std::move(ev), *N(i).clock,
                                            [this, i] { return N(i).rng(); });
    N(i).transport = t.get();
    return std::unique_ptr<net::Transport>(std::move(t));
  };
  s.services.storage = [this, i](const std::string&) { return storage::MemoryDatabase::open(N(i).disk); };
  s.services.random = [this, i] { return N(i).rng(); };
  s.services.logger = s.logger.get();
  s.services.on_fatal = [this, i](const std::string& why) { on_fatal(i, why); };
  node::NodeOptions no;
  no.data_dir = "sim/node" + std::to_string(i);
  no.network = "dev";
  no.params = params_;
  no.mine = false;
  no.discover = false;
  no.user_agent = "peerchain-sim/n" + std::to_string(i);
  no.compact_relay = o_.compact_relay;
  no.template_min_tx_age_ms = o_.template_min_tx_age_ms;
  for (int p : s.peers) no.peers.push_back({Network::host_of(p), Network::kPort});
  auto created = node::Node::create(no, s.services);
  if (!created) {
    if (created.error().code == storage::kErrCorrupt) {
      // The operator's answer to a damaged database: remove it and sync again from peers.
      emit(TraceEvent("operator").num("node", i).str("action", "wipe").str("why", created.error().to_string()));
      s.disk = std::make_shared<storage::MemoryDisk>();
      s.damaged = false;
      s.acked.clear();
      created = node::Node::create(no, s.services);
    }
    if (!created && (created.error().code == storage::kErrIo || created.error().code == storage::kErrNoSpace)) {
      // The disk still fails: the program exits with the error and its supervisor (systemd's
      // Restart=on-failure) starts it again a few seconds later.
      s.up = false;
      emit(TraceEvent("node_start_failed").num("node", i).str("why", created.error().to_string()));
      loop_.after(5 * kSecond, Owner{}, [this, i] {
        if (!N(i).up) start_node(i);
      });
      return;
    }
    if (!created) {
      s.up = false;
      violation("node cannot restart from its own storage: " + created.error().to_string(), i);
      return;
    }
  }
  s.node = std::move(*created);
  s.node->add_listener({[this, i](const chain::TipInfo& tip, uint32_t disconnected) { on_tip(i, tip, disconnected); }, {}});
  util::LogScope scope(s.logger.get());
  if (auto st = s.node->start(); !st) {
    violation("node does not start: " + st.error().to_string(), i);
    return;
  }
  s.last_tip = s.node->chain().tip().id;
  // Acknowledged means durable: whatever this node acknowledged before it went down (kill -9 or
  // power cut) is, on its own disk, in its chain or back in its mempool.
  for (const auto& id : s.acked)
    if (!s.node->chain().transaction_place(id) && s.node->chain().storage_status().state == chain::StorageState::kOk)
      return violation("node " + std::to_string(i) + " acknowledged transfer " + id.hex() +
                           " and no longer has it after a restart from its own disk", i);
  emit(TraceEvent("node_start").num("node", i).num("height", s.node->chain().tip().height).str("tip", s.node->chain().tip().id.hex()));
  schedule_mining(i);
}

void Simulation::stop_node(int i, Departure how) {
  SimNode& s = N(i);
  if (!s.up) return;
  check_node(i, false);
  loop_.cancel(s.mine_event);
  s.mine_event = 0;
  if (s.transport) s.transport->set_departure(how);
  {
    util::LogScope scope(s.logger.get());
    s.node.reset();
  }
  s.transport = nullptr;
  s.up = false;
  s.paused = false;
  loop_.release(i);  // held events now belong to a dead life and are dropped
  ++s.incarnation;
  if (how == Departure::kPowerCut)
    s.disk->power_cut();
  else
    s.disk->kill();
}

void Simulation::on_fatal(int i, const std::string& why) {
  SimNode& s = N(i);
  if (s.fatal) return;
  s.fatal = true;
  emit(TraceEvent("node_fatal").num("node", i).str("why", why));
  // The process stops itself; the operator wipes the damaged database and restarts it later.
  loop_.after(0, Owner{}, [this, i] {
    stop_node(i, Departure::kGraceful);
    loop_.after(static_cast<Micros>(uniform(5, 20) * kSecond), Owner{}, [this, i] {
      if (N(i).up) return;
      emit(TraceEvent("operator").num("node", i).str("action", "wipe"));
      N(i).disk = std::make_shared<storage::MemoryDisk>();
      N(i).damaged = false;
      N(i).acked.clear();
      start_node(i);
    });
  });
}

// Nothing valid is lost in a reorg: every transfer of the blocks it disconnected is in the new
// chain or back in the mempool (the workload makes no conflicting transfers and never runs an
// account dry, so each of them stays valid).
// Returns how many of those transfers are back in the mempool (not in the new branch).
uint32_t Simulation::check_reorg(int i, const BlockId& old_tip) {
  auto& chain = N(i).node->chain();
  if (chain.storage_status().state != chain::StorageState::kOk) return 0;
  BlockId cur = old_tip;
  uint32_t back = 0;
  for (int guard = 0; guard < 100'000 && !chain.in_active_chain(cur); ++guard) {
    auto b = chain.block(cur);
    if (!b) return back;  // unreadable: storage faults are the storage checks' business
    for (const auto& tx : b->txs) {
      auto info = chain.transaction_place(tx.id());
      if (!info) {
        violation("node " + std::to_string(i) + "'s reorg away from " + old_tip.hex() + " lost transfer " +
                      tx.id().hex() + " (in disconnected block " + cur.hex() + ")", i);
        return back;
      }
      if (!info->block) ++back;
    }
    cur = b->header.prev_id;
  }
  return back;
}

void Simulation::on_tip(int i, const chain::TipInfo& tip, uint32_t disconnected) {
  uint32_t back = 0;
  if (disconnected && N(i).last_tip) back = check_reorg(i, *N(i).last_tip);
  N(i).last_tip = tip.id;
  TraceEvent e("tip");
  e.num("node", i).num("height", tip.height).str("id", tip.id.hex());
  if (disconnected) e.num("reorg_depth", disconnected).num("mempool_back", back);
  emit(e);
  if (disconnected) {
    ++report_.reorgs;
    report_.max_reorg_depth = std::max(report_.max_reorg_depth, disconnected);
  }
  auto f = found_.find(tip.id);
  if (f != found_.end() && f->second.second.insert(i).second && f->second.second.size() == nodes_.size())
    propagation_ms_.push_back(static_cast<double>(loop_.now() - f->second.first) / kMs);
  // Mining restarts on the new tip (finding a block is memoryless, so a new draw is exact).
  loop_.after(0, owner(i), [this, i] { schedule_mining(i); });
}

void Simulation::schedule_mining(int i) {
  SimNode& s = N(i);
  loop_.cancel(s.mine_event);
  s.mine_event = 0;
  if (!mining_on_ || !s.up || s.paused || s.fatal || s.hash_rate <= 0) return;
  auto target = consensus::decode_compact(s.node->chain().tip().bits);
  double expected = target ? consensus::to_double(consensus::work_from_target(*target)) : 1.0;
  double wait_s = std::exponential_distribution<double>(s.hash_rate / std::max(1.0, expected))(s.mine_rng);
  s.mine_event = loop_.after(static_cast<Micros>(wait_s * kSecond) + 1, owner(i), [this, i] {
    N(i).mine_event = 0;
    mine_block(i);
  });
}

void Simulation::mine_block(int i) {
  SimNode& s = N(i);
  util::LogScope scope(s.logger.get());
  auto& chain = s.node->chain();
  // The template the node's miner would hash when the block is found: its transfers are at
  // least the minimum age (each draw is memoryless, so no refresh cadence is simulated).
  chain::BlockTemplate tmpl = chain.create_template(s.reward, SIZE_MAX, s.node->options().template_min_tx_age_ms);
  uint64_t hashes = 0;
  if (!chain::Miner::solve(tmpl, [] { return false; }, hashes)) return schedule_mining(i);
  const BlockId id = tmpl.block.id();
  ++report_.blocks_found;
  found_[id] = {loop_.now(), {}};
  // The block's transfers by id: a viewer follows a transfer's confirmations through forks.
  std::string txids = "[";
  for (const auto& tx : tmpl.block.txs) txids += (txids.size() > 1 ? ",\"" : "\"") + tx.id().hex() + "\"";
  txids += "]";
  emit(TraceEvent("block_found").num("node", i).str("id", id.hex()).num("height", tmpl.block.header.height)
           .str("parent", tmpl.block.header.prev_id.hex()).num("txs", static_cast<int64_t>(tmpl.block.txs.size()))
           .raw("txids", txids));
  auto r = chain.process_block(tmpl.block);
  if (!r) util::log().warn("simulated miner: own block {} refused: {}", id.hex(), r.error().to_string());
  schedule_mining(i);
}

void Simulation::submit(Client& c, int node_index, const Pending& p, bool resend) {
  SimNode& s = N(node_index);
  util::LogScope scope(s.logger.get());
  // What the API's sendtransaction does with the signed bytes a wallet sends: decode, submit.
  auto decoded = primitives::decode_transaction(primitives::encode_transaction(p.tx));
  if (!decoded) return violation("a wallet's transfer does not decode: " + decoded.error().to_string(), node_index);
  auto r = s.node->chain().submit_transaction(*decoded);
  TraceEvent e(resend ? "tx_resent" : "tx_submitted");
  e.num("node", node_index).num("client", static_cast<int64_t>(&c - clients_.data())).str("txid", p.id.hex())
      .num("nonce", static_cast<int64_t>(p.tx.nonce));
  // A transfer in doubt refused as already spent: the wallet signed no other transfer with its
  // nonce, so it is the one in the chain; it counts as acknowledged (the final check holds the
  // chain to it).
  const bool doubt = !resend && c.in_doubt && c.in_doubt->id == p.id;
  const bool spent = !r && doubt &&
                     (r.error().is(consensus::RejectCode::kNonceTooLow) || r.error().is(consensus::RejectCode::kDuplicate));
  if (doubt && (r || spent)) c.in_doubt.reset();
  if (r || spent) {
    e.boolean("acked", static_cast<bool>(r));
    if (spent) e.str("why", r.error().to_string());
    if (!resend) {
      ++c.next_nonce;
      Pending q = p;
      q.acked_by = node_index;
      q.sent_at = loop_.now();
      c.pending.push_back(q);
      acked_.emplace(p.id, node_index);
      ++report_.transfers_acked;
    }
    if (r) s.acked.insert(p.id);
  } else {
    e.boolean("acked", false).str("why", r.error().to_string());
    // In doubt until a node acknowledges it (or shows it spent): any refusal of a retry, a node
    // behind on the chain's nonce among them, leaves it so.
    if (!resend && (doubt || r.error().local())) c.in_doubt = p;
  }
  emit(e);
}

void Simulation::client_step() {
  if (!clients_on_ || clients_.empty()) return;
  Client& c = clients_[rng_() % clients_.size()];
  std::vector<int> up;
  for (int i = 0; i < n(); ++i)
    if (serving(i) && N(i).node->chain().storage_status().state == chain::StorageState::kOk) up.push_back(i);
  if (up.empty()) return;
  int target = c.home;
  if (target < 0 || !serving(target) || std::find(up.begin(), up.end(), target) == up.end()) {
    // The wallet cannot reach its node: it sends its unconfirmed transfers, the same signed bytes,
    // to another one first.
    target = up[rng_() % up.size()];
    c.home = target;
    for (const auto& p : c.pending) {
      submit(c, target, p, true);
      ++report_.resends;
    }
  }
  if (clients_.size() < 2) return;
  const Client* other = &c;
  while (other == &c) other = &clients_[rng_() % clients_.size()];
  const auto& to = other->pub;
  if (std::uniform_real_distribution<double>(0, 1)(rng_) < o_.invalid_share) {
    // A transfer that must be refused: a forged signature, or more than exists.
    Transaction bad = primitives::make_transfer(params_.chain_id, c.key, to, 1 + rng_() % 1000, 1, c.next_nonce);
    if (rng_() % 2) {
      bad.signature.data[rng_() % bad.signature.data.size()] ^= 0x5a;
    } else {
      bad = primitives::make_transfer(params_.chain_id, c.key, to, static_cast<primitives::Amount>(1) << 62, 1, c.next_nonce);
    }
    util::LogScope scope(N(target).logger.get());
    auto r = N(target).node->chain().submit_transaction(bad);
    emit(TraceEvent("tx_invalid").num("node", target).str("txid", bad.id().hex()).boolean("acked", static_cast<bool>(r))
             .str("why", r ? std::string() : r.error().to_string()));
    if (r) return violation("an invalid transfer was acknowledged: " + bad.id().hex(), target);
    if (r.error().rejection()) {
      rejected_.insert(bad.id());
      ++report_.transfers_rejected;
    }
    return;
  }
  if (c.in_doubt) return submit(c, target, Pending(*c.in_doubt), false);
  Pending p;
  p.tx = primitives::make_transfer(params_.chain_id, c.key, to, 1 + rng_() % 1000, 1, c.next_nonce);
  p.id = p.tx.id();
  submit(c, target, p, false);
}

// Transfers acknowledged long ago and still not in the chain of the node that took them are
// sent to another node (their acknowledging node may sit on the losing side of a partition).
void Simulation::resend_stale() {
  std::vector<int> up;
  for (int i = 0; i < n(); ++i)
    if (serving(i)) up.push_back(i);
  if (up.empty()) return;
  for (auto& c : clients_) {
    // A wallet forgets a transfer only once it is deep in the chain of every node, all of them
    // running (one node's view is not enough: its branch may lose, and a wiped node forgets what
    // it took).
    if (static_cast<int>(up.size()) == n()) {
      std::erase_if(c.pending, [&](const Pending& p) {
        for (int i : up) {
          auto info = N(i).node->chain().transaction_place(p.id);
          if (!info || !info->block || info->confirmations < 10) return false;
        }
        return true;
      });
    }
    if (!c.pending.empty() && loop_.now() - c.pending.front().sent_at > 30 * kSecond) {
      int target = up[rng_() % up.size()];
      for (auto& p : c.pending) {
        submit(c, target, p, true);
        p.sent_at = loop_.now();
        ++report_.resends;
      }
    }
  }
}

void Simulation::client_loop() {
  client_step();
  if (clients_on_)
    loop_.after(static_cast<Micros>(std::exponential_distribution<double>(o_.tx_rate)(rng_) * kSecond) + 1, Owner{},
                [this] { client_loop(); });
}

void Simulation::resend_loop() {
  resend_stale();
  loop_.after(5 * kSecond, Owner{}, [this] { resend_loop(); });
}

void Simulation::check_loop() {
  for (int i = 0; i < n(); ++i)
    if (serving(i)) check_node(i, false);
  loop_.after(static_cast<Micros>(o_.check_every_s * kSecond), Owner{}, [this] { check_loop(); });
}

void Simulation::balance_hash_power() {
  for (auto& s : nodes_) s.hash_rate = o_.hash_rate;
  for (int i = 0; i < n(); ++i)
    if (N(i).up) loop_.after(0, owner(i), [this, i] { schedule_mining(i); });
}

bool Simulation::inject(const std::string& kind) {
  std::vector<int> up, serving_nodes;
  for (int i = 0; i < n(); ++i) {
    if (N(i).up) up.push_back(i);
    if (serving(i)) serving_nodes.push_back(i);
  }
  const uint64_t id = ++next_fault_;
  auto lasting = [&](double lo, double hi, std::function<void()> end) {
    active_[id] = {kind, std::move(end)};
    loop_.after(static_cast<Micros>(uniform(lo, hi) * kSecond), Owner{}, [this, id] {
      auto it = active_.find(id);
      if (it == active_.end()) return;
      auto end_fn = std::move(it->second.end);
      std::string k = it->second.kind;
      active_.erase(it);
      emit(TraceEvent("fault_end").num("fault", static_cast<int64_t>(id)).str("kind", k));
      end_fn();
    });
  };
  TraceEvent ev("fault");
  ev.num("fault", static_cast<int64_t>(id)).str("kind", kind);
  if (kind == "crash" || kind == "powercut") {
    if (serving_nodes.size() < 2) return false;
    int x = serving_nodes[rng_() % serving_nodes.size()];
    ev.num("node", x);
    emit(ev);
    stop_node(x, kind == "crash" ? Departure::kKill : Departure::kPowerCut);
    lasting(1, 20, [this, x] {
      if (!N(x).up) start_node(x);
    });
    return true;
  }
  if (kind == "pause") {
    if (serving_nodes.size() < 2) return false;
    int x = serving_nodes[rng_() % serving_nodes.size()];
    ev.num("node", x);
    emit(ev);
    N(x).paused = true;
    loop_.cancel(N(x).mine_event);
    lasting(1, 30, [this, x] {
      if (!N(x).up || !N(x).paused) return;
      N(x).paused = false;
      loop_.release(x);
      schedule_mining(x);
    });
    return true;
  }
  if (kind == "partition" || kind == "isolate" || kind == "bridge" || kind == "oneway") {
    std::vector<std::pair<int, int>> cuts;  // directed
    std::vector<int> order(static_cast<size_t>(n()));
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng_);
    if (kind == "oneway") {
      cuts.push_back({order[0], order[1]});
    } else {
      size_t k = kind == "isolate" ? 1 : 1 + rng_() % static_cast<size_t>(n() - 1);
      std::set<int> a(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k));
      int bridge = -1;
      if (kind == "bridge") {
        if (n() < 3) return false;
        bridge = order.back();
        a.erase(bridge);
        if (a.empty()) a.insert(order[0]);
      }
      for (int x = 0; x < n(); ++x)
        for (int y = 0; y < n(); ++y)
          if (x != y && x != bridge && y != bridge && a.count(x) && !a.count(y)) {
            cuts.push_back({x, y});
            cuts.push_back({y, x});
          }
      std::string side;
      for (int x : a) side += (side.empty() ? "" : ",") + std::to_string(x);
      ev.str("side", side);
      if (bridge >= 0) ev.num("bridge", bridge);
    }
    if (cuts.empty()) return false;
    if (kind == "oneway") ev.num("from", cuts[0].first).num("to", cuts[0].second);
    emit(ev);
    for (auto [x, y] : cuts) network_->set_cut(x, y, true);
    lasting(5, 60, [this, cuts] {
      for (auto [x, y] : cuts) network_->set_cut(x, y, false);
    });
    return true;
  }
  if (kind == "latency") {
    LinkConditions c = default_link_;
    c.latency = static_cast<Micros>(uniform(100, 1000) * kMs);
    c.jitter = static_cast<Micros>(uniform(0, 200) * kMs);
    ev.num("latency_ms", c.latency / kMs);
    emit(ev);
    network_->set_all_links(c);
    lasting(5, 60, [this] { network_->set_all_links(default_link_); });
    return true;
  }
  if (kind == "bandwidth") {
    int x = pick(n());
    double bw = uniform(10'000, 100'000);
    ev.num("node", x).num("bytes_per_s", static_cast<int64_t>(bw));
    emit(ev);
    for (int y = 0; y < n(); ++y)
      if (y != x) {
        network_->link(x, y).bytes_per_second = bw;
        network_->link(y, x).bytes_per_second = bw;
      }
    lasting(5, 60, [this, x] {
      for (int y = 0; y < n(); ++y)
        if (y != x) {
          network_->link(x, y).bytes_per_second = 0;
          network_->link(y, x).bytes_per_second = 0;
        }
    });
    return true;
  }
  if (kind == "reset") {
    int a = pick(n()), b = pick(n());
    if (a == b) return false;
    ev.num("a", a).num("b", b);
    emit(ev);
    network_->reset_links(a, b);
    return true;
  }
  if (kind == "clog") {
    int a = pick(n()), b = pick(n());
    if (a == b) return false;
    Micros until = loop_.now() + static_cast<Micros>(uniform(1, 20) * kSecond);
    ev.num("from", a).num("to", b).num("until", until);
    emit(ev);
    network_->clog(a, b, until);
    return true;
  }
  if (kind == "skew" || kind == "skew-far") {
    int x = pick(n());
    double mag = kind == "skew" ? uniform(0, 60) : uniform(150, 300);
    int64_t skew = static_cast<int64_t>(mag * 1000) * (rng_() % 2 ? 1 : -1);
    ev.num("node", x).num("skew_ms", skew);
    emit(ev);
    N(x).clock->skew_ms = skew;
    lasting(10, 90, [this, x] { N(x).clock->skew_ms = 0; });
    return true;
  }
  if (kind == "disk-full" || kind == "disk-io" || kind == "disk-sync") {
    if (up.empty()) return false;
    int x = up[rng_() % up.size()];
    ev.num("node", x);
    emit(ev);
    auto disk = N(x).disk;
    const std::string_view code = kind == "disk-full" ? storage::kErrNoSpace : storage::kErrIo;
    if (kind == "disk-sync")
      disk->fail_synced_writes(code);
    else
      disk->fail_writes(code);
    lasting(2, 20, [disk] { disk->clear_write_faults(); });
    return true;
  }
  if (kind == "disk-corrupt") {
    // A damaged database is removed and synced again from peers, so it may only happen while two
    // other running nodes hold the chain: destroying every copy loses it in any system.
    if (serving_nodes.size() < 3) return false;
    int x = serving_nodes[rng_() % serving_nodes.size()];
    uint32_t best = 0;
    for (int i : serving_nodes) best = std::max(best, N(i).node->chain().tip().height);
    // A node whose disk is already damaged is no replica, even before it reads the damage.
    int replicas = 0;
    for (int i : serving_nodes)
      if (i != x && !N(i).damaged && N(i).node->chain().tip().height + 2 >= best) ++replicas;
    if (replicas < 2) return false;
    ev.num("node", x);
    emit(ev);
    N(x).disk->corrupt_column(storage::Column::kAccounts);
    N(x).damaged = true;
    return true;
  }
  if (kind == "hashpower") {
    int x = pick(n());
    double share = uniform(0.6, 0.9);
    const double total = o_.hash_rate * n();
    ev.num("node", x).real("share", share);
    emit(ev);
    for (int i = 0; i < n(); ++i) N(i).hash_rate = i == x ? total * share : total * (1 - share) / std::max(1, n() - 1);
    for (int i = 0; i < n(); ++i)
      if (N(i).up) loop_.after(0, owner(i), [this, i] { schedule_mining(i); });
    lasting(20, 120, [this] { balance_hash_power(); });
    return true;
  }
  return false;
}

void Simulation::nemesis_step() {
  if (!nemesis_on_ || failed_) return;
  std::vector<std::string> kinds;
  for (const auto& k : all_fault_kinds())
    if (o_.faults.empty() || o_.faults.count(k)) kinds.push_back(k);
  if (!kinds.empty()) {
    const std::string kind = kinds[rng_() % kinds.size()];
    if (inject(kind)) {
      ++report_.faults;
      ++report_.faults_by_kind[kind];
    }
  }
  loop_.after(static_cast<Micros>(std::exponential_distribution<double>(1.0 / o_.fault_interval_s)(rng_) * kSecond) + 1,
              Owner{}, [this] { nemesis_step(); });
}

void Simulation::heal_everything() {
  nemesis_on_ = false;
  auto faults = std::move(active_);
  active_.clear();
  for (auto& [id, f] : faults) {
    emit(TraceEvent("fault_end").num("fault", static_cast<int64_t>(id)).str("kind", f.kind));
    f.end();
  }
  network_->heal_all();
  network_->set_all_links(default_link_);
  for (int i = 0; i < n(); ++i) {
    N(i).clock->skew_ms = 0;
    N(i).disk->clear_write_faults();
    if (N(i).damaged && !N(i).fatal) {
      // Damage the node has not read yet is damage all the same: the heal ends it as the
      // operator would (a node that found it after the heal fell out of the final check).
      stop_node(i, Departure::kGraceful);
      emit(TraceEvent("operator").num("node", i).str("action", "wipe").str("why", "damaged disk found at the heal"));
      N(i).disk = std::make_shared<storage::MemoryDisk>();
      N(i).damaged = false;
      N(i).acked.clear();
    }
    if (!N(i).up && !N(i).fatal) start_node(i);
    if (N(i).paused) {
      N(i).paused = false;
      loop_.release(i);
    }
  }
  balance_hash_power();
  emit(TraceEvent("heal"));
}

void Simulation::violation(const std::string& what, int node) {
  if (failed_) return;
  failed_ = true;
  report_.ok = false;
  report_.violation = what;
#ifdef PEERCHAIN_PLANTED_BUGS
  report_.repro = "peerchain-sim-planted " + options_to_args(o_);
#else
  report_.repro = "peerchain-sim " + options_to_args(o_);
#endif
  for (const auto& l : trace_.recent()) report_.context.push_back("trace: " + l);
  if (node >= 0)
    for (const auto& l : N(node).sink->lines) report_.context.push_back("log: " + l);
  emit(TraceEvent("violation").str("what", what).num("node", node));
  loop_.stop();
}

// The invariants one node must keep at any instant it is up and its storage is healthy.
void Simulation::check_node(int i, bool final) {
  SimNode& s = N(i);
  if (!s.up || s.fatal || failed_) return;
  util::LogScope scope(s.logger.get());
  // No honest node penalises another: every node here is honest.
  for (const auto& p : s.node->peers().stats())
    if (p.score > 0)
      return violation("node " + std::to_string(i) + " gave honest peer " + p.address + " " + std::to_string(p.score) +
                           " misbehaviour points", i);
  if (s.node->peers().counters().bans.load() > 0 || (s.transport && s.transport->bans_made() > 0))
    return violation("node " + std::to_string(i) + " banned an honest peer", i);
  auto& chain = s.node->chain();
  if (chain.storage_status().state != chain::StorageState::kOk) return;
  const auto tip = chain.tip();
  // Its block tree agrees with its tip: the tip is on its active chain, and no block whose whole
  // branch it has and which is not known invalid carries more work.
  if (!chain.in_active_chain(tip.id))
    return violation("node " + std::to_string(i) + "'s tip " + tip.id.hex() + " is not on its active chain", i);
  auto tree = chain.block_tree(tip.height > 50 ? tip.height - 50 : 0, 5000, 1);
  for (const auto& t : tree.blocks)
    if (t.chain_complete && !t.failed && tip.chain_work < t.chain_work)
      return violation("node " + std::to_string(i) + " keeps tip " + tip.id.hex() + " at height " +
                           std::to_string(tip.height) + " while complete branch " + t.id.hex() + " at height " +
                           std::to_string(t.height) + " has more work", i);
  // Balances are conserved: the allocations plus every subsidy of the active chain.
  primitives::Amount expected = 0;
  for (const auto& a : params_.allocations) expected += a.amount;
  for (uint32_t h = 1; h <= tip.height; ++h) expected += consensus::block_subsidy(params_, h);
  primitives::Amount total = 0;
  for (const auto& [k, a] : chain.all_accounts()) total += a.balance;
  if (chain.storage_status().state != chain::StorageState::kOk) return;
  if (total != expected)
    return violation("node " + std::to_string(i) + " holds " + std::to_string(total) + " in balances at height " +
                         std::to_string(tip.height) + ", the chain created " + std::to_string(expected), i);
  if (!final) return;
  // Its state re-derives from its blocks.
  if (auto st = chain.verify(); !st)
    return violation("node " + std::to_string(i) + "'s state does not re-derive from its blocks: " + st.error().to_string(), i);
  // No transaction twice in its chain.
  std::set<TxId> seen;
  for (uint32_t h = 1; h <= tip.height; ++h) {
    auto id = chain.block_id_at(h);
    auto b = id ? chain.block(*id) : std::nullopt;
    if (!b) return violation("node " + std::to_string(i) + " lacks its active block at height " + std::to_string(h), i);
    for (const auto& tx : b->txs)
      if (!seen.insert(tx.id()).second)
        return violation("transfer " + tx.id().hex() + " is twice in node " + std::to_string(i) + "'s chain", i);
  }
  // Every acknowledged transfer is in it; no refused one is.
  for (const auto& [id, by] : acked_) {
    auto info = chain.transaction_place(id);
    if (!info || !info->block)
      return violation("transfer " + id.hex() + " acknowledged by node " + std::to_string(by) +
                           " is not in node " + std::to_string(i) + "'s final chain", i);
  }
  for (const auto& id : rejected_)
    if (auto info = chain.transaction_place(id); info)
      return violation("refused transfer " + id.hex() + " is in node " + std::to_string(i) + "'s chain or mempool", i);
}

bool Simulation::converged(std::string* why) {
  std::optional<BlockId> tip;
  for (int i = 0; i < n(); ++i) {
    if (!serving(i)) {
      *why = "node " + std::to_string(i) + " is not running";
      return false;
    }
    auto t = N(i).node->chain().tip();
    if (!tip) tip = t.id;
    if (*tip != t.id && why->empty()) {
      *why = "tips differ (node 0 at " + std::to_string(N(0).node->chain().tip().height) + ", node " +
             std::to_string(i) + " at " + std::to_string(t.height) + ")";
    }
  }
  const bool tips_differ = !why->empty();
  auto& chain = N(0).node->chain();
  size_t missing = 0;
  std::string first;
  for (const auto& [id, by] : acked_) {
    auto info = chain.transaction_place(id);
    if (!info || !info->block) {
      if (!missing++) first = id.hex() + " (acknowledged by node " + std::to_string(by) + ")";
    }
  }
  if (missing) {
    *why += (tips_differ ? "; " : "") + std::to_string(missing) + " acknowledged transfers not in node 0's chain, e.g. " + first;
    return false;
  }
  return !tips_differ;
}

// The run up to its first event: the trace's header, the nodes started, the workload, the checks
// and the nemesis scheduled.
util::Status Simulation::begin() {
#ifdef PEERCHAIN_PLANTED_BUGS
  chain::planted::live = o_.planted_bug;
#endif
  if (auto st = trace_.open(o_.record); !st) {
    report_.ok = false;
    report_.violation = st.error().to_string();
    return st;
  }
  setup();
  trace_.header("{\"format\":\"peerchain-sim-trace\",\"version\":1,\"seed\":" + std::to_string(o_.seed) +
                ",\"nodes\":" + std::to_string(o_.nodes) + ",\"block_interval_ms\":" +
                std::to_string(params_.target_spacing_ms) + ",\"args\":\"" + json_escape(options_to_args(o_)) + "\"}");
  for (int i = 0; i < n(); ++i) {
    emit(TraceEvent("node").num("node", i).str("host", Network::host_of(i)).str("miner", N(i).reward.hex()));
    start_node(i);
  }
  if (o_.tx_rate > 0) loop_.after(kSecond, Owner{}, [this] { client_loop(); });
  loop_.after(5 * kSecond, Owner{}, [this] { resend_loop(); });
  if (o_.check_every_s > 0) loop_.after(static_cast<Micros>(o_.check_every_s * kSecond), Owner{}, [this] { check_loop(); });
  if (o_.fault_interval_s > 0) loop_.after(2 * kSecond, Owner{}, [this] { nemesis_step(); });
  return {};
}

SimReport Simulation::run() {
  const auto real_start = std::chrono::steady_clock::now();
  if (!begin()) return report_;

  const Micros end = static_cast<Micros>(o_.duration_s * kSecond);
  loop_.run_until(end);
  if (!failed_) {
    heal_everything();
    clients_on_ = false;
    const Micros healed = loop_.now();
    const Micros deadline = healed + static_cast<Micros>(o_.settle_s * kSecond);
    std::string why;
    bool done = false;
    while (!failed_ && loop_.now() < deadline) {
      loop_.run_until(loop_.now() + kSecond);
      why.clear();
      if (converged(&why)) {
        done = true;
        break;
      }
    }
    if (!failed_ && !done)
      violation("after the heal, no single tip with every acknowledged transfer within " +
                std::to_string(static_cast<int>(o_.settle_s)) + " simulated s: " + why);
    if (!failed_) {
      report_.converge_s = static_cast<double>(loop_.now() - healed) / kSecond;
      // Stop mining, let the last messages land, and check again that nothing moved apart.
      mining_on_ = false;
      for (int i = 0; i < n(); ++i) schedule_mining(i);
      loop_.run_until(loop_.now() + 10 * kSecond);
      why.clear();
      if (!converged(&why)) violation("after mining stopped, the network fell apart: " + why);
      for (int i = 0; i < n() && !failed_; ++i) check_node(i, true);
    }
  }
  if (!failed_ && N(0).up) {
    const auto tip = N(0).node->chain().tip();
    report_.blocks_final = tip.height;
    for (const auto& [id, f] : found_)
      if (!N(0).node->chain().in_active_chain(id)) ++report_.stale_blocks;
  }
  report_.propagation_p50_ms = percentile(propagation_ms_, 0.5);
  report_.propagation_p99_ms = percentile(propagation_ms_, 0.99);
  report_.events = loop_.events_run();
  report_.simulated_s = static_cast<double>(loop_.now()) / kSecond;
  emit(TraceEvent("end").boolean("ok", report_.ok).num("faults", static_cast<int64_t>(report_.faults)));
  report_.trace_hash = trace_.finish_hash();
  teardown();
  report_.real_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - real_start).count();
  return report_;
}


// --- live runs (sim/live.h) ----------------------------------------------------------------------

std::optional<uint64_t> Simulation::fault_of(const std::function<bool(uint64_t id, const ActiveFault& f)>& match) {
  for (const auto& [id, f] : active_)
    if (match(id, f)) return id;
  return std::nullopt;
}

// Ends a lasting fault the way its timer would (fault_end, then its undoing).
void Simulation::end_fault(uint64_t id) {
  auto it = active_.find(id);
  if (it == active_.end()) return;
  auto end_fn = std::move(it->second.end);
  std::string kind = it->second.kind;
  active_.erase(it);
  node_faults_.erase(id);
  emit(TraceEvent("fault_end").num("fault", static_cast<int64_t>(id)).str("kind", kind));
  end_fn();
  if (link_cuts_.erase(id)) {
    // Two live faults may cut the same link: what the others cut stays cut.
    for (const auto& [other, cuts] : link_cuts_)
      for (auto [x, y] : cuts) network_->set_cut(x, y, true);
  }
}

std::string Simulation::refuse(const LiveCommand& c) {
  auto node_ok = [&](int x) { return x >= 0 && x < n(); };
  auto name = [](int x) { return "node " + std::to_string(x); };
  const std::string& k = c.cmd;
  if (k == "crash" || k == "restart" || k == "pause" || k == "resume" || k == "hashpower" || k == "transfer") {
    if (!node_ok(c.node)) return "no node " + std::to_string(c.node) + " (nodes 0.." + std::to_string(n() - 1) + ")";
  }
  if (k == "crash") return N(c.node).up ? "" : name(c.node) + " is not running";
  if (k == "restart") return N(c.node).up ? name(c.node) + " is running" : "";
  if (k == "pause") return serving(c.node) ? "" : name(c.node) + " is not running or already paused";
  if (k == "resume") return N(c.node).up && N(c.node).paused ? "" : name(c.node) + " is not paused";
  if (k == "cut" || k == "heal_link") {
    if (!node_ok(c.a) || !node_ok(c.b) || c.a == c.b) return "a link needs two different nodes of 0.." + std::to_string(n() - 1);
    const bool cut = network_->cut(c.a, c.b) || network_->cut(c.b, c.a);
    if (k == "cut") return cut ? "the link " + std::to_string(c.a) + "-" + std::to_string(c.b) + " is already cut" : "";
    for (const auto& [id, cuts] : link_cuts_)
      for (auto [x, y] : cuts)
        if ((x == c.a && y == c.b) || (x == c.b && y == c.a)) return "";
    return "the link " + std::to_string(c.a) + "-" + std::to_string(c.b) + " is not cut by the viewer";
  }
  if (k == "partition") {
    std::set<int> side(c.side.begin(), c.side.end());
    if (side.empty() || static_cast<int>(side.size()) >= n()) return "a partition's side needs at least one node and not all";
    for (int x : side)
      if (!node_ok(x)) return "no node " + std::to_string(x);
    return "";
  }
  if (k == "latency") return c.latency_ms >= 0 && c.latency_ms <= 10'000 ? "" : "latency is 0..10000 ms";
  if (k == "hashpower") return c.share >= 0 && c.share <= 1 ? "" : "a share of the hash power is 0..1";
  if (k == "transfer") {
    const int wallets = static_cast<int>(clients_.size());
    if (c.from < 0 || c.from >= wallets || c.to < 0 || c.to >= wallets || c.from == c.to)
      return "a transfer is between two different wallets of 0.." + std::to_string(wallets - 1);
    if (c.amount < 1 || c.amount > kMaxTransferAmount) return "an amount is 1.." + std::to_string(kMaxTransferAmount);
    if (!serving(c.node) || N(c.node).node->chain().storage_status().state != chain::StorageState::kOk)
      return name(c.node) + " is not serving";
    return "";
  }
  if (k == "end") return active_.count(static_cast<uint64_t>(c.fault)) ? "" : "no fault " + std::to_string(c.fault) + " is active";
  if (k == "heal") return "";
  return "unknown command '" + k + "'";
}

LiveResult Simulation::command(const LiveCommand& c) {
  LiveResult r;
  r.command = ++commands_;
  if (failed_) {
    r.why = "the run stopped: " + report_.violation;
    return r;
  }
  r.why = refuse(c);
  r.ok = r.why.empty();
  // The command as recorded: enough to apply it again at the same instant (a re-run, --commands).
  TraceEvent ev("command");
  ev.num("id", r.command).str("cmd", c.cmd);
  const std::string& k = c.cmd;
  if (k == "crash" || k == "restart" || k == "pause" || k == "resume" || k == "hashpower" || k == "transfer") ev.num("node", c.node);
  if (k == "crash") ev.boolean("powercut", c.powercut);
  if (k == "cut" || k == "heal_link") ev.num("a", c.a).num("b", c.b);
  if (k == "partition") {
    std::string side = "[";
    for (int x : c.side) side += (side.size() > 1 ? "," : "") + std::to_string(x);
    ev.raw("side", side + "]");
  }
  if (k == "latency") ev.num("latency_ms", static_cast<int64_t>(c.latency_ms));
  if (k == "hashpower") ev.real("share", c.share);
  if (k == "transfer") ev.num("from", c.from).num("to", c.to).num("amount", c.amount);
  if (k == "end") ev.num("fault", c.fault);
  ev.boolean("ok", r.ok);
  if (!r.ok) ev.str("why", r.why);
  emit(ev);
  if (!r.ok) return r;
  LiveResult done = perform(c);
  done.command = r.command;
  trace_.flush();
  return done;
}

LiveResult Simulation::perform(const LiveCommand& c) {
  LiveResult r;
  r.ok = true;
  const std::string& k = c.cmd;
  const int x = c.node;
  auto start_fault = [&](const std::string& kind) {
    const uint64_t id = ++next_fault_;
    ++report_.faults;
    ++report_.faults_by_kind[kind];
    r.fault = static_cast<int64_t>(id);
    TraceEvent ev("fault");
    ev.num("fault", static_cast<int64_t>(id)).str("kind", kind).str("by", "viewer");
    return std::pair<uint64_t, TraceEvent>(id, ev);
  };
  if (k == "crash") {
    const std::string kind = c.powercut ? "powercut" : "crash";
    auto [id, ev] = start_fault(kind);
    emit(ev.num("node", x));
    stop_node(x, c.powercut ? Departure::kPowerCut : Departure::kKill);
    active_[id] = {kind, [this, x] {
                     if (!N(x).up) start_node(x);
                   }};
    node_faults_[id] = x;
  } else if (k == "restart") {
    auto id = fault_of([&](uint64_t i, const ActiveFault& f) {
      auto nf = node_faults_.find(i);
      return nf != node_faults_.end() && nf->second == x && (f.kind == "crash" || f.kind == "powercut");
    });
    if (id)
      end_fault(*id);
    else
      start_node(x);  // down by the nemesis or after a fatal error: the operator starts it
  } else if (k == "pause") {
    auto [id, ev] = start_fault("pause");
    emit(ev.num("node", x));
    N(x).paused = true;
    loop_.cancel(N(x).mine_event);
    active_[id] = {"pause", [this, x] {
                     if (!N(x).up || !N(x).paused) return;
                     N(x).paused = false;
                     loop_.release(x);
                     schedule_mining(x);
                   }};
    node_faults_[id] = x;
  } else if (k == "resume") {
    auto id = fault_of([&](uint64_t i, const ActiveFault& f) {
      auto nf = node_faults_.find(i);
      return nf != node_faults_.end() && nf->second == x && f.kind == "pause";
    });
    if (id) {
      end_fault(*id);
    } else {
      N(x).paused = false;
      loop_.release(x);
      schedule_mining(x);
    }
  } else if (k == "cut" || k == "partition") {
    std::vector<std::pair<int, int>> cuts;
    auto [id, ev] = start_fault(k);
    if (k == "cut") {
      cuts = {{c.a, c.b}, {c.b, c.a}};
      ev.num("a", c.a).num("b", c.b);
    } else {
      std::set<int> side(c.side.begin(), c.side.end());
      for (int p : side)
        for (int q = 0; q < n(); ++q)
          if (!side.count(q)) {
            cuts.push_back({p, q});
            cuts.push_back({q, p});
          }
      std::string text;
      for (int p : side) text += (text.empty() ? "" : ",") + std::to_string(p);
      ev.str("side", text);
    }
    emit(ev);
    for (auto [p, q] : cuts) network_->set_cut(p, q, true);
    active_[id] = {k, [this, cuts] {
                     for (auto [p, q] : cuts) network_->set_cut(p, q, false);
                   }};
    link_cuts_[id] = cuts;
  } else if (k == "heal_link") {
    auto id = fault_of([&](uint64_t i, const ActiveFault&) {
      auto lc = link_cuts_.find(i);
      if (lc == link_cuts_.end()) return false;
      for (auto [p, q] : lc->second)
        if (p == c.a && q == c.b) return true;
      return false;
    });
    if (id) end_fault(*id);
  } else if (k == "latency") {
    if (auto id = fault_of([](uint64_t, const ActiveFault& f) { return f.kind == "latency"; })) end_fault(*id);
    if (c.latency_ms > 0) {
      LinkConditions lc = default_link_;
      lc.latency = static_cast<Micros>(c.latency_ms) * kMs;
      auto [id, ev] = start_fault("latency");
      emit(ev.num("latency_ms", lc.latency / kMs));
      network_->set_all_links(lc);
      active_[id] = {"latency", [this] { network_->set_all_links(default_link_); }};
    }
  } else if (k == "hashpower") {
    if (auto id = fault_of([](uint64_t, const ActiveFault& f) { return f.kind == "hashpower"; })) end_fault(*id);
    if (c.share > 0) {
      auto [id, ev] = start_fault("hashpower");
      emit(ev.num("node", x).real("share", c.share));
      const double total = o_.hash_rate * n();
      for (int i = 0; i < n(); ++i) N(i).hash_rate = i == x ? total * c.share : total * (1 - c.share) / std::max(1, n() - 1);
      for (int i = 0; i < n(); ++i)
        if (N(i).up) loop_.after(0, owner(i), [this, i] { schedule_mining(i); });
      active_[id] = {"hashpower", [this] { balance_hash_power(); }};
    }
  } else if (k == "transfer") {
    Client& from = clients_[static_cast<size_t>(c.from)];
    Pending p;
    if (from.in_doubt) {  // its nonce is taken until the transfer in doubt is acknowledged
      p = *from.in_doubt;
    } else {
      p.tx = primitives::make_transfer(params_.chain_id, from.key, clients_[static_cast<size_t>(c.to)].pub,
                                       static_cast<primitives::Amount>(c.amount), 1, from.next_nonce);
      p.id = p.tx.id();
    }
    const uint64_t before = from.next_nonce;
    submit(from, x, p, false);
    r.txid = p.id.hex();
    if (from.next_nonce == before) r.why = "node " + std::to_string(x) + " refused the transfer";
  } else if (k == "end") {
    end_fault(static_cast<uint64_t>(c.fault));
  } else if (k == "heal") {
    const bool nemesis = nemesis_on_;
    heal_everything();
    nemesis_on_ = nemesis;  // the nemesis' next step is still scheduled: it goes on
    link_cuts_.clear();
    node_faults_.clear();
  }
  return r;
}

SimReport Simulation::end_live() {
  report_.events = loop_.events_run();
  report_.simulated_s = static_cast<double>(loop_.now()) / kSecond;
  emit(TraceEvent("end").boolean("ok", report_.ok).num("faults", static_cast<int64_t>(report_.faults)));
  report_.trace_hash = trace_.finish_hash();
  teardown();
  return report_;
}

}  // namespace

std::string options_to_args(const SimOptions& o) {
  std::string s = "--seed " + std::to_string(o.seed) + " --nodes " + std::to_string(o.nodes);
  auto num = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", v);
    return std::string(b);
  };
  s += " --duration " + num(o.duration_s) + " --settle " + num(o.settle_s) + " --interval " + num(o.block_interval_s);
  s += " --hash-rate " + num(o.hash_rate) + " --latency " + num(o.latency_ms) + " --jitter " + num(o.jitter_ms);
  s += " --fault-interval " + num(o.fault_interval_s) + " --clients " + std::to_string(o.clients) + " --tx-rate " + num(o.tx_rate);
  if (o.peers) s += " --peers " + std::to_string(o.peers);
  if (o.check_every_s != 5) s += " --check-every " + num(o.check_every_s);
  if (!o.compact_relay) s += " --compact-relay off";
  if (o.invalid_share != 0.05) s += " --invalid-share " + num(o.invalid_share);
  if (!o.faults.empty()) {
    std::string f;
    for (const auto& k : o.faults) f += (f.empty() ? "" : ",") + k;
    s += " --faults " + f;
  }
  if (o.planted_bug) s += " --plant " + std::to_string(o.planted_bug);
  return s;
}

std::string SimReport::to_json() const {
  std::string kinds;
  for (const auto& [k, v] : faults_by_kind) kinds += (kinds.empty() ? "" : ",") + ("\"" + k + "\":" + std::to_string(v));
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                "{\"ok\":%s,\"faults\":%llu,\"simulated_s\":%.1f,\"real_s\":%.2f,\"speedup\":%.1f,\"events\":%llu,"
                "\"blocks_found\":%llu,\"height\":%llu,\"stale\":%llu,\"reorgs\":%llu,\"max_reorg_depth\":%u,"
                "\"acked\":%llu,\"rejected\":%llu,\"resends\":%llu,\"propagation_p50_ms\":%.1f,"
                "\"propagation_p99_ms\":%.1f,\"converge_s\":%.1f,\"trace_hash\":\"%s\"",
                ok ? "true" : "false", static_cast<unsigned long long>(faults), simulated_s, real_s,
                real_s > 0 ? simulated_s / real_s : 0.0, static_cast<unsigned long long>(events),
                static_cast<unsigned long long>(blocks_found), static_cast<unsigned long long>(blocks_final),
                static_cast<unsigned long long>(stale_blocks), static_cast<unsigned long long>(reorgs), max_reorg_depth,
                static_cast<unsigned long long>(transfers_acked), static_cast<unsigned long long>(transfers_rejected),
                static_cast<unsigned long long>(resends), propagation_p50_ms, propagation_p99_ms, converge_s,
                trace_hash.c_str());
  return std::string(buf) + ",\"faults_by_kind\":{" + kinds + "},\"violation\":\"" + json_escape(violation) + "\"}";
}

SimReport run_simulation(const SimOptions& opts) {
  Simulation s(opts);
  return s.run();
}

// The simulation lives in this file's anonymous namespace; the live driver reaches it through here.
struct LiveSimulation::Impl {
  explicit Impl(const SimOptions& o) : sim(o) {}
  ~Impl() {
    if (!finished) sim.teardown();
  }
  Simulation sim;
  bool finished = false;
};

LiveSimulation::LiveSimulation(const SimOptions& opts, std::function<void(const std::string& line)> tap)
    : impl_(std::make_unique<Impl>(opts)) {
  impl_->sim.set_tap(std::move(tap));
}
LiveSimulation::~LiveSimulation() = default;
util::Status LiveSimulation::start() { return impl_->sim.begin(); }
Micros LiveSimulation::now() const { return impl_->sim.now(); }
bool LiveSimulation::run_until(Micros t) { return impl_->sim.advance(t); }
bool LiveSimulation::failed() const { return impl_->sim.failed(); }
const std::string& LiveSimulation::violation() const { return impl_->sim.violation_text(); }
int LiveSimulation::nodes() const { return impl_->sim.node_count(); }
int LiveSimulation::clients() const { return impl_->sim.client_count(); }
LiveResult LiveSimulation::command(const LiveCommand& c) { return impl_->sim.command(c); }
void LiveSimulation::flush() { impl_->sim.flush_trace(); }
SimReport LiveSimulation::finish() {
  impl_->finished = true;
  return impl_->sim.end_live();
}

}  // namespace peerchain::sim
