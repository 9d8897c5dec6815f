// SPDX-License-Identifier: Apache-2.0
// Two-phase changes on a node: a change of any kind prepared (its rules
// checked, its row recorded), then committed with its rules checked again,
// or aborted; asked about by peers resolving it (docs/design.md, "Two-phase changes").
#include "ops/transactions.hpp"
#include "hsmsh/duration.hpp"
#include "hsmsh/log.hpp"
#include "hsmsh/protocol/policy.hpp"
#include "ops/keys.hpp"
#include "ops/quorum.hpp"
#include "ops/sessions.hpp"
#include "ops/users.hpp"
#include "request_fields.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/ranges.h>

namespace hsm {

// g++ 12 may warn that the coroutine frame's operator delete mismatches its
// operator new (-Wmismatched-new-delete), depending on what it inlines; both
// are Asio's awaitable_frame_base pair (as in node_service.cpp).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
awaitable<status> prepare(node_context& n, session& s, prepare_request r, json&) {
    const auto& txid = r.txid;
    const auto& op_name = r.change;
    if (!valid_txid(txid)) co_return status::bad_request;
    if (const auto* key = std::get_if<key_change_request>(&r.what)) {
        auto kind = key_change_from_name(op_name);
        if (!kind) co_return status::bad_request; // the decoder knows no other names
        co_return prepare_key_change(n, s, *kind, *key, txid);
    }
    if (const auto* m = std::get_if<m_value_request>(&r.what))
        co_return prepare_m_change(n, s, *m, txid);
    std::pair<status, planned_change> planned;
    if (const auto* sync = std::get_if<user_sync_request>(&r.what)) {
        planned = plan_sync(n, s, *sync);
    } else {
        auto* user = std::get_if<user_change_request>(&r.what);
        if (!user) co_return status::bad_request;
        user->password = std::move(r.password);
        planned = co_await plan(n, s, *user);
    }
    auto& change = planned.second;
    // No co_await from here on: the check and the reservation are one step.
    auto target = change.name.empty() ? r.name.value_or("") : change.name;
    auto verdict = record_prepared(n, s, txid, change.subject(), change.to_json(),
                                   "prepare " + op_name, target, planned.first);
    // The token is spent by the prepare: an abort does not give it back.
    if (verdict == status::ok)
        if (auto svc = guarding(change)) spend_token(n, s, *svc);
    co_return verdict;
}
#pragma GCC diagnostic pop

// Phase 1's last step for every kind of change, with no co_await inside: the
// row, unless another prepared change holds the subject or the transaction
// id was used; `also` runs in the same transaction when the row is written;
// the audit row either way.
status record_prepared(node_context& n, session& s, const std::string& txid,
                       const std::string& subject, const json& change, std::string_view what,
                       std::string_view target, status verdict, const std::function<void()>& also) {
    if (verdict == status::ok && (n.store.changes().reserved(subject) ||
                                  n.store.changes().find(txid) || n.store.changes().outcome(txid)))
        verdict = status::conflict;
    n.store.transact([&] {
        if (verdict == status::ok) {
            n.store.changes().insert(
                {txid, subject, change.dump(), unix_ms() + n.prepare_timeout.count()});
            if (also) also();
        }
        n.store.audit().append(n.identity.hsm_id, entry_for(s, what, target, verdict));
    });
    return verdict;
}

// Who may finish or ask about a prepared change: the user who prepared it,
// an officer, or another node of the cluster resolving it.
status may_finish(node_context& n, session& s, operation op,
                  const std::optional<stored_change>& c) {
    if (s.peer_node) return status::ok;
    if (!current(n, s)) return status::not_logged_in;
    bool own = c && std::visit([&](const auto& x) { return x.actor_id == *s.user_id; }, *c);
    return authorize(s.actor(), op, own);
}

// A client's commit or abort, or a peer node's resolving one.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
awaitable<status> finish_from(node_context& n, session& s, transaction_request r, json&) {
    const auto& txid = r.txid;
    bool commit = r.op == operation::commit;
    if (s.peer_node) co_return finish_change(n, s, txid, commit);
    co_return co_await commit_asked(n, s, txid, commit);
}
#pragma GCC diagnostic pop

// What became of a change, and which key change it is, so that a peer
// counts only the same one.
status tx_status(node_context& n, session& s, const transaction_request& r, json& out) {
    const auto& txid = r.txid;
    auto row = n.store.changes().find(txid);
    std::optional<stored_change> c;
    if (row) c = read_stored_change(row->change);
    if (auto a = may_finish(n, s, operation::tx_status, c); a != status::ok) return a;
    out = {{"outcome", outcome_of(n, txid)}};
    if (c && std::holds_alternative<key_change>(*c)) {
        out["change"] = change_identity(n, std::get<key_change>(*c));
        // A peer about to commit counts this answer: the change stays.
        if (s.peer_node && r.vouch) n.vouched.insert(txid);
    } else if (auto id = n.store.changes().committed_identity(txid))
        out["change"] = *id;
    else if (r.handles)
        if (auto held = committed_identity(n, *r.handles)) out["change"] = *held;
    return status::ok;
}

status change_rules_hold(const node_context& n, const stored_change& c, bool decided) {
    if (const auto* k = std::get_if<key_change>(&c)) return rules_hold(n, *k, decided);
    return std::visit([&](const auto& x) { return rules_hold(n, x); }, c);
}

void apply_change(node_context& n, const stored_change& c, session& s) {
    std::visit([&](const auto& x) { apply_committed(n, x, s); }, c);
}

void apply_committed(node_context& n, const planned_change& c, session& s) {
    apply_user_change(n, c);
    settle_sessions(n, c.target_id, &s);
}

void apply_committed(node_context& n, const key_change& c, session&) {
    apply_key_change(n, c);
}

void apply_committed(node_context& n, const m_change& c, session&) {
    n.store.meta().set_m_value(c.svc, c.m);
}

// setMValue's phase 1: the rules, the row, the service-4 token spent.
status prepare_m_change(node_context& n, session& s, const m_value_request& r,
                        const std::string& txid) {
    auto [verdict, change] = plan_m_change(n, s, r);
    verdict =
        record_prepared(n, s, txid, change.subject(), change.to_json(),
                        fmt::format("prepare {}", change.kind_name()), change.subject(), verdict);
    if (verdict == status::ok) spend_token(n, s, quorum::service::misc_co);
    return verdict;
}

status prepare_key_change(node_context& n, session& s, key_change::kind kind,
                          const key_change_request& r, const std::string& txid) {
    auto [verdict, change] = plan_key_change(n, s, kind, r);
    std::int64_t owner = kind == key_change::kind::insert_keys ? change.actor_id : 0;
    const auto& handles = change.handles;
    return record_prepared(n, s, txid, change.subject(), change.to_json(),
                           fmt::format("prepare {}", key_change_name(kind)), change.subject(),
                           verdict, [&] { n.store.keys().reserve_handles(txid, handles, owner); });
}

// Whether a key change commits only where enough nodes hold it, and how
// many: a new key on at least two (CloudHSM's availability, where the
// cluster has two or more); a key's attributes on every node, or a key
// could MAC on one node and encrypt on another, each node's flags fitting
// alone (threat-model row "A key's attributes are the cluster's").
bool counted_across_nodes(const key_change& c) noexcept {
    return c.what == key_change::kind::insert_keys || c.what == key_change::kind::set_attribute;
}

std::size_t holders_needed(const node_context& n, const key_change& c) {
    auto nodes = n.peers.addresses().size() + 1;
    return c.what == key_change::kind::set_attribute ? nodes : std::min<std::size_t>(2, nodes);
}

// What identifies a key change across nodes (user ids are each node's own):
// its kind, handles and sealed keys, and the attribute set with its value.
std::string change_identity(const node_context& n, const key_change& c) {
    auto text = fmt::format("{}|{}|{}", key_change_name(c.what), fmt::join(c.handles, ","),
                            fmt::join(c.sealed, ","));
    if (c.what == key_change::kind::set_attribute)
        text += fmt::format(
            "|{}|{}", c.attribute,
            to_hex({reinterpret_cast<const std::uint8_t*>(c.value.data()), c.value.size()}));
    // A share names its users and its direction (user names, which every
    // node spells alike): an unsharing committed on one node under a txid
    // is not a sharing prepared on another under it (red team, session 22).
    if (c.what == key_change::kind::share_key) {
        std::vector<std::string> users(c.users.begin(), c.users.end());
        std::ranges::sort(users);
        text += fmt::format("|{}|{}", c.share ? "share" : "unshare", fmt::join(users, ","));
    }
    // Hex in either case names the same bytes (a stored key's is lower case).
    std::ranges::transform(text, text.begin(),
                           [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    return to_hex(hmac_sha256(n.keys.digest(), text));
}

std::optional<std::string> committed_identity(const node_context& n,
                                              const std::vector<std::int64_t>& handles) {
    key_change c;
    for (auto h : handles) {
        auto k = n.store.keys().find(h);
        if (!k) return std::nullopt;
        c.handles.push_back(k->handle);
        c.sealed.push_back(to_hex(k->sealed));
    }
    return change_identity(n, c);
}

awaitable<status> commit_asked(node_context& n, session& s, const std::string& txid, bool commit) {
    auto row = n.store.changes().find(txid);
    auto change = row ? read_stored_change(row->change) : std::nullopt;
    const auto* k = change ? std::get_if<key_change>(&*change) : nullptr;
    if (!k || !counted_across_nodes(*k) ||
        may_finish(n, s, operation::commit, change) != status::ok || !n.count_peer_holders)
        co_return finish_change(n, s, txid, commit, 1);
    change_probe probe{txid, change_identity(n, *k), k->handles};
    if (!commit) {
        // Once a peer committed this very change (counting this node's
        // prepared copy), it is committed here too, whoever asks to abort.
        if (co_await n.count_peer_holders(probe, 1, true) == 0) {
            // Checked after the peers answered, with no co_await before the
            // abort: a peer committing meanwhile counted this node's word.
            if (n.vouched.contains(txid)) co_return status::conflict;
            co_return finish_change(n, s, txid, false, 1);
        }
        auto verdict = finish_change(n, s, txid, true, std::nullopt, true);
        co_return verdict == status::ok ? status::tx_committed : verdict;
    }
    // This node holds it prepared; the others are asked, until enough say
    // they hold the same change.
    std::size_t needed = holders_needed(n, *k);
    std::size_t others =
        needed > 1 ? co_await n.count_peer_holders(std::move(probe), needed - 1, false) : 0;
    co_return finish_change(n, s, txid, true, static_cast<std::int64_t>(1 + others));
}

// CloudHSM's key availability: a new key is usable only once at least two
// HSMs hold it (where the cluster has two or more). Here a key insertion is
// not committed on fewer nodes than that: it is on enough nodes, or none;
// an attribute change on every node, or none.
status available_enough(const node_context& n, const stored_change& c,
                        std::optional<std::int64_t> holders) {
    const auto* k = std::get_if<key_change>(&c);
    if (!k || !counted_across_nodes(*k) || !holders) return status::ok;
    if (*holders >= static_cast<std::int64_t>(holders_needed(n, *k))) return status::ok;
    return k->what == key_change::kind::insert_keys ? status::key_unavailable
                                                    : status::not_on_every_node;
}

status finish_change(node_context& n, session& s, const std::string& txid, bool commit,
                     std::optional<std::int64_t> holders, bool decided) {
    auto row = n.store.changes().find(txid);
    std::optional<stored_change> change;
    if (row) change = read_stored_change(row->change);
    if (auto a = may_finish(n, s, commit ? operation::commit : operation::abort, change);
        a != status::ok)
        return a;
    if (!row) {
        auto outcome = n.store.changes().outcome(txid);
        if (commit)
            return outcome == "committed" ? status::ok
                   : outcome == "aborted" ? status::tx_aborted
                                          : status::tx_unknown;
        if (outcome == "committed") return status::tx_committed;
        // Remember the abort, so that a commit arriving late is refused.
        if (valid_txid(txid) && !outcome)
            n.store.transact([&] { n.store.changes().record_outcome(txid, "aborted"); });
        return status::ok;
    }
    // The rules are checked again against the state of now, in the same
    // transaction that applies the change: what held at prepare may not.
    status verdict = status::ok;
    n.store.transact([&] {
        n.store.changes().remove(txid);
        if (commit) verdict = change ? change_rules_hold(n, *change, decided) : status::bad_request;
        if (commit && verdict == status::ok) verdict = available_enough(n, *change, holders);
        bool applied = commit && verdict == status::ok;
        if (applied) apply_change(n, *change, s);
        // A committed key change keeps its identity: a peer still asking
        // counts this node only for the very change (tx_status).
        const auto* k = change ? std::get_if<key_change>(&*change) : nullptr;
        n.store.changes().record_outcome(txid, applied ? "committed" : "aborted",
                                         applied && k ? change_identity(n, *k) : "");
        n.vouched.erase(txid);
        n.store.audit().append(n.identity.hsm_id, entry_for(s, commit ? "commit" : "abort",
                                                            row->user_name + " " + txid, verdict));
    });
    if (commit && verdict != status::ok)
        log_warning("commit of {} refused: {}", txid, status_name(verdict));
    return verdict;
}

std::string outcome_of(const node_context& n, const std::string& txid) {
    if (n.store.changes().find(txid)) return "prepared";
    return n.store.changes().outcome(txid).value_or("unknown");
}

status list_prepared(node_context& n, session&, const no_fields&, json& out) {
    std::vector<prepared_entry> entries;
    for (const auto& row : n.store.changes().list()) {
        auto c = read_stored_change(row.change);
        std::string kind = "unreadable";
        std::optional<user_record> actor;
        if (c) {
            kind = kind_name_of(*c);
            actor = n.store.users().find_id(actor_of(*c));
        }
        entries.push_back(
            {row.txid, row.user_name, kind, actor ? actor->name : "-", row.deadline_ms});
    }
    out = to_json(entries);
    return status::ok;
}
} // namespace hsm
