// SPDX-License-Identifier: Apache-2.0
// A slot's connections, login and calls.
#include "cluster_slot.hpp"

#include "diagnostics.hpp"
#include "hsmsh/client/key_generation.hpp"
#include "hsmsh/client/key_listing.hpp"
#include "hsmsh/client/two_phase.hpp"
#include "hsmsh/hex.hpp"
#include "hsmsh/protocol/changes.hpp"
#include "openssl_context.hpp"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

namespace hsm::p11 {
namespace {

std::vector<std::size_t> all(std::size_t n) {
    std::vector<std::size_t> v(n);
    for (std::size_t i = 0; i < n; ++i)
        v[i] = i;
    return v;
}

// What the application hears when no node made the key: a refusal, else
// that the login is gone if a node said so, else no answer.
cluster_answer answer_of(const key_generation_failure& failure, bool logged_out) {
    using enum key_generation_failure::kind;
    if (failure.what == refused)
        return {cluster_answer::kind::refused, failure.maker.outcome.code, json::object()};
    if (failure.what != unreadable && logged_out)
        return {cluster_answer::kind::refused, status::not_logged_in, json::object()};
    return {};
}

} // namespace

CK_RV ck_rv(const cluster_answer& a) noexcept {
    if (a.what == cluster_answer::kind::unreachable) return CKR_DEVICE_ERROR;
    switch (a.code) {
    case status::ok:
        return CKR_OK;
    case status::user_login_failure:
        return CKR_PIN_INCORRECT;
    case status::user_change_pending:
        return CKR_PIN_LOCKED;
    case status::not_logged_in:
    case status::permission_denied:
        return CKR_USER_NOT_LOGGED_IN;
    case status::key_not_found:
        return CKR_KEY_HANDLE_INVALID;
    case status::key_function_not_permitted:
        return CKR_KEY_FUNCTION_NOT_PERMITTED;
    case status::mechanism_invalid:
        return CKR_MECHANISM_INVALID;
    case status::signature_invalid:
        return CKR_SIGNATURE_INVALID;
    case status::bad_request:
        return CKR_ARGUMENTS_BAD;
    case status::key_destroyed:
        return CKR_OBJECT_HANDLE_INVALID;
    case status::encrypted_data_invalid:
        return CKR_ENCRYPTED_DATA_INVALID;
    case status::attribute_read_only:
        return CKR_ATTRIBUTE_READ_ONLY;
    case status::attribute_invalid:
        return CKR_TEMPLATE_INCONSISTENT;
    case status::key_limit_exceeded:
        return CKR_DEVICE_MEMORY;
    case status::key_unextractable:
        return CKR_KEY_UNEXTRACTABLE;
    case status::key_not_wrappable:
        return CKR_KEY_NOT_WRAPPABLE;
    case status::wrapped_key_invalid:
        return CKR_WRAPPED_KEY_INVALID;
    default:
        return CKR_FUNCTION_FAILED;
    }
}

cluster_slot::cluster_slot(cluster_config config, duration connect_timeout,
                           duration request_timeout)
    : config_(std::move(config)), connect_timeout_(connect_timeout),
      request_timeout_(request_timeout),
      logged_in_(std::make_unique<std::atomic<bool>[]>(config_.servers.size())) {
    for (std::size_t i = 0; i < config_.servers.size(); ++i)
        node_mutex_.push_back(std::make_unique<std::mutex>());
}

void cluster_slot::open_locked() {
    if (!link_)
        link_ = std::make_unique<cluster_link>(config_, connect_timeout_, request_timeout_,
                                               module_libctx());
    std::vector<std::size_t> lost;
    for (std::size_t i = 0; i < link_->size(); ++i)
        if (!link_->connected(i)) {
            lost.push_back(i);
            logged_in_[i] = false;
        }
    if (!lost.empty()) link_->connect(lost);
}

cluster_answer cluster_slot::login(const std::string& user, secret password) {
    std::unique_lock lock(link_mutex_);
    open_locked();
    json fields{{"type", "CU"}, {"name", user}, {"password", std::string(password.view())}};
    auto outcomes = link_->call(all(link_->size()), operation::login, fields, nullptr);
    wipe_password(fields);
    cluster_answer answer;
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
        const auto& o = outcomes[i];
        logged_in_[i] = o.ok() || (o.what == server_outcome::kind::replied &&
                                   o.code == status::already_logged_in);
        if (logged_in_[i]) answer.what = cluster_answer::kind::ok;
        if (answer.what != cluster_answer::kind::ok && o.what == server_outcome::kind::replied) {
            answer.what = cluster_answer::kind::refused;
            answer.code = o.code;
        }
    }
    return answer;
}

