#include "rpc/http_client.h"

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

namespace {

// Runs one asynchronous operation on `ctx` to completion. The tcp_stream's deadline
// (expires_after) closes the socket when it passes, so the operation always completes: a node
// that accepted the connection but stopped answering (SIGSTOP) cannot hang the caller. (The
// blocking socket calls used before ignore the deadline, and Asio turns SO_RCVTIMEO's EAGAIN
// into an endless poll.)
template <class Start>
beast::error_code run_one(boost::asio::io_context& ctx, Start start) {
  beast::error_code result = boost::asio::error::would_block;
  ctx.restart();
  start([&result](beast::error_code ec, auto&&...) { result = ec; });
  ctx.run();
  return result;
}

}  // namespace

util::Result<std::string> RpcClient::post(const std::string& body) {
  const auto deadline = std::chrono::milliseconds(timeout_ms_);
  const std::string where = host_ + ":" + std::to_string(port_);
  auto timed_out = [&](const beast::error_code& ec) { return ec == beast::error::timeout; };
  for (int attempt = 0; attempt < 2; ++attempt) {
    beast::error_code ec;
    if (!impl_->stream) {
      tcp::resolver resolver(impl_->ctx);
      auto results = resolver.resolve(host_, std::to_string(port_), ec);
      if (ec) return util::fail("unreachable", "cannot resolve " + host_ + ": " + ec.message());
      impl_->stream.emplace(impl_->ctx);
      impl_->stream->expires_after(deadline);
      ec = run_one(impl_->ctx, [&](auto handler) { impl_->stream->async_connect(results, handler); });
      if (ec) {
        impl_->stream.reset();
        if (timed_out(ec))
          return util::fail("timeout", "cannot connect to " + where + ": no answer within " +
                                           std::to_string(timeout_ms_) + " ms");
        return util::fail("unreachable", "cannot connect to " + where + ": " + ec.message());
      }
      impl_->buffer.clear();
    }
    http::request<http::string_body> req{http::verb::post, "/", 11};
    req.set(http::field::host, host_);
    req.set(http::field::content_type, "application/json");
    if (!token_.empty()) req.set(http::field::authorization, "Bearer " + token_);
    req.keep_alive(true);
    req.body() = body;
    req.prepare_payload();
    impl_->stream->expires_after(deadline);
    ec = run_one(impl_->ctx, [&](auto handler) { http::async_write(*impl_->stream, req, handler); });
    if (timed_out(ec)) {
      impl_->stream.reset();
      return util::fail("timeout", where + " did not take the request within " + std::to_string(timeout_ms_) + " ms");
    }
    if (ec) {
      impl_->stream.reset();
      continue;  // a stale keep-alive connection: reconnect once
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(256u << 20);
    ec = run_one(impl_->ctx, [&](auto handler) { http::async_read(*impl_->stream, impl_->buffer, parser, handler); });
    if (ec) {
      impl_->stream.reset();
      if (timed_out(ec))
        return util::fail("timeout", where + " did not answer within " + std::to_string(timeout_ms_) + " ms");
      if (attempt == 0 && (ec == http::error::end_of_stream || ec == boost::asio::error::connection_reset)) continue;
      return util::fail("http", "no valid response from " + where + ": " + ec.message());
    }
    auto res = parser.release();
    if (!res.keep_alive()) impl_->stream.reset();
    if (res.result() != http::status::ok) {
      // The node's refusals carry {"error": "..."}: show that sentence, not the JSON.
      Json err = Json::parse(res.body(), nullptr, /*allow_exceptions=*/false);
      std::string why = err.is_object() && err.contains("error") && err["error"].is_string()
                            ? err["error"].get<std::string>()
                            : res.body();
      return util::fail("http", "the node refused the request (HTTP " + std::to_string(res.result_int()) + "): " + why);
    }
    return std::move(res.body());
  }
  return util::fail("unreachable", "connection to " + where + " keeps closing");
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
