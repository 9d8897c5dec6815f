// SPDX-License-Identifier: Apache-2.0
// Generate on one node, insert everywhere: choosing the node that makes a
// key, asking it, and reading the keys it sealed for the cluster. The shell
// and the PKCS#11 module share it; each inserts the keys its own way.
#pragma once

#include "hsmsh/outcome.hpp"
#include "hsmsh/protocol/payloads.hpp"

#include <functional>
#include <variant>
#include <vector>

namespace hsm {

class cluster_link;

/// The keys a node made, sealed for the cluster: a key, or a pair's halves.
/// Nothing is inserted yet.
struct made_keys {
    server_report maker; // the node that made them, and its reply
    std::vector<sealed_key> keys;
};

/// Why no key was made; nothing was changed anywhere.
struct key_generation_failure {
    enum class kind {
        no_server,  // none of the candidates is connected
        refused,    // the maker refused: maker.outcome.code
        unanswered, // the maker did not answer (maker.outcome says how)
        unreadable, // the maker's reply holds no readable sealed keys
    };
    kind what = kind::no_server;
    server_report maker; // empty for no_server
};

using key_generation = std::variant<made_keys, key_generation_failure>;

/// Sends a generate_key request to one server, as its client sends
/// requests (the shell's fan-out, the module's link under its lock).
using maker_call = std::function<server_report(std::size_t server, const json& request)>;

/// Whether to ask the next candidate after `failed` (a refusal or a silence).
using maker_fail_over = std::function<bool(const server_report& failed)>;

/// Asks the first connected server of `candidates`, in their order, to make
/// the key `request` describes (generate_key's fields), and reads the sealed
/// keys of its reply. When `fail_over` says so of a failure, the next
/// connected candidate is asked, and the last failure is the result. Throws
/// only what `call` throws; inserting the keys is the caller's.
key_generation generate_on_one(const cluster_link& link, const std::vector<std::size_t>& candidates,
                               const json& request, const maker_call& call,
                               const maker_fail_over& fail_over = {});

/// What a maker's reply gave: its keys, or why there are none.
key_generation made_keys_from(server_report maker);

} // namespace hsm
