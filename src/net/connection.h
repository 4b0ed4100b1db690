// net/connection.h — one TCP connection speaking the peer protocol. Internal to net: the node
// sees only NetManager.
//
// A Connection drives one socket through
//   inbound:  sniffing -> handshake -> active -> (closing) -> closed
//   outbound: connecting -> handshake -> active -> (closing) -> closed
// Sniffing reads the first bytes: the network magic makes it a peer, anything else is handed
// to the host as a foreign (HTTP) connection with the bytes already read. From handshake on,
// the protocol is a net::PeerSession's (net/session.h); the Connection is its I/O.
//
// Threading: all state except the atomics below is owned by the connection's strand (the
// executor of its socket and timer); no lock is taken. start(), send() and close() may be
// called from any thread. ConnectionHost callbacks run on the strand, one at a time per
// connection, in protocol order: on_established before any on_message, on_closed last and
// exactly once (not at all after on_foreign).
//
// One timer per connection serves every deadline (connect/handshake, ping, idle, linger), so
// nothing accumulates while a connection lives. A Connection is kept alive by its pending
// operations and by the host's registry.
#pragma once

#include <utility>  // before any Boost.Asio header (Boost 1.74 under C++20)

#include <array>
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/frame.h"
#include "net/handshake.h"
#include "net/messages.h"
#include "net/session.h"
#include "util/result.h"

namespace peerchain::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using PeerId = uint64_t;
class Connection;
using ConnectionPtr = std::shared_ptr<Connection>;

// The text of an IP address, IPv4-mapped IPv6 shown as IPv4 (so bans and keys match).
inline std::string ip_string(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  return a.to_string();
}
// "ip:port", IPv6 bracketed.
inline std::string endpoint_string(const tcp::endpoint& ep) {
  return format_host_port(ip_string(ep.address()), ep.port());
}

// Immutable after construction; shared by every connection of a manager (and, as the
// SessionConfig it is, by their sessions).
struct ConnectionConfig : SessionConfig {
  // Source address of outbound connections; unset: the kernel chooses. Set to a node's specific
  // listen address, so that peers (and firewall rules between test hosts on 127.0.0.x) see
  // the node as that address.
  std::optional<asio::ip::address> outbound_source;
};

class Connection;

// What a connection needs from its owner. Called on the connection's strand; must not block.
// A Status error refuses: its to_string() becomes the close reason told to the peer.
class ConnectionHost {
 public:
  virtual ~ConnectionHost() = default;
  virtual Hello local_hello() const = 0;
  // Inbound: the first bytes were the magic.
  virtual util::Status on_peer_detected(Connection& c) = 0;
  // Inbound: the first bytes were not the magic. The connection is finished after this.
  virtual void on_foreign(Connection& c, tcp::socket socket, Bytes already_read) = 0;
  // Outbound: TCP connected to `remote`.
  virtual util::Status on_socket_connected(Connection& c, const tcp::endpoint& remote) = 0;
  // The remote hello decoded; return an error to refuse the peer.
  virtual util::Status on_hello(Connection& c, const Hello& remote) = 0;
  // Encrypted links: the remote proved it holds `remote`'s key (before its hello).
  virtual util::Status on_authenticated(Connection& c, const NodeId& remote) = 0;
  // Both hello_acks exchanged. false: refuse (the manager is stopping).
  virtual bool on_established(Connection& c, const Hello& remote, const std::string& address) = 0;
  virtual void on_message(Connection& c, uint16_t type, Bytes payload) = 0;
  // After a read's messages were delivered: true pauses reading until Connection::resume_reading.
  virtual bool hold_reading(Connection& c) = 0;
  virtual std::vector<NetAddress> on_getaddr(Connection& c) = 0;
  virtual void on_addr(Connection& c, const std::vector<NetAddress>& addrs) = 0;
  virtual void on_closed(Connection& c, const std::string& reason) = 0;
};

// The Asio side of a peer connection: socket, resolver, timer and strand, and the sniffing of
// the first bytes. Every protocol decision is its PeerSession's; the Connection feeds it bytes
// and steady-clock milliseconds and writes what it gives back.
class Connection : public std::enable_shared_from_this<Connection>, private SessionHost {
 public:
  // Inbound: `socket` was accepted; its executor must be a strand.
  Connection(ConnectionHost& host, std::shared_ptr<const ConnectionConfig> cfg, PeerId id,
             tcp::socket socket);
  // Outbound: dials host:port. `strand` is the executor for the new socket.
  Connection(ConnectionHost& host, std::shared_ptr<const ConnectionConfig> cfg, PeerId id,
             asio::any_io_executor strand, std::string host_name, uint16_t port);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Begins sniffing (inbound) or dialling (outbound). Call once. Thread-safe.
  void start();

