// SPDX-License-Identifier: Apache-2.0
// User changes on a node: planned for the session's user, checked against
// the rules, then applied at once or prepared for a cluster-wide commit that
// checks the rules again (docs/design.md, "Two-phase changes").
#include "ops/users.hpp"
#include "hsmsh/duration.hpp"
#include "hsmsh/log.hpp"
#include "hsmsh/policy.hpp"
#include "hsmsh/quorum.hpp"
#include "ops/quorum.hpp"
#include "ops/sessions.hpp"
#include "quorum_key.hpp"
#include "request_fields.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/ranges.h>

namespace hsm {
namespace {

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
status registration_proof(const user_change_request& r, bytes& key) {
    const auto& der = r.quorum_key;
    const auto& token = r.token;
    const auto& signature = r.signature;
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
    key = *der;
    return status::ok;
}

// Turning two-factor login on: the key, and its signature of the enrollment
// challenge `challenge` of this node (`hsm_id`), which the session `s` was
// given. The same fields go to every node: each finds its own signature.
status enrollment_proof(const optional_field<enrollment>& two_fa,
                        const std::optional<two_factor_challenge>& challenge, const session& s,
                        const std::string& hsm_id, bytes& key) {
    if (!two_fa.value) return status::bad_request;
    const auto& der = two_fa.value->key;
    if (!der || der->size() > max_quorum_key_size) return status::bad_request;
    auto signature = two_factor_challenge::signature_for(two_fa.value->signatures, hsm_id);
    auto officer = quorum_key::from_der(*der);
    if (!officer) return status::quorum_key_invalid;
    if (!signature || !challenge || !s.user_id ||
        !challenge->answered(two_factor_challenge::purpose::enroll, *s.user_id, s.generation,
                             *officer, *signature))
        return status::two_factor_invalid;
    key = *der;
    return status::ok;
}

// setKeyQuota's number: a count of keys up to the node's capacity, or null
// for the node's default. False when the field is missing or not that.
bool key_quota_field(const optional_field<std::optional<std::int64_t>>& given,
                     std::optional<std::int64_t>& quota) {
    if (!given.value) return false; // absent, or neither null nor an integer
    if (!*given.value) {
        quota.reset();
        return true;
    }
    auto n = **given.value;
    if (n < 0 || n > std::int64_t{max_keys_per_node}) return false;
    quota = n;
    return true;
}

} // namespace

// Every rule a change depends on, against the state as it is now: run when
// the change is planned and again when a prepared change commits.
status rules_hold(const node_context& n, const planned_change& c) {
    using enum planned_change::kind;
    auto actor = n.store.find_id(c.actor_id);
    if (!actor || actor->generation != c.actor_generation || actor->type != c.actor_type)
        return status::not_logged_in; // the user who asked is gone or changed
    auto user = n.store.find(c.name);
    bool self = user && user->id == c.actor_id;
    if (auto a = authorize(c.actor_type, permission_of(c.what), self); a != status::ok) return a;
    if (c.what == nothing) return status::ok;
    if (auto svc = guarding(c))
        if (auto q = quorum_holds(n, *svc, c.approvals); q != status::ok) return q;
    if (c.what != change_password && n.store.state() != cluster_state::active)
        return status::cluster_not_active;
    if (c.target_id != 0 &&
        (!user || user->id != c.target_id || user->generation != c.target_generation))
        return status::conflict; // not the record the change was planned for
    if (c.two_fa == planned_change::second_factor::on) {
        // Only officers log in with a second factor; its key is theirs alone.
        if (!is_officer(c.type)) return status::invalid_user_type;
        if (!quorum_key::from_der(c.quorum_key)) return status::quorum_key_invalid;
        if (auto free = quorum_key_free(n, c, c.target_id); free != status::ok) return free;
    }
    switch (c.what) {
    case create_user:
        if (c.type == user_type::preco) return status::invalid_user_type;
        if (user) return status::user_exists;
        if (n.store.count_users() + n.store.count_reserved_new_users() >= max_users_per_node)
            return status::quota_exceeded;
        return status::ok;
    case delete_user:
        if (!user) return status::user_not_found;
        if (n.sessions.count(user->id) > 0 && !c.revoke) return status::user_logged_in;
        if (n.store.owns_keys(user->id)) return status::user_owns_keys;
        return is_officer(user->type) ? officer_may_leave(n) : status::ok;
    case change_password:
        if (!user) return status::user_not_found;
        // A crypto or appliance user's password rotates while its
        // applications run: their sessions end with the change (their next
        // call is RET_NOT_LOGGED_IN, and they log in with the new one). An
        // officer's logged-in sessions are ended only with -revoke.
        if (!self && is_officer(user->type) && n.sessions.count(user->id) > 0 && !c.revoke)
            return status::user_logged_in;
        return status::ok;
    case register_quorum_key:
        if (!user) return status::user_not_found;
        if (!is_officer(user->type)) return status::invalid_user_type;
        if (!quorum_key::from_der(c.quorum_key)) return status::quorum_key_invalid;
        // A 2FA user's key is its login's: only changePswd -2fa changes it.
        if (user->two_fa) return status::two_factor_invalid;
        return quorum_key_free(n, c, user->id);
    case set_key_quota:
        // Crypto users own keys: a quota on anyone else would mean nothing.
        if (!user) return status::user_not_found;
        if (user->type != user_type::cu) return status::invalid_user_type;
        return status::ok;
    case sync_user:
        return record_rules(n, c, user ? &*user : nullptr);
    case nothing:
        break;
    }
    return status::ok;
}

// One key, one approver: a key another user holds would let one officer's
// signature count twice. A registration token is any data, so a signed one
// can be replayed by whoever saw it; only this rule stops the replay.
status quorum_key_free(const node_context& n, const planned_change& c, std::int64_t user_id) {
    auto holder = n.store.quorum_key_holder(c.quorum_key);
    return holder && *holder != user_id ? status::quorum_key_in_use : status::ok;
}

// A synced record may change a user only as create, delete and reset could.
status record_rules(const node_context& n, const planned_change& c, const user_record* existing) {
    if (!c.hash || !c.well_formed()) return status::bad_request;
    if (c.type == user_type::preco) return status::invalid_user_type;
    if (auto free = quorum_key_free(n, c, existing ? existing->id : 0); free != status::ok)
        return free;
    if (!existing) {
        if (c.target_id != 0) return status::conflict;
        if (n.store.count_users() + n.store.count_reserved_new_users() >= max_users_per_node)
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
        n.sessions.count(existing->id) > 0)
        return status::user_logged_in;
    if (type_changes) {
        if (is_officer(existing->type) && !is_officer(c.type))
            if (auto leave = officer_may_leave(n); leave != status::ok) return leave;
        // Keys are owned by and shared with crypto users only: an officer
        // in a key's shares could use it (the property test's invariant).
        if (!n.store.keys_of(existing->id).empty()) return status::user_owns_keys;
    }
    return status::ok;
}

// g++ 12 may warn that the coroutine frame's operator delete mismatches its
// operator new (-Wmismatched-new-delete), depending on what it inlines; both
// are Asio's awaitable_frame_base pair (as in node_service.cpp).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
awaitable<std::pair<status, planned_change>> plan(node_context& n, session& s,
                                                  const user_change_request& r) {
    auto op = r.op;
    const auto& password = r.password;
    planned_change c;
    auto target = parse_target(r.user, op == operation::create_user ? status::invalid_user_name
                                                                    : status::user_not_found);
    c.name = target.name;
    c.type = target.type;
    bool needs_hash = op == operation::create_user || op == operation::change_password;
    // Turning 2FA on: the session's enrollment challenge is answered once,
    // and its RSA verification done once, however often `check` runs.
    bool enrolls =
        r.two_fa.given && (op == operation::create_user || op == operation::change_password);
    auto challenge = enrolls ? std::exchange(s.challenge, std::nullopt) : std::nullopt;
    std::optional<status> proof;
    // Reads the state anew each time: the store may change while we derive.
    auto check = [&]() -> status {
        if (!current(n, s)) return status::not_logged_in;
        if (target.error != status::ok) return target.error;
        c.actor_id = *s.user_id;
        c.actor_generation = s.generation;
        c.actor_type = s.type;
        c.approvals = approvals_for(n, s, quorum::service::user_mgmt);
        auto user = n.store.find(target.name);
        bool self = user && user->id == *s.user_id;
        if (auto a = authorize(s.actor(), op, self); a != status::ok) return a;
        // Revocation is an officer's, of another user, by deletion or reset.
        if (r.revoke.malformed()) return status::bad_request;
        c.revoke = r.revoke.value.value_or(false);
        if (c.revoke && (self || !is_officer(s.type) ||
                         (op != operation::delete_user && op != operation::change_password)))
            return status::bad_request;
        if (op != operation::change_password && n.store.state() != cluster_state::active)
            return status::cluster_not_active;
        if (needs_hash && !valid_password(password.view())) return status::password_policy;
        // The proof costs an RSA verification: only once the user may ask.
        if (op == operation::register_quorum_key)
            if (auto proof = registration_proof(r, c.quorum_key); proof != status::ok) return proof;
        if (enrolls) {
            if (!proof)
                proof = enrollment_proof(r.two_fa, challenge, s, n.identity.hsm_id, c.quorum_key);
            if (*proof != status::ok) return *proof;
            c.two_fa = planned_change::second_factor::on;
        }
        if (n.store.reserved(target.name)) return status::conflict;
        if (op == operation::create_user) {
            c.what = planned_change::kind::create_user;
            return rules_hold(n, c);
        }
        if (!user) return status::user_not_found;
        if (!same_type(user->type, target.type)) return status::invalid_user_type;
        c.target_id = user->id;
        c.target_generation = user->generation;
        if (op == operation::delete_user) {
            c.what = planned_change::kind::delete_user;
            return rules_hold(n, c);
        }
        if (op == operation::register_quorum_key) {
            c.what = planned_change::kind::register_quorum_key;
            return rules_hold(n, c);
        }
        if (op == operation::set_key_quota) {
            if (!key_quota_field(r.key_quota, c.key_quota)) return status::bad_request;
            c.what = planned_change::kind::set_key_quota;
            return rules_hold(n, c);
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
        return rules_hold(n, c);
    };
    auto verdict = check();
    if (verdict == status::ok && needs_hash) {
        // A cluster-wide change brings its salt, so that every node stores the
        // same credentials and their record digests agree.
        auto salt = r.salt;
        if (salt && salt->size() != salt_size) salt.reset();
        c.hash = co_await off_thread(n, [&] {
            if (!salt || salt->empty()) return hash_password(password.view(), n.kdf_iterations);
            auto key = pbkdf2_sha256(password.view(), *salt, n.kdf_iterations, derived_key_size);
            return password_hash{*salt, std::move(key), n.kdf_iterations};
        });
        verdict = check();
    }
    co_return std::pair{verdict, std::move(c)};
}
#pragma GCC diagnostic pop

std::string record_context(const node_context& n, std::string_view name, std::int64_t version) {
    return fmt::format("hsmsh sealed record v1\x1f{}\x1fuser\x1f{}\x1f{}", n.identity.cluster_id,
                       name, version);
}

std::pair<status, planned_change> plan_sync(node_context& n, session& s,
                                            const user_sync_request& r) {
    if (!current(n, s)) return {status::not_logged_in, {}};
    if (auto a = authorize(s.actor(), operation::create_user, false); a != status::ok)
        return {a, {}};
    // The record is opened with this cluster's key, bound to the name and
    // version it travels under: nobody outside the nodes can read or make one.
    const auto& carried = r.record;
    if (!carried) return {status::bad_request, {}};
    const auto& [name, shown_type, version, sealed_hex] = *carried;
    auto sealed = from_hex(sealed_hex);
    if (!sealed) return {status::bad_request, {}};
    auto plain = unseal(n.keys.sealing(), record_context(n, name, version), *sealed);
    if (!plain) return {status::bad_request, {}};
    auto c = planned_change::from_stored(*plain);
    wipe(*plain);
    if (!c || c->what != planned_change::kind::sync_user || !c->hash || c->name != name ||
        c->version != version)
        return {status::bad_request, {}};
    c->actor_id = *s.user_id;
    c->actor_generation = s.generation;
    c->actor_type = s.type;
    c->approvals = approvals_for(n, s, quorum::service::user_mgmt);
    if (n.store.reserved(c->name)) return {status::conflict, {}};
    auto existing = n.store.find(c->name);
    if (existing) {
        c->target_id = existing->id;
        c->target_generation = existing->generation;
        if (existing->version > c->version && !r.force) return {status::version_newer, {}};
        // Running it twice changes nothing.
        if (digest_of(n, *existing) ==
            record_digest(n.keys.digest(), c->name, c->type, c->version,
                          c->failures >= max_login_failures, *c->hash, c->quorum_key,
                          c->two_fa == planned_change::second_factor::on, c->key_quota))
            c->what = planned_change::kind::nothing;
    }
    return {rules_hold(n, *c), std::move(*c)};
}

void apply_user_change(node_context& n, const planned_change& c) {
    using enum planned_change::kind;
    switch (c.what) {
    case create_user: {
        auto id = n.store.insert_user(c.name, c.type, *c.hash);
        if (c.two_fa == planned_change::second_factor::on)
            n.store.set_second_factor(id, true, c.quorum_key);
        break;
    }
    case delete_user:
        n.store.delete_user(c.target_id);
        break;
    case change_password:
        n.store.set_password(c.target_id, c.type, *c.hash);
        if (c.two_fa != planned_change::second_factor::unchanged)
            n.store.set_second_factor(c.target_id, c.two_fa == planned_change::second_factor::on,
                                      c.quorum_key);
        if (c.activation) n.store.set_state(cluster_state::active);
        break;
    case sync_user:
        n.store.put_user(c.name, c.type, *c.hash, c.version, c.failures, c.quorum_key,
                         c.two_fa == planned_change::second_factor::on, c.key_quota);
        break;
    case register_quorum_key:
        n.store.set_quorum_key(c.target_id, c.quorum_key);
        break;
    case set_key_quota:
        n.store.set_key_quota(c.target_id, c.key_quota);
        break;
    case nothing:
        break;
    }
}

awaitable<status> change_user(node_context& n, session& s, user_change_request r, json&) {
    auto op = r.op;
    auto planned = co_await plan(n, s, r);
    // Named, not a structured binding: clang 14 cannot capture one in a lambda.
    auto& verdict = planned.first;
    auto& change = planned.second;
    auto target = change.name.empty() ? r.user.name.value_or("") : change.name;
    n.store.transact([&] {
        if (verdict == status::ok) apply_user_change(n, change);
        n.store.append_audit(n.identity.hsm_id, entry_for(s, operation_name(op), target, verdict));
    });
    if (verdict == status::ok) {
        if (auto svc = guarding(change)) spend_token(n, s, *svc);
        settle_sessions(n, change.target_id, &s);
    }
    co_return verdict;
}

// Audited by the table (its target the name), once the name reads.
status get_user(node_context& n, session&, const user_named& r, json& out) {
    const auto& name = r.name;
    if (!name || !valid_user_name(*name)) return status::user_not_found;
    auto user = n.store.find(canonical_user_name(*name));
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
    auto sealed = seal(n.keys.sealing(), record_context(n, user->name, user->version), plain);
    wipe(plain);
    out = {{"record", to_json(sealed_user{user->name, user->type, user->version, to_hex(sealed)})},
           {"digest", digest_of(n, *user)}};
    return status::ok;
}

std::string digest_of(const node_context& n, const user_record& u) {
    return record_digest(n.keys.digest(), u.name, u.type, u.version, u.locked(), u.hash,
                         u.quorum_key, u.two_fa, u.key_quota);
}

status list_users(node_context& n, session&, const no_fields&, json& out) {
    std::vector<user_summary> users;
    for (const auto& u : n.store.list())
        users.push_back({.id = u.id,
                         .type = std::string(user_type_name(u.type)),
                         .name = u.name,
                         .mofn = u.mofn(),
                         .failures = u.failures,
                         .two_fa = u.two_fa,
                         .version = u.version,
                         .digest = digest_of(n, u),
                         .key_quota = u.type == user_type::cu
                                          ? std::optional<std::int64_t>(n.key_quota_of(u))
                                          : std::nullopt});
    out = {{"users", to_json(users)}};
    return status::ok;
}
} // namespace hsm
