// SPDX-License-Identifier: Apache-2.0
// The node's request handling and its sessions.
#include "node_service.hpp"
#include "ops/keys.hpp"
#include "ops/peers.hpp"
#include "ops/quorum.hpp"
#include "ops/sessions.hpp"
#include "ops/transactions.hpp"
#include "ops/users.hpp"

#include "changes/planned_change.hpp"
#include "hsmsh/duration.hpp"
#include "hsmsh/kdf.hpp"
#include "hsmsh/log.hpp"
#include "hsmsh/protocol/policy.hpp"
#include "request_fields.hpp"

#include <algorithm>

namespace hsm {
namespace {} // namespace

node_service::node_service(node_store& store, node_identity identity, cluster_keys keys,
                           std::uint32_t kdf_iterations, asio::any_io_executor kdf_executor,
                           derivation_budget::limits budget)
    : n_(store, std::move(identity), std::move(keys), kdf_iterations, std::move(kdf_executor),
         budget) {
    if (!n_.identity.trust_anchor.empty()) trust_anchor_ = cert_from_pem(n_.identity.trust_anchor);
    check_operations();
}

void node_service::authenticate(session& s, std::string fingerprint,
                                std::string node_hsm_id) const {
    s.peer_node = !node_hsm_id.empty() || (fingerprint == n_.identity.certificate_fingerprint &&
                                           !n_.identity.node_certificates_only);
    s.node_hsm_id = std::move(node_hsm_id);
    s.peer = std::move(fingerprint);
}

std::string node_service::node_named_by(X509* cert) const {
    if (!cert || !trust_anchor_ || !issued_by(cert, trust_anchor_.get())) return {};
    if (common_name(cert) != n_.identity.cluster_id) return {};
    if (!names_server_use(cert) || !names_client_use(cert)) return {};
    return subject_serial_number(cert);
}

cluster_state node_service::state() const {
    return n_.store.meta().state();
}

void node_service::end_session(session& s) noexcept {
    end_login(n_, s);
}

status node_service::finish_tx(session& s, const std::string& txid, bool commit,
                               std::optional<std::int64_t> holders, bool decided) {
    return finish_change(n_, s, txid, commit, holders, decided);
}

awaitable<status> node_service::commit_from_client(session& s, const std::string& txid,
                                                   bool commit) {
    return commit_asked(n_, s, txid, commit);
}

std::string node_service::tx_outcome(const std::string& txid) const {
    return outcome_of(n_, txid);
}

std::optional<change_probe> node_service::probe_of(const std::string& txid) const {
    auto row = n_.store.changes().find(txid);
    auto change = row ? read_stored_change(row->change) : std::nullopt;
    const auto* k = change ? std::get_if<key_change>(&*change) : nullptr;
    if (!k) return std::nullopt;
    return change_probe{txid, change_identity(n_, *k), k->handles};
}

void node_service::audit_violation(const std::string& peer, std::string_view reason) noexcept {
    try {
        audit_entry e{"-", "-", peer, "protocol_violation", std::string(reason), "disconnected"};
        n_.store.transact([&] { n_.store.audit().append(n_.identity.hsm_id, e); });
    } catch (const std::exception& ex) {
        log_error("audit write failed: {}", escape_control(ex.what()));
    }
}

awaitable<reply> node_service::handle(session& s, request& r) {
    try {
        co_return co_await dispatch(s, r);
    } catch (const store_error& e) {
        log_error("store failure on {}: {}", operation_name(r.op), escape_control(e.what()));
        co_return reply{r.id, status::storage_failure, json::object()};
    } catch (const std::exception& e) {
        log_error("internal error on {}: {}", operation_name(r.op), escape_control(e.what()));
        co_return reply{r.id, status::internal_error, json::object()};
    }
}

// g++ 12 may warn that the coroutine frame's operator delete mismatches its
// operator new (-Wmismatched-new-delete), depending on what it inlines; both
// are Asio's awaitable_frame_base pair (as in peer_call.cpp).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
awaitable<reply> node_service::dispatch(session& s, request& r) {
    reply out{r.id, status::ok, json::object()};
    if (r.version != protocol_version) {
        out.code = status::unsupported_version;
        co_return out;
    }
    // Named, not a temporary in the co_await expressions below: see client.cpp.
    secret given = take_password(r.fields).value_or(secret{});
    current(n_, s); // a session whose record changed acts for nobody from here on
    const auto& entry = operations_[static_cast<std::size_t>(r.op)];
    node_call call{s, r.op, r.fields, given, out.fields};
    bool known = s.user_id.has_value() || s.peer_node; // logged in, or another node
    out.code = admit(entry, s);
    bool let_in = out.code == status::ok;
    if (let_in) out.code = entry.run ? entry.run(n_, call) : co_await entry.run_async(n_, call);
    audit_by_rule(entry, s, r.fields, known, let_in, out.code);
    wipe_data(r.fields); // a plaintext, or an imported key's material
    // An officer refused a deletion learns how many keys stand in the way.
    if (out.code == status::user_owns_keys)
        if (auto name = decoded<user_named>(r.fields).name; name && valid_user_name(*name))
            if (auto u = n_.store.users().find(canonical_user_name(*name)))
                out.fields = {{"keys", n_.store.keys().count_owned(u->id)}};
    co_return out;
}
#pragma GCC diagnostic pop

void node_service::set_key_work_threads(std::size_t threads) {
    threads = std::max<std::size_t>(threads, 2);
    n_.key_uses = derivation_budget({.total = threads, .per_peer = threads - 1, .max_waiting = 64});
}

void node_service::advertise(const std::string& self) {
    n_.peers.set_self(self, unix_ms());
}

void node_service::learn_peers(const json& announcement, const std::string& speaker) {
    learn_from(n_, announcement, speaker);
}

} // namespace hsm
