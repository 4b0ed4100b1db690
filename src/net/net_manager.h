// net/net_manager.h — the peer-to-peer transport: listens, dials, handshakes, keeps peers
// alive and moves framed node messages between them (docs/spec/p2p.md).
//
// net knows nothing of blocks or transactions. The node layer defines message types >= 16
// with their payload caps (NetOptions::limits) and receives them through NetEvents; net owns
// types 0..15 (handshake, keepalive, disconnect with reason, address gossip).
//
// What it guarantees
// - One port serves peers and HTTP: an inbound connection whose first 4 bytes are the network
//   magic is a peer; any other is handed to NetEvents::on_foreign_connection.
// - A peer is reported (on_connected) only after both hellos passed check_hello and both
//   hello_acks were exchanged. For each peer: on_connected, then its on_message calls in
//   arrival order, then exactly one on_disconnected. A connection that ends before its
//   handshake completed is reported through on_connection_failed instead, with the reason
//   (our refusal, or "remote: <reason>" when the peer refused us, or a dial error).
// - Garbled, oversize or unknown frames, protocol violations, silence for idle_timeout and
//   send queues above max_send_queue_bytes close the connection with a reason
//   ("bad-frame: checksum: ...", "protocol: ...", "timeout", "slow-peer: ...").
// - Persistent peers are redialled forever with capped exponential backoff and jitter while
//   no connection to them exists; learned addresses fill outbound slots up to max_outbound.
//   At most one dial per address is pending; the manager uses one timer for dialling and one
//   per connection, so a peer that stays down for hours costs nothing that grows.
// - Nothing a peer sends can make this module throw or allocate beyond the caps.
//
// Threading: an io_context run by NetOptions::threads threads. Each connection's state is
// owned by its strand; the manager's registry (peers, address book, bans, dial targets) is
// guarded by one mutex that is never held while calling NetEvents. Every public method is
// thread-safe, and may be called from NetEvents callbacks except stop() and the destructor.
// Callbacks run on net threads, concurrently for different peers when threads > 1; they must
// not block for long.
//
// Time: durations (timeouts, pings, backoff) use a monotonic clock; the util::Clock given to
// create() stamps PeerInfo::connected_at_ms and decides ban expiry.
#pragma once

#include <utility>  // before any Boost.Asio header (Boost 1.74 under C++20)

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/frame.h"
#include "net/handshake.h"
#include "net/net_types.h"
#include "net/transport.h"
#include "util/bytes.h"
#include "util/clock.h"
#include "util/result.h"

namespace peerchain::net {

class NetManager final : public Transport {
 public:
  // Validates the options (error code "bad-options": unknown-to-net reserved types, caps above
  // kMaxFramePayload, non-positive timeouts, a listen_host that is not an IP literal, ...).
  // `clock` must outlive the manager.
  static util::Result<std::unique_ptr<NetManager>> create(NetOptions opts, NetEvents events,
                                                          const util::Clock& clock);
  ~NetManager() override;  // stop()s
  NetManager(const NetManager&) = delete;
  NetManager& operator=(const NetManager&) = delete;

  // Binds the listener (if any) and starts the threads. Error code "listen-failed" when the
  // port cannot be bound, "bad-state" when called twice. A manager starts at most once.
  util::Status start() override;
  // Closes every connection (telling peers "shutdown"), stops dialling and listening, and joins
  // the threads: no callback runs after it returns. Idempotent.
  // REQUIRES: not called from a NetEvents callback.
  void stop() override;

  // The bound port after start() (0 when not listening).
  uint16_t listen_port() const override;
  // The nonce this node sends in its hello.
  uint64_t node_nonce() const;

  // Dials host:port (host name or IP literal) now and whenever no connection to it exists,
  // forever, with capped exponential backoff. Stops only if the address turns out to be this
  // node ("self-connection").
  void add_persistent_peer(const std::string& host, uint16_t port) override;
  // Same, and the peer there must prove it holds `node_id`'s key: another key is refused with
  // "wrong-node-id" (and redialled with backoff, in case the right node comes back there).
  void add_pinned_peer(const std::string& host, uint16_t port, const NodeId& node_id) override;
  // This node's id (the public key of NetOptions::identity); nullopt with encryption off.
  std::optional<NodeId> node_id() const override;
  // Stops redialling; an existing connection stays.
  void remove_persistent_peer(const std::string& host, uint16_t port) override;

  // Queues a node message. false if the peer is not connected, the type is not one of the
  // node's types in NetOptions::limits, the payload is over its cap, or the peer's send queue
  // is full (the peer is then disconnected as "slow-peer").
  bool send(PeerId peer, uint16_t type, util::Bytes payload) override;
  // Bytes queued to the peer and not yet written; 0 if it is not connected.
  size_t queued_bytes(PeerId peer) const override;
  void resume_reading(PeerId peer) override;
  // send() to every connected peer but `except`; the frame is encoded once.
  void broadcast(uint16_t type, const util::Bytes& payload, std::optional<PeerId> except = {}) override;
  // Tells the peer `reason` and closes the connection.
  void disconnect(PeerId peer, const std::string& reason) override;
  // Disconnects every connection from `host` (an IP literal, as in PeerInfo::address) with
  // "banned: <reason>", refuses its inbound peer connections and does not dial it until the
  // clock passes now + duration_ms.
  void ban(const std::string& host, int64_t duration_ms, const std::string& reason) override;
  bool is_banned(const std::string& host) const override;

  // Connected (handshake completed) peers, by id.
  std::vector<PeerInfo> peers() const override;
  // The address book: learned addresses as "ip:port", sorted.
  std::vector<std::string> known_addresses() const override;
  NetStats stats() const override;

  // Announced in hellos sent from now on.
  void set_best_height(uint32_t height) override;

 private:
  class Impl;
  explicit NetManager(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace peerchain::net
