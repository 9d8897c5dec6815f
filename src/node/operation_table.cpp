// SPDX-License-Identifier: Apache-2.0
// The node's operation table, and how dispatch admits and audits by it.
#include "hsmsh/protocol/policy.hpp"
#include "node_service.hpp"
#include "ops/key_transport.hpp"
#include "ops/keys.hpp"
#include "ops/peers.hpp"
#include "ops/quorum.hpp"
#include "ops/session_keys.hpp"
#include "ops/sessions.hpp"
#include "ops/transactions.hpp"
#include "ops/users.hpp"
#include "request_fields.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace hsm {
namespace {

using enum access;
using enum audit_rule;
constexpr bool needs_login = true;
constexpr bool no_login = false;

// Every handler has one of two forms, over its operation's typed request:
//   status h(node_context&, session&, const R&, json& out)
//   awaitable<status> h(node_context&, session&, R, json& out)
template <typename R> R request_of(status (*)(node_context&, session&, const R&, json&));
template <typename R> R request_of(awaitable<status> (*)(node_context&, session&, R, json&));

template <auto handler> using request_type = decltype(request_of(handler));

template <auto handler> status run_sync(node_context& n, node_call& c) {
    return handler(n, c.s, decode_request<request_type<handler>>(c.op, c.fields, c.password),
                   c.out);
}

// g++ 12 may warn that the coroutine frame's operator delete mismatches its
// operator new (-Wmismatched-new-delete), depending on what it inlines; both
// are Asio's awaitable_frame_base pair (as in node_service.cpp).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
template <auto handler> awaitable<status> run_async(node_context& n, node_call& c) {
    co_return co_await handler(
        n, c.s, decode_request<request_type<handler>>(c.op, c.fields, c.password), c.out);
}
#pragma GCC diagnostic pop

// A row: the handler's request is decoded from the fields, then it runs.
template <auto handler>
constexpr operation_entry row(operation op, access who, bool login, audit_rule audited,
                              audit_target target) {
    using result = decltype(handler(std::declval<node_context&>(), std::declval<session&>(),
                                    std::declval<request_type<handler>>(), std::declval<json&>()));
    if constexpr (std::is_same_v<result, status>)
        return {op, who, login, audited, target, run_sync<handler>, nullptr};
    else
        return {op, who, login, audited, target, nullptr, run_async<handler>};
}

// Audit targets, read from the request's fields.
std::optional<std::string> no_target(const json&) {
    return "-";
}

std::optional<std::string> key_handle(const json& f) {
    return std::to_string(decoded<key_handle_request>(f).handle.value_or(0));
}

std::optional<std::string> spec_asked(const json& f) {
    return decoded<generate_key_request>(f).spec_name.value_or("-");
}

std::optional<std::string> class_imported(const json& f) {
    auto r = decoded<import_key_request>(f);
    if (!r.cls || !r.type) return "-";
    return fmt::format("{}:{}", key_class_name(*r.cls), key_type_name(*r.type));
}

std::optional<std::string> user_id(const json& f) {
    return std::to_string(decoded<find_keys_request>(f).user.value_or(0));
}

// No row for a name that is none (the handler refuses it unread).
std::optional<std::string> user_name(const json& f) {
    auto name = decoded<user_named>(f).name;
    if (!name || !valid_user_name(*name)) return std::nullopt;
    return canonical_user_name(*name);
}

// No row for a service that is none (the handler refuses it unread).
std::optional<std::string> quorum_service(const json& f) {
    auto svc = decoded<service_request>(f).svc;
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
    row<hello>(operation::hello, anyone, no_login, none, nullptr),
    row<login>(operation::login, anyone, no_login, in_handler, nullptr),
    row<logout>(operation::logout, policy, needs_login, in_handler, nullptr),
    row<list_users>(operation::list_users, anyone, no_login, none, nullptr),
    row<change_user>(operation::create_user, planned, needs_login, in_handler, nullptr),
    row<change_user>(operation::delete_user, planned, needs_login, in_handler, nullptr),
    row<change_user>(operation::change_password, planned, needs_login, in_handler, nullptr),
    row<node_info>(operation::hsm_info, anyone, no_login, none, nullptr),
    row<describe_cluster>(operation::describe_cluster, anyone, no_login, none, nullptr),
    row<prepare>(operation::prepare, policy, needs_login, in_handler, nullptr),
    row<finish_from>(operation::commit, preparer, no_login, in_handler, nullptr),
    row<finish_from>(operation::abort, preparer, no_login, in_handler, nullptr),
    row<tx_status>(operation::tx_status, preparer, no_login, none, nullptr),
    row<get_user>(operation::get_user, policy, needs_login, admitted, user_name),
    row<list_prepared>(operation::list_prepared, policy, needs_login, none, nullptr),
    row<announce_peers>(operation::announce_peers, peer_node, no_login, refusals, no_target),
    row<generate_keys>(operation::generate_key, policy, needs_login, always, spec_asked),
    row<find_keys>(operation::find_keys, policy, needs_login, always, user_id),
    row<get_key>(operation::get_key, key_rules, needs_login, none, nullptr),
    row<use_key>(operation::sign, key_rules, needs_login, refusals, key_handle),
    row<use_key>(operation::verify, key_rules, needs_login, refusals, key_handle),
    row<use_key>(operation::encrypt, key_rules, needs_login, refusals, key_handle),
    row<use_key>(operation::decrypt, key_rules, needs_login, refusals, key_handle),
    row<random>(operation::random, policy, needs_login, none, nullptr),
    row<get_sealed_key>(operation::get_sealed_key, key_rules, needs_login, always, key_handle),
    row<list_keys>(operation::list_keys, policy, needs_login, none, nullptr),
    row<change_user>(operation::register_quorum_key, planned, needs_login, in_handler, nullptr),
    row<get_m_value>(operation::get_m_value, policy, needs_login, none, nullptr),
    row<change_m_value>(operation::set_m_value, planned, needs_login, in_handler, nullptr),
    row<get_token>(operation::get_token, policy, needs_login, admitted, quorum_service),
    row<approve_token>(operation::approve_token, policy, needs_login, in_handler, nullptr),
    row<list_tokens>(operation::list_tokens, policy, needs_login, none, nullptr),
    row<delete_token>(operation::delete_token, policy, needs_login, always, no_target),
    row<login_2fa>(operation::login_2fa, anyone, no_login, in_handler, nullptr),
    row<get_2fa_challenge>(operation::get_2fa_challenge, policy, needs_login, none, nullptr),
    row<change_user>(operation::set_key_quota, planned, needs_login, in_handler, nullptr),
    row<destroy_session_key>(operation::destroy_session_key, policy, needs_login, none, nullptr),
    row<import_keys>(operation::import_key, policy, needs_login, always, class_imported),
    row<wrap_key>(operation::wrap_key, policy, needs_login, always, key_handle),
    row<unwrap_key>(operation::unwrap_key, policy, needs_login, always, key_handle),
    row<derive_key>(operation::derive_key, policy, needs_login, always, key_handle),
}};

bool node_service::side_by_side(operation op) noexcept {
    auto i = static_cast<std::size_t>(op);
    return i < operation_count && operations_[i].run_async == run_async<use_key>;
}

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
    if (auto target = e.target(f)) audit(n_, s, operation_name(e.op), *target, result);
}

} // namespace hsm
