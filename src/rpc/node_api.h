// rpc/node_api.h — the client API of a node: JSON-RPC methods (bitcoin-cli style names) and the
// REST reads, over rpc::HttpServer. docs/api.md lists every method with an example.
#pragma once

#include "node/node.h"
#include "rpc/http_server.h"
#include "rpc/json_rpc.h"

namespace peerchain::rpc {

// Registers every method on `d`; `node` must outlive it.
void register_node_methods(Dispatcher& d, node::Node& node);

// Routes an HTTP request: POST / is JSON-RPC; GET /status, /health, /blocks/{height|id},
// /tx/{id}, /accounts/{address} are REST reads.
HttpResponse route(const HttpRequest& req, const Dispatcher& d, node::Node& node);

}  // namespace peerchain::rpc
