#include "net/connection.h"

#include <algorithm>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cstring>

#include "crypto/random.h"

namespace peerchain::net {

Connection::Connection(ConnectionHost& host, std::shared_ptr<const ConnectionConfig> cfg, PeerId id,
                       tcp::socket socket)
    : host_(host),
      cfg_(std::move(cfg)),
      id_(id),
      inbound_(true),
      strand_(socket.get_executor()),
      dial_port_(0),
      socket_(std::move(socket)),
      resolver_(strand_),
      timer_(strand_),
      phase_(Phase::kSniffing),
      session_(cfg_, *this, true, [] { return crypto::random_u64(); }) {
  boost::system::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  address_ = ec ? "unknown" : endpoint_string(ep);
}

Connection::Connection(ConnectionHost& host, std::shared_ptr<const ConnectionConfig> cfg, PeerId id,
                       asio::any_io_executor strand, std::string host_name, uint16_t port)
    : host_(host),
      cfg_(std::move(cfg)),
      id_(id),
      inbound_(false),
      strand_(std::move(strand)),
      dial_host_(std::move(host_name)),
      dial_port_(port),
      socket_(strand_),
      resolver_(strand_),
      timer_(strand_),
      phase_(Phase::kConnecting),
      session_(cfg_, *this, false, [] { return crypto::random_u64(); }),
      address_(format_host_port(dial_host_, dial_port_)) {}

void Connection::start() {
  asio::post(strand_, [self = shared_from_this()] { self->do_start(); });
}

int64_t Connection::now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

bool Connection::send(SharedFrame frame) {
  if (closed_.load()) return false;
  size_t n = frame->size();
  // Checked here too, so that the caller learns of the cap at once; the session's check is the
  // one that counts.
  if (posted_bytes_.fetch_add(n) + n + session_bytes_.load() > cfg_->max_send_queue_bytes) {
    posted_bytes_.fetch_sub(n);
    close("slow-peer: send queue over " + std::to_string(cfg_->max_send_queue_bytes) + " bytes", false);
    return false;
  }
  asio::post(strand_, [self = shared_from_this(), frame = std::move(frame)]() mutable {
    self->posted_bytes_.fetch_sub(frame->size());
    if (self->phase_ != Phase::kSession) return;
    self->session_.send(std::move(frame), now_ms());  // false: dropped (not active), or closed as slow
    self->pump();
  });
  return true;
}

void Connection::close(std::string reason, bool tell_remote) {
  closed_.store(true);
  asio::post(strand_, [self = shared_from_this(), reason = std::move(reason), tell_remote]() mutable {
    self->do_close(std::move(reason), tell_remote);
  });
}

// ---- SessionHost --------------------------------------------------------------------------

Hello Connection::local_hello() const { return host_.local_hello(); }
util::Status Connection::on_hello(const Hello& remote) { return host_.on_hello(*this, remote); }
util::Status Connection::on_authenticated(const NodeId& remote) { return host_.on_authenticated(*this, remote); }
bool Connection::on_established(const Hello& remote) { return host_.on_established(*this, remote, address_); }
void Connection::on_message(uint16_t type, Bytes payload) { host_.on_message(*this, type, std::move(payload)); }
std::vector<NetAddress> Connection::on_getaddr() { return host_.on_getaddr(*this); }
void Connection::on_addr(const std::vector<NetAddress>& addrs) { host_.on_addr(*this, addrs); }

// ---- I/O ----------------------------------------------------------------------------------

void Connection::do_start() {
  if (phase_ == Phase::kDone) return;  // closed before it started
  handshake_deadline_ = now_ms() + cfg_->handshake_timeout_ms;
  arm_timer();
  if (inbound_) {
    do_read();
    return;
  }
  resolver_.async_resolve(dial_host_, std::to_string(dial_port_), tcp::resolver::numeric_service,
                          [self = shared_from_this()](const boost::system::error_code& ec,
                                                      const tcp::resolver::results_type& results) {
                            self->on_resolved(ec, results);
                          });
}

void Connection::on_resolved(const boost::system::error_code& ec,
                             const tcp::resolver::results_type& results) {
  if (phase_ != Phase::kConnecting) return;
  if (ec) return do_close("connect-failed: resolve " + dial_host_ + ": " + ec.message(), false);
  if (cfg_->outbound_source) {
    // Bind the source address first; async_connect over a range would reopen the socket.
    for (const auto& entry : results) {
      const tcp::endpoint ep = entry.endpoint();
      if (ep.address().is_v4() != cfg_->outbound_source->is_v4()) continue;
      boost::system::error_code e;
      socket_.open(ep.protocol(), e);
      if (!e) socket_.bind(tcp::endpoint(*cfg_->outbound_source, 0), e);
      if (e) return do_close("connect-failed: bind " + cfg_->outbound_source->to_string() + ": " + e.message(), false);
      socket_.async_connect(ep, [self = shared_from_this(), ep](const boost::system::error_code& err) {
        self->on_connect(err, ep);
      });
      return;
    }
    return do_close("connect-failed: no " + std::string(cfg_->outbound_source->is_v4() ? "IPv4" : "IPv6") +
                        " address for " + dial_host_, false);
  }
  asio::async_connect(socket_, results,
                      [self = shared_from_this()](const boost::system::error_code& e,
                                                  const tcp::endpoint& ep) { self->on_connect(e, ep); });
}

void Connection::on_connect(const boost::system::error_code& ec, const tcp::endpoint& ep) {
  if (phase_ != Phase::kConnecting) return;
  if (ec) return do_close("connect-failed: " + ec.message(), false);
  boost::system::error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
  address_ = endpoint_string(ep);
  phase_ = Phase::kSession;
  if (auto st = host_.on_socket_connected(*this, ep); !st) {
    session_.close(st.error().to_string(), true, now_ms());
    return pump();
  }
  session_.start(now_ms(), handshake_deadline_);
  pump();
  do_read();
}

void Connection::do_read() {
  socket_.async_read_some(
      asio::buffer(read_buf_),
      [self = shared_from_this()](const boost::system::error_code& ec, size_t n) { self->on_read(ec, n); });
}

bool Connection::reading() const {
  if (phase_ == Phase::kSniffing) return true;
  if (phase_ != Phase::kSession) return false;
  auto st = session_.state();
  return st == PeerSession::State::kHandshake || st == PeerSession::State::kActive;
}

void Connection::resume_reading() {
  asio::post(strand_, [self = shared_from_this()] {
    if (!self->read_paused_) return;
    self->read_paused_ = false;
    if (self->reading()) self->do_read();
  });
}

void Connection::on_read(const boost::system::error_code& ec, size_t n) {
  if (!reading()) return;
  if (ec) {
    bool eof = ec == asio::error::eof || ec == asio::error::connection_reset;
    if (phase_ == Phase::kSniffing)
      return finish(eof ? "closed before sending anything" : "read-error: " + ec.message());
    session_.on_stream_closed(eof ? "closed-by-peer" : "read-error: " + ec.message());
    return pump();
  }
  bytes_received_.fetch_add(n, std::memory_order_relaxed);
  ByteSpan in(read_buf_.data(), n);
  if (phase_ == Phase::kSniffing) {
    sniff(in);
  } else {
    session_.on_bytes(in, now_ms());
    pump();
    // The receiver's queue for this peer is full: its bytes wait in TCP until it drains.
    if (reading() && host_.hold_reading(*this)) {
      read_paused_ = true;
      return;
    }
  }
  if (reading()) do_read();
}

void Connection::sniff(ByteSpan in) {
  sniffed_.insert(sniffed_.end(), in.begin(), in.end());
  size_t cmp = std::min<size_t>(sniffed_.size(), 4);
  if (std::memcmp(sniffed_.data(), cfg_->magic.data.data(), cmp) != 0) {
    // Not the peer protocol: the socket leaves net with what was read.
    phase_ = Phase::kDone;
    closed_.store(true);
    ++timer_generation_;
    timer_.cancel();
    host_.on_foreign(*this, std::move(socket_), std::move(sniffed_));
    return;
  }
  if (sniffed_.size() < 4) return;
  phase_ = Phase::kSession;
  boost::system::error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
  if (auto st = host_.on_peer_detected(*this); !st) {
    session_.close(st.error().to_string(), true, now_ms());
    return pump();
  }
  int64_t now = now_ms();
  session_.start(now, handshake_deadline_);
  Bytes first = std::move(sniffed_);
  sniffed_ = Bytes();
  session_.on_bytes(first, now);
  pump();
}

void Connection::pump() {
  if (phase_ != Phase::kSession) return;
  rtt_ms_.store(session_.last_ping_rtt_ms(), std::memory_order_relaxed);
  auto st = session_.state();
  if (st == PeerSession::State::kClosed) {
    session_bytes_.store(session_.queued_bytes());
    return finish(session_.close_reason());
  }
  if (st == PeerSession::State::kClosing) closed_.store(true);
  do_write();
  session_bytes_.store(session_.queued_bytes());
  arm_timer();
}

void Connection::do_write() {
  if (writing_ || phase_ != Phase::kSession) return;
  writing_frames_ = session_.take_writes(64);
  if (writing_frames_.empty()) return;
  write_bufs_.clear();
  for (const auto& f : writing_frames_) write_bufs_.push_back(asio::buffer(*f));
  writing_ = true;
  asio::async_write(
      socket_, write_bufs_,
      [self = shared_from_this()](const boost::system::error_code& ec, size_t n) { self->on_write(ec, n); });
}

void Connection::on_write(const boost::system::error_code& ec, size_t n) {
  writing_ = false;
  bytes_sent_.fetch_add(n, std::memory_order_relaxed);
  size_t done = 0;
  for (const auto& f : writing_frames_) done += f->size();
  writing_frames_.clear();
  // The whole batch leaves the queue even on error: it will never be written.
  session_.on_written(done);
  if (phase_ != Phase::kSession) {
    session_bytes_.store(session_.queued_bytes());
    return;
  }
  if (ec) session_.on_stream_closed("write-error: " + ec.message());
  pump();
}

void Connection::arm_timer() {
  int64_t deadline = PeerSession::kNoDeadline;
  switch (phase_) {
    case Phase::kSniffing:
    case Phase::kConnecting:
      deadline = handshake_deadline_;
      break;
    case Phase::kSession:
      deadline = session_.deadline_ms();
      break;
    case Phase::kDone:
      break;
  }
  // A pending wait that ends no later stays: woken early, the session does nothing and the
  // timer is armed again. So a stream of frames (each moving the idle deadline) does not
  // cancel and re-arm the timer for each read.
  if (timer_deadline_ != PeerSession::kNoDeadline && timer_deadline_ <= deadline) return;
  uint64_t generation = ++timer_generation_;
  timer_deadline_ = deadline;
  if (deadline == PeerSession::kNoDeadline) {
    timer_.cancel();
    return;
  }
  timer_.expires_at(Clock::time_point(std::chrono::milliseconds(deadline)));
  timer_.async_wait([self = shared_from_this(), generation](const boost::system::error_code& ec) {
    self->on_timer(ec, generation);
  });
}

void Connection::on_timer(const boost::system::error_code& ec, uint64_t generation) {
  if (generation != timer_generation_ || phase_ == Phase::kDone) return;
  (void)ec;  // a superseded wait is recognised by its generation, a fired one by the clock
  timer_deadline_ = PeerSession::kNoDeadline;  // this wait is over
  int64_t now = now_ms();
  switch (phase_) {
    case Phase::kSniffing:
    case Phase::kConnecting:
      if (now >= handshake_deadline_)
        return finish(phase_ == Phase::kConnecting ? "timeout: connect" : "timeout: first bytes");
      return arm_timer();
    case Phase::kSession:
      session_.on_timer(now);
      return pump();
    case Phase::kDone:
      return;
  }
}

void Connection::do_close(std::string reason, bool tell_remote) {
  switch (phase_) {
    case Phase::kSniffing:
    case Phase::kConnecting:
      return finish(reason);  // nothing of the protocol was spoken: nobody to tell
    case Phase::kSession:
      session_.close(std::move(reason), tell_remote, now_ms());
      return pump();
    case Phase::kDone:
      return;
  }
}

void Connection::finish(const std::string& reason) {
  if (phase_ == Phase::kDone) return;
  phase_ = Phase::kDone;
  closed_.store(true);
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  resolver_.cancel();
  ++timer_generation_;
  timer_deadline_ = PeerSession::kNoDeadline;
  timer_.cancel();
  host_.on_closed(*this, reason);
}

}  // namespace peerchain::net
