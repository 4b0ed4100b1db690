// rpc/web_assets.cpp — lookup of the embedded web view files (see web_assets.h).
#include "rpc/web_assets.h"

#include <cstdio>

namespace peerchain::rpc {

namespace {

std::string_view content_type_of(std::string_view path) {
  auto ends = [&](std::string_view ext) { return path.size() >= ext.size() && path.substr(path.size() - ext.size()) == ext; };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js") || ends(".mjs")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  if (ends(".ico")) return "image/x-icon";
  if (ends(".json")) return "application/json";
  return "application/octet-stream";
}

// FNV-1a, 64 bits: enough to tell versions of a file apart for caching.
std::string etag_of(std::string_view body) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : body) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[24];
  std::snprintf(buf, sizeof buf, "\"%016llx\"", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace

std::optional<WebAsset> find_web_asset(std::string_view path) {
  if (path == "/") path = "/index.html";
  for (size_t i = 0; i < web_data::kFileCount; ++i) {
    const auto& f = web_data::kFiles[i];
    if (path != f.path) continue;
    std::string_view body(reinterpret_cast<const char*>(f.data), f.size);
    return WebAsset{body, content_type_of(path), etag_of(body)};
  }
  return std::nullopt;
}

}  // namespace peerchain::rpc
