// SPDX-License-Identifier: Apache-2.0
// A slot's connections, login and calls.
#include "cluster_slot.hpp"

#include <chrono>

namespace hsm::p11 {
namespace {

constexpr duration connect_timeout = std::chrono::seconds(5);
constexpr duration request_timeout = std::chrono::seconds(10);

std::vector<std::size_t> all(std::size_t n) {
    std::vector<std::size_t> v(n);
    for (std::size_t i = 0; i < n; ++i)
        v[i] = i;
    return v;
}

} // namespace

cluster_slot::cluster_slot(cluster_config config)
    : config_(std::move(config)), logged_in_(config_.servers.size(), false) {}

void cluster_slot::open_locked() {
    if (!link_) link_ = std::make_unique<cluster_link>(config_, connect_timeout, request_timeout);
    std::vector<std::size_t> lost;
    for (std::size_t i = 0; i < link_->size(); ++i)
        if (!link_->connected(i)) {
            lost.push_back(i);
            logged_in_[i] = false;
        }
    if (!lost.empty()) link_->connect(lost);
}

cluster_answer cluster_slot::login(const std::string& user, secret password) {
    std::lock_guard lock(mutex_);
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
    std::lock_guard lock(mutex_);
    if (link_) link_->call(all(link_->size()), operation::logout, json::object(), nullptr);
    std::fill(logged_in_.begin(), logged_in_.end(), false);
}

bool cluster_slot::logged_in() const {
    std::lock_guard lock(mutex_);
    return std::find(logged_in_.begin(), logged_in_.end(), true) != logged_in_.end();
}

cluster_answer cluster_slot::call(operation op, const json& fields) {
    std::lock_guard lock(mutex_);
    return call_locked(op, fields);
}

cluster_answer cluster_slot::call_locked(operation op, const json& fields) {
    if (!link_) return {};
    auto n = link_->size();
    for (std::size_t k = 0; k < n; ++k) {
        auto i = (next_ + k) % n;
        if (!logged_in_[i] || !link_->connected(i)) continue;
        auto o = link_->call({i}, op, fields, nullptr).front();
        if (o.what != server_outcome::kind::replied) {
            logged_in_[i] = false; // the connection, and the login with it, is gone
            continue;
        }
        next_ = (i + 1) % n;
        if (o.code == status::not_logged_in) {
            logged_in_[i] = false;
            continue;
        }
        return {o.ok() ? cluster_answer::kind::ok : cluster_answer::kind::refused, o.code,
                std::move(o.fields)};
    }
    return {};
}

std::optional<std::vector<key_summary>> cluster_slot::keys() {
    std::lock_guard lock(mutex_);
    std::vector<key_summary> out;
    std::int64_t after = 0;
    // Bounded: 3300 keys a node, 32 a page.
    for (int page = 0; page < 200; ++page) {
        auto answer = call_locked(operation::list_keys, json{{"after", after}});
        if (answer.what != cluster_answer::kind::ok) return std::nullopt;
        auto keys = answer.fields.find("keys");
        if (keys == answer.fields.end() || !keys->is_array()) return std::nullopt;
        for (const auto& k : *keys)
            if (auto summary = key_summary_from(k); summary && summary->handle > after) {
                after = summary->handle;
                out.push_back(std::move(*summary));
            }
        auto more = answer.fields.find("more");
        if (more == answer.fields.end() || !more->is_boolean() || !more->get<bool>() ||
            keys->empty())
            break;
    }
    return out;
}

} // namespace hsm::p11
