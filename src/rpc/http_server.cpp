#include "rpc/http_server.h"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string_view>
#include <optional>

#include "util/log.h"
#include "util/thread_name.h"

namespace peerchain::rpc {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

// A WebSocket client of GET /ws: receives every published event, in order. Writes are queued
// on the session's strand (every adopted socket gets its own); a client that falls max_ws_queue events behind is disconnected.
class HttpServer::WsSession : public std::enable_shared_from_this<HttpServer::WsSession> {
 public:
  WsSession(HttpServer& srv, beast::tcp_stream&& stream, std::vector<std::string> topics)
      : srv_(srv), ws_(std::move(stream)), topics_(std::move(topics)) {}

  // Empty topics: every event.
  bool wants(std::string_view topic) const {
    return topics_.empty() || std::find(topics_.begin(), topics_.end(), topic) != topics_.end();
  }

  void start(http::request<http::string_body> req) {
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(beast::websocket::stream_base::timeout::suggested(beast::role_type::server));
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

}  // namespace

class HttpServer::Session : public std::enable_shared_from_this<HttpServer::Session> {
 public:
  Session(HttpServer& srv, tcp::socket socket) : srv_(srv), stream_(std::move(socket)) {
    boost::system::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
    srv_.connections_.fetch_add(1);
  }
  ~Session() { srv_.connections_.fetch_sub(1); }

  void start(const util::Bytes& first) {
    if (!first.empty()) {
      auto mb = buffer_.prepare(first.size());
      std::memcpy(mb.data(), first.data(), first.size());
      buffer_.commit(first.size());
    }
    if (srv_.connections_.load() > srv_.opts_.max_connections) {
      respond_and_close(503, "{\"error\":\"too many connections\"}");
      return;
    }
    read();
  }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(srv_.opts_.max_body_bytes);
    parser_->header_limit(static_cast<uint32_t>(srv_.opts_.max_header_bytes));
    stream_.expires_after(std::chrono::milliseconds(srv_.opts_.idle_timeout_ms));
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == boost::asio::error::operation_aborted ||
        ec == boost::asio::error::connection_reset || ec == boost::asio::error::eof) {
      return close();
    }
    if (ec == http::error::body_limit) return respond_and_close(413, R"({"error":"request body too large"})");
    if (ec == http::error::header_limit) return respond_and_close(431, R"({"error":"request header too large"})");
    if (ec) return respond_and_close(400, std::string(R"({"error":"malformed HTTP request: )") + json_escape(ec.message()) + "\"}");
    auto& req = parser_->get();
    if (beast::websocket::is_upgrade(req)) {
      auto topics = ws_topics(std::string_view(req.target().data(), req.target().size()));
      if (!topics) return respond_and_close(404, R"({"error":"WebSocket endpoint is /ws"})");
      std::make_shared<WsSession>(srv_, std::move(stream_), std::move(*topics))->start(parser_->release());
      return;
    }
    HttpRequest r{std::string(req.method_string()), std::string(req.target()), std::move(req.body()), remote_,
                  std::string(req[http::field::authorization]), std::string(req[http::field::origin]),
                  std::string(req[http::field::if_none_match])};
    HttpResponse out;
    try {
      out = srv_.handler_(r);
    } catch (const std::exception& e) {
      out = {500, "application/json", std::string(R"({"error":"internal error: )") + json_escape(e.what()) + "\"}", {}};
    }
    keep_alive_ = req.keep_alive();
    write(out);
  }

  static std::string json_escape(const std::string& s) {
    std::string o;
    for (char c : s) {
      if (c == '"' || c == '\\') o += '\\';
      if (static_cast<unsigned char>(c) >= 0x20) o += c;
    }
    return o;
  }

  void write(const HttpResponse& out) {
    res_.emplace(static_cast<http::status>(out.status), 11);
    res_->set(http::field::server, "peerchain");
    res_->set(http::field::content_type, out.content_type);
    for (const auto& [name, value] : out.headers) res_->set(name, value);
    res_->keep_alive(keep_alive_);
    res_->body() = out.body;
    res_->prepare_payload();
    stream_.expires_after(std::chrono::milliseconds(srv_.opts_.idle_timeout_ms));
    http::async_write(stream_, *res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec || !self->keep_alive_ || self->srv_.stopped_.load()) return self->close();
      self->read();
    });
  }

  void respond_and_close(int status, std::string body) {
    keep_alive_ = false;
    write(HttpResponse{status, "application/json", std::move(body), {}});
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  HttpServer& srv_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{16 << 10};
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> res_;
  bool keep_alive_ = true;
  std::string remote_;
};

HttpServer::HttpServer(HttpOptions opts, Handler handler) : opts_(opts), handler_(std::move(handler)) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  work_ = std::make_unique<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>(ctx_.get_executor());
  for (size_t i = 0; i < std::max<size_t>(1, opts_.threads); ++i) threads_.emplace_back([this] {
      util::set_thread_name("pc-http");
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
