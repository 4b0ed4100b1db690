#include "rpc/http_server.h"

#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <unistd.h>

#include <cstring>
#include <optional>

#include "util/log.h"

namespace peerchain::rpc {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

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
    HttpRequest r{std::string(req.method_string()), std::string(req.target()), std::move(req.body()), remote_};
    HttpResponse out;
    try {
      out = srv_.handler_(r);
    } catch (const std::exception& e) {
      out = {500, "application/json", std::string(R"({"error":"internal error: )") + json_escape(e.what()) + "\"}"};
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
    write(HttpResponse{status, "application/json", std::move(body)});
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
  for (size_t i = 0; i < std::max<size_t>(1, opts_.threads); ++i) threads_.emplace_back([this] { ctx_.run(); });
}

void HttpServer::stop() {
  if (stopped_.exchange(true)) return;
  work_.reset();
  ctx_.stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void HttpServer::adopt(tcp::socket socket, util::Bytes already_read) {
  if (stopped_.load()) return;
  boost::system::error_code ec;
  auto protocol = socket.local_endpoint(ec).protocol();
  if (ec) return;
  int fd = socket.release(ec);
  if (ec) return;
  tcp::socket mine(ctx_);
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
