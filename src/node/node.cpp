#include "node/node.h"

#include "storage/database.h"
#include "util/log.h"
#include "util/thread_name.h"
#include "util/thread_priority.h"

namespace peerchain::node {

namespace {

// PeerManager's view of the transport.
class NetAdapter final : public PeerNetwork {
 public:
  explicit NetAdapter(net::Transport& net) : net_(net) {}
  bool send(PeerId peer, uint16_t type, util::Bytes payload) override { return net_.send(peer, type, std::move(payload)); }
  void disconnect(PeerId peer, const std::string& reason) override { net_.disconnect(peer, reason); }
  size_t queued_bytes(PeerId peer) const override { return net_.queued_bytes(peer); }
  void resume_reading(PeerId peer) override { net_.resume_reading(peer); }
  void ban(PeerId peer, int64_t duration_ms, const std::string& reason) override {
    for (const auto& p : net_.peers()) {
      if (p.id != peer) continue;
      auto colon = p.address.rfind(':');
      std::string host = p.address.substr(0, colon);
      if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
      net_.ban(host, duration_ms, reason);
      return;
    }
    net_.disconnect(peer, reason);
  }

 private:
  net::Transport& net_;
};

}  // namespace

Node::Node(NodeOptions opts, consensus::Params params, const Services& services)
    : opts_(std::move(opts)), params_(std::move(params)), services_(services), clock_(*services.clock) {}

Node::~Node() { stop(); }

util::Result<std::unique_ptr<Node>> Node::create(NodeOptions opts, const Services& services) {
  util::LogScope log_scope(services.logger);
  auto params = opts.params ? std::optional<consensus::Params>(*opts.params) : consensus::params_for(opts.network);
  if (!params) return util::fail("bad-options", "unknown network '" + opts.network + "' (main or dev)");
  if (opts.data_dir.empty()) return util::fail("bad-options", "no data directory");
  if (opts.port == 0) opts.port = params->default_port;
  if (opts.mine && !opts.miner_key) {
    if (params->network != "dev") return util::fail("bad-options", "mining on main needs a miner address");
    opts.miner_key = consensus::dev_account_key(0).pubkey();
  }
  auto db = services.storage(opts.data_dir);
  if (!db) return util::unexpected(db.error());
  std::unique_ptr<Node> node(new Node(std::move(opts), *params, services));
  const std::string& home = node->opts_.data_dir;
  auto corrupt_hint = [&home](util::Error e) {
    if (e.code == storage::kErrCorrupt)
      e.message += "; the database is damaged: run `peerchain-ledger --datadir " + home +
                   " verify` to see what, and `peerchain-ledger --datadir " + home +
                   " reindex` to rebuild the state from the stored blocks (or remove " + home +
                   "/chain to sync again from peers)";
    return e;
  };
  chain::ChainOptions co;
  co.verify_pool = services.verify_pool;
  auto cs = chain::ChainState::open(node->params_, std::move(*db), *services.clock, co);
  if (!cs) return util::unexpected(corrupt_hint(cs.error()));
  node->chain_ = std::move(*cs);
  // Acknowledged transfers survive a kill: put the journal's back into the mempool.
  auto replayed = node->chain_->replay_mempool_journal();
  if (!replayed) return util::unexpected(corrupt_hint(replayed.error()));
  if (*replayed) util::log().info("mempool journal: {} transactions re-admitted", *replayed);
  return node;
}

util::Status Node::secure_options(net::NetOptions& no) {
  no.encrypt = opts_.p2p_encryption;
  no.allow_list = opts_.allow_list;
  if (!no.encrypt) {
    if (opts_.allow_list) return util::fail("bad-options", "an allow-list needs encrypted peer links");
    for (const auto& p : opts_.peers)
      if (p.node_id)
        return util::fail("bad-options", "a pinned peer (NODEID@HOST:PORT) needs encrypted peer links");
  }
  identity_ = opts_.identity;
  if (!identity_) {
    net::KeySeed seed;
    for (size_t i = 0; i < seed.size(); i += 8) {
      uint64_t v = services_.random();
      for (size_t j = 0; j < 8; ++j) seed[i + j] = static_cast<uint8_t>(v >> (8 * j));
    }
    identity_ = std::make_shared<const net::NodeIdentity>(net::NodeIdentity::from_seed(seed));
  }
  no.identity = identity_;
  return {};
}

util::Status Node::start() {
  util::LogScope log_scope(services_.logger);
  net::NetOptions no;
  no.magic = net::Magic::from_span(params_.magic);
  no.local_hello_template.chain_id = params_.chain_id;
  no.local_hello_template.genesis_id = params_.genesis_id;
  no.local_hello_template.best_height = chain_->tip().height;
  no.local_hello_template.user_agent = opts_.user_agent;
  while (no.local_hello_template.node_nonce == 0) no.local_hello_template.node_nonce = services_.random();
  no.listen_host = opts_.listen_host;
  no.listen_port = opts_.port;
  no.max_inbound = opts_.max_inbound;
  no.max_outbound = opts_.discover ? opts_.max_outbound : 0;  // 0: only the configured peers
  no.limits = node_message_limits(params_);
  // Transaction relay is bulk: blocks and headers go first (ADR 0008).
  no.low_priority_types = {msg::kInv, msg::kTx, msg::kTxs};
  if (auto st = secure_options(no); !st) return st;

  net::NetEvents ev;
  ev.on_connected = [this](const net::PeerInfo& p) {
    util::LogScope scope(services_.logger);
    peer_manager_->on_connected(p.id, p.address, p.inbound, p.hello.best_height, p.hello.protocol_version);
  };
  ev.on_message = [this](net::PeerId id, uint16_t type, util::Bytes payload) {
    util::LogScope scope(services_.logger);
    peer_manager_->deliver(id, type, std::move(payload));
  };
  ev.hold_reading = [this](net::PeerId id) { return peer_manager_->inbox_full(id); };
  ev.on_disconnected = [this](net::PeerId id, const std::string& reason) {
    util::LogScope scope(services_.logger);
    util::log().debug("peer {} disconnected: {}", id, reason);  // net logs it at info: one line
    peer_manager_->on_disconnected(id);
  };
  ev.on_connection_failed = [this](const std::string& address, bool inbound, const std::string& reason) {
    util::LogScope scope(services_.logger);
    util::log().debug("connection {} {} failed: {}", inbound ? "from" : "to", address, reason);
  };
  ev.on_foreign_connection = [this](boost::asio::ip::tcp::socket s, util::Bytes first) {
    if (foreign_) foreign_(std::move(s), std::move(first));
  };
  auto net = services_.transport(std::move(no), std::move(ev));
  if (!net) return util::unexpected(net.error());
  net_ = std::move(*net);
  adapter_ = std::make_unique<NetAdapter>(*net_);
  PeerManagerOptions pmo;
  pmo.ban_ms = opts_.ban_ms;
  pmo.queue_messages = services_.worker_threads;
  pmo.queue_txs = services_.worker_threads;
  pmo.queue_blocks = services_.worker_threads;
  pmo.compact_relay = opts_.compact_relay;
  pmo.salt_seed = services_.random();
  pmo.on_better_block = [this](uint32_t height) {
    if (auto* m = hold_target_.load(std::memory_order_acquire)) m->hold(height);
  };
  peer_manager_ = std::make_unique<PeerManager>(*chain_, *adapter_, clock_, pmo);
  chain_->set_events({[this](const chain::TipInfo& tip, uint32_t disconnected) {
                        net_->set_best_height(tip.height);
                        peer_manager_->on_tip_changed(tip);
                        {
                          std::lock_guard lock(tip_mu_);
                          ++tip_seq_;
                        }
                        tip_cv_.notify_all();
                        for (auto& l : listeners_)
                          if (l.on_tip_changed) l.on_tip_changed(tip, disconnected);
                      },
                      [this](const primitives::TxId& id) {
                        peer_manager_->on_tx_accepted(id);
                        for (auto& l : listeners_)
                          if (l.on_tx_accepted) l.on_tx_accepted(id);
                      }});
  if (auto st = net_->start(); !st) return st;
  for (const auto& p : opts_.peers) {
    if (p.node_id)
      net_->add_pinned_peer(p.host, p.port, *p.node_id);
    else
      net_->add_persistent_peer(p.host, p.port);
  }
  schedule_tick();
  if (services_.worker_threads) {
    message_handler_ = std::thread([this] {
      util::set_thread_name("pc-msg");
      util::LogScope scope(services_.logger);
      while (!tx_admission_stop_.load()) peer_manager_->handle_queued_messages(std::chrono::milliseconds(100));
    });
    tx_admission_ = std::thread([this] {
      util::set_thread_name("pc-tx-admit");
      util::set_thread_bulk();
      while (!tx_admission_stop_.load()) peer_manager_->admit_queued_txs(std::chrono::milliseconds(100));
    });
    block_verifier_ = std::thread([this] {
      util::set_thread_name("pc-blk-verify");
      while (!tx_admission_stop_.load()) peer_manager_->verify_queued_blocks(std::chrono::milliseconds(100));
    });
    block_processor_ = std::thread([this] {
      util::set_thread_name("pc-blk-connect");
      while (!tx_admission_stop_.load()) peer_manager_->process_queued_blocks(std::chrono::milliseconds(100));
    });
    if (opts_.mine) {
      auto mo = chain::default_miner_options(params_, *opts_.miner_key);
      if (opts_.hash_rate >= 0) mo.max_hashes_per_second = opts_.hash_rate;
      mo.block_txs_policy = [this] { return template_txs_limit(); };
      mo.min_tx_age_ms = opts_.template_min_tx_age_ms;
      mo.template_refresh_ms = opts_.template_refresh_ms;
      mo.on_found = [this](const primitives::Block& b, const std::vector<primitives::TxId>& ids) {
        peer_manager_->relay_mined_block(b, ids);
      };
      miner_ = std::make_unique<chain::Miner>(*chain_, mo);
      hold_target_.store(miner_.get(), std::memory_order_release);
      miner_->start();
    }
  }
  util::log().info("node started: network {} port {} height {} peers configured {} mining {}", params_.network,
                   net_->listen_port(), chain_->tip().height, opts_.peers.size(), opts_.mine ? "on" : "off");
  return {};
}

void Node::schedule_tick() {
  std::lock_guard lock(tick_mu_);
  if (stopping_) return;
  tick_task_ = services_.scheduler->after(100, [this] {
    tick();
    schedule_tick();
  });
}

void Node::tick() {
  util::LogScope scope(services_.logger);
  watch_storage();
  peer_manager_->tick();
  // The blocks peers sent since the last tick become durable (their connects were written
  // unsynced, ADR 0024); a failure is noted by the chain and watch_storage() takes over.
  if (chain_->storage_status().state == chain::StorageState::kOk) (void)chain_->sync_pending();
}

void Node::watch_storage() {
  auto s = chain_->storage_status();
  if (s.state == chain::StorageState::kOk) return;
  if (s.state == chain::StorageState::kCorrupt) {
    std::lock_guard lock(fatal_mu_);
    if (fatal_) return;
    fatal_ = "database corrupt (" + s.message + "); stopped. Run `peerchain-ledger --datadir " + opts_.data_dir +
             " verify` to see the damage and `peerchain-ledger --datadir " + opts_.data_dir +
             " reindex` to rebuild the state from the stored blocks (or remove " + opts_.data_dir +
             "/chain to sync again from peers)";
    util::log().critical("{}", *fatal_);
    // Stop taking anything at once; the world decides how to shut down (the real program's
    // signal wait does the orderly shutdown).
    services_.on_fatal(*fatal_);
    return;
  }
  // Full or failing disk: try again every 2 s; RocksDB refuses cheaply while it still fails.
  const int64_t now = clock_.steady_ms();
  if (now < next_resume_try_ms_) return;
  next_resume_try_ms_ = now + 2000;
  if (chain_->try_resume_writes()) {
    util::log().info("storage healthy again at height {}", chain_->tip().height);
    peer_manager_->tick();  // ask peers for what we missed at once
  }
}

std::optional<std::string> Node::fatal_error() const {
  std::lock_guard lock(fatal_mu_);
  return fatal_;
}

size_t Node::template_txs_limit() const {
  return chain::policy_block_txs(peer_manager_->counters().validation_ns_per_tx.load(std::memory_order_relaxed),
                                 params_.target_spacing_ms, opts_.block_validation_share);
}

uint64_t Node::tip_sequence() const {
  std::lock_guard lock(tip_mu_);
  return tip_seq_;
}

uint64_t Node::wait_tip_change(uint64_t seen, std::chrono::milliseconds timeout) {
  std::unique_lock lock(tip_mu_);
  tip_cv_.wait_for(lock, timeout, [&] { return tip_seq_ != seen; });
  return tip_seq_;
}

void Node::stop() {
  hold_target_.store(nullptr, std::memory_order_release);
  if (miner_) miner_->stop();
  Scheduler::TaskId tick_task = 0;
  {
    std::lock_guard lock(tick_mu_);
    stopping_ = true;
    tick_task = tick_task_;
  }
  if (tick_task) services_.scheduler->cancel(tick_task);
  tx_admission_stop_ = true;
  if (message_handler_.joinable()) message_handler_.join();
  if (tx_admission_.joinable()) tx_admission_.join();
  if (block_verifier_.joinable()) block_verifier_.join();
  if (block_processor_.joinable()) block_processor_.join();
  if (net_) net_->stop();
  if (chain_) chain_->set_events({});
}

}  // namespace peerchain::node