void cluster_slot::logout() {
    std::unique_lock lock(link_mutex_);
    if (link_) link_->call(all(link_->size()), operation::logout, json::object(), nullptr);
    for (std::size_t i = 0; i < config_.servers.size(); ++i)
        logged_in_[i] = false;
}

bool cluster_slot::logged_in() const {
    for (std::size_t i = 0; i < config_.servers.size(); ++i)
        if (logged_in_[i]) return true;
    return false;
}

cluster_answer cluster_slot::call(operation op, const json& fields, std::size_t* answered) {
    std::shared_lock lock(link_mutex_);
    return call_locked(op, fields, answered);
}

cluster_answer cluster_slot::call_on(std::size_t node, operation op, const json& fields) {
    std::shared_lock lock(link_mutex_);
    if (!link_ || node >= link_->size() || !logged_in_[node]) return {};
    std::lock_guard one(*node_mutex_[node]);
    auto answer = ask_locked(node, op, fields);
    // A login gone took what it held with it: nothing of it is left to answer.
    if (answer.code == status::not_logged_in) return {};
    return answer;
}

// Under the slot's lock and node `i`'s: a node that does not answer, or
// says the login is gone, loses its login here.
cluster_answer cluster_slot::ask_locked(std::size_t i, operation op, const json& fields) {
    if (!link_->connected(i)) {
        logged_in_[i] = false;
        return {};
    }
    auto o = link_->call({i}, op, fields, nullptr).front();
    if (o.what != server_outcome::kind::replied) {
        logged_in_[i] = false; // the connection, and the login with it, is gone
        return {};
    }
    if (o.code == status::not_logged_in) logged_in_[i] = false;
    return {o.ok() ? cluster_answer::kind::ok : cluster_answer::kind::refused, o.code,
            std::move(o.fields)};
}

std::optional<std::pair<std::size_t, std::unique_lock<std::mutex>>>
cluster_slot::pick(std::size_t start, const std::vector<bool>& tried) {
    auto n = tried.size();
    for (bool wait : {false, true})
        for (std::size_t k = 0; k < n; ++k) {
            auto i = (start + k) % n;
            if (tried[i] || !logged_in_[i]) continue;
            std::unique_lock node(*node_mutex_[i], std::defer_lock);
            if (wait)
                node.lock();
            else if (!node.try_lock())
                continue;
            return std::pair(i, std::move(node));
        }
    return std::nullopt;
}

// Under the slot's lock, shared or exclusive.
cluster_answer cluster_slot::call_locked(operation op, const json& fields, std::size_t* answered) {
    if (!link_) return {};
    auto n = link_->size();
    std::vector<bool> tried(n, false);
    bool logged_out = false; // a node said the login is gone (the user deleted, say)
    // A key made while a node was down is on the others only, until an
    // officer's syncKey: a node without it does not answer for the cluster.
    std::optional<std::pair<std::size_t, cluster_answer>> not_found;
    auto start = next_.fetch_add(1) % n;
    while (auto picked = pick(start, tried)) {
        auto i = picked->first;
        tried[i] = true;
        auto answer = ask_locked(i, op, fields);
        if (answer.what == cluster_answer::kind::unreachable) continue;
        if (answer.code == status::not_logged_in) {
            logged_out = true;
            continue;
        }
        if (answer.code == status::key_not_found) {
            if (!not_found) not_found.emplace(i, std::move(answer));
            continue;
        }
        if (answered) *answered = i;
        return answer;
    }
    if (not_found) {
        if (answered) *answered = not_found->first;
        return std::move(not_found->second);
    }
    if (logged_out) return {cluster_answer::kind::refused, status::not_logged_in, json::object()};
    return {};
}

