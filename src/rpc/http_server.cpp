#include "rpc/http_server.h"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>
#include <optional>

#include "util/log.h"
#include "util/thread_name.h"
#include "util/thread_priority.h"

namespace peerchain::rpc {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

// A connection's place in the server's counts: the total and its client address's. The Session
// holds it and hands it to the WsSession on upgrade, so an upgraded connection still counts
// against max_connections and max_connections_per_address until its socket is gone.
class HttpServer::Slot {
 public:
  Slot(HttpServer& srv, std::string address) : srv_(srv), address_(std::move(address)) {
    total_ = srv_.connections_.fetch_add(1) + 1;
    std::lock_guard lock(srv_.addr_mu_);
    same_address_ = ++srv_.per_address_[address_];
  }
  ~Slot() {
    srv_.connections_.fetch_sub(1);
    std::lock_guard lock(srv_.addr_mu_);
    auto it = srv_.per_address_.find(address_);
    if (it != srv_.per_address_.end() && --it->second == 0) srv_.per_address_.erase(it);
  }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;

  // Why this connection may not be served (counted when it arrived), or nullopt.
  std::optional<std::string> over_limit() const {
    if (total_ > srv_.opts_.max_connections) return std::string("too many connections");
    if (same_address_ > srv_.opts_.max_connections_per_address)
      return "too many connections from " + address_ + " (at most " +
             std::to_string(srv_.opts_.max_connections_per_address) + ")";
    return std::nullopt;
  }

 private:
  HttpServer& srv_;
  std::string address_;
  size_t total_ = 0;
  size_t same_address_ = 0;
};

// A WebSocket client of GET /ws: receives every published event, in order. Writes are queued
// on the session's strand (every adopted socket gets its own); a client that falls max_ws_queue
// events behind is disconnected. Counted in ws_count_ (max_ws_sessions) and, through its Slot,
// as a connection. The server pings a quiet client; one silent for ws_idle_timeout_ms, or sending
// a message over ws_max_message_bytes, is closed.
class HttpServer::WsSession : public std::enable_shared_from_this<HttpServer::WsSession> {
 public:
  // REQUIRES: the caller counted this session in srv.ws_count_ (released here).
  WsSession(HttpServer& srv, beast::tcp_stream&& stream, std::unique_ptr<Slot> slot, std::vector<std::string> topics)
      : srv_(srv), ws_(std::move(stream)), slot_(std::move(slot)), topics_(std::move(topics)) {}
  ~WsSession() { srv_.ws_count_.fetch_sub(1); }

  // Empty topics: every event.
  bool wants(std::string_view topic) const {
    return topics_.empty() || std::find(topics_.begin(), topics_.end(), topic) != topics_.end();
  }

  void start(http::request<http::string_body> req) {
    beast::get_lowest_layer(ws_).expires_never();  // the websocket timeouts below take over
    beast::websocket::stream_base::timeout t;
    t.handshake_timeout = std::chrono::milliseconds(srv_.opts_.ws_handshake_timeout_ms);
    t.idle_timeout = std::chrono::milliseconds(srv_.opts_.ws_idle_timeout_ms);
    t.keep_alive_pings = true;  // a ping at half the idle time: a live client's pong keeps it open
    ws_.set_option(t);
    ws_.read_message_max(srv_.opts_.ws_max_message_bytes);
    ws_.async_accept(req, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return;
      {
        std::lock_guard lock(self->srv_.ws_mu_);
        self->srv_.ws_sessions_.push_back(self);
      }
      self->read();
    });
  }

  void push(std::shared_ptr<const std::string> msg) {
    boost::asio::post(ws_.get_executor(), [self = shared_from_this(), msg] {
      if (self->closed_) return;
      if (self->queue_.size() >= self->srv_.opts_.max_ws_queue) {
        self->closed_ = true;
        beast::error_code ec;
        beast::get_lowest_layer(self->ws_).socket().close(ec);
        return;
      }
      self->queue_.push_back(msg);
      if (self->queue_.size() == 1) self->write();
    });
  }

