// SPDX-License-Identifier: Apache-2.0
// Users on a node: a change applied at once or at a commit, a user's
// sealed record, the list of users. The change's plan is in
// user_plans.cpp, its rules in user_change_rules.cpp.
#include "ops/users.hpp"
#include "hsmsh/log.hpp"
#include "ops/quorum.hpp"
#include "ops/sessions.hpp"

#include <fmt/format.h>

namespace hsm {

std::string record_context(const node_context& n, std::string_view name, std::int64_t version) {
    return fmt::format("hsmsh sealed record v1\x1f{}\x1fuser\x1f{}\x1f{}", n.identity.cluster_id,
                       name, version);
}

void apply_user_change(node_context& n, const planned_change& c) {
    using enum planned_change::kind;
    switch (c.what) {
    case create_user: {
        auto id = n.store.users().insert(c.name, c.type, *c.hash);
        if (c.two_fa == planned_change::second_factor::on)
            n.store.users().set_second_factor(id, true, c.quorum_key);
        break;
    }
    case delete_user:
        n.store.users().remove(c.target_id);
        break;
    case change_password:
        n.store.users().set_password(c.target_id, c.type, *c.hash);
        if (c.two_fa != planned_change::second_factor::unchanged)
            n.store.users().set_second_factor(
                c.target_id, c.two_fa == planned_change::second_factor::on, c.quorum_key);
        if (c.activation) n.store.meta().set_state(cluster_state::active);
        break;
    case sync_user:
        n.store.users().put(c.name, c.type, *c.hash, c.version, c.failures, c.quorum_key,
                            c.two_fa == planned_change::second_factor::on, c.key_quota);
        break;
    case register_quorum_key:
        n.store.users().set_quorum_key(c.target_id, c.quorum_key);
        break;
    case set_key_quota:
        n.store.users().set_key_quota(c.target_id, c.key_quota);
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
        n.store.audit().append(n.identity.hsm_id,
                               entry_for(s, operation_name(op), target, verdict));
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
    auto user = n.store.users().find(canonical_user_name(*name));
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
    for (const auto& u : n.store.users().list())
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