cluster_answer cluster_slot::change(change_request c) {
    std::unique_lock lock(link_mutex_);
    return change_locked(std::move(c));
}

cluster_answer cluster_slot::change_locked(change_request c) {
    if (!link_) return {};
    two_phase_change change(
        [this](const std::vector<std::size_t>& servers, operation op, const json& f) {
            auto outcomes = link_->call(servers, op, f, nullptr);
            std::vector<server_report> reports;
            for (std::size_t k = 0; k < servers.size(); ++k)
                reports.push_back({servers[k], link_->server(servers[k]).name, outcomes[k]});
            return reports;
        },
        // A new key goes on the nodes that answer when the others are down
        // or hung: the nodes' availability rule (two nodes hold it) decides,
        // not the module. A refusal, or any other change, aborts everywhere.
        [inserting =
             std::holds_alternative<key_insertion>(c)](const std::vector<server_report>& failed) {
            bool silent = std::ranges::none_of(failed, [](const server_report& r) {
                return r.outcome.what == server_outcome::kind::replied;
            });
            return inserting && silent ? partial_choice::ignore : partial_choice::abort;
        });
    return settle(change.run(all(link_->size()), to_fields(c)));
}

cluster_answer cluster_slot::settle(const std::vector<phase_report>& reports) {
    cluster_answer answer{cluster_answer::kind::ok, status::ok, json::object()};
    bool committed = std::ranges::any_of(
        reports, [](const phase_report& r) { return r.result == phase_result::committed; });
    for (const auto& r : reports) {
        if (r.result == phase_result::committed) continue;
        if (committed && r.outcome.what != server_outcome::kind::replied) {
            // The key is on the nodes that answered (enough of them: each
            // checked with its peers); this one lacks it until an officer's
            // syncKey copies it there.
            p11::log(p11::log_level::warning,
                     fmt::format("{} did not answer: it lacks the new key until syncKey copies it",
                                 r.name));
            logged_in_[r.index] = false;
            continue;
        }
        if (r.outcome.what == server_outcome::kind::replied && !r.outcome.ok()) {
            // A refusal says more than a silence: it is what the application hears.
            if (answer.what != cluster_answer::kind::refused)
                answer = {cluster_answer::kind::refused, r.outcome.code, json::object()};
        } else if (answer.what == cluster_answer::kind::ok) {
            answer = {};
        }
        if (r.outcome.what != server_outcome::kind::replied) logged_in_[r.index] = false;
    }
    return answer;
}

cluster_answer cluster_slot::generate(operation op, const json& request,
                                      std::vector<sealed_key>& made,
                                      std::optional<std::size_t> on) {
    std::unique_lock lock(link_mutex_);
    if (!link_) return {};
    bool logged_out = false; // a node said the login is gone (the user deleted, say)
    auto candidates = in_turn_locked();
    if (on) std::erase_if(candidates, [&](std::size_t i) { return i != *on; });
    auto generated = generate_on_one(
        *link_, candidates, request,
        [this, op](std::size_t i, const json& r) {
            return server_report{i, link_->server(i).name,
                                 link_->call({i}, op, r, nullptr).front()};
        },
        [&](const server_report& failed) { return fail_over_locked(failed, logged_out); });
    if (auto* failure = std::get_if<key_generation_failure>(&generated))
        return answer_of(*failure, logged_out);
    auto& keys = std::get<made_keys>(generated).keys;
    auto done = change_locked(key_insertion{keys});
    if (done.what == cluster_answer::kind::ok) made = std::move(keys);
    return done;
}

