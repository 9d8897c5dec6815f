// SPDX-License-Identifier: Apache-2.0
// The node's operation table, and how dispatch admits and audits by it.
#include "hsmsh/policy.hpp"
#include "node_service.hpp"
#include "ops/keys.hpp"
#include "ops/peers.hpp"
#include "ops/quorum.hpp"
#include "ops/sessions.hpp"
#include "ops/transactions.hpp"
#include "ops/users.hpp"
#include "request_fields.hpp"

#include <stdexcept>

namespace hsm {
namespace {

using enum access;
using enum audit_rule;
constexpr bool needs_login = true;
constexpr bool no_login = false;

constexpr operation_entry row(operation op, std::string_view name, access who, bool login,
                              audit_rule audited, audit_target target, sync_handler run) {
    return {op, name, who, login, audited, target, run, nullptr};
}

constexpr operation_entry row(operation op, std::string_view name, access who, bool login,
                              audit_rule audited, audit_target target, async_handler run) {
    return {op, name, who, login, audited, target, nullptr, run};
}

// Audit targets, read from the request's fields.
std::optional<std::string> no_target(const json&) {
    return "-";
}

std::optional<std::string> key_handle(const json& f) {
    return std::to_string(integer_field(f, "handle").value_or(0));
}

std::optional<std::string> spec_asked(const json& f) {
    return string_field(f, "spec").value_or("-");
}

std::optional<std::string> user_id(const json& f) {
    return std::to_string(integer_field(f, "user").value_or(0));
}

// No row for a name that is none (the handler refuses it unread).
std::optional<std::string> user_name(const json& f) {
    auto name = string_field(f, "name");
    if (!name || !valid_user_name(*name)) return std::nullopt;
    return canonical_user_name(*name);
}

// No row for a service that is none (the handler refuses it unread).
std::optional<std::string> quorum_service(const json& f) {
    auto svc = service_field(f);
    if (!svc) return std::nullopt;
    return std::string(quorum::service_name(*svc));
}

// A refusal, as audit_rule::refusals counts them.
bool refused(status result) {
    return result != status::ok && result != status::signature_invalid &&
           result != status::encrypted_data_invalid;
}

} // namespace

// One row per operation, in the order of the enum. dispatch, for every
// request: the gate (a peer node where `who` says so; a login where
// `needs_login` says so; authorize(actor, op) where `who` is `policy`; the
// other kinds decide in their handler, which knows what they need: a change's
// target, a key, a prepared row), then the handler, then the audit row by
// `audited` with `target` (a row of a refusal at the gate too, for `always`
// and `refusals`). A handler that writes its rows itself (`in_handler`) does
// so in the transaction of what it changes: the row and the change are one step.
const std::array<operation_entry, operation_count> node_service::operations_ = {{
    row(operation::hello, "hello", anyone, no_login, none, nullptr,
        [](node_service& n, node_call& c) {
            c.out = hello(n.n_);
            return status::ok;
        }),
    row(operation::login, "login", anyone, no_login, in_handler, nullptr,
        [](node_service& n, node_call& c) {
            return login(n.n_, c.s, c.fields, std::move(c.password), c.out);
        }),
    row(operation::logout, "logout", policy, needs_login, in_handler, nullptr,
        [](node_service& n, node_call& c) { return logout(n.n_, c.s); }),
    row(operation::list_users, "list_users", anyone, no_login, none, nullptr,
        [](node_service& n, node_call& c) {
            c.out = list_users(n.n_);
            return status::ok;
        }),
    row(operation::create_user, "create_user", planned, needs_login, in_handler, nullptr,
        [](node_service& n, node_call& c) {
            return direct(n.n_, c.s, operation::create_user, c.fields, std::move(c.password));
        }),
    row(operation::delete_user, "delete_user", planned, needs_login, in_handler, nullptr,
        [](node_service& n, node_call& c) {
            return direct(n.n_, c.s, operation::delete_user, c.fields, std::move(c.password));
        }),
    row(operation::change_password, "change_password", planned, needs_login, in_handler, nullptr,
        [](node_service& n, node_call& c) {
            return direct(n.n_, c.s, operation::change_password, c.fields, std::move(c.password));
        }),
    row(operation::hsm_info, "hsm_info", anyone, no_login, none, nullptr,
        [](node_service& n, node_call& c) {
            c.out = node_info(n.n_);
            return status::ok;
        }),
    row(operation::describe_cluster, "describe_cluster", anyone, no_login, none, nullptr,
        [](node_service& n, node_call& c) {
            c.out = describe_cluster(n.n_);
            return status::ok;
        }),
    row(operation::prepare, "prepare", policy, needs_login, in_handler, nullptr,
        [](node_service& n, node_call& c) {
            return prepare(n.n_, c.s, c.fields, std::move(c.password));
        }),
    row(operation::commit, "commit", preparer, no_login, in_handler, nullptr,
        [](node_service& n, node_call& c) { return finish_from(n.n_, c.s, c.fields, true); }),
    row(operation::abort, "abort", preparer, no_login, in_handler, nullptr,
        [](node_service& n, node_call& c) { return finish_from(n.n_, c.s, c.fields, false); }),
    row(operation::tx_status, "tx_status", preparer, no_login, none, nullptr,
        [](node_service& n, node_call& c) { return tx_status(n.n_, c.s, c.fields, c.out); }),
    row(operation::get_user, "get_user", policy, needs_login, admitted, user_name,
        [](node_service& n, node_call& c) { return get_user(n.n_, c.fields, c.out); }),
    row(operation::list_prepared, "list_prepared", policy, needs_login, none, nullptr,
        [](node_service& n, node_call& c) { return list_prepared(n.n_, c.out); }),
    row(operation::announce_peers, "announce_peers", peer_node, no_login, refusals, no_target,
        [](node_service& n, node_call& c) { return announce_peers(n.n_, c.s, c.fields, c.out); }),
    row(operation::generate_key, "generate_key", policy, needs_login, always, spec_asked,
        [](node_service& n, node_call& c) { return generate_key(n.n_, c.s, c.fields, c.out); }),
    row(operation::find_keys, "find_keys", policy, needs_login, always, user_id,
        [](node_service& n, node_call& c) { return find_keys(n.n_, c.fields, c.out); }),
    row(operation::get_key, "get_key", key_rules, needs_login, none, nullptr,
        [](node_service& n, node_call& c) { return get_key(n.n_, c.s, c.fields, c.out); }),
    row(operation::sign, "sign", key_rules, needs_login, refusals, key_handle,
        [](node_service& n, node_call& c) {
            return use_key(n.n_, c.s, operation::sign, c.fields, c.out);
        }),
    row(operation::verify, "verify", key_rules, needs_login, refusals, key_handle,
        [](node_service& n, node_call& c) {
            return use_key(n.n_, c.s, operation::verify, c.fields, c.out);
        }),
    row(operation::encrypt, "encrypt", key_rules, needs_login, refusals, key_handle,
        [](node_service& n, node_call& c) {
            return use_key(n.n_, c.s, operation::encrypt, c.fields, c.out);
        }),
    row(operation::decrypt, "decrypt", key_rules, needs_login, refusals, key_handle,
        [](node_service& n, node_call& c) {
            return use_key(n.n_, c.s, operation::decrypt, c.fields, c.out);
        }),
    row(operation::random, "random", policy, needs_login, none, nullptr,
        [](node_service&, node_call& c) { return random(c.fields, c.out); }),
    row(operation::get_sealed_key, "get_sealed_key", key_rules, needs_login, always, key_handle,
        [](node_service& n, node_call& c) { return get_sealed_key(n.n_, c.s, c.fields, c.out); }),
    row(operation::list_keys, "list_keys", policy, needs_login, none, nullptr,
        [](node_service& n, node_call& c) { return list_keys(n.n_, c.s, c.fields, c.out); }),
    row(operation::register_quorum_key, "register_quorum_key", planned, needs_login, in_handler,
        nullptr,
        [](node_service& n, node_call& c) {
            return direct(n.n_, c.s, operation::register_quorum_key, c.fields, std::move(c.password));
        }),
    row(operation::get_m_value, "get_m_value", policy, needs_login, none, nullptr,
        [](node_service& n, node_call& c) { return get_m_value(n.n_, c.fields, c.out); }),
    row(operation::set_m_value, "set_m_value", planned, needs_login, in_handler, nullptr,
        [](node_service& n, node_call& c) { return direct_m_change(n.n_, c.s, c.fields); }),
    row(operation::get_token, "get_token", policy, needs_login, admitted, quorum_service,
        [](node_service& n, node_call& c) { return get_token(n.n_, c.s, c.fields, c.out); }),
    row(operation::approve_token, "approve_token", policy, needs_login, in_handler, nullptr,
        [](node_service& n, node_call& c) { return approve_token(n.n_, c.s, c.fields, c.out); }),
    row(operation::list_tokens, "list_tokens", policy, needs_login, none, nullptr,
        [](node_service& n, node_call& c) { return list_tokens(n.n_, c.s, c.out); }),
    row(operation::delete_token, "delete_token", policy, needs_login, always, no_target,
        [](node_service& n, node_call& c) { return delete_token(n.n_, c.s, c.fields, c.out); }),
    row(operation::login_2fa, "login_2fa", anyone, no_login, in_handler, nullptr,
        [](node_service& n, node_call& c) { return login_2fa(n.n_, c.s, c.fields); }),
    row(operation::get_2fa_challenge, "get_2fa_challenge", policy, needs_login, none, nullptr,
        [](node_service& n, node_call& c) { return get_2fa_challenge(n.n_, c.s, c.out); }),
    row(operation::set_key_quota, "set_key_quota", planned, needs_login, in_handler, nullptr,
        [](node_service& n, node_call& c) {
            return direct(n.n_, c.s, operation::set_key_quota, c.fields, std::move(c.password));
        }),
}};

void node_service::check_operations() {
    for (std::size_t i = 0; i < operation_count; ++i)
        if (static_cast<std::size_t>(operations_[i].op) != i)
            throw std::logic_error("the operation table is not in the order of the enum");
    // An operation added to the protocol without its row here (and without
    // raising operation_count) would be looked up past the table's end.
    if (operation_name(static_cast<operation>(operation_count)) != "unknown")
        throw std::logic_error("an operation has no row in the operation table");
}

status node_service::admit(const operation_entry& e, const session& s) const {
    if (e.who == peer_node) return s.peer_node ? status::ok : status::permission_denied;
    if (e.needs_login && !s.user_id) return status::not_logged_in;
    return e.who == policy ? authorize(s.actor(), e.op, false) : status::ok;
}

void node_service::audit_by_rule(const operation_entry& e, const session& s, const json& f,
                                 bool known, bool let_in, status result) {
    // Before login a client causes no durable write but its failed logins'
    // (docs/design.md, "Clients not logged in"): its refusals leave no row, or
    // one certified client could fill the disk with them.
    if (!known) return;
    bool due = e.audited == always || (e.audited == refusals && refused(result)) ||
               (e.audited == admitted && let_in);
    if (!due) return;
    if (auto target = e.target(f)) audit(n_, s, e.name, *target, result);
}

} // namespace hsm
