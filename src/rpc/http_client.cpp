#include "rpc/http_client.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace peerchain::rpc {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

struct RpcClient::Impl {
  boost::asio::io_context ctx;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
};

RpcClient::RpcClient(std::string host, uint16_t port, int64_t timeout_ms, std::string token)
    : host_(std::move(host)), port_(port), timeout_ms_(timeout_ms), token_(std::move(token)), impl_(new Impl) {}

RpcClient::~RpcClient() { delete impl_; }

util::Result<std::string> RpcClient::post(const std::string& body) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    beast::error_code ec;
    if (!impl_->stream) {
      tcp::resolver resolver(impl_->ctx);
      auto results = resolver.resolve(host_, std::to_string(port_), ec);
      if (ec) return util::fail("unreachable", "cannot resolve " + host_ + ": " + ec.message());
      impl_->stream.emplace(impl_->ctx);
      impl_->stream->expires_after(std::chrono::milliseconds(timeout_ms_));
      impl_->stream->connect(results, ec);
      if (ec) {
        impl_->stream.reset();
        return util::fail("unreachable", "cannot connect to " + host_ + ":" + std::to_string(port_) + ": " + ec.message());
      }
      // The blocking reads and writes below honour these, so a silent node cannot hang us.
      timeval tv{static_cast<time_t>(timeout_ms_ / 1000), static_cast<suseconds_t>((timeout_ms_ % 1000) * 1000)};
      int fd = impl_->stream->socket().native_handle();
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    http::request<http::string_body> req{http::verb::post, "/", 11};
    req.set(http::field::host, host_);
    req.set(http::field::content_type, "application/json");
    if (!token_.empty()) req.set(http::field::authorization, "Bearer " + token_);
    req.keep_alive(true);
    req.body() = body;
    req.prepare_payload();
    impl_->stream->expires_after(std::chrono::milliseconds(timeout_ms_));
    // Blocking calls on a tcp_stream with a deadline: use the sync API of the socket.
    http::write(impl_->stream->socket(), req, ec);
    if (ec) {
      impl_->stream.reset();
      continue;  // a stale keep-alive connection: reconnect once
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(256u << 20);
    http::read(impl_->stream->socket(), impl_->buffer, parser, ec);
    if (ec) {
      impl_->stream.reset();
      if (attempt == 0 && (ec == http::error::end_of_stream || ec == boost::asio::error::connection_reset)) continue;
      return util::fail("http", "no valid response from " + host_ + ":" + std::to_string(port_) + ": " + ec.message());
    }
    auto res = parser.release();
    if (!res.keep_alive()) impl_->stream.reset();
    if (res.result() != http::status::ok)
      return util::fail("http", "HTTP " + std::to_string(res.result_int()) + ": " + res.body());
    return std::move(res.body());
  }
  return util::fail("unreachable", "connection to " + host_ + ":" + std::to_string(port_) + " keeps closing");
}

util::Result<Json> RpcClient::call(const std::string& method, const Json& params) {
  Json req{{"jsonrpc", "2.0"}, {"id", 1}, {"method", method}, {"params", params}};
  auto body = post(req.dump());
  if (!body) return util::unexpected(body.error());
  Json res = Json::parse(*body, nullptr, false);
  if (res.is_discarded() || !res.is_object()) return util::fail("http", "response is not JSON-RPC");
  if (res.contains("error") && !res["error"].is_null()) {
    const auto& e = res["error"];
    std::string msg = e.value("message", std::string("error"));
    if (e.contains("data") && e["data"].is_object() && e["data"].contains("reason"))
      msg = e["data"]["reason"].get<std::string>() + ": " + msg;
    return util::fail("rpc:" + std::to_string(e.value("code", 0)), msg);
  }
  return res["result"];
}

util::Result<Json> RpcClient::batch(const Json& requests) {
  auto body = post(requests.dump());
  if (!body) return util::unexpected(body.error());
  Json res = Json::parse(*body, nullptr, false);
  if (res.is_discarded()) return util::fail("http", "response is not JSON");
  return res;
}

}  // namespace peerchain::rpc
