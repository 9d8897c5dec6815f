// SPDX-License-Identifier: Apache-2.0
// Quorum on a node: m values, the session's tokens, their approval by
// registered officer keys, and the check every protected change passes
// (docs/design.md, "Quorum").
#include "ops/quorum.hpp"
#include "hsmsh/duration.hpp"
#include "hsmsh/hex.hpp"
#include "hsmsh/protocol/policy.hpp"
#include "ops/sessions.hpp"
#include "quorum/quorum_key.hpp"
#include "request_fields.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace hsm {
namespace {

json token_json(const quorum_token& t, std::int64_t now_ms, int approvals, int required) {
    std::vector<std::string> approvers;
    for (const auto& [id, a] : t.approvals)
        approvers.push_back(a.name);
    return {{"id", t.record.id},
            {"service", static_cast<int>(t.record.svc)},
            {"user", t.record.user},
            {"validity", std::max<std::int64_t>(0, (t.expires_ms - now_ms + 999) / 1000)},
            {"required", required},
            {"approvals", approvals},
            {"approvers", approvers}};
}

// The approvers of `file`: every signature a registered officer's over
// exactly that file, or the first refusal (a signature that does not
// verify names its approver in `out`).
status approvers_of(const node_context& n, const std::vector<token_approval_entry>& approvals,
                    const bytes& file, std::map<std::int64_t, token_approval>& approved,
                    json& out) {
    for (const auto& [name, signature] : approvals) {
        if (!name || !signature || signature->size() != quorum::signature_size)
            return status::bad_request;
        auto user = valid_user_name(*name) ? n.store.users().find(canonical_user_name(*name))
                                           : std::nullopt;
        auto key =
            user && is_officer(user->type) ? quorum_key::from_der(user->quorum_key) : std::nullopt;
        if (!key || !key->approves(file, *signature)) {
            out = {{"approver", *name}};
            return status::signature_invalid;
        }
        approved[user->id] = {user->name, user->quorum_key};
    }
    return status::ok;
}

} // namespace

std::optional<quorum::service> guarding(const planned_change& c) {
    using enum planned_change::kind;
    // A sync writes a whole record: it could bring back a deleted user or
    // an old password (--force), so it is user management too.
    if (c.what == create_user || c.what == delete_user || c.what == sync_user ||
        c.what == set_key_quota)
        return quorum::service::user_mgmt;
    if (c.what == change_password && c.target_id != c.actor_id) return quorum::service::user_mgmt;
    return std::nullopt;
}

// An approval still counts while its officer exists, is an officer and
// holds the key it signed with (a deleted officer, or one whose key changed
// since, no longer counts).
bool still_approves(const node_context& n, std::int64_t officer, const bytes& key) {
    auto u = n.store.users().find_id(officer);
    return u && is_officer(u->type) && u->quorum_key == key;
}

int valid_approvals(const node_context& n, const quorum_token& t) {
    return static_cast<int>(
        std::count_if(t.approvals.begin(), t.approvals.end(),
                      [&](const auto& a) { return still_approves(n, a.first, a.second.key); }));
}

int valid_approvals(const node_context& n, const approver_keys& a) {
    return static_cast<int>(std::count_if(
        a.begin(), a.end(), [&](const auto& e) { return still_approves(n, e.first, e.second); }));
}

// The session's unexpired token of `svc` with the most approvals that count.
const quorum_token* best_token(const node_context& n, const session& s, quorum::service svc) {
    if (!s.user_id) return nullptr;
    const quorum_token* best = nullptr;
    int most = -1;
    for (const auto* t : n.tokens.of(&s, unix_ms())) {
        if (t->record.svc != svc || t->user_id != *s.user_id) continue;
        if (int count = valid_approvals(n, *t); count > most) {
            best = t;
            most = count;
        }
    }
    return best;
}

// The approvers of the session's best token of `svc`, as a change keeps them.
approver_keys approvals_for(const node_context& n, const session& s, quorum::service svc) {
    approver_keys out;
    if (const auto* t = best_token(n, s, svc))
        for (const auto& [id, a] : t->approvals)
            out.emplace(id, a.key);
    return out;
}

