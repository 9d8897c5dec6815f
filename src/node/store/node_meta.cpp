// SPDX-License-Identifier: Apache-2.0
// The node's own settings in its store: metadata, life-cycle state, m values and client
// credentials.
#include "store/node_meta.hpp"

#include <charconv>

namespace hsm {
namespace {

meta_key m_key(quorum::service s) {
    return s == quorum::service::user_mgmt ? meta_key::m_user_mgmt : meta_key::m_misc_co;
}

} // namespace

std::string_view meta_key_name(meta_key k) noexcept {
    switch (k) {
    case meta_key::cluster_id:
        return "cluster_id";
    case meta_key::hsm_id:
        return "hsm_id";
    case meta_key::state:
        return "state";
    case meta_key::peers:
        return "peers";
    case meta_key::last_user_id:
        return "last_user_id";
    case meta_key::m_user_mgmt:
        return "m_user_mgmt";
    case meta_key::m_misc_co:
        return "m_misc_co";
    }
    return "unknown";
}

std::optional<std::string> node_meta::get(meta_key k) const {
    auto key = meta_key_name(k);
    auto s = db_.query("SELECT value FROM meta WHERE key = ?");
    s.bind(1, key);
    if (!s.step()) return std::nullopt;
    return s.text(0);
}

void node_meta::set(meta_key k, std::string_view value) {
    auto key = meta_key_name(k);
    db_.query("INSERT INTO meta(key, value) VALUES(?, ?) "
              "ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        .bind(1, key)
        .bind(2, value)
        .run();
}

cluster_state node_meta::state() const {
    auto name = get(meta_key::state);
    return name ? cluster_state_from_name(*name).value_or(cluster_state::degraded)
                : cluster_state::degraded;
}

void node_meta::set_state(cluster_state s) {
    set(meta_key::state, cluster_state_name(s));
}

int node_meta::m_value(quorum::service s) const {
    auto text = get(m_key(s));
    if (!text) return quorum::min_m;
    int m = 0;
    auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), m);
    bool whole = error == std::errc() && end == text->data() + text->size();
    // Unreadable is the strictest, never "off": a damaged store must not
    // lift a quorum (an operator who can write the store can mend it).
    return whole && m >= quorum::min_m && m <= quorum::max_m ? m : quorum::max_m;
}

void node_meta::set_m_value(quorum::service s, int m) {
    set(m_key(s), std::to_string(m));
}

void node_meta::add_client_credential(std::string_view fingerprint, std::string_view kind,
                                      std::string_view subject, std::string_view pem) {
    auto s = db_.query(
        "INSERT INTO client_credentials(fingerprint, kind, subject, pem) VALUES(?,?,?,?)");
    s.bind(1, fingerprint).bind(2, kind).bind(3, subject).bind(4, pem).run();
}

bool node_meta::remove_client_credential(std::string_view fingerprint) {
    db_.query("DELETE FROM client_credentials WHERE fingerprint = ?").bind(1, fingerprint).run();
    return db_.changes() > 0;
}

std::vector<std::array<std::string, 4>> node_meta::client_credentials() const {
    auto s = db_.query("SELECT fingerprint, kind, subject, pem FROM client_credentials "
                       "ORDER BY kind, fingerprint");
    std::vector<std::array<std::string, 4>> out;
    while (s.step())
        out.push_back({s.text(0), s.text(1), s.text(2), s.text(3)});
    return out;
}

} // namespace hsm
