// rpc/http_server.h — HTTP/1.1 (keep-alive) for the client API, on the node's one port: net
// hands over connections whose first bytes are not the peer magic (adopt()), and the server
// runs them on its own threads so slow requests never stall peer traffic.
//
// Limits: header and body sizes, idle time per connection, concurrent connections. Malformed
// HTTP gets a 400 (or 413 for an oversized body) and the connection is closed; nothing a client
// sends can crash the node.
// Thread-safety: adopt() is safe from any thread; start/stop from one.
#pragma once

#include <utility>  // before asio (Boost 1.74 under C++20)

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "util/bytes.h"

namespace peerchain::rpc {

struct HttpRequest {
  std::string method;   // "GET", "POST", ...
  std::string target;   // "/status?x=1"
  std::string body;
  std::string remote;   // peer address, for logs
  std::string authorization;  // the Authorization header, if any
  std::string origin;         // the Origin header, if any (sent by browsers: CORS, admin guard)
  std::string if_none_match;  // the If-None-Match header, if any (cached web view files)
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (CSP, caching, CORS)
};

struct HttpOptions {
  size_t threads = 2;                   // default: 2 threads serve every HTTP connection
  size_t max_body_bytes = 8 << 20;      // default: 8 MiB (a batch of ~25k transactions)
  size_t max_header_bytes = 16 << 10;   // default: 16 KiB
  int64_t idle_timeout_ms = 30'000;     // default: close a keep-alive connection idle for 30 s
  size_t max_connections = 256;         // default: beyond this, new connections get a 503
  size_t max_ws_queue = 1024;           // default: a WebSocket client this many events behind is dropped
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  HttpServer(HttpOptions opts, Handler handler);
  ~HttpServer();  // stop()s

  void start();
  void stop();  // closes every connection and joins the threads

  // Takes over a connected socket (from another io_context) and the bytes already read from it.
  void adopt(boost::asio::ip::tcp::socket socket, util::Bytes already_read);

  size_t connections() const { return connections_.load(); }

  // Sends `message` (a JSON text) to every WebSocket client of GET /ws subscribed to `topic`
  // (a client of "/ws?topics=block,reorg" gets only those; a client of plain "/ws" gets every
  // topic). Thread-safe.
  void publish(std::string_view topic, std::string message);
  // Connected WebSocket clients; with a topic, those that receive it.
  size_t websocket_clients(std::string_view topic = {}) const;

 private:
  class Session;
  class WsSession;
  mutable std::mutex ws_mu_;
  std::vector<std::weak_ptr<WsSession>> ws_sessions_;  // GUARDED_BY(ws_mu_)
  HttpOptions opts_;
  Handler handler_;
  boost::asio::io_context ctx_;
  std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  std::atomic<size_t> connections_{0};
  std::atomic<bool> stopped_{false};
};

}  // namespace peerchain::rpc
