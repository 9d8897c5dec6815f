// SPDX-License-Identifier: Apache-2.0
// What talking to a node gives, without the network: failures and the hello.
// Headers that only carry results include this, not client.hpp (and Asio).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace hsm {

/// Why talking to a node failed.
enum class client_failure {
    connect,          // resolve or TCP connect failed
    timeout,          // a deadline passed
    untrusted_server, // the node's certificate does not chain to our anchor
    wrong_cluster,    // the certificate names another cluster
    client_refused,   // the node refused our client certificate
    closed,           // the connection broke
    protocol,         // the node sent something that is not a valid reply
};

std::string_view client_failure_name(client_failure f) noexcept;

struct client_error : std::runtime_error {
    client_error(client_failure kind, const std::string& what)
        : std::runtime_error(what), kind(kind) {}
    client_failure kind;
};

/// What a node says of itself when a connection opens.
struct node_hello {
    std::uint32_t version = 0;
    std::string cluster_id;
    std::string hsm_id;
    std::string state;
    std::string certificate_pem; // the node's certificate, as the handshake verified it
    std::string fingerprint;     // its SHA-256 fingerprint ("SHA256:AB:...")
};

} // namespace hsm
