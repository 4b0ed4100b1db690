// net/session.h — the peer protocol of one connection, without I/O (sans-IO).
//
// A PeerSession is the whole protocol side of a connection: the hello exchange, framing,
// ping/pong and rtt, the idle, handshake and linger deadlines, disconnect with a reason, the
// send queue with its cap (slow-peer) and the priority of frames. It does no I/O and reads no
// clock: bytes come in through on_bytes(), time through the now_ms arguments, and out come
// frames to write (take_writes()), calls to the SessionHost and the next deadline
// (deadline_ms()). Given the same inputs it gives the same outputs, so the same code runs under
// Asio (net::Connection, steady-clock milliseconds) and under a simulated clock and network.
//
// With encryption (the default), the handshake starts with the secure link (net/secure.h,
// docs/spec/p2p.md "Encrypted links"): key_exchange both ways in plaintext, then every byte is
// sealed in records; auth both ways (each side's node id and its signature over both ephemeral
// keys), and only then the hello exchange, sealed like everything after it.
//
//   kHandshake --[kx, auth,] hello+ack both ways--> kActive --close(tell_remote)--> kClosing --> kClosed
//        \___________________________________\______ close / stream closed ______--> kClosed
//
// Not thread-safe: one caller at a time (Connection calls it on its strand). SessionHost
// callbacks run synchronously inside the session's methods; they may call send() and close()
// on the same session.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/frame.h"
#include "net/handshake.h"
#include "net/messages.h"
#include "net/secure.h"
#include "util/result.h"

namespace peerchain::net {

using SharedFrame = std::shared_ptr<const Bytes>;

// Immutable; shared by the sessions of a manager.
struct SessionConfig {
  Magic magic;
  // Every type the session accepts: net's own (net_message_limits()) and the node's.
  MessageLimits limits;
  size_t max_send_queue_bytes = 32 << 20;
  int64_t handshake_timeout_ms = 10'000;  // start() to both hello_acks
  int64_t idle_timeout_ms = 90'000;       // no complete frame received
  int64_t ping_interval_ms = 30'000;
  int64_t linger_ms = 500;  // flushing a disconnect frame
  // Bulk message types (the node's transaction relay): queued behind every other frame not yet
  // taken, so blocks and headers are never stuck behind a backlog of transactions.
  std::vector<uint16_t> low_priority_types;
  // Encrypted, authenticated links. false: the plaintext protocol of before (test-only, for
  // measuring the cost of encryption); both ends must agree or the link is refused with
  // "encryption-mismatch".
  bool encrypt = true;
  // The node's long-lived identity. Null: each session makes one from its nonce source (unit
  // tests); a node always sets it.
  std::shared_ptr<const NodeIdentity> identity;
};

// What a session needs from its owner. Called synchronously from inside PeerSession methods.
class SessionHost {
 public:
  virtual ~SessionHost() = default;
  virtual Hello local_hello() const = 0;
  // The remote hello decoded. An error refuses the peer; its to_string() is the close reason
  // told to the peer.
  virtual util::Status on_hello(const Hello& remote) = 0;
  // Encrypted links: the remote proved it holds the key of `remote` (before any hello). An
  // error refuses the peer (pinning, allow-list); its to_string() is the close reason told to
  // the peer.
  virtual util::Status on_authenticated(const NodeId& remote) {
    (void)remote;
    return {};
  }
  // Both hello_acks exchanged. false: refuse ("shutdown").
  virtual bool on_established(const Hello& remote) = 0;
  virtual void on_message(uint16_t type, Bytes payload) = 0;  // node types >= 16
  virtual std::vector<NetAddress> on_getaddr() = 0;
  virtual void on_addr(const std::vector<NetAddress>& addrs) = 0;
};

class PeerSession {
 public:
  enum class State { kHandshake, kActive, kClosing, kClosed };
  static constexpr int64_t kNoDeadline = std::numeric_limits<int64_t>::max();

  // `nonce_source` gives ping nonces. `cfg` and `host` must outlive the session.
  PeerSession(std::shared_ptr<const SessionConfig> cfg, SessionHost& host, bool inbound,
              std::function<uint64_t()> nonce_source);
  PeerSession(const PeerSession&) = delete;
  PeerSession& operator=(const PeerSession&) = delete;

  // The stream is open and speaking the protocol: queues our hello and arms the handshake
  // deadline at now_ms + handshake_timeout_ms. Call once; no-op once closing/closed (a session
  // may be closed before it starts, e.g. refused on sight).
  void start(int64_t now_ms);
  // Same with an explicit handshake deadline: the transport's connect time counts against it.
  void start(int64_t now_ms, int64_t handshake_deadline_ms);

