// SPDX-License-Identifier: Apache-2.0
// User changes on a node: validated into a planned_change, then applied at
// once or prepared for a cluster-wide commit (design §7).
#include "hsmsh/log.hpp"
#include "node_service.hpp"
#include "policy.hpp"
#include "request_fields.hpp"

#include <chrono>

namespace hsm {
namespace {

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

bool valid_txid(const std::string& txid) {
    return txid.size() == 32 && txid.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::optional<operation> change_operation(const std::string& name) {
    auto op = operation_from_name(name);
    if (op == operation::create_user || op == operation::delete_user ||
        op == operation::change_password)
        return op;
    return std::nullopt;
}

audit_entry entry_for(const session& s, std::string_view what, std::string_view target,
                      status result) {
    return {s.user_id ? s.user_name : "-",
            s.user_id ? std::string(user_type_name(s.type)) : "-",
            s.peer,
            std::string(what),
            std::string(target),
            std::string(status_name(result))};
}

} // namespace

awaitable<std::pair<status, planned_change>>
node_service::plan(session& s, operation op, const json& f, const secret& password) {
    planned_change c;
    auto target = parse_target(f, op == operation::create_user ? status::invalid_user_name
                                                               : status::user_not_found);
    c.name = target.name;
    c.type = target.type;
    bool needs_hash = op != operation::delete_user;
    auto check = [&]() -> status {
        if (!s.user_id) return status::not_logged_in;
        if (target.error != status::ok) return target.error;
        auto user = store_.find(target.name);
        bool self = user && user->id == *s.user_id;
        if (auto a = authorize(s.actor(), op, self); a != status::ok) return a;
        if (op != operation::change_password && state() != "ACTIVE")
            return status::cluster_not_active;
        if (needs_hash && !valid_password(password.view())) return status::password_policy;
        if (store_.reserved(target.name)) return status::conflict;
        if (op == operation::create_user) {
            if (target.type == user_type::preco) return status::invalid_user_type;
            if (user) return status::user_exists;
            if (store_.count_users() >= max_users_per_node) return status::quota_exceeded;
            c.what = planned_change::kind::create_user;
            return status::ok;
        }
        if (!user) return status::user_not_found;
        if (!same_type(user->type, target.type)) return status::invalid_user_type;
        if (op == operation::delete_user) {
            if (sessions_of(user->id) > 0) return status::user_logged_in;
            if (store_.owns_keys(user->id)) return status::user_owns_keys;
            if (is_officer(user->type) && store_.count_officers() <= 1) return status::last_co;
            c.what = planned_change::kind::delete_user;
            return status::ok;
        }
        if (!self && sessions_of(user->id) > 0) return status::user_logged_in;
        // Changing the PRECO password activates the cluster: PRECO becomes CO.
        c.activation = user->type == user_type::preco;
        c.type = c.activation ? user_type::co : user->type;
        c.what = planned_change::kind::change_password;
        return status::ok;
    };
    auto verdict = check();
    if (verdict == status::ok && needs_hash) {
        // A cluster-wide change brings its salt, so that every node stores the
        // same credentials and their record digests agree.
        auto salt = from_hex(string_field(f, "salt").value_or(""));
        if (salt && salt->size() != salt_size) salt.reset();
        c.hash = co_await off_thread([&] {
            if (!salt || salt->empty()) return hash_password(password.view(), kdf_iterations_);
            auto key = pbkdf2_sha256(password.view(), *salt, kdf_iterations_, derived_key_size);
            return password_hash{*salt, std::move(key), kdf_iterations_};
        });
        verdict = check(); // the store may have changed while we derived
    }
    co_return std::pair{verdict, std::move(c)};
}

std::pair<status, planned_change> node_service::plan_sync(session& s, const json& f) {
    auto record = f.find("record");
    if (record == f.end() || !record->is_object()) return {status::bad_request, {}};
    auto c = planned_change::from_json(*record);
    if (!c || c->what != planned_change::kind::sync_user || !c->hash)
        return {status::bad_request, {}};
    if (auto a = authorize(s.actor(), operation::create_user, false); a != status::ok)
        return {a, {}};
    if (store_.reserved(c->name)) return {status::conflict, {}};
    auto existing = store_.find(c->name);
    if (!existing) {
        if (store_.count_users() >= max_users_per_node) return {status::quota_exceeded, {}};
        return {status::ok, *c};
    }
    bool forced = f.value("force", false);
    if (existing->version > c->version && !forced) return {status::version_newer, {}};
    bool same =
        record_digest(existing->name, existing->type, existing->version, existing->locked(),
                      existing->hash) ==
        record_digest(c->name, c->type, c->version, c->failures >= max_login_failures, *c->hash);
    if (same) c->what = planned_change::kind::nothing; // running it twice changes nothing
    return {status::ok, *c};
}

void node_service::apply(const planned_change& c) {
    using enum planned_change::kind;
    auto user = store_.find(c.name);
    switch (c.what) {
    case create_user:
        store_.insert_user(c.name, c.type, *c.hash);
        break;
    case delete_user:
        if (user) store_.delete_user(user->id);
        break;
    case change_password:
        if (user) store_.set_password(user->id, c.type, *c.hash);
        if (c.activation) store_.set_meta("state", "ACTIVE");
        break;
    case sync_user:
        store_.put_user(c.name, c.type, *c.hash, c.version, c.failures);
        break;
    case nothing:
        break;
    }
}

awaitable<status> node_service::direct(session& s, operation op, const json& f, secret password) {
    auto planned = co_await plan(s, op, f, password);
    // Named, not a structured binding: clang 14 cannot capture one in a lambda.
    auto& verdict = planned.first;
    auto& change = planned.second;
    auto target = change.name.empty() ? string_field(f, "name").value_or("") : change.name;
    store_.transact([&] {
        if (verdict == status::ok) apply(change);
        store_.append_audit(identity_.hsm_id, entry_for(s, operation_name(op), target, verdict));
    });
    if (verdict == status::ok && change.activation && s.user_name == change.name)
        s.type = user_type::co;
    co_return verdict;
}

awaitable<status> node_service::prepare(session& s, const json& f, secret password) {
    auto txid = string_field(f, "txid").value_or("");
    auto op_name = string_field(f, "change").value_or("");
    if (!valid_txid(txid)) co_return status::bad_request;
    std::pair<status, planned_change> planned;
    if (op_name == "sync_user") {
        planned = plan_sync(s, f);
    } else {
        auto op = change_operation(op_name);
        if (!op) co_return status::bad_request;
        planned = co_await plan(s, *op, f, password);
    }
    auto& verdict = planned.first;
    auto& change = planned.second;
    // No co_await from here on: the check and the reservation are one step.
    if (verdict == status::ok &&
        (store_.reserved(change.name) || store_.prepared(txid) || store_.outcome(txid)))
        verdict = status::conflict;
    store_.transact([&] {
        if (verdict == status::ok)
            store_.insert_prepared(
                {txid, change.name, change.to_json().dump(), now_ms() + prepare_timeout_.count()});
        store_.append_audit(
            identity_.hsm_id,
            entry_for(s, "prepare " + op_name,
                      change.name.empty() ? string_field(f, "name").value_or("") : change.name,
                      verdict));
    });
    co_return verdict;
}

status node_service::finish_tx(session& s, const std::string& txid, bool commit) {
    auto row = store_.prepared(txid);
    if (!row) {
        auto outcome = store_.outcome(txid);
        if (commit)
            return outcome == "committed" ? status::ok
                   : outcome == "aborted" ? status::tx_aborted
                                          : status::tx_unknown;
        if (outcome == "committed") return status::tx_committed;
        // Remember the abort, so that a commit arriving late is refused.
        if (valid_txid(txid) && !outcome)
            store_.transact([&] { store_.record_outcome(txid, "aborted"); });
        return status::ok;
    }
    auto change = planned_change::from_json(json::parse(row->change, nullptr, false));
    store_.transact([&] {
        if (commit && change) apply(*change);
        store_.delete_prepared(txid);
        store_.record_outcome(txid, commit ? "committed" : "aborted");
        store_.append_audit(identity_.hsm_id, entry_for(s, commit ? "commit" : "abort",
                                                        row->user_name + " " + txid, status::ok));
    });
    if (commit && change && change->activation && s.user_name == change->name)
        s.type = user_type::co;
    return status::ok;
}

std::string node_service::tx_outcome(const std::string& txid) const {
    if (store_.prepared(txid)) return "prepared";
    return store_.outcome(txid).value_or("unknown");
}

status node_service::get_user(session& s, const json& f, json& out) {
    if (auto a = authorize(s.actor(), operation::create_user, false); a != status::ok) return a;
    auto name = string_field(f, "name");
    if (!name || !valid_user_name(*name)) return status::user_not_found;
    auto user = store_.find(canonical_user_name(*name));
    if (!user) return status::user_not_found;
    planned_change record;
    record.what = planned_change::kind::sync_user;
    record.name = user->name;
    record.type = user->type;
    record.hash = user->hash;
    record.version = user->version;
    record.failures = user->failures;
    out = {{"record", record.to_json()},
           {"digest",
            record_digest(user->name, user->type, user->version, user->locked(), user->hash)}};
    return status::ok;
}

} // namespace hsm
