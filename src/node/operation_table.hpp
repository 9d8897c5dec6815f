// SPDX-License-Identifier: Apache-2.0
// The node's operation table: for each operation, who may run it, whether
// it needs a login, how it is audited, and its handler (operation_table.cpp).
#pragma once

#include "hsmsh/asio.hpp"
#include "hsmsh/protocol/status.hpp"
#include "hsmsh/protocol/wire.hpp"
#include "hsmsh/secret.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace hsm {

struct node_context;
struct session;

/// How many operations the protocol has (the table has one row for each;
/// node_service checks at construction that no operation lies beyond it).
inline constexpr std::size_t operation_count = operation_names.size();

/// One request as the table hands it on: who asks, the operation, its
/// fields (its password already taken out of them), the password, and the
/// reply's fields to fill. A row's handler sees its typed request only
/// (requests.hpp), decoded from these by the row (operation_table.cpp).
struct node_call {
    session& s;
    operation op;
    const json& fields;
    secret& password;
    json& out;
};

/// Who may run an operation, and where that is decided.
enum class access {
    anyone,    // logged in or not
    policy,    // authorize(actor, op) before the handler: CMU's matrix (policy.cpp)
    planned,   // the change's plan authorizes, with its target read (on_self) and
               // again at commit; its refusal is audited with the change
    key_rules, // the key's rules (keys.hpp), in the handler: they need the key
    preparer,  // the user who prepared the change, an officer, or a peer node
    peer_node, // another node of the cluster, never a user
};

/// Which requests of an operation leave an audit row. Only a logged-in
/// user's or another node's: before login, a client's only rows are its
/// logins' (login and login_2fa write them, in_handler).
enum class audit_rule {
    none,       // none: reads and answers nobody need account for
    in_handler, // the handler's own rows, written in the transaction of what it
                // changes (logins, changes, commits) or for the refusals it names
    admitted,   // one for every request the gate let in, when its target reads
    always,     // one for every request, refused at the gate or not
    refusals,   // one for every refusal (someone probing handles or attributes);
                // a success, or a negative answer (a signature or ciphertext
                // that does not verify), leaves none: an application signs
                // thousands of times
};

/// An audit row's target, read from the request; nullopt: no row.
using audit_target = std::optional<std::string> (*)(const json& fields);

using sync_handler = status (*)(node_context&, node_call&);
using async_handler = awaitable<status> (*)(node_context&, node_call&);

/// One row of the table. Exactly one of `run` and `run_async` is set.
struct operation_entry {
    operation op;
    access who;
    // Refused with not_logged_in before anything else: before login a client
    // costs no check and, but for `always` and `refusals` rows, writes nothing
    // durable (docs/design.md, "Clients not logged in").
    bool needs_login;
    audit_rule audited;
    audit_target target;
    sync_handler run;
    async_handler run_async;
};

} // namespace hsm
