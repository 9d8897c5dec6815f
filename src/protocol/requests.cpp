// SPDX-License-Identifier: Apache-2.0
// The typed requests a node answers: their total decoders.
#include "hsmsh/protocol/requests.hpp"
#include "hsmsh/hex.hpp"

namespace hsm {
namespace {

// The wire's string_field and integer_field read the rest.
std::optional<bool> boolean(const json& f, std::string_view key) {
    auto it = f.find(key);
    if (it == f.end() || !it->is_boolean()) return std::nullopt;
    return it->get<bool>();
}

// A hex string field's bytes; an absent field reads as "" (no bytes).
std::optional<bytes> hex_or_empty(const json& f, std::string_view key) {
    return from_hex(string_field(f, key).value_or(""));
}

// A hex field of at most `limit` bytes; nullopt when absent, not hex or longer.
std::optional<bytes> bounded_hex(const json& f, std::string_view key, std::size_t limit) {
    auto text = string_field(f, key);
    if (!text || text->size() > 2 * limit) return std::nullopt;
    return from_hex(*text);
}

node_signatures signatures_in(const json& f) {
    node_signatures out;
    auto all = f.find("signatures");
    if (all == f.end() || !all->is_object()) return out;
    out.given = true;
    out.count = all->size();
    for (const auto& entry : all->items())
        if (entry.value().is_string())
            out.hex.emplace(entry.key(), entry.value().get<std::string>());
    return out;
}

optional_field<enrollment> enrollment_in(const json& f) {
    auto spec = f.find("two_fa");
    if (spec == f.end()) return {};
    if (!spec->is_object()) return {true, std::nullopt};
    return {true, enrollment{hex_or_empty(*spec, "key"), signatures_in(*spec)}};
}

optional_field<std::optional<std::int64_t>> key_quota_in(const json& f) {
    auto it = f.find("key_quota");
    if (it == f.end()) return {};
    if (it->is_null()) return {true, std::optional<std::int64_t>()};
    if (!it->is_number_integer()) return {true, std::nullopt};
    return {true, it->get<std::int64_t>()};
}

std::optional<std::vector<user_reference>> users_in(const json& f) {
    auto users = f.find("users");
    if (users == f.end() || !users->is_array()) return std::nullopt;
    std::vector<user_reference> out;
    for (const auto& u : *users) {
        if (u.is_number_integer())
            out.emplace_back(u.get<std::int64_t>());
        else if (u.is_string())
            out.emplace_back(u.get<std::string>());
        else
            out.emplace_back(std::monostate{});
    }
    return out;
}

// The user changes a prepare carries, by their operation's name.
std::optional<operation> user_change_named(std::string_view name) {
    auto op = operation_from_name(name);
    if (op == operation::create_user || op == operation::delete_user ||
        op == operation::change_password || op == operation::register_quorum_key ||
        op == operation::set_key_quota)
        return op;
    return std::nullopt;
}

bool key_change_named(std::string_view name) {
    return name == "insert_keys" || name == "sync_key" || name == "destroy_key" ||
           name == "share_key" || name == "set_attribute";
}

// What a request for a key brought in names besides its material (import,
// unwrap, derive): class and type, label, id, flags, and whether the session
// keeps it.
template <typename R> void decode_new_key(const json& f, R& out) {
    out.cls = key_class_from_name(string_field(f, "class").value_or(""));
    out.type = key_type_from_name(string_field(f, "type").value_or(""));
    out.label = string_field(f, "label").value_or("");
    out.id = string_field(f, "id").value_or("");
    if (auto attributes = f.find("attributes"); attributes != f.end()) out.attributes = *attributes;
    if (f.contains("session")) out.session = boolean(f, "session");
}

// Hex of at most `limit` bytes that may be left out: empty when absent,
// nullopt when not hex or too long.
std::optional<bytes> optional_hex(const json& f, std::string_view key, std::size_t limit) {
    return f.contains(key) ? bounded_hex(f, key, limit) : std::optional(bytes{});
}

} // namespace

void decode_fields(const json&, no_fields&) {}

void decode_fields(const json& f, user_named& out) {
    out.type = user_type_from_name(string_field(f, "type").value_or(""));
    out.name = string_field(f, "name");
}

void decode_fields(const json& f, login_request& out) {
    decode_fields(f, out.user);
}

void decode_fields(const json& f, second_factor_request& out) {
    out.signatures = signatures_in(f);
}

void decode_fields(const json& f, user_change_request& out) {
    decode_fields(f, out.user);
    auto revoke = f.find("revoke");
    if (revoke != f.end()) out.revoke = {true, boolean(f, "revoke")};
    out.two_fa = enrollment_in(f);
    out.quorum_key = hex_or_empty(f, "quorum_key");
    out.token = hex_or_empty(f, "token");
    out.signature = hex_or_empty(f, "signature");
    out.key_quota = key_quota_in(f);
    out.salt = hex_or_empty(f, "salt");
}

void decode_fields(const json& f, key_change_request& out) {
    auto name = string_field(f, "change").value_or("");
    if (name == "insert_keys" || name == "sync_key") out.keys = sealed_keys_from(f);
    out.handle = integer_field(f, "handle");
    out.share = boolean(f, "share");
    out.users = users_in(f);
    out.attribute = integer_field(f, "attribute");
    out.value = string_field(f, "value");
}

void decode_fields(const json& f, service_request& out) {
    auto n = integer_field(f, "service");
    out.svc = n ? quorum::service_from_number(static_cast<long>(*n)) : std::nullopt;
}

void decode_fields(const json& f, m_value_request& out) {
    out.svc = decoded<service_request>(f).svc;
    out.m = integer_field(f, "m");
}

void decode_fields(const json& f, user_sync_request& out) {
    auto record = f.find("record");
    if (record != f.end()) out.record = sealed_user_from(*record);
    out.force = boolean(f, "force").value_or(false);
}

void decode_fields(const json& f, prepare_request& out) {
    out.txid = string_field(f, "txid").value_or("");
    out.change = string_field(f, "change").value_or("");
    out.name = string_field(f, "name");
    if (auto op = user_change_named(out.change)) {
        auto user = decoded<user_change_request>(f);
        user.op = *op;
        out.what = std::move(user);
    } else if (key_change_named(out.change)) {
        out.what = decoded<key_change_request>(f);
    } else if (out.change == "set_m_value") {
        out.what = decoded<m_value_request>(f);
    } else if (out.change == "sync_user") {
        out.what = decoded<user_sync_request>(f);
    }
}

void decode_fields(const json& f, transaction_request& out) {
    out.txid = string_field(f, "txid").value_or("");
    out.vouch = boolean(f, "vouch").value_or(false);
    auto handles = f.find("handles");
    if (handles == f.end() || !handles->is_array() || handles->empty() || handles->size() > 2)
        return;
    std::vector<std::int64_t> read;
    for (const auto& h : *handles) {
        if (!h.is_number_integer()) return;
        read.push_back(h.get<std::int64_t>());
    }
    out.handles = std::move(read);
}

void decode_fields(const json& f, peer_announcement_request& out) {
    out.announcement = f;
}

void decode_fields(const json& f, generate_key_request& out) {
    out.spec_name = string_field(f, "spec");
    out.spec = parse_key_spec(out.spec_name.value_or(""));
    out.label = string_field(f, "label").value_or("");
    out.id = string_field(f, "id").value_or("");
    if (auto attributes = f.find("attributes"); attributes != f.end()) out.attributes = *attributes;
    if (f.contains("session")) out.session = boolean(f, "session");
}

void decode_fields(const json& f, import_key_request& out) {
    decode_new_key(f, out);
    if (auto it = f.find("material"); it != f.end() && it->is_string())
        out.material_hex = secret(it->get<std::string>());
}

void decode_fields(const json& f, wrap_key_request& out) {
    out.handle = integer_field(f, "handle");
    out.key = integer_field(f, "key");
    out.mech = mechanism_from_name(string_field(f, "mechanism").value_or(""));
    out.aad = optional_hex(f, "aad", max_crypto_data);
}

void decode_fields(const json& f, unwrap_key_request& out) {
    out.handle = integer_field(f, "handle");
    out.mech = mechanism_from_name(string_field(f, "mechanism").value_or(""));
    out.data = bounded_hex(f, "data", max_wrapped_key);
    out.aad = optional_hex(f, "aad", max_crypto_data);
    decode_new_key(f, out);
}

void decode_fields(const json& f, derive_key_request& out) {
    out.handle = integer_field(f, "handle");
    out.point = bounded_hex(f, "point", max_public_point);
    out.kdf = string_field(f, "kdf").value_or("");
    out.shared = optional_hex(f, "shared", max_shared_data);
    out.value_len = integer_field(f, "value_len");
    decode_new_key(f, out);
}

void decode_fields(const json& f, find_keys_request& out) {
    out.user = integer_field(f, "user");
    out.hash = boolean(f, "hash").value_or(false);
}

void decode_fields(const json& f, key_handle_request& out) {
    out.handle = integer_field(f, "handle");
}

void decode_fields(const json& f, list_keys_request& out) {
    out.after = integer_field(f, "after").value_or(0);
}

void decode_fields(const json& f, key_use_request& out) {
    out.handle = integer_field(f, "handle");
    out.mech = mechanism_from_name(string_field(f, "mechanism").value_or(""));
    out.data = bounded_hex(f, "data", max_operation_data);
    out.signature = bounded_hex(f, "signature", max_crypto_data);
    out.iv = f.contains("iv");
    out.aad = optional_hex(f, "aad", max_crypto_data);
    out.mac_length =
        f.contains("mac_length") ? integer_field(f, "mac_length") : std::optional<std::int64_t>(0);
}

void decode_fields(const json& f, random_request& out) {
    out.count = integer_field(f, "bytes");
}

void decode_fields(const json& f, approve_token_request& out) {
    out.tokens = string_field(f, "tokens").value_or("");
    auto approvals = f.find("approvals");
    if (approvals == f.end() || !approvals->is_array()) return;
    out.approvals.emplace();
    for (const auto& a : *approvals) {
        bool object = a.is_object();
        out.approvals->push_back(
            {object ? string_field(a, "name") : std::nullopt,
             from_hex(object ? string_field(a, "signature").value_or("") : "")});
    }
}

void decode_fields(const json& f, delete_token_request& out) {
    out.names_tokens = f.contains("tokens");
    out.tokens = string_field(f, "tokens").value_or("");
}

} // namespace hsm
