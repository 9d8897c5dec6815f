// SPDX-License-Identifier: Apache-2.0
// User changes on a node: planned for the session's user, checked against
// the rules, then applied at once or prepared for a cluster-wide commit that
// checks the rules again (docs/design.md, "Two-phase changes").
#include "hsmsh/duration.hpp"
#include "hsmsh/log.hpp"
#include "hsmsh/policy.hpp"
#include "hsmsh/quorum.hpp"
#include "node_service.hpp"
#include "quorum_key.hpp"
#include "request_fields.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/ranges.h>

namespace hsm {
namespace {

std::optional<operation> change_operation(const std::string& name) {
    auto op = operation_from_name(name);
    if (op == operation::create_user || op == operation::delete_user ||
        op == operation::change_password || op == operation::register_quorum_key ||
        op == operation::set_key_quota)
        return op;
    return std::nullopt;
}

// The permission a change needs: a sync writes a whole record, as a create does.
operation permission_of(planned_change::kind k) {
    using enum planned_change::kind;
    if (k == delete_user) return operation::delete_user;
    if (k == change_password) return operation::change_password;
    if (k == register_quorum_key) return operation::register_quorum_key;
    if (k == set_key_quota) return operation::set_key_quota;
    return operation::create_user;
}

bool same_credentials(const password_hash& a, const password_hash& b) {
    return a.salt == b.salt && a.key == b.key && a.iterations == b.iterations;
}

// registerQuorumPubKey's proof: the key is an RSA-2048 public key and the
// officer signed the registration token with its private half. The key, once
// proven, goes to `key`.
status registration_proof(const json& f, bytes& key) {
    auto der = from_hex(string_field(f, "quorum_key").value_or(""));
    auto token = from_hex(string_field(f, "token").value_or(""));
    auto signature = from_hex(string_field(f, "signature").value_or(""));
    if (!der || !token || !signature || der->size() > max_quorum_key_size || token->empty() ||
        token->size() > quorum::max_registration_token)
        return status::bad_request;
    // A registration signs its token as a quorum approval signs a token
    // file, and a 2FA answer a digest: a token that reads as a token file,
    // or that starts as a two-factor message does, would make this
    // signature one of those too.
    std::string_view text(reinterpret_cast<const char*>(token->data()), token->size());
    if (quorum::decode_file(*token) || text.starts_with(second_factor_domain))
        return status::bad_request;
    auto officer = quorum_key::from_der(*der);
    if (!officer) return status::quorum_key_invalid;
    if (!officer->approves(*token, *signature)) return status::signature_invalid;
    key = std::move(*der);
    return status::ok;
}

// Turning two-factor login on: the key, and its signature of the enrollment
// challenge `challenge` of this node (`hsm_id`), which the session `s` was
// given. The same fields go to every node: each finds its own signature.
status enrollment_proof(const json& f, const std::optional<two_factor_challenge>& challenge,
                        const session& s, const std::string& hsm_id, bytes& key) {
    auto spec = f.find("two_fa");
    if (spec == f.end() || !spec->is_object()) return status::bad_request;
    auto der = from_hex(string_field(*spec, "key").value_or(""));
    if (!der || der->size() > max_quorum_key_size) return status::bad_request;
    auto signature = two_factor_challenge::signature_for(*spec, hsm_id);
    auto officer = quorum_key::from_der(*der);
    if (!officer) return status::quorum_key_invalid;
    if (!signature || !challenge || !s.user_id ||
        !challenge->answered(two_factor_challenge::purpose::enroll, *s.user_id, s.generation,
                             *officer, *signature))
        return status::two_factor_invalid;
    key = std::move(*der);
    return status::ok;
}

// setKeyQuota's number: a count of keys up to the node's capacity, or null
// for the node's default. False when the field is missing or not that.
bool key_quota_field(const json& f, std::optional<std::int64_t>& quota) {
    auto it = f.find("key_quota");
    if (it == f.end()) return false;
    if (it->is_null()) {
        quota.reset();
        return true;
    }
    if (!it->is_number_integer()) return false;
    auto n = it->get<std::int64_t>();
    if (n < 0 || n > std::int64_t{max_keys_per_node}) return false;
    quota = n;
    return true;
}

} // namespace

// Every rule a change depends on, against the state as it is now: run when
// the change is planned and again when a prepared change commits.
status node_service::rules_hold(const planned_change& c) const {
    using enum planned_change::kind;
    auto actor = store_.find_id(c.actor_id);
    if (!actor || actor->generation != c.actor_generation || actor->type != c.actor_type)
        return status::not_logged_in; // the user who asked is gone or changed
    auto user = store_.find(c.name);
    bool self = user && user->id == c.actor_id;
    if (auto a = authorize(c.actor_type, permission_of(c.what), self); a != status::ok) return a;
    if (c.what == nothing) return status::ok;
    if (auto svc = guarding(c))
        if (auto q = quorum_holds(*svc, c.approvals); q != status::ok) return q;
    if (c.what != change_password && state() != cluster_state::active)
        return status::cluster_not_active;
    if (c.target_id != 0 &&
        (!user || user->id != c.target_id || user->generation != c.target_generation))
        return status::conflict; // not the record the change was planned for
    if (c.two_fa == planned_change::second_factor::on) {
        // Only officers log in with a second factor; its key is theirs alone.
        if (!is_officer(c.type)) return status::invalid_user_type;
        if (!quorum_key::from_der(c.quorum_key)) return status::quorum_key_invalid;
        if (auto free = quorum_key_free(c, c.target_id); free != status::ok) return free;
    }
    switch (c.what) {
    case create_user:
        if (c.type == user_type::preco) return status::invalid_user_type;
        if (user) return status::user_exists;
        if (store_.count_users() + store_.count_reserved_new_users() >= max_users_per_node)
            return status::quota_exceeded;
        return status::ok;
    case delete_user:
        if (!user) return status::user_not_found;
        if (sessions_of(user->id) > 0 && !c.revoke) return status::user_logged_in;
        if (store_.owns_keys(user->id)) return status::user_owns_keys;
        return is_officer(user->type) ? officer_may_leave() : status::ok;
    case change_password:
        if (!user) return status::user_not_found;
        // A crypto or appliance user's password rotates while its
        // applications run: their sessions end with the change (their next
        // call is RET_NOT_LOGGED_IN, and they log in with the new one). An
        // officer's logged-in sessions are ended only with -revoke.
        if (!self && is_officer(user->type) && sessions_of(user->id) > 0 && !c.revoke)
            return status::user_logged_in;
        return status::ok;
    case register_quorum_key:
        if (!user) return status::user_not_found;
        if (!is_officer(user->type)) return status::invalid_user_type;
        if (!quorum_key::from_der(c.quorum_key)) return status::quorum_key_invalid;
        // A 2FA user's key is its login's: only changePswd -2fa changes it.
        if (user->two_fa) return status::two_factor_invalid;
        return quorum_key_free(c, user->id);
    case set_key_quota:
        // Crypto users own keys: a quota on anyone else would mean nothing.
        if (!user) return status::user_not_found;
        if (user->type != user_type::cu) return status::invalid_user_type;
        return status::ok;
    case sync_user:
        return record_rules(c, user ? &*user : nullptr);
    case nothing:
        break;
    }
    return status::ok;
}

// One key, one approver: a key another user holds would let one officer's
// signature count twice. A registration token is any data, so a signed one
// can be replayed by whoever saw it; only this rule stops the replay.
status node_service::quorum_key_free(const planned_change& c, std::int64_t user_id) const {
    auto holder = store_.quorum_key_holder(c.quorum_key);
    return holder && *holder != user_id ? status::quorum_key_in_use : status::ok;
}

// A synced record may change a user only as create, delete and reset could.
status node_service::record_rules(const planned_change& c, const user_record* existing) const {
    if (!c.hash || !c.well_formed()) return status::bad_request;
    if (c.type == user_type::preco) return status::invalid_user_type;
    if (auto free = quorum_key_free(c, existing ? existing->id : 0); free != status::ok)
        return free;
    if (!existing) {
        if (c.target_id != 0) return status::conflict;
        if (store_.count_users() + store_.count_reserved_new_users() >= max_users_per_node)
            return status::quota_exceeded;
        return status::ok;
    }
    if (c.target_id == 0) return status::conflict; // created since it was planned
    bool type_changes = existing->type != c.type;
    bool self = existing->id == c.actor_id;
    // As changePswd: a rotated crypto or appliance user's password is synced
    // while it is logged in (its sessions end); an officer's, or a type, not.
    bool rotation = !type_changes && !is_officer(existing->type);
    if ((type_changes || !same_credentials(existing->hash, *c.hash)) && !self && !rotation &&
        sessions_of(existing->id) > 0)
        return status::user_logged_in;
    if (type_changes) {
        if (is_officer(existing->type) && !is_officer(c.type))
            if (auto leave = officer_may_leave(); leave != status::ok) return leave;
        // Keys are owned by and shared with crypto users only: an officer
        // in a key's shares could use it (the property test's invariant).
        if (!store_.keys_of(existing->id).empty()) return status::user_owns_keys;
    }
    return status::ok;
}

// g++ 12 may warn that the coroutine frame's operator delete mismatches its
// operator new (-Wmismatched-new-delete), depending on what it inlines; both
// are Asio's awaitable_frame_base pair (as in node_service.cpp).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
awaitable<std::pair<status, planned_change>>
node_service::plan(session& s, operation op, const json& f, const secret& password) {
    planned_change c;
    auto target = parse_target(f, op == operation::create_user ? status::invalid_user_name
                                                               : status::user_not_found);
    c.name = target.name;
    c.type = target.type;
    bool needs_hash = op == operation::create_user || op == operation::change_password;
    // Turning 2FA on: the session's enrollment challenge is answered once,
    // and its RSA verification done once, however often `check` runs.
    bool enrolls =
        f.contains("two_fa") && (op == operation::create_user || op == operation::change_password);
    auto challenge = enrolls ? std::exchange(s.challenge, std::nullopt) : std::nullopt;
    std::optional<status> proof;
    // Reads the state anew each time: the store may change while we derive.
    auto check = [&]() -> status {
        if (!current(s)) return status::not_logged_in;
        if (target.error != status::ok) return target.error;
        c.actor_id = *s.user_id;
        c.actor_generation = s.generation;
        c.actor_type = s.type;
        c.approvals = approvals_for(s, quorum::service::user_mgmt);
        auto user = store_.find(target.name);
        bool self = user && user->id == *s.user_id;
        if (auto a = authorize(s.actor(), op, self); a != status::ok) return a;
        // Revocation is an officer's, of another user, by deletion or reset.
        auto revoke = f.find("revoke");
        if (revoke != f.end() && !revoke->is_boolean()) return status::bad_request;
        c.revoke = revoke != f.end() && revoke->get<bool>();
        if (c.revoke && (self || !is_officer(s.type) ||
                         (op != operation::delete_user && op != operation::change_password)))
            return status::bad_request;
        if (op != operation::change_password && state() != cluster_state::active)
            return status::cluster_not_active;
        if (needs_hash && !valid_password(password.view())) return status::password_policy;
        // The proof costs an RSA verification: only once the user may ask.
        if (op == operation::register_quorum_key)
            if (auto proof = registration_proof(f, c.quorum_key); proof != status::ok) return proof;
        if (enrolls) {
            if (!proof) proof = enrollment_proof(f, challenge, s, identity_.hsm_id, c.quorum_key);
            if (*proof != status::ok) return *proof;
            c.two_fa = planned_change::second_factor::on;
        }
        if (store_.reserved(target.name)) return status::conflict;
        if (op == operation::create_user) {
            c.what = planned_change::kind::create_user;
            return rules_hold(c);
        }
        if (!user) return status::user_not_found;
        if (!same_type(user->type, target.type)) return status::invalid_user_type;
        c.target_id = user->id;
        c.target_generation = user->generation;
        if (op == operation::delete_user) {
            c.what = planned_change::kind::delete_user;
            return rules_hold(c);
        }
        if (op == operation::register_quorum_key) {
            c.what = planned_change::kind::register_quorum_key;
            return rules_hold(c);
        }
        if (op == operation::set_key_quota) {
            if (!key_quota_field(f, c.key_quota)) return status::bad_request;
            c.what = planned_change::kind::set_key_quota;
            return rules_hold(c);
        }
        // Changing the PRECO password activates the cluster: PRECO becomes CO.
        c.activation = user->type == user_type::preco;
        c.type = c.activation ? user_type::co : user->type;
        c.what = planned_change::kind::change_password;
        // A new password without -2fa ends a 2FA user's second factor, and
        // its key with it (CloudHSM: one key serves 2FA and quorum).
        if (!enrolls && user->two_fa) {
            c.two_fa = planned_change::second_factor::off;
            c.quorum_key.clear();
        }
        return rules_hold(c);
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
        verdict = check();
    }
    co_return std::pair{verdict, std::move(c)};
}
#pragma GCC diagnostic pop

std::string node_service::record_context(std::string_view name, std::int64_t version) const {
    return fmt::format("hsmsh sealed record v1\x1f{}\x1fuser\x1f{}\x1f{}", identity_.cluster_id,
                       name, version);
}

std::pair<status, planned_change> node_service::plan_sync(session& s, const json& f) {
    if (!current(s)) return {status::not_logged_in, {}};
    if (auto a = authorize(s.actor(), operation::create_user, false); a != status::ok)
        return {a, {}};
    // The record is opened with this cluster's key, bound to the name and
    // version it travels under: nobody outside the nodes can read or make one.
    auto record = f.find("record");
    auto carried = record == f.end() ? std::nullopt : sealed_user_from(*record);
    if (!carried) return {status::bad_request, {}};
    const auto& [name, shown_type, version, sealed_hex] = *carried;
    auto sealed = from_hex(sealed_hex);
    if (!sealed) return {status::bad_request, {}};
    auto plain = unseal(keys_.sealing(), record_context(name, version), *sealed);
    if (!plain) return {status::bad_request, {}};
    auto c = planned_change::from_stored(*plain);
    wipe(*plain);
    if (!c || c->what != planned_change::kind::sync_user || !c->hash || c->name != name ||
        c->version != version)
        return {status::bad_request, {}};
    c->actor_id = *s.user_id;
    c->actor_generation = s.generation;
    c->actor_type = s.type;
    c->approvals = approvals_for(s, quorum::service::user_mgmt);
    if (store_.reserved(c->name)) return {status::conflict, {}};
    auto existing = store_.find(c->name);
    if (existing) {
        c->target_id = existing->id;
        c->target_generation = existing->generation;
        auto force = f.find("force");
        bool forced = force != f.end() && force->is_boolean() && force->get<bool>();
        if (existing->version > c->version && !forced) return {status::version_newer, {}};
        // Running it twice changes nothing.
        if (digest_of(*existing) ==
            record_digest(keys_.digest(), c->name, c->type, c->version,
                          c->failures >= max_login_failures, *c->hash, c->quorum_key,
                          c->two_fa == planned_change::second_factor::on, c->key_quota))
            c->what = planned_change::kind::nothing;
    }
    return {rules_hold(*c), std::move(*c)};
}

void node_service::apply(const planned_change& c) {
    using enum planned_change::kind;
    switch (c.what) {
    case create_user: {
        auto id = store_.insert_user(c.name, c.type, *c.hash);
        if (c.two_fa == planned_change::second_factor::on)
            store_.set_second_factor(id, true, c.quorum_key);
        break;
    }
    case delete_user:
        store_.delete_user(c.target_id);
        break;
    case change_password:
        store_.set_password(c.target_id, c.type, *c.hash);
        if (c.two_fa != planned_change::second_factor::unchanged)
            store_.set_second_factor(c.target_id, c.two_fa == planned_change::second_factor::on,
                                     c.quorum_key);
        if (c.activation) store_.set_state(cluster_state::active);
        break;
    case sync_user:
        store_.put_user(c.name, c.type, *c.hash, c.version, c.failures, c.quorum_key,
                        c.two_fa == planned_change::second_factor::on, c.key_quota);
        break;
    case register_quorum_key:
        store_.set_quorum_key(c.target_id, c.quorum_key);
        break;
    case set_key_quota:
        store_.set_key_quota(c.target_id, c.key_quota);
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
    if (verdict == status::ok) {
        if (auto svc = guarding(change)) spend_token(s, *svc);
        settle_sessions(change.target_id, &s);
    }
    co_return verdict;
}

awaitable<status> node_service::prepare(session& s, const json& f, secret password) {
    auto txid = string_field(f, "txid").value_or("");
    auto op_name = string_field(f, "change").value_or("");
    if (!valid_txid(txid)) co_return status::bad_request;
    if (auto kind = key_change_from_name(op_name)) co_return prepare_key_change(s, *kind, f, txid);
    if (op_name == "set_m_value") co_return prepare_m_change(s, f, txid);
    std::pair<status, planned_change> planned;
    if (op_name == "sync_user") {
        planned = plan_sync(s, f);
    } else {
        auto op = change_operation(op_name);
        if (!op) co_return status::bad_request;
        planned = co_await plan(s, *op, f, password);
    }
    auto& change = planned.second;
    // No co_await from here on: the check and the reservation are one step.
    auto target = change.name.empty() ? string_field(f, "name").value_or("") : change.name;
    auto verdict = record_prepared(s, txid, change.name, change.to_json(), "prepare " + op_name,
                                   target, planned.first);
    // The token is spent by the prepare: an abort does not give it back.
    if (verdict == status::ok)
        if (auto svc = guarding(change)) spend_token(s, *svc);
    co_return verdict;
}

// Phase 1's last step for every kind of change, with no co_await inside: the
// row, unless another prepared change holds the subject or the transaction
// id was used; `also` runs in the same transaction when the row is written;
// the audit row either way.
status node_service::record_prepared(session& s, const std::string& txid,
                                     const std::string& subject, const json& change,
                                     std::string_view what, std::string_view target, status verdict,
                                     const std::function<void()>& also) {
    if (verdict == status::ok &&
        (store_.reserved(subject) || store_.prepared(txid) || store_.outcome(txid)))
        verdict = status::conflict;
    store_.transact([&] {
        if (verdict == status::ok) {
            store_.insert_prepared(
                {txid, subject, change.dump(), unix_ms() + prepare_timeout_.count()});
            if (also) also();
        }
        store_.append_audit(identity_.hsm_id, entry_for(s, what, target, verdict));
    });
    return verdict;
}

// Who may finish or ask about a prepared change: the user who prepared it,
// an officer, or another node of the cluster resolving it.
status node_service::may_finish(session& s, operation op, const std::optional<stored_change>& c) {
    if (s.peer_node) return status::ok;
    if (!current(s)) return status::not_logged_in;
    bool own = c && std::visit([&](const auto& x) { return x.actor_id == *s.user_id; }, *c);
    return authorize(s.actor(), op, own);
}

// A client's commit or abort, or a peer node's resolving one.
awaitable<status> node_service::finish_from(session& s, const json& f, bool commit) {
    auto txid = string_field(f, "txid").value_or("");
    if (s.peer_node) co_return finish_tx(s, txid, commit);
    co_return co_await commit_from_client(s, txid, commit);
}

// What became of a change, and which key change it is, so that a peer
// counts only the same one.
status node_service::tx_status(session& s, const json& f, json& out) {
    auto txid = string_field(f, "txid").value_or("");
    auto row = store_.prepared(txid);
    std::optional<stored_change> c;
    if (row) c = read_change(row->change);
    if (auto a = may_finish(s, operation::tx_status, c); a != status::ok) return a;
    out = {{"outcome", tx_outcome(txid)}};
    if (c && std::holds_alternative<key_change>(*c))
        out["change"] = change_identity(std::get<key_change>(*c));
    else if (f.contains("handles"))
        if (auto id = committed_identity(f["handles"])) out["change"] = *id;
    return status::ok;
}

std::optional<node_service::stored_change> node_service::read_change(std::string_view text) {
    if (auto c = planned_change::from_stored(text)) return stored_change(std::move(*c));
    if (auto c = key_change::from_stored(text)) return stored_change(std::move(*c));
    if (auto c = m_change::from_stored(text)) return stored_change(*c);
    return std::nullopt;
}

status node_service::change_rules_hold(const stored_change& c) const {
    if (const auto* user = std::get_if<planned_change>(&c)) return rules_hold(*user);
    if (const auto* m = std::get_if<m_change>(&c)) return m_rules_hold(*m);
    return key_rules_hold(std::get<key_change>(c));
}

void node_service::apply_change(const stored_change& c, session& s) {
    if (const auto* user = std::get_if<planned_change>(&c)) {
        apply(*user);
        settle_sessions(user->target_id, &s);
        return;
    }
    if (const auto* m = std::get_if<m_change>(&c)) {
        store_.set_m_value(m->svc, m->m);
        return;
    }
    apply(std::get<key_change>(c));
}

// setMValue's phase 1: the rules, the row, the service-4 token spent.
status node_service::prepare_m_change(session& s, const json& f, const std::string& txid) {
    auto [verdict, change] = plan_m_change(s, f);
    verdict = record_prepared(s, txid, change.subject(), change.to_json(), "prepare set_m_value",
                              change.subject(), verdict);
    if (verdict == status::ok) spend_token(s, quorum::service::misc_co);
    return verdict;
}

status node_service::prepare_key_change(session& s, key_change::kind kind, const json& f,
                                        const std::string& txid) {
    auto [verdict, change] = plan_key_change(s, kind, f);
    std::int64_t owner = kind == key_change::kind::insert_keys ? change.actor_id : 0;
    const auto& handles = change.handles;
    return record_prepared(s, txid, change.subject(), change.to_json(),
                           fmt::format("prepare {}", key_change_name(kind)), change.subject(),
                           verdict, [&] { store_.reserve_key_handles(txid, handles, owner); });
}

// The nodes needed for a new key: CloudHSM's availability (at least two HSMs
// hold it, where the cluster has two or more).
std::size_t node_service::holders_needed() const {
    return std::min<std::size_t>(2, peers_.addresses().size() + 1);
}

// What identifies a key change across nodes (user ids are each node's own):
// its kind, handles and sealed keys.
std::string node_service::change_identity(const key_change& c) const {
    auto text = fmt::format("{}|{}|{}", key_change_name(c.what), fmt::join(c.handles, ","),
                            fmt::join(c.sealed, ","));
    // Hex in either case names the same bytes (a stored key's is lower case).
    std::ranges::transform(text, text.begin(),
                           [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    return to_hex(hmac_sha256(keys_.digest(), text));
}

std::optional<std::string> node_service::committed_identity(const json& handles) const {
    if (!handles.is_array() || handles.empty() || handles.size() > 2) return std::nullopt;
    key_change c;
    for (const auto& h : handles) {
        auto k = h.is_number_integer() ? store_.find_key(h.get<std::int64_t>()) : std::nullopt;
        if (!k) return std::nullopt;
        c.handles.push_back(k->handle);
        c.sealed.push_back(to_hex(k->sealed));
    }
    return change_identity(c);
}

awaitable<status> node_service::commit_from_client(session& s, const std::string& txid,
                                                   bool commit) {
    auto row = store_.prepared(txid);
    auto change = row ? read_change(row->change) : std::nullopt;
    const auto* k = change ? std::get_if<key_change>(&*change) : nullptr;
    if (!k || k->what != key_change::kind::insert_keys ||
        may_finish(s, operation::commit, change) != status::ok || !count_peer_holders_)
        co_return finish_tx(s, txid, commit, 1);
    change_probe probe{txid, change_identity(*k), k->handles};
    if (!commit) {
        // Once a peer committed this very insertion (counting this node's
        // prepared copy), it is committed here too, whoever asks to abort.
        if (co_await count_peer_holders_(probe, 1, true) == 0)
            co_return finish_tx(s, txid, false, 1);
        auto verdict = finish_tx(s, txid, true, std::nullopt);
        co_return verdict == status::ok ? status::tx_committed : verdict;
    }
    // This node holds it prepared; the others are asked, until enough say
    // they hold the same change.
    std::size_t needed = holders_needed();
    std::size_t others =
        needed > 1 ? co_await count_peer_holders_(std::move(probe), needed - 1, false) : 0;
    co_return finish_tx(s, txid, true, static_cast<std::int64_t>(1 + others));
}

// CloudHSM's key availability: a new key is usable only once at least two
// HSMs hold it (where the cluster has two or more). Here a key insertion is
// not committed on fewer nodes than that: it is on enough nodes, or none.
status node_service::available_enough(const stored_change& c,
                                      std::optional<std::int64_t> holders) const {
    const auto* k = std::get_if<key_change>(&c);
    if (!k || k->what != key_change::kind::insert_keys || !holders) return status::ok;
    return *holders >= static_cast<std::int64_t>(holders_needed()) ? status::ok
                                                                   : status::key_unavailable;
}

status node_service::finish_tx(session& s, const std::string& txid, bool commit,
                               std::optional<std::int64_t> holders) {
    auto row = store_.prepared(txid);
    std::optional<stored_change> change;
    if (row) change = read_change(row->change);
    if (auto a = may_finish(s, commit ? operation::commit : operation::abort, change);
        a != status::ok)
        return a;
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
    // The rules are checked again against the state of now, in the same
    // transaction that applies the change: what held at prepare may not.
    status verdict = status::ok;
    store_.transact([&] {
        store_.delete_prepared(txid);
        if (commit) verdict = change ? change_rules_hold(*change) : status::bad_request;
        if (commit && verdict == status::ok) verdict = available_enough(*change, holders);
        bool applied = commit && verdict == status::ok;
        if (applied) apply_change(*change, s);
        store_.record_outcome(txid, applied ? "committed" : "aborted");
        store_.append_audit(identity_.hsm_id, entry_for(s, commit ? "commit" : "abort",
                                                        row->user_name + " " + txid, verdict));
    });
    if (commit && verdict != status::ok)
        log_warning("commit of {} refused: {}", txid, status_name(verdict));
    return verdict;
}

std::string node_service::tx_outcome(const std::string& txid) const {
    if (store_.prepared(txid)) return "prepared";
    return store_.outcome(txid).value_or("unknown");
}

// Audited by the table (its target the name), once the name reads.
status node_service::get_user(const json& f, json& out) {
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
    record.quorum_key = user->quorum_key;
    record.key_quota = user->key_quota;
    record.two_fa =
        user->two_fa ? planned_change::second_factor::on : planned_change::second_factor::off;
    // Sealed for this cluster's nodes: the shell carries it, and cannot read it.
    auto plain = record.to_json().dump();
    auto sealed = seal(keys_.sealing(), record_context(user->name, user->version), plain);
    wipe(plain);
    out = {{"record", to_json(sealed_user{user->name, user->type, user->version, to_hex(sealed)})},
           {"digest", digest_of(*user)}};
    return status::ok;
}

status node_service::list_prepared(json& out) {
    std::vector<prepared_entry> entries;
    for (const auto& row : store_.list_prepared()) {
        auto c = read_change(row.change);
        std::string kind = "unreadable";
        std::optional<user_record> actor;
        if (c) {
            kind = std::visit(
                [](const auto& x) {
                    if constexpr (std::is_same_v<std::decay_t<decltype(x)>, key_change>)
                        return std::string(key_change_name(x.what));
                    else if constexpr (std::is_same_v<std::decay_t<decltype(x)>, m_change>)
                        return std::string("set_m_value");
                    else
                        return std::string(change_kind_name(x.what));
                },
                *c);
            actor = store_.find_id(std::visit([](const auto& x) { return x.actor_id; }, *c));
        }
        entries.push_back(
            {row.txid, row.user_name, kind, actor ? actor->name : "-", row.deadline_ms});
    }
    out = to_json(entries);
    return status::ok;
}

} // namespace hsm