// Counted when the rules run: at prepare, and again at commit.
status quorum_holds(const node_context& n, quorum::service svc, const approver_keys& approvals) {
    auto m = n.store.meta().m_value(svc);
    return m <= 1 || valid_approvals(n, approvals) >= m ? status::ok : status::mxn_auth_failed;
}

// A token allows one change: the one that just passed with it is spent.
void spend_token(node_context& n, const session& s, quorum::service svc) {
    if (n.store.meta().m_value(svc) <= 1) return;
    if (const auto* t = best_token(n, s, svc)) n.tokens.remove(&s, t->record.id);
}

// Whether one officer may stop being one (deleted, or synced to another
// type): never the last, and never below what a quorum asks (that would
// lock the quorum out).
status officer_may_leave(const node_context& n) {
    auto officers = static_cast<int>(n.store.users().count_officers());
    if (officers <= 1) return status::last_co;
    auto needed = std::max(n.store.meta().m_value(quorum::service::user_mgmt),
                           n.store.meta().m_value(quorum::service::misc_co));
    return officers - 1 < needed ? status::m_value_invalid : status::ok;
}

status get_m_value(node_context& n, session&, const service_request& r, json& out) {
    auto svc = r.svc;
    if (!svc) return status::bad_request;
    out = {{"service", static_cast<int>(*svc)}, {"m", n.store.meta().m_value(*svc)}};
    return status::ok;
}

std::pair<status, m_change> plan_m_change(node_context& n, session& s, const m_value_request& r) {
    m_change c;
    if (!current(n, s)) return {status::not_logged_in, c};
    if (auto a = authorize(s.actor(), operation::set_m_value, false); a != status::ok)
        return {a, c};
    auto svc = r.svc;
    auto m = r.m;
    if (!svc || !m) return {status::bad_request, c};
    if (*m < quorum::min_m || *m > quorum::max_m) return {status::m_value_invalid, c};
    c.svc = *svc;
    c.m = static_cast<int>(*m);
    c.actor_id = *s.user_id;
    c.actor_generation = s.generation;
    c.actor_type = s.type;
    c.approvals = approvals_for(n, s, quorum::service::misc_co);
    if (n.store.changes().reserved(c.subject()))
        return {status::conflict, c}; // a prepared one waits
    return {rules_hold(n, c), c};
}

// Every rule of an m value, at prepare and again at commit. Service 3's m
// never exceeds service 4's: otherwise fewer officers could lower service
// 3's quorum than it takes to use it.
status rules_hold(const node_context& n, const m_change& c) {
    auto actor = n.store.users().find_id(c.actor_id);
    if (!actor || actor->generation != c.actor_generation || actor->type != c.actor_type)
        return status::not_logged_in;
    if (auto a = authorize(c.actor_type, operation::set_m_value, false); a != status::ok) return a;
    if (n.store.meta().state() != cluster_state::active) return status::cluster_not_active;
    if (auto q = quorum_holds(n, quorum::service::misc_co, c.approvals); q != status::ok) return q;
    if (!quorum::valid_m(c.m, n.store.users().count_officers())) return status::m_value_invalid;
    bool ordered = c.svc == quorum::service::user_mgmt
                       ? c.m <= n.store.meta().m_value(quorum::service::misc_co)
                       : c.m >= n.store.meta().m_value(quorum::service::user_mgmt);
    return ordered ? status::ok : status::m_value_invalid;
}

status change_m_value(node_context& n, session& s, const m_value_request& r, json&) {
    // Named, not a structured binding: clang 14 cannot capture one in a lambda.
    auto planned = plan_m_change(n, s, r);
    auto& verdict = planned.first;
    auto& change = planned.second;
    n.store.transact([&] {
        if (verdict == status::ok) n.store.meta().set_m_value(change.svc, change.m);
        n.store.audit().append(n.identity.hsm_id,
                               entry_for(s, "set_m_value", change.subject(), verdict));
    });
    if (verdict == status::ok) spend_token(n, s, quorum::service::misc_co);
    return verdict;
}

