// node/node.h — one place wires a node together: storage, chain, peer network, protocol logic,
// miner and (through a hook) the client API on the same port.
//
// Thread-safety: start/stop from one thread; accessors are safe from any thread once started.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "chain/chainstate.h"
#include "chain/miner.h"
#include "net/transport.h"
#include "node/peer_manager.h"
#include "node/services.h"

namespace peerchain::node {

struct PeerAddress {
  PeerAddress() = default;
  PeerAddress(std::string h, uint16_t p, std::optional<net::NodeId> id = std::nullopt)
      : host(std::move(h)), port(p), node_id(id) {}
  std::string host;
  uint16_t port = 0;
  std::optional<net::NodeId> node_id;  // NODEID@HOST:PORT: the peer must prove this identity
};

struct NodeOptions {
  std::string data_dir;                     // required: RocksDB lives in data_dir/chain
  std::string network = "dev";              // default: dev
  std::string listen_host = "0.0.0.0";      // default: all interfaces
  uint16_t port = 0;                        // default: the network's default port
  std::vector<PeerAddress> peers;           // redialled forever
  bool mine = false;                        // default: off
  std::optional<primitives::AccountKey> miner_key;  // default: dev account 0 on dev, required on main
  double hash_rate = -1;                    // default (-1): the network's (dev capped, main not)
  size_t max_inbound = 64, max_outbound = 16;
  bool discover = true;                     // default: also dial addresses learned by gossip
  int64_t ban_ms = 10 * 60 * 1000;          // default: 10 minutes
  std::string user_agent = "peerchain/0.1";
  // Encrypted, authenticated peer links (default). false is test-only (measuring the cost of
  // encryption): no node ids, so no pins and no allow-list.
  bool p2p_encryption = true;
  // The node's long-lived identity (peerchaind: HOME/node_id_key). Unset: made from
  // services.random, i.e. deterministic in the simulator; the real programs always set it.
  std::shared_ptr<const net::NodeIdentity> identity;
  // A private network: only these node ids may connect, either way. Unset: anyone.
  std::optional<std::vector<net::NodeId>> allow_list;
  bool compact_relay = true;                // default: on (PeerManagerOptions::compact_relay)
  // default: 0.5. The miner's block-size policy (chain::policy_block_txs): a template holds at
  // most the transfers this node validates, at its measured speed, in this share of the block
  // interval. 0: up to the consensus limit.
  double block_validation_share = 0.5;
  // default: 200 ms. The miner's templates leave out transfers that reached this node's mempool
  // less than this long ago, so its peers have them relayed and verified when its block comes
  // (chain::MinerOptions::min_tx_age_ms, ADR 0025). 0: any pooled transfer.
  int64_t template_min_tx_age_ms = 200;
  // default: 250 ms. How often the miner takes a new template while transfers arrive (or young
  // ones were left out): a transfer waits up to this long, after the minimum age, to be mined.
  int64_t template_refresh_ms = 250;
  // default: the network's consensus parameters. The simulator sets other block intervals.
  std::optional<consensus::Params> params;
};

class Node {
 public:
  // HTTP connections (first bytes not the peer magic) are handed here; unset: closed.
  using ForeignHandler = std::function<void(boost::asio::ip::tcp::socket, util::Bytes)>;

  // Opens the database (through services.storage) and the chain; errors are printable
  // ("cannot open database ...: lock"). `services` must stay valid for the node's life.
  static util::Result<std::unique_ptr<Node>> create(NodeOptions opts, const Services& services);
  ~Node();

  void set_foreign_handler(ForeignHandler h) { foreign_ = std::move(h); }
  // Chain events also fan out to these listeners (called with no lock held). REQUIRES: before start().
  void add_listener(chain::ChainEvents listener) { listeners_.push_back(std::move(listener)); }
  // A counter that moves whenever the tip changes.
  uint64_t tip_sequence() const;
  // Blocks until tip_sequence() differs from `seen` or `timeout` passes; returns the sequence.
  uint64_t wait_tip_change(uint64_t seen, std::chrono::milliseconds timeout);
  util::Status start();
  void stop();

  chain::ChainState& chain() { return *chain_; }
  const consensus::Params& params() const { return params_; }
  net::Transport& net() { return *net_; }
  // This node's id (after start(); nullopt with encryption off).
  std::optional<net::NodeId> node_id() const {
    return opts_.p2p_encryption && identity_ ? std::optional<net::NodeId>(identity_->id()) : std::nullopt;
  }
  const Services& services() const { return services_; }
  // The periodic work: the storage watch, then the peer protocol's timers. Runs every 100 ms
  // through the scheduler once started.
  void tick();
  PeerManager& peers() { return *peer_manager_; }
  chain::Miner* miner() { return miner_.get(); }
  // The block-size policy's present limit on a template's transfers (SIZE_MAX: none).
  size_t template_txs_limit() const;
  uint16_t port() const { return net_ ? net_->listen_port() : 0; }
  // Set when the node found its database corrupt and stopped taking anything (Services::on_fatal
  // was called): the reason, with what to run. The program exits non-zero with it.
  std::optional<std::string> fatal_error() const;
  const NodeOptions& options() const { return opts_; }

 private:
  Node(NodeOptions opts, consensus::Params params, const Services& services);
  void schedule_tick();
  // Encryption, identity, pins and the allow-list into the transport's options.
  util::Status secure_options(net::NetOptions& no);

  NodeOptions opts_;
  const consensus::Params params_;
  std::shared_ptr<const net::NodeIdentity> identity_;
  const Services services_;
  const util::Clock& clock_;
  std::unique_ptr<chain::ChainState> chain_;
  std::unique_ptr<net::Transport> net_;
  std::unique_ptr<PeerNetwork> adapter_;
  std::unique_ptr<PeerManager> peer_manager_;
  std::unique_ptr<chain::Miner> miner_;
  std::atomic<chain::Miner*> hold_target_{nullptr};  // miner_, for the network thread's on_better_block
  ForeignHandler foreign_;
  std::vector<chain::ChainEvents> listeners_;
  mutable std::mutex tip_mu_;
  std::condition_variable tip_cv_;
  uint64_t tip_seq_ = 0;  // GUARDED_BY(tip_mu_)
  std::thread message_handler_;  // handles peers' messages off the network thread
  std::thread tx_admission_;  // drains the peer manager's queue of peers' transactions
  std::thread block_verifier_;   // checks the signatures of peers' queued blocks
  std::thread block_processor_;  // then validates and connects them
  std::atomic<bool> tx_admission_stop_{false};  // stops both
  // The storage watch (on the ticker): resumes after a full disk, stops on corruption.
  void watch_storage();
  int64_t next_resume_try_ms_ = INT64_MIN;  // steady ms
  mutable std::mutex fatal_mu_;
  std::optional<std::string> fatal_;  // GUARDED_BY(fatal_mu_)
  std::mutex tick_mu_;
  Scheduler::TaskId tick_task_ = 0;  // GUARDED_BY(tick_mu_)
  bool stopping_ = false;            // GUARDED_BY(tick_mu_)
};

}  // namespace peerchain::node