// As call_locked: the servers holding the login, from the next in turn; one
// whose connection is gone loses its login.
std::vector<std::size_t> cluster_slot::in_turn_locked() {
    auto n = link_->size();
    auto start = next_.fetch_add(1) % n;
    std::vector<std::size_t> servers;
    for (std::size_t k = 0; k < n; ++k) {
        auto i = (start + k) % n;
        if (logged_in_[i] && !link_->connected(i)) logged_in_[i] = false;
        if (logged_in_[i]) servers.push_back(i);
    }
    return servers;
}

// As call_locked: a silent node, or one that says the login is gone, loses
// the login, and the next is asked; a refusal is the answer.
bool cluster_slot::fail_over_locked(const server_report& failed, bool& logged_out) {
    if (failed.outcome.what == server_outcome::kind::replied &&
        failed.outcome.code != status::not_logged_in)
        return false;
    logged_in_[failed.index] = false;
    logged_out = logged_out || failed.outcome.what == server_outcome::kind::replied;
    return true;
}

// Under the slot's lock, shared: `op` to every node holding the login at
// once, each under its own lock (taken in order, and no other caller holds
// two: no deadlock); a silent node, or one that says the login is gone,
// loses the login.
std::vector<std::pair<std::size_t, cluster_answer>>
cluster_slot::ask_all_locked(operation op, const json& fields) {
    std::vector<std::size_t> servers;
    std::vector<std::unique_lock<std::mutex>> held;
    for (std::size_t i = 0; i < link_->size(); ++i) {
        if (!logged_in_[i]) continue;
        std::unique_lock node(*node_mutex_[i]);
        if (!link_->connected(i)) {
            logged_in_[i] = false;
            continue;
        }
        held.push_back(std::move(node));
        servers.push_back(i);
    }
    std::vector<std::pair<std::size_t, cluster_answer>> answers;
    if (servers.empty()) return answers;
    auto outcomes = link_->call(servers, op, fields, nullptr);
    for (std::size_t k = 0; k < servers.size(); ++k) {
        auto i = servers[k];
        auto& o = outcomes[k];
        if (o.what != server_outcome::kind::replied) {
            logged_in_[i] = false;
            answers.emplace_back(i, cluster_answer{});
            continue;
        }
        if (o.code == status::not_logged_in) logged_in_[i] = false;
        answers.emplace_back(
            i, cluster_answer{o.ok() ? cluster_answer::kind::ok : cluster_answer::kind::refused,
                              o.code, std::move(o.fields)});
    }
    return answers;
}

// Every node's listing at once, merged: a key made while a node was down
// is on the others only, and an application finds it whichever node it
// would have asked (pkcs11:...;object=... found by one search and not the next).
std::optional<std::vector<key_summary>> cluster_slot::keys(cluster_answer& failure) {
    std::shared_lock lock(link_mutex_);
    if (!link_) {
        failure = {};
        return std::nullopt;
    }
    std::vector<key_summary> out;
    std::int64_t after = 0;
    // Bounded: a node holds 3300 keys, and a page one object at least. A
    // listing never ends short: one that has not ended by then fails.
    for (std::size_t round = 0; round <= max_keys_per_node; ++round) {
        std::vector<key_page> pages;
        cluster_answer refusal;
        bool logged_out = false;
        for (auto& [i, answer] : ask_all_locked(operation::list_keys, json{{"after", after}})) {
            if (answer.what == cluster_answer::kind::ok) {
                if (auto page = key_page_from(answer.fields)) pages.push_back(std::move(*page));
            } else if (answer.code == status::not_logged_in) {
                logged_out = true;
            } else if (answer.what == cluster_answer::kind::refused &&
                       refusal.what != cluster_answer::kind::refused) {
                refusal = std::move(answer);
            }
        }
        if (pages.empty()) {
            if (refusal.what == cluster_answer::kind::refused)
                failure = std::move(refusal);
            else if (logged_out)
                failure = {cluster_answer::kind::refused, status::not_logged_in, json::object()};
            else
                failure = {};
            return std::nullopt;
        }
        auto merged = merge_key_pages(std::move(pages), after);
        std::ranges::move(merged.keys, std::back_inserter(out));
        after = merged.after;
        if (!merged.more) return out;
    }
    failure = {};
    return std::nullopt;
}

} // namespace hsm::p11
