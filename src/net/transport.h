// net/transport.h — what the node needs from a peer network, whatever carries the bytes.
//
// net::NetManager implements it over Asio and TCP (the real programs); the simulator (sim/)
// implements it over a simulated network in one thread. Both run the same sans-IO peer session
// (net::PeerSession) per connection, so handshake, framing, keepalive and deadlines are the same
// code in both worlds. The contract of each method is NetManager's (net/net_manager.h), whose
// guarantees every implementation keeps: for each peer on_connected, then its messages in order,
// then one on_disconnected; nothing a peer sends makes it throw or allocate beyond the caps.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/net_types.h"
#include "util/result.h"

namespace peerchain::net {

class Transport {
 public:
  virtual ~Transport() = default;

  virtual util::Status start() = 0;
  // No callback runs after it returns. Idempotent.
  virtual void stop() = 0;
  virtual uint16_t listen_port() const = 0;

  virtual void add_persistent_peer(const std::string& host, uint16_t port) = 0;
  virtual void remove_persistent_peer(const std::string& host, uint16_t port) = 0;
  // A persistent peer that must prove it holds `node_id`'s key; any other key there is refused
  // ("wrong-node-id"). A transport without identities treats it as add_persistent_peer.
  virtual void add_pinned_peer(const std::string& host, uint16_t port, const NodeId& node_id) {
    (void)node_id;
    add_persistent_peer(host, port);
  }
  // This node's id; nullopt when links are not authenticated.
  virtual std::optional<NodeId> node_id() const { return std::nullopt; }

  virtual bool send(PeerId peer, uint16_t type, util::Bytes payload) = 0;
  virtual size_t queued_bytes(PeerId peer) const = 0;
  // Reads from `peer` again after NetEvents::hold_reading paused it. A transport that never
  // pauses (the simulator delivers in its own time) ignores it.
  virtual void resume_reading(PeerId /*peer*/) {}
  virtual void broadcast(uint16_t type, const util::Bytes& payload, std::optional<PeerId> except = {}) = 0;
  virtual void disconnect(PeerId peer, const std::string& reason) = 0;
  virtual void ban(const std::string& host, int64_t duration_ms, const std::string& reason) = 0;
  virtual bool is_banned(const std::string& host) const = 0;

  virtual std::vector<PeerInfo> peers() const = 0;
  virtual std::vector<std::string> known_addresses() const = 0;
  virtual NetStats stats() const = 0;
  virtual void set_best_height(uint32_t height) = 0;
};

// Builds the node's transport from its options and event handlers (the node's services).
using TransportFactory =
    std::function<util::Result<std::unique_ptr<Transport>>(NetOptions opts, NetEvents events)>;

}  // namespace peerchain::net
