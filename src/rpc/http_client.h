// rpc/http_client.h — a small blocking JSON-RPC client over HTTP/1.1 (the CLI, the seed client
// and tests use it). One connection per client, kept alive across calls.
#pragma once

#include <string>

#include "rpc/json_rpc.h"
#include "util/result.h"

namespace peerchain::rpc {

class RpcClient {
 public:
  // `token`, when not empty, is sent as `Authorization: Bearer TOKEN` (admin methods).
  RpcClient(std::string host, uint16_t port, int64_t timeout_ms = 30'000, std::string token = {});
  ~RpcClient();
  RpcClient(const RpcClient&) = delete;
  RpcClient& operator=(const RpcClient&) = delete;

  // The method's result. Errors: "unreachable" (cannot connect), "timeout" (no connection or
  // no complete answer within timeout_ms: a stopped or overloaded node), "http" (bad response),
  // "rpc" (the node's JSON-RPC error: message, with Error::code "rpc:<code>").
  util::Result<Json> call(const std::string& method, const Json& params = Json::array());
  // Raw batch: the array of responses.
  util::Result<Json> batch(const Json& requests);

 private:
  util::Result<std::string> post(const std::string& body);
  struct Impl;
  std::string host_;
  uint16_t port_;
  int64_t timeout_ms_;
  std::string token_;
  Impl* impl_ = nullptr;
};

}  // namespace peerchain::rpc
