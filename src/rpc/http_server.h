// rpc/http_server.h — HTTP/1.1 (keep-alive) for the client API, on the node's one port: net
// hands over connections whose first bytes are not the peer magic (adopt()), and the server
// runs them on its own threads so slow requests never stall peer traffic.
//
// Limits (docs/design/limits.md): header and body sizes; a whole request (headers and body) must
// arrive within idle_timeout_ms; concurrent connections, in all and per client address (a
// WebSocket session keeps its connection's slot); request bodies buffered at once, server-wide;
// WebSocket sessions, their idle time (the server pings) and the size of a client's message.
// Malformed HTTP gets a 400 (413/431 for oversized parts, 503 past a connection or memory
// budget) and the connection is closed; nothing a client sends can crash the node.
// Thread-safety: adopt() is safe from any thread; start/stop from one.
#pragma once

#include <utility>  // before asio (Boost 1.74 under C++20)

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <atomic>
#include <functional>
#include <map>
#include <optional>
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
  std::string content_type;   // the Content-Type header, if any (cross-site simple requests)
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
  // default: 30 s for a whole request (headers and body) to arrive after the connection opens or
  // the previous answer is sent; a connection idle or dripping bytes longer is closed (slowloris)
  int64_t idle_timeout_ms = 30'000;
  size_t max_connections = 256;         // default: beyond this, new connections get a 503
  size_t max_connections_per_address = 32;  // default: one client address holds at most 32 of them
  size_t max_buffered_body_bytes = 64u << 20;  // default: 64 MiB of request bodies in memory at once
  // default: 64 KiB; a body this small is always admitted (max_connections of them are at most
  // 16 MiB), so clients holding the budget with large slow uploads cannot stop ordinary calls
  size_t small_body_bytes = 64u << 10;
  size_t max_ws_queue = 1024;           // default: a WebSocket client this many events behind is dropped
  size_t max_ws_sessions = 64;          // default: WebSocket sessions at once (each also holds a connection)
  // The topics a client of /ws?topics= may name; a request naming another gets 400. Default
  // (empty): any topic.
  std::vector<std::string> ws_topics;
  int64_t ws_idle_timeout_ms = 30'000;  // default: a session silent for 30 s is closed; pinged at 15 s
  int64_t ws_handshake_timeout_ms = 10'000;  // default: 10 s for the upgrade answer and the closing handshake
  size_t ws_max_message_bytes = 4096;   // default: 4 KiB; clients have nothing to say but pongs
};

// One request's way through the server, apart from the socket: the fuzz target (fuzz/http_rpc.cpp)
// and unit tests drive it with bytes. Parses `bytes` as one HTTP/1.1 request with `opts`' limits
// and answers it as a session would: 400/413/431 for a malformed or oversized request, else
// `handler`'s response (500 if it throws). nullopt: the bytes end before the request does.
std::optional<HttpResponse> answer_request_bytes(std::string_view bytes, const HttpOptions& opts,
                                                 const std::function<HttpResponse(const HttpRequest&)>& handler);

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  HttpServer(HttpOptions opts, Handler handler);
  ~HttpServer();  // stop()s

  void start();
  void stop();  // closes every connection and joins the threads

  // Takes over a connected socket (from another io_context) and the bytes already read from it.
  void adopt(boost::asio::ip::tcp::socket socket, util::Bytes already_read);

  // Open client connections, WebSocket sessions included.
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
  class Slot;
  friend class Slot;
  // Request bodies buffered now, server-wide (max_buffered_body_bytes). false: no room.
  bool reserve_body(size_t bytes);
  void release_body(size_t bytes) { body_bytes_.fetch_sub(bytes); }

  std::mutex addr_mu_;
  std::map<std::string, size_t> per_address_;  // GUARDED_BY(addr_mu_): open connections per client IP
  std::atomic<size_t> body_bytes_{0};
  std::atomic<size_t> ws_count_{0};
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
