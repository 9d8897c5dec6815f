// SPDX-License-Identifier: Apache-2.0
// A node's quorum tokens.
#include "quorum/quorum_tokens.hpp"

#include "crypto/key_crypto.hpp"

#include <algorithm>

namespace hsm {

void quorum_tokens::purge_expired(std::int64_t now_ms) {
    std::erase_if(tokens_, [&](const quorum_token& t) { return t.expires_ms <= now_ms; });
}

const quorum_token* quorum_tokens::issue(const void* owner, std::int64_t user_id,
                                         quorum::service service, const std::string& user,
                                         std::int64_t now_ms) {
    purge_expired(now_ms);
    auto held = std::ranges::count_if(tokens_, [&](const auto& t) { return t.owner == owner; });
    if (tokens_.size() >= limits_.per_node || static_cast<std::size_t>(held) >= limits_.per_session)
        return nullptr;
    quorum_token t;
    t.owner = owner;
    t.user_id = user_id;
    t.record.svc = service;
    t.record.id = ++last_id_;
    auto nonce = random_bytes(t.record.nonce.size());
    std::ranges::copy(nonce, t.record.nonce.begin());
    t.record.user = user;
    t.record.created = static_cast<std::uint32_t>(now_ms / 1000);
    t.expires_ms = now_ms + limits_.lifetime.count();
    tokens_.push_back(std::move(t));
    return &tokens_.back();
}

quorum_token* quorum_tokens::find(const void* owner, const quorum::token_record& r,
                                  std::int64_t now_ms) {
    auto it = std::ranges::find_if(tokens_, [&](const quorum_token& t) {
        return t.owner == owner && t.record == r && t.expires_ms > now_ms;
    });
    return it == tokens_.end() ? nullptr : &*it;
}

bool quorum_tokens::live(const quorum::token_record& r, std::int64_t now_ms) const {
    return std::ranges::any_of(
        tokens_, [&](const quorum_token& t) { return t.record == r && t.expires_ms > now_ms; });
}

quorum_token* quorum_tokens::find(const void* owner, std::uint32_t id, std::int64_t now_ms) {
    auto it = std::ranges::find_if(tokens_, [&](const quorum_token& t) {
        return t.owner == owner && t.record.id == id && t.expires_ms > now_ms;
    });
    return it == tokens_.end() ? nullptr : &*it;
}

std::vector<const quorum_token*> quorum_tokens::of(const void* owner, std::int64_t now_ms) const {
    std::vector<const quorum_token*> out;
    for (const auto& t : tokens_)
        if (t.owner == owner && t.expires_ms > now_ms) out.push_back(&t);
    return out;
}

bool quorum_tokens::remove(const void* owner, std::uint32_t id) {
    return std::erase_if(tokens_, [&](const quorum_token& t) {
               return t.owner == owner && t.record.id == id;
           }) > 0;
}

std::size_t quorum_tokens::drop(const void* owner) {
    return std::erase_if(tokens_, [&](const quorum_token& t) { return t.owner == owner; });
}

} // namespace hsm
