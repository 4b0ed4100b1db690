#include "rpc/json_rpc.h"

namespace peerchain::rpc {

Json error_response(const Json& id, int c, const std::string& message, const Json& data) {
  Json err = {{"code", c}, {"message", message}};
  if (!data.is_null()) err["data"] = data;
  return Json{{"jsonrpc", "2.0"}, {"error", err}, {"id", id}};
}

Json Dispatcher::call(const Json& req) const {
  if (!req.is_object()) return error_response(nullptr, code::kInvalidRequest, "request must be an object");
  Json id = req.contains("id") ? req["id"] : Json(nullptr);
  if (!id.is_null() && !id.is_string() && !id.is_number())
    return error_response(nullptr, code::kInvalidRequest, "id must be a string, number or null");
  if (!req.contains("method") || !req["method"].is_string())
    return error_response(id, code::kInvalidRequest, "method must be a string");
  if (req.contains("jsonrpc") && req["jsonrpc"] != "2.0")
    return error_response(id, code::kInvalidRequest, "jsonrpc must be \"2.0\"");
  Json params = req.contains("params") ? req["params"] : Json::array();
  if (!params.is_array() && !params.is_object())
    return error_response(id, code::kInvalidRequest, "params must be an array or an object");
  auto it = methods_.find(req["method"].get<std::string>());
  if (it == methods_.end())
    return error_response(id, code::kMethodNotFound, "unknown method '" + req["method"].get<std::string>() + "'");
  try {
    Json result = it->second(params);
    return Json{{"jsonrpc", "2.0"}, {"result", result}, {"id", id}};
  } catch (const RpcError& e) {
    return error_response(id, e.code, e.message, e.data);
  } catch (const Json::exception& e) {
    return error_response(id, code::kInvalidParams, std::string("invalid params: ") + e.what());
  } catch (const std::exception& e) {
    return error_response(id, code::kInternal, std::string("internal error: ") + e.what());
  }
}

std::string Dispatcher::handle(const std::string& body) const {
  Json req = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (req.is_discarded()) return error_response(nullptr, code::kParseError, "parse error: body is not JSON").dump();
  if (req.is_array()) {
    if (req.empty()) return error_response(nullptr, code::kInvalidRequest, "empty batch").dump();
    if (req.size() > kMaxBatch)
      return error_response(nullptr, code::kInvalidRequest, "batch larger than " + std::to_string(kMaxBatch)).dump();
    Json out = Json::array();
    for (const auto& r : req) out.push_back(call(r));
    return out.dump();
  }
  return call(req).dump();
}

std::vector<std::string> Dispatcher::names() const {
  std::vector<std::string> out;
  for (const auto& [n, m] : methods_) out.push_back(n);
  return out;
}

const Json& param(const Json& params, size_t index, const char* name) {
  if (params.is_array() && index < params.size()) return params[index];
  if (params.is_object() && params.contains(name)) return params[name];
  throw RpcError{code::kInvalidParams, std::string("missing parameter '") + name + "'"};
}

bool has_param(const Json& params, size_t index, const char* name) {
  return (params.is_array() && index < params.size()) || (params.is_object() && params.contains(name));
}

std::string param_string(const Json& params, size_t index, const char* name) {
  const Json& v = param(params, index, name);
  if (!v.is_string()) throw RpcError{code::kInvalidParams, std::string("parameter '") + name + "' must be a string"};
  return v.get<std::string>();
}

uint64_t param_u64(const Json& params, size_t index, const char* name) {
  const Json& v = param(params, index, name);
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
    throw RpcError{code::kInvalidParams, std::string("parameter '") + name + "' must be a non-negative integer"};
  return v.get<uint64_t>();
}

}  // namespace peerchain::rpc
