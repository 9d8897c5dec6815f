// SPDX-License-Identifier: Apache-2.0
// The peers a node knows.
#include "peers/peer_list.hpp"

#include "hsmsh/endpoint.hpp"

#include <algorithm>
#include <cctype>
#include <limits>
#include <optional>

namespace hsm {
namespace {

// A DNS name is at most 253 bytes; with brackets and a port, well below this.
constexpr std::size_t max_address_size = 270;
constexpr std::size_t max_hsm_id_size = 64;

std::optional<std::string> canonical(const json& address) {
    if (!address.is_string()) return std::nullopt;
    const auto& text = address.get_ref<const std::string&>();
    if (text.empty() || text.size() > max_address_size) return std::nullopt;
    try {
        auto where = parse_host_port(text, std::nullopt);
        // A DNS name or an IP literal: nothing a terminal could act on.
        bool plain = std::ranges::all_of(where.host, [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':';
        });
        return plain ? std::optional(where.text()) : std::nullopt;
    } catch (const std::invalid_argument&) {
        return std::nullopt;
    }
}

// An entry of an announcement or of the stored list; a bare string is an
// address nobody owns yet.
std::optional<peer_address> entry_from(const json& e) {
    if (e.is_string()) {
        auto address = canonical(e);
        if (!address) return std::nullopt;
        return peer_address{"", *address, 0};
    }
    if (!e.is_object()) return std::nullopt;
    auto id = e.find("hsm_id");
    auto address = e.find("address");
    auto since = e.find("since");
    if (id == e.end() || !id->is_string() || address == e.end() || since == e.end() ||
        !since->is_number_integer())
        return std::nullopt;
    const auto& hsm_id = id->get_ref<const std::string&>();
    auto where = canonical(*address);
    bool plain_id = std::ranges::all_of(hsm_id, [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    });
    if (hsm_id.size() > max_hsm_id_size || !plain_id || !where) return std::nullopt;
    return peer_address{hsm_id, *where, since->get<std::int64_t>()};
}

json entry_json(const peer_address& p) {
    return {{"hsm_id", p.hsm_id},
            {"address", p.address},
            {"since", p.since},
            {"first_hand", p.first_hand}};
}

constexpr std::int64_t no_clock = std::numeric_limits<std::int64_t>::max() / 2;

} // namespace

peer_list::peer_list(std::string hsm_id, const json& known) : hsm_id_(std::move(hsm_id)) {
    // What this node stored it had heard, as it had heard it.
    if (known.is_array())
        for (const auto& e : known)
            learn_one(e, !e.is_object() || e.value("first_hand", true), no_clock);
}

void peer_list::set_self(const std::string& address, std::int64_t since) {
    address_ = canonical(json(address)).value_or("");
    since_ = since;
    std::erase_if(members_, [&](const peer_address& p) {
        return p.address == address_ || (!p.hsm_id.empty() && p.hsm_id == hsm_id_);
    });
}

std::vector<std::string> peer_list::addresses() const {
    std::vector<std::string> out;
    for (const auto& p : members_)
        out.push_back(p.address);
    return out;
}

json peer_list::announcement() const {
    return {{"hsm_id", hsm_id_}, {"address", address_}, {"since", since_}, {"peers", to_json()}};
}

json peer_list::to_json() const {
    json out = json::array();
    for (const auto& p : members_)
        out.push_back(entry_json(p));
    return out;
}

bool peer_list::learn(const json& announcement, std::int64_t now_ms, const std::string& speaker) {
    if (!announcement.is_object()) return false;
    // The sender's own entry, its own word only when its certificate says so.
    auto named = announcement.find("hsm_id");
    bool own_word = !speaker.empty() && named != announcement.end() && *named == speaker;
    bool changed = learn_one(announcement, own_word, now_ms, true);
    auto peers = announcement.find("peers");
    if (peers != announcement.end() && peers->is_array())
        for (const auto& e : *peers)
            changed = learn_one(e, false, now_ms) || changed;
    return changed;
}

// A relayed entry gives way to one heard first-hand: the newest relayed one
// (the oldest were learnt before whatever filled the list).
bool peer_list::make_room() {
    auto relayed = std::ranges::find_if(members_.rbegin(), members_.rend(),
                                        [](const peer_address& p) { return !p.first_hand; });
    if (relayed == members_.rend()) return false;
    members_.erase(std::next(relayed).base());
    return true;
}

bool peer_list::learn_one(const json& e, bool first_hand, std::int64_t now_ms, bool sender) {
    auto p = entry_from(e);
    if (!p || p->address == address_ || (!p->hsm_id.empty() && p->hsm_id == hsm_id_)) return false;
    if (p->since > now_ms + max_clock_skew_ms) return false; // a future word is no word
    p->first_hand = first_hand;
    auto same_address = std::ranges::find(members_, p->address, &peer_address::address);
    if (p->hsm_id.empty()) {
        // A bare address: kept only while nobody is known there.
        if (same_address != members_.end() || members_.size() >= max_peers) return false;
        members_.push_back(*p);
        return true;
    }
    auto same_node = std::ranges::find(members_, p->hsm_id, &peer_address::hsm_id);
    if (same_node != members_.end()) {
        // Only the node's own word moves it; a relay only confirms what is
        // known. Its own word always beats a relayed one, whatever `since`
        // the relay claimed.
        if (!first_hand) return false;
        if (same_node->first_hand && p->since <= same_node->since) return false; // old news
        bool moved = same_node->address != p->address;
        same_node->first_hand = true;
        same_node->address = p->address;
        same_node->since = p->since;
        // Whoever was only said (relayed) to be there before is not; another
        // node's own word about the address stays until that node moves.
        std::erase_if(members_, [&](const peer_address& q) {
            return q.address == p->address && q.hsm_id != p->hsm_id && !q.first_hand;
        });
        return moved;
    }
    if (same_address != members_.end()) {
        // A bare address (a --peer) is bound to the node that says, itself,
        // it is there (its announcement or its reply), never by a relay. An
        // address another node's entry holds goes only from a relayed entry:
        // to a node's own word, or to a sender's newer word.
        bool bare = same_address->hsm_id.empty();
        bool takes = bare ? sender
                          : !same_address->first_hand &&
                                (first_hand || (sender && p->since > same_address->since));
        if (takes) {
            *same_address = *p;
            return true;
        }
        if (!first_hand) return false;
        // A node's own word beside another node's own word at one address:
        // each keeps its entry until its own word moves it.
    }
    if (members_.size() >= max_peers && !((first_hand || sender) && make_room())) return false;
    members_.push_back(*p);
    return true;
}

} // namespace hsm
