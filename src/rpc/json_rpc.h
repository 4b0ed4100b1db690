// rpc/json_rpc.h — JSON-RPC 2.0 dispatch: single calls and batches, standard error codes,
// a table of methods per area.
//
// Errors: -32700 parse error, -32600 invalid request, -32601 method not found, -32602 invalid
// params, -32603 internal error; application errors use the stable codes below.
//
// Budgets (docs/design/limits.md): a body is scanned once, without recursion or copies, before
// it is parsed: nesting deeper than DispatchLimits::max_depth, more than max_values values or a
// batch of more than max_batch calls is refused without building anything. A response stops
// growing once it passes max_response_bytes: the call that crosses it is answered in full, later
// calls of the batch are not run and each gets kResponseTooLarge.
// Thread-safety: a Dispatcher is immutable after setup; call() is safe concurrently.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <string>
#include <string_view>

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
inline constexpr int kResponseTooLarge = -11;  // a batch's response budget is spent: call not run
}  // namespace code

// What one request body may cost (docs/design/limits.md, "HTTP requests, JSON-RPC calls...").
struct DispatchLimits {
  size_t max_depth = 64;                   // default: arrays/objects nested at most 64 deep
  size_t max_values = 100'000;             // default: values in one body (a full 8 MiB
                                           // sendtransactions body holds ~26,600)
  size_t max_batch = 1000;                 // default: calls in one batch
  size_t max_response_bytes = 32u << 20;   // default: 32 MiB of answers per request (a
                                           // getblock of the largest block is ~16 MB)
};

// The shape of a JSON text, found in one linear pass with no recursion and no allocation.
// Does not validate: the parser does that afterwards, on a text known to be shallow and small.
struct JsonShape {
  bool too_deep = false;     // nesting passed the limit (the scan stopped there)
  size_t depth = 0;          // deepest nesting seen (up to the limit + 1)
  size_t values = 0;         // array elements and object members, all levels
  bool top_is_array = false;
  size_t top_items = 0;      // elements of the top-level array (a batch's calls)
};
JsonShape scan_json(std::string_view text, size_t max_depth);

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

  explicit Dispatcher(DispatchLimits limits = {}) : limits_(limits) {}
  void add(const std::string& name, Method m) { methods_[name] = std::move(m); }
  // A request body (single or batch) to a response body, within limits() (above).
  std::string handle(std::string_view body) const;
  Json call(const Json& request) const;
  std::vector<std::string> names() const;
  const DispatchLimits& limits() const { return limits_; }

 private:
  DispatchLimits limits_;
  std::map<std::string, Method> methods_;
};

Json error_response(const Json& id, int code, const std::string& message, const Json& data = nullptr);

// Parameter helpers: positional (array) or named (object). Throw RpcError{kInvalidParams}.
const Json& param(const Json& params, size_t index, const char* name);
bool has_param(const Json& params, size_t index, const char* name);
std::string param_string(const Json& params, size_t index, const char* name);
uint64_t param_u64(const Json& params, size_t index, const char* name);

}  // namespace peerchain::rpc