 private:
  void read() {
    ws_.async_read(in_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) {
        self->closed_ = true;
        return;
      }
      self->in_.consume(self->in_.size());  // clients have nothing to say; ignore
      self->read();
    });
  }
  void write() {
    ws_.text(true);
    ws_.async_write(boost::asio::buffer(*queue_.front()), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) {
        self->closed_ = true;
        return;
      }
      self->queue_.pop_front();
      if (!self->queue_.empty()) self->write();
    });
  }

  HttpServer& srv_;
  beast::websocket::stream<beast::tcp_stream> ws_;
  std::unique_ptr<Slot> slot_;
  beast::flat_buffer in_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  const std::vector<std::string> topics_;
  bool closed_ = false;
};

namespace {

// "/ws?topics=block,reorg" -> {"block", "reorg"}; "/ws" -> {} (everything). nullopt: not /ws.
std::optional<std::vector<std::string>> ws_topics(std::string_view target) {
  auto q = target.find('?');
  if (target.substr(0, q) != "/ws") return std::nullopt;
  std::vector<std::string> topics;
  if (q == std::string_view::npos) return topics;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (kv.rfind("topics=", 0) != 0) continue;
    std::string_view list = kv.substr(7);
    while (!list.empty()) {
      auto comma = list.find(',');
      if (comma != 0) topics.emplace_back(list.substr(0, comma));
      list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    }
  }
  return topics;
}

using RequestParser = http::request_parser<http::string_body>;

void configure(RequestParser& p, const HttpOptions& opts) {
  p.body_limit(opts.max_body_bytes);
  p.header_limit(static_cast<uint32_t>(opts.max_header_bytes));
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) o += c;
  }
  return o;
}

HttpResponse error_answer(int status, const std::string& message) {
  return HttpResponse{status, "application/json", "{\"error\":\"" + json_escape(message) + "\"}", {}};
}

// 413's message names the cap, so whoever sent the body knows what to send instead.
HttpResponse body_too_large(const HttpOptions& opts) {
  return error_answer(413, "request body too large: the limit is " + std::to_string(opts.max_body_bytes) +
                               " bytes; send fewer calls or transactions per request");
}

// The answer to a failed read; nullopt: close without one (the client left or ran out of time).
std::optional<HttpResponse> answer_read_error(beast::error_code ec, const HttpOptions& opts) {
  if (ec == http::error::end_of_stream || ec == http::error::partial_message || ec == beast::error::timeout ||
      ec == boost::asio::error::operation_aborted || ec == boost::asio::error::connection_reset ||
      ec == boost::asio::error::eof)
    return std::nullopt;
  if (ec == http::error::body_limit) return body_too_large(opts);
  if (ec == http::error::header_limit) return error_answer(431, "request header too large");
  return error_answer(400, "malformed HTTP request: " + ec.message());
}

// Once the header is in: a declared body over the limit is refused before a byte of it is read.
std::optional<HttpResponse> check_header(const RequestParser& p, const HttpOptions& opts) {
  if (auto cl = p.content_length(); cl && *cl > opts.max_body_bytes) return body_too_large(opts);
  return std::nullopt;
}

// Body bytes a request may buffer, known from its header: the declared length, or the limit for a
// chunked body (its length is unknown until it ends).
size_t body_bytes_needed(const RequestParser& p, const HttpOptions& opts) {
  if (auto cl = p.content_length()) return static_cast<size_t>(*cl);
  return p.chunked() ? opts.max_body_bytes : 0;
}

HttpRequest to_request(http::request<http::string_body>& req, const std::string& remote) {
  return HttpRequest{std::string(req.method_string()), std::string(req.target()), std::move(req.body()), remote,
                     std::string(req[http::field::authorization]), std::string(req[http::field::origin]),
                     std::string(req[http::field::if_none_match]), std::string(req[http::field::content_type])};
}

HttpResponse call_handler(const std::function<HttpResponse(const HttpRequest&)>& handler, const HttpRequest& r) {
  try {
    return handler(r);
  } catch (const std::exception& e) {
    return error_answer(500, std::string("internal error: ") + e.what());
  }
}

}  // namespace

std::optional<HttpResponse> answer_request_bytes(std::string_view bytes, const HttpOptions& opts,
                                                 const std::function<HttpResponse(const HttpRequest&)>& handler) {
  RequestParser parser;
  configure(parser, opts);
  beast::error_code ec;
  bool header_checked = false;
  while (!parser.is_done()) {
    size_t used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
    bytes.remove_prefix(used);
    if (ec == http::error::need_more) ec = {};
    if (ec) return answer_read_error(ec, opts);
    if (parser.is_header_done() && !header_checked) {
      header_checked = true;
      if (auto refused = check_header(parser, opts)) return refused;
    }
    // No progress: the parser needs more bytes than there are (the server would read on).
    if (used == 0 && !parser.is_done()) return std::nullopt;
  }
  if (beast::websocket::is_upgrade(parser.get())) return std::nullopt;  // the session takes over
  auto msg = parser.release();
  return call_handler(handler, to_request(msg, "fuzz:0"));
}

