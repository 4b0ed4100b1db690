// rpc/web_assets.h — the web view's static files (web/: index.html, app.js, style.css), built
// into the node binary at build time (cmake/EmbedWebAssets.cmake) and served by route() at GET /
// with their content type, a Content-Security-Policy that allows nothing but this node and the
// nodes it shows (no remote scripts, styles, fonts or images), and revalidated caching (ETag).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace peerchain::rpc {

namespace web_data {
struct EmbeddedFile {
  const char* path;           // "/index.html"
  const unsigned char* data;  // the file's bytes
  size_t size;
};
extern const EmbeddedFile kFiles[];  // generated; ends with {nullptr, nullptr, 0}
extern const size_t kFileCount;
}  // namespace web_data

struct WebAsset {
  std::string_view body;
  std::string_view content_type;
  std::string etag;  // quoted, strong: changes whenever the file does
};

// The asset at `path` ("/" means "/index.html"); nullopt for any other path (caller: 404).
std::optional<WebAsset> find_web_asset(std::string_view path);

// The Content-Security-Policy sent with every asset: scripts, styles and images from this node
// only; fetch/WebSocket to http(s)/ws(s) nodes (the network view reads other nodes' APIs).
inline constexpr std::string_view kWebCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' http: https: ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

}  // namespace peerchain::rpc
