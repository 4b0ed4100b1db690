#include "rpc/json_rpc.h"

#include <algorithm>
#include <vector>

namespace peerchain::rpc {

Json error_response(const Json& id, int c, const std::string& message, const Json& data) {
  Json err = {{"code", c}, {"message", message}};
  if (!data.is_null()) err["data"] = data;
  return Json{{"jsonrpc", "2.0"}, {"error", err}, {"id", id}};
}

namespace {

const Json kNoParams = Json::array();

// A method name as quoted back in an error: a client may send megabytes of it.
std::string quoted_name(const std::string& name) {
  constexpr size_t kMax = 64;
  return name.size() <= kMax ? name : name.substr(0, kMax) + "...";
}

// The id to answer a call with when it is not run: its own when it is a valid id, else null.
Json id_of(const Json& req) {
  if (!req.is_object()) return nullptr;
  auto it = req.find("id");
  if (it == req.end() || !(it->is_string() || it->is_number())) return nullptr;
  return *it;
}

}  // namespace

JsonShape scan_json(std::string_view text, size_t max_depth) {
  JsonShape shape;
  // nonempty[d]: the open container at depth d has an element already (so the next one starts
  // after a comma). Depth is capped at max_depth + 1, so the vector stays small.
  std::vector<bool> nonempty(max_depth + 2, false);
  size_t depth = 0;
  auto element = [&] {
    if (depth == 0 || nonempty[depth]) return;
    nonempty[depth] = true;
    ++shape.values;
    if (depth == 1 && shape.top_is_array) ++shape.top_items;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    switch (c) {
      case ' ': case '\t': case '\n': case '\r': case ':':
        break;
      case '"':
        element();
        for (++i; i < text.size() && text[i] != '"'; ++i)
          if (text[i] == '\\') ++i;  // skip the escaped character
        break;
      case '[': case '{':
        element();
        if (depth == 0 && c == '[') shape.top_is_array = true;
        if (++depth > max_depth) {
          shape.too_deep = true;
          shape.depth = depth;
          return shape;
        }
        shape.depth = std::max(shape.depth, depth);
        nonempty[depth] = false;
        break;
      case ']': case '}':
        if (depth > 0) --depth;
        break;
      case ',':
        if (depth > 0) {
          ++shape.values;
          if (depth == 1 && shape.top_is_array) ++shape.top_items;
        }
        break;
      default:
        element();  // a number, true, false or null (or garbage: the parser will say)
        break;
    }
  }
  return shape;
}

Json Dispatcher::call(const Json& req) const {
  if (!req.is_object()) return error_response(nullptr, code::kInvalidRequest, "request must be an object");
  // Nothing the request carries is copied before it is checked (params is read in place).
  Json id = nullptr;
  if (auto it = req.find("id"); it != req.end()) {
    if (!it->is_null() && !it->is_string() && !it->is_number())
      return error_response(nullptr, code::kInvalidRequest, "id must be a string, number or null");
    id = *it;
  }
  auto method_it = req.find("method");
  if (method_it == req.end() || !method_it->is_string())
    return error_response(id, code::kInvalidRequest, "method must be a string");
  if (req.contains("jsonrpc") && req["jsonrpc"] != "2.0")
    return error_response(id, code::kInvalidRequest, "jsonrpc must be \"2.0\"");
  auto params_it = req.find("params");
  const Json& params = params_it != req.end() ? *params_it : kNoParams;
  if (!params.is_array() && !params.is_object())
    return error_response(id, code::kInvalidRequest, "params must be an array or an object");
  const auto& name = method_it->get_ref<const std::string&>();
  auto it = methods_.find(name);
  if (it == methods_.end()) return error_response(id, code::kMethodNotFound, "unknown method '" + quoted_name(name) + "'");
  try {
    Json result = it->second(params);
    return Json{{"jsonrpc", "2.0"}, {"result", std::move(result)}, {"id", id}};
  } catch (const RpcError& e) {
    return error_response(id, e.code, e.message, e.data);
  } catch (const Json::exception& e) {
    return error_response(id, code::kInvalidParams, std::string("invalid params: ") + e.what());
  } catch (const std::exception& e) {
    return error_response(id, code::kInternal, std::string("internal error: ") + e.what());
  }
}

std::string Dispatcher::handle(std::string_view body) const {
  // The budget is checked on the text, before nlohmann's recursive parser sees it (a body nested
  // 200,000 deep overflowed the HTTP thread's stack) and before any tree is built (an 8 MiB
  // `[{},{},...]` is ~4 million values, hundreds of MB as a tree).
  JsonShape shape = scan_json(body, limits_.max_depth);
  if (shape.too_deep)
    return error_response(nullptr, code::kParseError,
                          "JSON nested deeper than " + std::to_string(limits_.max_depth) + " levels").dump();
  if (shape.top_is_array && shape.top_items > limits_.max_batch)
    return error_response(nullptr, code::kInvalidRequest, "batch larger than " + std::to_string(limits_.max_batch)).dump();
  if (shape.values > limits_.max_values)
    return error_response(nullptr, code::kParseError,
                          "JSON with more than " + std::to_string(limits_.max_values) + " values").dump();
  Json req = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (req.is_discarded()) return error_response(nullptr, code::kParseError, "parse error: body is not JSON").dump();
  if (!req.is_array()) return call(req).dump();
  if (req.empty()) return error_response(nullptr, code::kInvalidRequest, "empty batch").dump();
  if (req.size() > limits_.max_batch)  // the scan counted the same items; kept for the invariant
    return error_response(nullptr, code::kInvalidRequest, "batch larger than " + std::to_string(limits_.max_batch)).dump();
  // Each answer is serialized as soon as it is made, so at most one result tree is alive; once
  // the text passes the budget, later calls are not run (a client can tell they did nothing).
  std::string out = "[";
  for (size_t i = 0; i < req.size(); ++i) {
    if (i) out += ',';
    if (out.size() > limits_.max_response_bytes) {
      out += error_response(id_of(req[i]), code::kResponseTooLarge,
                            "not run: this request's response reached " + std::to_string(limits_.max_response_bytes) +
                                " bytes; send the call again in a smaller batch")
                 .dump();
      continue;
    }
    out += call(req[i]).dump();
    req[i] = nullptr;  // its params may be large; they are no longer needed
  }
  out += ']';
  return out;
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
