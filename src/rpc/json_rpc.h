// rpc/json_rpc.h — JSON-RPC 2.0 dispatch: single calls and batches, standard error codes,
// a table of methods per area.
//
// Errors: -32700 parse error, -32600 invalid request, -32601 method not found, -32602 invalid
// params, -32603 internal error; application errors use the stable codes of rpc/errors.h.
// Thread-safety: a Dispatcher is immutable after setup; call() is safe concurrently.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <string>

namespace peerchain::rpc {

using Json = nlohmann::json;

namespace code {
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternal = -32603;
// Application errors (stable).
inline constexpr int kTxRejected = -26;        // data.reason: the rejection token
inline constexpr int kNotFound = -5;
inline constexpr int kNotAllowed = -8;         // e.g. generate on main
inline constexpr int kUnavailable = -9;       // e.g. too many waiters
inline constexpr int kTimeout = -10;          // waitfortransaction ran out of time
inline constexpr int kUnauthorized = -403;    // an admin method without the API token
}  // namespace code

// Thrown by method handlers only, caught by the dispatcher: the one place exceptions are used
// inside rpc (docs/adr/0002-errors.md).
struct RpcError {
  int code;
  std::string message;
  Json data = nullptr;
};

class Dispatcher {
 public:
  using Method = std::function<Json(const Json& params)>;
  static constexpr size_t kMaxBatch = 1000;

  void add(const std::string& name, Method m) { methods_[name] = std::move(m); }
  // A request body (single or batch) to a response body; empty string for notifications only.
  std::string handle(const std::string& body) const;
  Json call(const Json& request) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, Method> methods_;
};

Json error_response(const Json& id, int code, const std::string& message, const Json& data = nullptr);

// Parameter helpers: positional (array) or named (object). Throw RpcError{kInvalidParams}.
const Json& param(const Json& params, size_t index, const char* name);
bool has_param(const Json& params, size_t index, const char* name);
std::string param_string(const Json& params, size_t index, const char* name);
uint64_t param_u64(const Json& params, size_t index, const char* name);

}  // namespace peerchain::rpc