class HttpServer::Session : public std::enable_shared_from_this<HttpServer::Session> {
 public:
  Session(HttpServer& srv, tcp::socket socket) : srv_(srv), stream_(std::move(socket)) {
    boost::system::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    std::string ip = ec ? std::string("?") : ep.address().to_string();
    if (!ec) remote_ = ip + ":" + std::to_string(ep.port());
    slot_ = std::make_unique<Slot>(srv_, ip);
  }
  ~Session() { release_body(); }

  void start(const util::Bytes& first) {
    if (!first.empty()) {
      auto mb = buffer_.prepare(first.size());
      std::memcpy(mb.data(), first.data(), first.size());
      buffer_.commit(first.size());
    }
    if (auto why = slot_->over_limit()) return respond_and_close(error_answer(503, *why));
    read();
  }

 private:
  void read() {
    parser_.emplace();
    configure(*parser_, srv_.opts_);
    // One deadline for the whole request, headers and body: a client dripping bytes cannot hold
    // the connection longer (the timer is not restarted between the two reads).
    stream_.expires_after(std::chrono::milliseconds(srv_.opts_.idle_timeout_ms));
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code header_ec) {
    if (header_ec) return on_read(header_ec);
    if (auto refused = check_header(*parser_, srv_.opts_)) return respond_and_close(std::move(*refused), /*drain=*/true);
    // Room for the body in the server-wide budget before any of it is read: 16 clients each
    // sending 8 MiB at once cannot all be buffered (and parsed) together.
    size_t need = body_bytes_needed(*parser_, srv_.opts_);
    if (need <= srv_.opts_.small_body_bytes) need = 0;
    if (need && !srv_.reserve_body(need))
      return respond_and_close(error_answer(503, "server busy: too many large requests in progress; retry"),
                               /*drain=*/true);
    reserved_ = need;
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      release_body();
      if (auto answer = answer_read_error(ec, srv_.opts_))
        return respond_and_close(std::move(*answer), /*drain=*/ec == http::error::body_limit);
      return close();
    }
    auto& req = parser_->get();
    if (beast::websocket::is_upgrade(req)) return upgrade();
    HttpRequest r = to_request(req, remote_);
    keep_alive_ = req.keep_alive();
    HttpResponse out = call_handler(srv_.handler_, r);
    r.body.clear();
    r.body.shrink_to_fit();
    release_body();
    write(std::move(out));
  }

  void upgrade() {
    release_body();
    auto& req = parser_->get();
    auto topics = ws_topics(std::string_view(req.target().data(), req.target().size()));
    if (!topics) return respond_and_close(error_answer(404, "WebSocket endpoint is /ws"));
    const auto& known = srv_.opts_.ws_topics;
    for (const auto& t : *topics)
      if (!known.empty() && std::find(known.begin(), known.end(), t) == known.end()) {
        std::string list;
        for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
        return respond_and_close(error_answer(400, "unknown topic '" + t + "' (topics: " + list + ")"));
      }
    if (srv_.ws_count_.fetch_add(1) >= srv_.opts_.max_ws_sessions) {
      srv_.ws_count_.fetch_sub(1);
      return respond_and_close(error_answer(503, "too many WebSocket clients (at most " +
                                                     std::to_string(srv_.opts_.max_ws_sessions) + ")"));
    }
    std::make_shared<WsSession>(srv_, std::move(stream_), std::move(slot_), std::move(*topics))->start(parser_->release());
  }

  void release_body() {
    if (reserved_) srv_.release_body(reserved_);
    reserved_ = 0;
  }

  void write(HttpResponse out) {
    res_.emplace(static_cast<http::status>(out.status), 11);
    res_->set(http::field::server, "peerchain");
    res_->set(http::field::content_type, out.content_type);
    for (const auto& [name, value] : out.headers) res_->set(name, value);
    res_->keep_alive(keep_alive_);
    res_->body() = std::move(out.body);
    res_->prepare_payload();
    stream_.expires_after(std::chrono::milliseconds(srv_.opts_.idle_timeout_ms));
    http::async_write(stream_, *res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->res_.reset();  // a large answer is not kept while the connection waits for the next
      if (ec || self->srv_.stopped_.load()) return self->close();
      if (!self->keep_alive_ && self->drain_) return self->linger();
      if (!self->keep_alive_) return self->close();
      self->read();
    });
  }

  // Closing with request bytes still unread makes the kernel reset the connection, and a client
  // still sending a body we refused (413, 503 busy) would lose our answer to the reset: stop sending,
  // then read and drop what it still sends, for at most 2 s and twice the body limit, and close.
  void linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(std::chrono::seconds(2));
    discard_ = std::make_unique<std::array<char, 16 << 10>>();
    drain();
  }
  void drain() {
    stream_.async_read_some(boost::asio::buffer(*discard_), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > 2 * self->srv_.opts_.max_body_bytes) return self->close();
      self->drain();
    });
  }

  // drain: the client may still be sending a body this answer refuses (see linger()).
  void respond_and_close(HttpResponse answer, bool drain = false) {
    keep_alive_ = false;
    drain_ = drain;
    write(std::move(answer));
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  HttpServer& srv_;
  beast::tcp_stream stream_;
  std::unique_ptr<Slot> slot_;  // null once handed to a WsSession
  beast::flat_buffer buffer_{16 << 10};
  std::optional<RequestParser> parser_;
  std::optional<http::response<http::string_body>> res_;
  bool keep_alive_ = true;
  bool drain_ = false;
  std::unique_ptr<std::array<char, 16 << 10>> discard_;  // linger(): what a refused client still sends
  size_t drained_ = 0;
  size_t reserved_ = 0;  // bytes of srv_.body_bytes_ this request holds
  std::string remote_;
};

