// SPDX-License-Identifier: Apache-2.0
// User changes planned for the session's user: the request's proofs
// checked, the password derived, every rule checked before and after it
// (the store may change meanwhile); a synced record opened and checked.
#include "hsmsh/duration.hpp"
#include "hsmsh/protocol/policy.hpp"
#include "hsmsh/protocol/quorum.hpp"
#include "ops/quorum.hpp"
#include "ops/sessions.hpp"
#include "ops/users.hpp"
#include "quorum/quorum_key.hpp"
#include "request_fields.hpp"

namespace hsm {
namespace {

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

// Whether an operation sets a password (and so derives a hash).
bool sets_password(operation op) {
    return op == operation::create_user || op == operation::change_password;
}

// A user change being planned for the session's user: checked against the
// state as it is now, as often as asked (before and after its password is
// derived: the store may change meanwhile).
class user_plan {
public:
    user_plan(node_context& n, session& s, const user_change_request& r)
        : n_(n), s_(s), r_(r),
          target_(parse_target(r.user, r.op == operation::create_user ? status::invalid_user_name
                                                                      : status::user_not_found)),
          enrolls_(r.two_fa.given && sets_password(r.op)),
          // Turning 2FA on: the session's enrollment challenge is answered
          // once, and its RSA verification done once, however often `check` runs.
          challenge_(enrolls_ ? std::exchange(s.challenge, std::nullopt) : std::nullopt) {
        change_.name = target_.name;
        change_.type = target_.type;
    }

    status check() {
        if (!current(n_, s_)) return status::not_logged_in;
        if (target_.error != status::ok) return target_.error;
        auto user = n_.store.users().find(target_.name);
        if (auto a = asker_may(user); a != status::ok) return a;
        if (auto p = proven(); p != status::ok) return p;
        if (n_.store.changes().reserved(target_.name)) return status::conflict;
        if (r_.op == operation::create_user) {
            change_.what = planned_change::kind::create_user;
            return rules_hold(n_, change_);
        }
        if (!user) return status::user_not_found;
        if (!same_type(user->type, target_.type)) return status::invalid_user_type;
        change_.target_id = user->id;
        change_.target_generation = user->generation;
        if (auto shaped = change_of(*user); shaped != status::ok) return shaped;
        return rules_hold(n_, change_);
    }

    planned_change& change() noexcept { return change_; }

private:
    // Who asks, and whether they may ask this at all.
    status asker_may(const std::optional<user_record>& user) {
        auto op = r_.op;
        change_.actor_id = *s_.user_id;
        change_.actor_generation = s_.generation;
        change_.actor_type = s_.type;
        change_.approvals = approvals_for(n_, s_, quorum::service::user_mgmt);
        bool self = user && user->id == *s_.user_id;
        if (auto a = authorize(s_.actor(), op, self); a != status::ok) return a;
        // Revocation is an officer's, of another user, by deletion or reset.
        if (r_.revoke.malformed()) return status::bad_request;
        change_.revoke = r_.revoke.value.value_or(false);
        if (change_.revoke && (self || !is_officer(s_.type) ||
                               (op != operation::delete_user && op != operation::change_password)))
            return status::bad_request;
        if (op != operation::change_password && n_.store.meta().state() != cluster_state::active)
            return status::cluster_not_active;
        if (sets_password(op) && !valid_password(r_.password.view()))
            return status::password_policy;
        return status::ok;
    }

    // The proofs a key brings. They cost an RSA verification: only once the
    // user may ask.
    status proven() {
        if (r_.op == operation::register_quorum_key)
            if (auto proof = registration_proof(r_, change_.quorum_key); proof != status::ok)
                return proof;
        if (!enrolls_) return status::ok;
        if (!proof_)
            proof_ =
                enrollment_proof(r_.two_fa, challenge_, s_, n_.identity.hsm_id, change_.quorum_key);
        if (*proof_ != status::ok) return *proof_;
        change_.two_fa = planned_change::second_factor::on;
        return status::ok;
    }

    // The change to an existing user, by its kind.
    status change_of(const user_record& user) {
        switch (r_.op) {
        case operation::delete_user:
            change_.what = planned_change::kind::delete_user;
            return status::ok;
        case operation::register_quorum_key:
            change_.what = planned_change::kind::register_quorum_key;
            return status::ok;
        case operation::set_key_quota:
            if (!key_quota_field(r_.key_quota, change_.key_quota)) return status::bad_request;
            change_.what = planned_change::kind::set_key_quota;
            return status::ok;
        default:
            break;
        }
        // Changing the PRECO password activates the cluster: PRECO becomes CO.
        change_.activation = user.type == user_type::preco;
        change_.type = change_.activation ? user_type::co : user.type;
        change_.what = planned_change::kind::change_password;
        // A new password without -2fa ends a 2FA user's second factor, and
        // its key with it (CloudHSM: one key serves 2FA and quorum).
        if (!enrolls_ && user.two_fa) {
            change_.two_fa = planned_change::second_factor::off;
            change_.quorum_key.clear();
        }
        return status::ok;
    }

    node_context& n_;
    session& s_;
    const user_change_request& r_;
    user_target target_;
    bool enrolls_;
    std::optional<two_factor_challenge> challenge_;
    std::optional<status> proof_;
    planned_change change_;
};

// g++ 12 may warn that the coroutine frame's operator delete mismatches its
// operator new (-Wmismatched-new-delete), depending on what it inlines; both
// are Asio's awaitable_frame_base pair (as in node_service.cpp).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
// The salted hash of a change's password. A cluster-wide change brings its
// salt, so that every node stores the same credentials and their record
// digests agree.
awaitable<password_hash> derived(node_context& n, const user_change_request& r) {
    auto salt = r.salt;
    if (salt && salt->size() != salt_size) salt.reset();
    co_return co_await off_thread(n, [&] {
        if (!salt || salt->empty()) return hash_password(r.password.view(), n.kdf_iterations);
        auto key = pbkdf2_sha256(r.password.view(), *salt, n.kdf_iterations, derived_key_size);
        return password_hash{*salt, std::move(key), n.kdf_iterations};
    });
}

} // namespace

awaitable<std::pair<status, planned_change>> plan(node_context& n, session& s,
                                                  const user_change_request& r) {
    user_plan p(n, s, r);
    auto verdict = p.check();
    if (verdict == status::ok && sets_password(r.op)) {
        p.change().hash = co_await derived(n, r);
        verdict = p.check();
    }
    co_return std::pair{verdict, std::move(p.change())};
}
#pragma GCC diagnostic pop

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
    if (n.store.changes().reserved(c->name)) return {status::conflict, {}};
    auto existing = n.store.users().find(c->name);
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

} // namespace hsm
