// Fuzz: one HTTP request as a client sends it, through the server's own steps
// (rpc::answer_request_bytes: beast's parser with the server's limits, its error answers, the
// request it builds) into the JSON-RPC route (rpc::route_json_rpc: the browser content-type rule,
// the admin/public split, Dispatcher::handle with its depth, value, batch and response budgets).
// The methods behind the dispatcher stand in for the node's: they echo, throw, and answer big.
// Whatever arrives must yield an HTTP answer (or a wait for more bytes), never a crash, and a
// JSON-RPC answer must be JSON within the response budget.
#include <cstdlib>
#include <string>
#include <string_view>

#include "rpc/http_server.h"
#include "rpc/json_rpc.h"
#include "rpc/node_api.h"

namespace {

using namespace peerchain::rpc;

void add_methods(Dispatcher& d) {
  d.add("echo", [](const Json& p) { return p; });
  d.add("param", [](const Json& p) { return Json(param_string(p, 0, "s")); });
  d.add("count", [](const Json& p) { return Json(param_u64(p, 0, "n")); });
  d.add("fail", [](const Json&) -> Json { throw RpcError{code::kTxRejected, "no", Json{{"reason", "bad"}}}; });
  d.add("big", [](const Json&) { return Json(std::string(4096, 'b')); });
}

DispatchLimits small_limits() {
  DispatchLimits l;
  l.max_response_bytes = 64 << 10;  // small, so the fuzzer reaches the budget path
  return l;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const HttpOptions opts = [] {
    HttpOptions o;
    o.max_body_bytes = 1 << 20;
    return o;
  }();
  static Dispatcher pub(small_limits()), admin(small_limits());
  static ApiState state;
  static const bool ready = [] {
    add_methods(pub);
    add_methods(admin);
    return true;
  }();
  (void)ready;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto answer = answer_request_bytes(bytes, opts, [](const HttpRequest& req) {
    if (req.method != "POST") return HttpResponse{405, "application/json", "{}", {}};
    return route_json_rpc(req, pub, admin, state);
  });
  if (!answer) return 0;
  if (answer->status < 100 || answer->status > 599) std::abort();
  if (answer->status == 200) {
    Json j = Json::parse(answer->body, nullptr, false);
    if (j.is_discarded()) std::abort();  // the dispatcher always answers JSON
    // Past the budget by one answer at most; the largest here is an echo of the request (escapes
    // may grow it up to 6x).
    if (answer->body.size() > pub.limits().max_response_bytes + 8 * size + (64 << 10)) std::abort();
  }
  return 0;
}