HttpServer::HttpServer(HttpOptions opts, Handler handler) : opts_(opts), handler_(std::move(handler)) {}

HttpServer::~HttpServer() { stop(); }

bool HttpServer::reserve_body(size_t bytes) {
  size_t now = body_bytes_.load();
  do {
    if (now + bytes > opts_.max_buffered_body_bytes) return false;
  } while (!body_bytes_.compare_exchange_weak(now, now + bytes));
  return true;
}

void HttpServer::start() {
  work_ = std::make_unique<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>(ctx_.get_executor());
  for (size_t i = 0; i < std::max<size_t>(1, opts_.threads); ++i) threads_.emplace_back([this] {
      util::set_thread_name("pc-http");
      util::set_thread_bulk();
      ctx_.run();
    });
}

void HttpServer::stop() {
  if (stopped_.exchange(true)) return;
  work_.reset();
  ctx_.stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void HttpServer::publish(std::string_view topic, std::string message) {
  auto msg = std::make_shared<const std::string>(std::move(message));
  std::vector<std::shared_ptr<WsSession>> live;
  {
    std::lock_guard lock(ws_mu_);
    std::erase_if(ws_sessions_, [&](const std::weak_ptr<WsSession>& w) {
      auto s = w.lock();
      if (!s) return true;  // gone: forget it
      live.push_back(std::move(s));
      return false;
    });
  }
  for (auto& s : live)
    if (s->wants(topic)) s->push(msg);
}

size_t HttpServer::websocket_clients(std::string_view topic) const {
  std::lock_guard lock(ws_mu_);
  size_t n = 0;
  for (const auto& w : ws_sessions_) {
    auto s = w.lock();
    n += s && (topic.empty() || s->wants(topic));
  }
  return n;
}

void HttpServer::adopt(tcp::socket socket, util::Bytes already_read) {
  if (stopped_.load()) return;
  boost::system::error_code ec;
  auto protocol = socket.local_endpoint(ec).protocol();
  if (ec) return;
  int fd = socket.release(ec);
  if (ec) return;
  tcp::socket mine(boost::asio::make_strand(ctx_));  // one strand per connection: handlers never overlap
  mine.assign(protocol, fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  boost::asio::post(ctx_, [this, s = std::make_shared<tcp::socket>(std::move(mine)), first = std::move(already_read)]() mutable {
    std::make_shared<Session>(*this, std::move(*s))->start(first);
  });
}

}  // namespace peerchain::rpc