  // Queues a complete frame. false if the connection is closing/closed or its send queue would
  // exceed max_send_queue_bytes — then the connection is closed as "slow-peer". Thread-safe.
  bool send(SharedFrame frame);

  // Closes the connection with `reason`. With tell_remote, a disconnect frame carrying the
  // reason is flushed first (bounded by the linger time) when the peer protocol was detected.
  // Idempotent: the first reason wins. Thread-safe.
  void close(std::string reason, bool tell_remote = true);

  // Reads again after ConnectionHost::hold_reading paused it; nothing if it is not paused.
  // Thread-safe.
  void resume_reading();

  PeerId id() const { return id_; }
  bool inbound() const { return inbound_; }
  // Bytes of frames queued and not yet written.
  size_t queued_bytes() const {
    return posted_bytes_.load(std::memory_order_relaxed) + session_bytes_.load(std::memory_order_relaxed);
  }
  uint64_t bytes_sent() const { return bytes_sent_.load(std::memory_order_relaxed); }
  uint64_t bytes_received() const { return bytes_received_.load(std::memory_order_relaxed); }
  // -1 until a pong arrived.
  int64_t last_ping_rtt_ms() const { return rtt_ms_.load(std::memory_order_relaxed); }

 private:
  // Before the session speaks: dialling or reading the first bytes. Then the session decides.
  enum class Phase { kSniffing, kConnecting, kSession, kDone };
  using Clock = std::chrono::steady_clock;
  static int64_t now_ms();

  // SessionHost: forwarded to the ConnectionHost with this connection.
  Hello local_hello() const override;
  util::Status on_hello(const Hello& remote) override;
  util::Status on_authenticated(const NodeId& remote) override;
  bool on_established(const Hello& remote) override;
  void on_message(uint16_t type, Bytes payload) override;
  std::vector<NetAddress> on_getaddr() override;
  void on_addr(const std::vector<NetAddress>& addrs) override;

  void do_start();
  void on_resolved(const boost::system::error_code& ec, const tcp::resolver::results_type& results);
  void on_connect(const boost::system::error_code& ec, const tcp::endpoint& ep);
  void do_read();
  bool reading() const;  // the phase and session still take bytes
  void on_read(const boost::system::error_code& ec, size_t n);
  void sniff(ByteSpan in);
  // After every call into the session: write what it queued, follow its deadline, close the
  // socket once it is closed.
  void pump();
  void do_write();
  void on_write(const boost::system::error_code& ec, size_t n);
  void arm_timer();
  void on_timer(const boost::system::error_code& ec, uint64_t generation);
  void do_close(std::string reason, bool tell_remote);
  void finish(const std::string& reason);

  ConnectionHost& host_;
  const std::shared_ptr<const ConnectionConfig> cfg_;
  const PeerId id_;
  const bool inbound_;
  const asio::any_io_executor strand_;
  const std::string dial_host_;  // outbound only
  const uint16_t dial_port_;     // outbound only

  // Strand-owned.
  tcp::socket socket_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;
  uint64_t timer_generation_ = 0;
  int64_t timer_deadline_ = PeerSession::kNoDeadline;  // of the wait in progress
  Phase phase_;
  PeerSession session_;
  std::string address_;  // "ip:port" of the remote end, once known
  std::array<uint8_t, 16 * 1024> read_buf_{};
  Bytes sniffed_;
  std::vector<SharedFrame> writing_frames_;  // taken from the session, being written
  std::vector<asio::const_buffer> write_bufs_;
  bool writing_ = false;
  bool read_paused_ = false;  // hold_reading said so; resume_reading() reads on
  int64_t handshake_deadline_ = 0;  // connect + first bytes + hello exchange

  // Shared with other threads.
  std::atomic<bool> closed_{false};  // set once close was requested: send() fails fast
  std::atomic<size_t> posted_bytes_{0};   // frames posted by send(), not yet given to the session
  std::atomic<size_t> session_bytes_{0};  // the session's queued_bytes() after its last call
  std::atomic<uint64_t> bytes_sent_{0};
  std::atomic<uint64_t> bytes_received_{0};
  std::atomic<int64_t> rtt_ms_{-1};
};

}  // namespace peerchain::net