  // Bytes read from the stream, in any chunking. Ignored once closing/closed.
  void on_bytes(util::ByteSpan in, int64_t now_ms);
  // Runs whatever deadline is due at now_ms (call when now_ms >= deadline_ms(); an early call
  // does nothing).
  void on_timer(int64_t now_ms);
  // The stream ended (EOF, reset, write error): kClosed. A reason already set (closing) wins.
  void on_stream_closed(std::string reason);

  // Queues a node frame. false when not active (the frame is dropped), and false with
  // close("slow-peer: ...") when the queue would exceed max_send_queue_bytes.
  bool send(SharedFrame frame, int64_t now_ms);
  // Closes with `reason`; the first reason wins. With tell_remote, while the protocol is spoken
  // (kHandshake/kActive), the frames not yet taken are dropped (all but our hello) and a
  // disconnect frame carrying the reason is queued: kClosing until it is written
  // (on_written) or the linger deadline.
  // Otherwise kClosed at once.
  void close(std::string reason, bool tell_remote, int64_t now_ms);

  // Frames to write, in order: priority frames before low-priority ones. They stay counted in
  // queued_bytes() until on_written() reports them.
  std::vector<SharedFrame> take_writes(size_t max_frames = 64);
  // `bytes` of taken frames were written (or given up on). In kClosing, when nothing is left
  // to write, the session becomes kClosed.
  void on_written(size_t bytes);

  // The next instant on_timer() must run; kNoDeadline: none.
  int64_t deadline_ms() const;
  State state() const { return state_; }
  bool inbound() const { return inbound_; }
  // kClosing: write what take_writes() gives, then close the stream (the session turns kClosed
  // when on_written() accounts for the last byte, or at the linger deadline).
  // kClosed: close the stream now.
  const std::string& close_reason() const { return close_reason_; }
  size_t queued_bytes() const { return queued_bytes_ + taken_bytes_; }
  int64_t last_ping_rtt_ms() const { return rtt_ms_; }
  const std::optional<Hello>& remote_hello() const { return remote_hello_; }
  // Encrypted links: the remote's node id once its auth passed.
  const std::optional<NodeId>& remote_node_id() const { return remote_id_; }
  bool encrypted() const { return sealer_.has_value(); }

 private:
  void handle_frame(Frame f, int64_t now_ms);
  void handle_hello(const Frame& f, int64_t now_ms);
  void handle_key_exchange(const Frame& f, int64_t now_ms);
  void handle_auth(const Frame& f, int64_t now_ms);
  void feed_frames(ByteSpan in, int64_t now_ms);
  void become_active(int64_t now_ms);
  // net's own frames: counted against the cap like node frames (a peer that floods pings but
  // never reads is a slow peer).
  void queue(uint16_t type, const Bytes& payload, int64_t now_ms);
  void push(SharedFrame frame);
  void drop_queued();
  void finish();
  bool speaking() const { return state_ == State::kHandshake || state_ == State::kActive; }
  KeySeed random_seed();
  std::string slow_peer_reason() const;

  const std::shared_ptr<const SessionConfig> cfg_;
  SessionHost& host_;
  const bool inbound_;
  std::function<uint64_t()> nonce_source_;

  State state_ = State::kHandshake;
  bool started_ = false;
  std::string close_reason_;
  FrameDecoder decoder_;
  // The secure link's progress. kOff: plaintext protocol (SessionConfig::encrypt false).
  enum class Secure { kOff, kAwaitKeyExchange, kAwaitAuth, kDone };
  Secure secure_ = Secure::kOff;
  std::shared_ptr<const NodeIdentity> identity_;
  EphemeralKey ephemeral_;
  util::FixedBytes<32> remote_ephemeral_;
  std::optional<RecordSealer> sealer_;
  std::optional<RecordOpener> opener_;
  std::optional<NodeId> remote_id_;
  std::deque<SharedFrame> plain_out_;  // frames queued before the keys: sent as they are, first
  std::deque<SharedFrame> out_;
  std::deque<SharedFrame> out_low_;  // frames of SessionConfig::low_priority_types
  size_t queued_bytes_ = 0;          // in plain_out_, out_ and out_low_ (plaintext sizes)
  size_t taken_bytes_ = 0;           // taken (as written: sealed) and not yet reported written
  std::optional<Hello> remote_hello_;
  bool got_ack_ = false;
  bool answered_getaddr_ = false;
  int64_t handshake_deadline_ = kNoDeadline;
  int64_t last_recv_ = 0;
  int64_t next_ping_ = kNoDeadline;
  int64_t linger_deadline_ = kNoDeadline;
  std::optional<uint64_t> ping_nonce_;
  int64_t ping_sent_ = 0;
  int64_t rtt_ms_ = -1;
};

}  // namespace peerchain::net
