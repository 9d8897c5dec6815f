// SPDX-License-Identifier: Apache-2.0
// Client certificates a node accepts beyond its trust anchor: pinned
// certificates and at most two extra client CAs, as CloudHSM's mTLS allows.
#pragma once

#include "store/node_store.hpp"

#include <string>
#include <vector>

namespace hsm {

inline constexpr std::size_t max_client_anchors = 2;

struct client_credential {
    std::string fingerprint;
    std::string kind; // "pin" or "anchor"
    std::string subject;
    std::string pem;
};

/// Registers a certificate (PEM, one certificate) as pinned, or as a client
/// CA when `as_anchor` (which must be self-signed CA). Throws lifecycle_error.
client_credential register_client_credential(node_store& store, const std::string& pem,
                                             bool as_anchor);

std::vector<client_credential> list_client_credentials(node_store& store);

/// Removes by fingerprint; false when there was none.
bool remove_client_credential(node_store& store, const std::string& fingerprint);

} // namespace hsm
