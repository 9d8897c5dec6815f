// SPDX-License-Identifier: Apache-2.0
// Session keys: made for one login, held in memory, gone with it.
#include "ops/session_keys.hpp"

#include "hsmsh/protocol/payloads.hpp"
#include "ops/keys.hpp"

namespace hsm {

namespace {

// What a session key holds as it was given: a certificate's DER, a data
// object's bytes (keys are a few hundred bytes, bounded by their count).
std::size_t object_bytes(const session_key& k) {
    return k.record.public_der.size() +
           (k.record.cls == key_class::data ? k.key.secret().view().size() : 0);
}

} // namespace

bool session_keys_fit(const node_context& n, const session& s, std::size_t count,
                      std::size_t size) {
    if (!s.user_id || s.keys.size() + count > max_session_keys) return false;
    for (const auto& [handle, k] : s.keys)
        size += object_bytes(k);
    if (size > max_session_object_bytes) return false;
    std::size_t of_user = 0;
    auto [first, last] = n.sessions.equal_range(*s.user_id);
    for (auto it = first; it != last; ++it)
        of_user += it->second->keys.size();
    return of_user + count <= max_session_keys_of_user;
}

std::int64_t next_session_handle(const session& s, std::int64_t besides) {
    for (int attempt = 0; attempt < 64; ++attempt) {
        auto h = session_key_bit | random_handle();
        if (h != besides && !s.keys.contains(h)) return h;
    }
    throw std::runtime_error("no free session key handle in 64 draws");
}

status keep_session_keys(node_context& n, session& s, std::vector<key_record> records,
                         std::vector<generated_key>& generated, json& out) {
    std::vector<session_key> made;
    for (std::size_t i = 0; i < records.size(); ++i) {
        auto key =
            loaded_key::load(records[i].cls, records[i].type, std::move(generated[i].material));
        if (!key) return status::internal_error;
        records[i].owner = *s.user_id;
        made.push_back({std::move(records[i]), std::move(*key)});
    }
    key_page page;
    for (auto& k : made) {
        auto record = k.record;
        s.keys.insert_or_assign(record.handle, std::move(k));
        page.keys.push_back(summary_of(n, record));
        with_data_bytes(n, s, record, page.keys.back()); // the session's own
    }
    out = to_json(page);
    return status::ok;
}

std::optional<key_record> key_for(const node_context& n, const session& s, std::int64_t handle) {
    if (!is_session_handle(handle)) return n.store.keys().find(handle);
    auto it = s.keys.find(handle);
    if (it == s.keys.end()) return std::nullopt;
    return it->second.record;
}

std::optional<loaded_key> loaded_for(node_context& n, const session& s, const key_record& k) {
    if (!is_session_handle(k.handle)) return loaded(n, k);
    auto it = s.keys.find(k.handle);
    if (it == s.keys.end()) return std::nullopt;
    return it->second.key;
}

status destroy_session_key(node_context&, session& s, const key_handle_request& r, json&) {
    if (!r.handle || !is_session_handle(*r.handle)) return status::key_not_found;
    return s.keys.erase(*r.handle) ? status::ok : status::key_not_found;
}

} // namespace hsm
