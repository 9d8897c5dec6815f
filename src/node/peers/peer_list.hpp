// SPDX-License-Identifier: Apache-2.0
// The other nodes of the cluster this node knows: given with --peer, or
// learnt from announcements (docs/design.md, "Peers").
#pragma once

#include "hsmsh/protocol/wire.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace hsm {

/// Where one node listens, as that node itself last said: `since` is the
/// owner's own clock when it started saying so, so that an older word
/// relayed by a node that has not heard the news never wins.
struct peer_address {
    std::string hsm_id;  // "" for a --peer address not yet heard from
    std::string address; // canonical HOST:PORT
    std::int64_t since = 0;
    // Heard from that node itself (its own announcement or answer), not
    // only relayed by another: relayed entries give way when the list is full.
    bool first_hand = true;
};

class peer_list {
public:
    /// A cluster has at most 28 nodes; room for some that were replaced.
    static constexpr std::size_t max_peers = 32;
    /// How far ahead of the receiver's clock a `since` may be.
    static constexpr std::int64_t max_clock_skew_ms = 60'000;

    /// `known` is what to_json() stored, or an array of address strings
    /// (--peer); invalid entries are dropped.
    peer_list(std::string hsm_id, const json& known);

    /// Where the others reach this node ("": it does not know), from `since`.
    void set_self(const std::string& address, std::int64_t since);

    /// The other nodes' addresses, in the order first learnt.
    std::vector<std::string> addresses() const;
    const std::vector<peer_address>& members() const noexcept { return members_; }

    /// {"hsm_id", "address", "since", "peers": [{"hsm_id", "address", "since"}...]}
    json announcement() const;
    /// The members, as the store keeps them.
    json to_json() const;

    /// Learns from an announcement (a peer's, or its reply to ours) received
    /// at `now_ms`: the sender itself and the nodes it knows. A node's
    /// address is replaced only by a newer word of its own (the sender's
    /// top-level entry when `speaker`, the HSM a node certificate proved the
    /// sender to be, is the HSM it names; anything else counts as relayed,
    /// and a relayed entry may add a node nobody knows, never move one), and no `since` is believed
    /// more than max_clock_skew_ms ahead of `now_ms`; an address nobody owned yet (a --peer) is
    /// bound to the node that answers from it; hosts are DNS names or IP literals. Garbage of any
    /// shape is ignored; at most max_peers are kept, and a relayed entry gives way to a first-hand
    /// one when they are. Returns whether the list changed.
    bool learn(const json& announcement, std::int64_t now_ms, const std::string& speaker);

private:
    /// `sender`: the announcement's own top-level entry, which may make
    /// room in a full list (evicting a relayed entry) even when it is not
    /// its own word, as a relayed entry may not.
    bool learn_one(const json& entry, bool first_hand, std::int64_t now_ms, bool sender = false);
    bool make_room();

    std::string hsm_id_;
    std::string address_;
    std::int64_t since_ = 0;
    std::vector<peer_address> members_;
};

} // namespace hsm
