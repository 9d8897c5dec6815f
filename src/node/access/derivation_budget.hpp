// SPDX-License-Identifier: Apache-2.0
// A bound on the password derivations that clients who have not logged in
// can make a node spend: per client certificate and in total, with waiting
// clients served round-robin so that one client's flood cannot starve another.
#pragma once

#include "hsmsh/asio.hpp"

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace hsm {

class derivation_budget {
public:
    struct limits {
        std::size_t total = 4;        // derivations running at once
        std::size_t per_peer = 2;     // of those, for one client certificate
        std::size_t max_waiting = 64; // queued for one client certificate
    };

    /// A running derivation's slot; released when destroyed.
    class ticket {
    public:
        ticket(derivation_budget* budget, std::string peer) noexcept
            : budget_(budget), peer_(std::move(peer)) {}
        ticket(ticket&& other) noexcept
            : budget_(std::exchange(other.budget_, nullptr)), peer_(std::move(other.peer_)) {}
        ticket(const ticket&) = delete;
        ticket& operator=(const ticket&) = delete;
        ticket& operator=(ticket&&) = delete;
        ~ticket() {
            if (budget_) budget_->release(peer_);
        }

    private:
        derivation_budget* budget_;
        std::string peer_;
    };

    /// Used from one executor (the node's io thread), as the node_service is.
    explicit derivation_budget(limits l) : limits_(l) {}

    /// A slot for `peer`, waiting for one if need be; nullopt when `peer`
    /// already has max_waiting queued (the caller answers RET_BUSY).
    awaitable<std::optional<ticket>> acquire(const std::string& peer);

    std::size_t running() const noexcept { return running_; }

private:
    struct peer_state {
        std::size_t running = 0;
        std::deque<std::shared_ptr<asio::steady_timer>> waiting;
    };

    void release(const std::string& peer);
    void grant(const std::string& peer, peer_state& p) noexcept;

    limits limits_;
    std::map<std::string, peer_state> peers_;
    std::size_t running_ = 0;
    std::string last_served_; // round-robin position among waiting peers
};

} // namespace hsm