// Audited by the table (its target the service), once the service reads.
status get_token(node_context& n, session& s, const service_request& r, json& out) {
    auto svc = r.svc;
    if (!svc) return status::bad_request;
    const auto* t = n.tokens.issue(&s, *s.user_id, *svc, s.user_name, unix_ms());
    auto verdict = t ? status::ok : status::token_limit_exceeded;
    if (t)
        out = {{"record", to_hex(quorum::encode(t->record))},
               {"token", token_json(*t, unix_ms(), 0, n.store.meta().m_value(*svc))}};
    return verdict;
}

// approveToken: the whole token file as the officers signed it, and one
// signature per approver. Every signature must be a registered officer's
// over exactly that file, or nothing is recorded; the records of this
// node's tokens of this session gain the approvers.
status approve_token(node_context& n, session& s, const approve_token_request& r, json& out) {
    const auto& file_hex = r.tokens;
    const auto& approvals = r.approvals;
    if (file_hex.size() > 2 * quorum::token_record_size * quorum::max_token_records || !approvals ||
        approvals->empty() || approvals->size() > quorum::max_approvals)
        return status::bad_request;
    auto file = from_hex(file_hex);
    auto records = file ? quorum::decode_file(*file) : std::nullopt;
    if (!records) return status::bad_request;
    // One approval authorises what the approver saw: one service, one
    // requesting officer, and here one token of this session (a file holds
    // one record per node). A file of many tokens of this node, or of two
    // services, would make one signature approve what it does not show.
    if (!one_token_request(*records)) return status::token_file_invalid;
    auto now = unix_ms();
    // At most one record of the file is a token of this node, in any
    // session: the same officer's second session must not make one
    // signature approve two tokens (one of each service) here.
    if (std::ranges::count_if(*records, [&](const auto& r) { return n.tokens.live(r, now); }) > 1)
        return status::token_file_invalid;
    std::vector<std::uint32_t> mine;
    for (const auto& r : *records)
        if (auto* t = n.tokens.find(&s, r, now); t && t->user_id == *s.user_id)
            mine.push_back(r.id);
    auto verdict = mine.empty() ? status::token_not_found : status::ok;
    std::map<std::int64_t, token_approval> approved;
    if (verdict == status::ok) verdict = approvers_of(n, *approvals, *file, approved, out);
    if (verdict == status::ok) {
        for (auto id : mine)
            if (auto* t = n.tokens.find(&s, id, now)) {
                t->approvals.insert(approved.begin(), approved.end());
                out = {{"token", token_json(*t, now, valid_approvals(n, *t),
                                            n.store.meta().m_value(t->record.svc))}};
            }
    }
    audit(n, s, "approve_token", fmt::format("{} signature(s)", approvals->size()), verdict);
    return verdict;
}

status list_tokens(node_context& n, session& s, const no_fields&, json& out) {
    auto now = unix_ms();
    json tokens = json::array();
    for (const auto* t : n.tokens.of(&s, now))
        tokens.push_back(
            token_json(*t, now, valid_approvals(n, *t), n.store.meta().m_value(t->record.svc)));
    out = {{"tokens", tokens}};
    return status::ok;
}

// delToken: the session's tokens whose records a token file holds, or all.
status delete_token(node_context& n, session& s, const delete_token_request& r, json& out) {
    std::size_t deleted = 0;
    if (r.names_tokens) {
        const auto& file_hex = r.tokens;
        if (file_hex.size() > 2 * quorum::token_record_size * quorum::max_token_records)
            return status::bad_request;
        auto file = from_hex(file_hex);
        auto records = file ? quorum::decode_file(*file) : std::nullopt;
        if (!records) return status::bad_request;
        for (const auto& r : *records)
            if (auto* t = n.tokens.find(&s, r, unix_ms()); t && n.tokens.remove(&s, r.id))
                ++deleted;
        if (deleted == 0) return status::token_not_found;
    } else {
        deleted = n.tokens.drop(&s);
    }
    out = {{"deleted", deleted}};
    return status::ok;
}

} // namespace hsm
