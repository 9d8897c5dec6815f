// SPDX-License-Identifier: Apache-2.0
// The derivation budget for clients that have not logged in.
#include "access/derivation_budget.hpp"

namespace hsm {

void derivation_budget::grant(const std::string& peer, peer_state& p) noexcept {
    ++running_;
    ++p.running;
    last_served_ = peer;
}

awaitable<std::optional<derivation_budget::ticket>>
derivation_budget::acquire(const std::string& peer) {
    auto& p = peers_[peer];
    if (running_ < limits_.total && p.running < limits_.per_peer && p.waiting.empty()) {
        grant(peer, p);
        co_return ticket(this, peer);
    }
    if (p.waiting.size() >= limits_.max_waiting) {
        if (p.running == 0 && p.waiting.empty()) peers_.erase(peer);
        co_return std::nullopt;
    }
    // Woken by release(), which has already counted the slot as ours.
    auto wake = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor,
                                                     asio::steady_timer::time_point::max());
    p.waiting.push_back(wake);
    co_await wake->async_wait(asio::as_tuple(use_awaitable));
    co_return ticket(this, peer);
}

void derivation_budget::release(const std::string& peer) {
    auto it = peers_.find(peer);
    --running_;
    if (it != peers_.end()) {
        --it->second.running;
        if (it->second.running == 0 && it->second.waiting.empty()) peers_.erase(it);
    }
    if (peers_.empty()) return;
    // The next peer after the last one served that may run another.
    auto start = peers_.upper_bound(last_served_);
    for (std::size_t n = 0; n < peers_.size(); ++n, ++start) {
        if (start == peers_.end()) start = peers_.begin();
        auto& p = start->second;
        if (p.waiting.empty() || p.running >= limits_.per_peer) continue;
        auto wake = std::move(p.waiting.front());
        p.waiting.pop_front();
        grant(start->first, p);
        wake->cancel();
        return;
    }
}

} // namespace hsm
