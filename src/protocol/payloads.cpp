// SPDX-License-Identifier: Apache-2.0
// Typed reply payloads: encoders, and decoders that validate what they read.
#include "hsmsh/protocol/payloads.hpp"

#include "hsmsh/hex.hpp"

#include <array>
#include <limits>

namespace hsm {
namespace {

constexpr std::array<std::pair<cluster_state, std::string_view>, 4> state_names{{
    {cluster_state::uninitialized, "UNINITIALIZED"},
    {cluster_state::initialized, "INITIALIZED"},
    {cluster_state::active, "ACTIVE"},
    {cluster_state::degraded, "DEGRADED"},
}};

// A SAX reader of {"id": N, "status": "...", "f": {"users": [{...}, ...]}}:
// fields it does not know are skipped, fields it knows must have their type,
// and nesting is bounded as for every message.
class user_list_reader {
public:
    using number_integer_t = json::number_integer_t;
    using number_unsigned_t = json::number_unsigned_t;
    using number_float_t = json::number_float_t;
    using string_t = json::string_t;
    using binary_t = json::binary_t;

    bool null() { return scalar(nullptr); }
    bool boolean(bool v) { return scalar(v); }
    bool number_integer(number_integer_t v) { return scalar(std::int64_t{v}); }
    bool number_unsigned(number_unsigned_t v) { return scalar(std::uint64_t{v}); }
    bool number_float(number_float_t v, const string_t&) { return scalar(double{v}); }
    bool string(string_t& v) { return scalar(&v); }
    bool binary(binary_t&) { return fail(decode_error::wrong_type); }

    bool start_object(std::size_t) { return open(true); }
    bool start_array(std::size_t) { return open(false); }
    bool end_object() { return close(); }
    bool end_array() { return close(); }
    bool key(string_t& k) {
        key_ = std::move(k);
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
        return fail(decode_error::not_json);
    }

    std::variant<user_list_reply, decode_error> result(bool parsed) {
        if (error_) return *error_;
        if (!parsed) return decode_error::not_json;
        if (!id_ || !status_) return decode_error::missing_field;
        auto code = status_from_name(*status_);
        if (!code) return decode_error::unknown_status;
        for (const auto& seen : seen_)
            if ((seen & required) != required) return decode_error::missing_field;
        return user_list_reply{*id_, *code, std::move(users_)};
    }

private:
    enum class where { top, fields, users, user, skipped };
    using value =
        std::variant<std::nullptr_t, bool, std::int64_t, std::uint64_t, double, string_t*>;
    // The fields of a user that must be present.
    static constexpr unsigned has_id = 1, has_type = 2, has_name = 4;
    static constexpr unsigned required = has_id | has_type | has_name;

    bool fail(decode_error e) {
        if (!error_) error_ = e;
        return false;
    }

    bool open(bool object) {
        if (stack_.size() >= max_json_depth) return fail(decode_error::too_deep);
        if (stack_.empty()) {
            if (!object) return fail(decode_error::not_object);
            stack_.push_back(where::top);
            return true;
        }
        auto next = where::skipped;
        switch (stack_.back()) {
        case where::top:
            if (key_ == "id" || key_ == "status" || (key_ == "f" && !object))
                return fail(decode_error::wrong_type);
            if (key_ == "f") next = where::fields;
            break;
        case where::fields:
            if (key_ == "users") {
                if (object) return fail(decode_error::wrong_type);
                next = where::users;
            }
            break;
        case where::users:
            if (!object) return fail(decode_error::wrong_type);
            users_.emplace_back();
            seen_.push_back(0);
            next = where::user;
            break;
        case where::user:
            if (known_user_field()) return fail(decode_error::wrong_type);
            break;
        case where::skipped:
            break;
        }
        stack_.push_back(next);
        return true;
    }

    bool close() {
        if (!stack_.empty()) stack_.pop_back();
        return true;
    }

    bool known_user_field() const {
        for (std::string_view k :
             {"id", "type", "name", "mofn", "failures", "two_fa", "version", "digest", "key_quota"})
            if (key_ == k) return true;
        return false;
    }

    bool scalar(value v) {
        if (stack_.empty()) return fail(decode_error::not_object);
        switch (stack_.back()) {
        case where::top:
            return top_field(v);
        case where::fields:
            return key_ == "users" ? fail(decode_error::wrong_type) : true;
        case where::users:
            return fail(decode_error::wrong_type);
        case where::user:
            return user_field(v);
        case where::skipped:
            return true;
        }
        return true;
    }

    bool top_field(value& v) {
        if (key_ == "id") {
            auto* n = std::get_if<std::uint64_t>(&v);
            if (!n) return fail(decode_error::wrong_type);
            id_ = *n;
        } else if (key_ == "status") {
            auto* s = std::get_if<string_t*>(&v);
            if (!s) return fail(decode_error::wrong_type);
            status_ = std::move(**s);
        } else if (key_ == "f") {
            return fail(decode_error::wrong_type);
        }
        return true;
    }

    static std::optional<std::int64_t> integer(const value& v) {
        if (auto* n = std::get_if<std::int64_t>(&v)) return *n;
        if (auto* u = std::get_if<std::uint64_t>(&v);
            u && *u <= std::uint64_t(std::numeric_limits<std::int64_t>::max()))
            return std::int64_t(*u);
        return std::nullopt;
    }

    bool user_field(value& v) {
        auto& u = users_.back();
        auto& seen = seen_.back();
        auto* text = std::get_if<string_t*>(&v);
        auto* flag = std::get_if<bool>(&v);
        auto number = integer(v);
        if (key_ == "id" && number) {
            u.id = *number;
            seen |= has_id;
        } else if (key_ == "type" && text) {
            u.type = std::move(**text);
            seen |= has_type;
        } else if (key_ == "name" && text) {
            u.name = std::move(**text);
            seen |= has_name;
        } else if (key_ == "mofn" && flag) {
            u.mofn = *flag;
        } else if (key_ == "failures" && number) {
            u.failures = *number;
        } else if (key_ == "two_fa" && flag) {
            u.two_fa = *flag;
        } else if (key_ == "version" && number) {
            u.version = *number;
        } else if (key_ == "digest" && text) {
            u.digest = std::move(**text);
        } else if (key_ == "key_quota" && number && *number >= 0) {
            u.key_quota = *number;
        } else if (known_user_field()) {
            return fail(decode_error::wrong_type);
        }
        return true;
    }

    std::vector<where> stack_;
    string_t key_;
    std::optional<std::uint64_t> id_;
    std::optional<std::string> status_;
    std::vector<user_summary> users_;
    std::vector<unsigned> seen_;
    std::optional<decode_error> error_;
};

template <typename T> std::optional<T> field(const json& obj, std::string_view key) {
    auto it = obj.find(key);
    if (it == obj.end()) return std::nullopt;
    if constexpr (std::is_same_v<T, std::string>) {
        if (!it->is_string()) return std::nullopt;
    } else if constexpr (std::is_same_v<T, std::int64_t>) {
        if (!it->is_number_integer()) return std::nullopt;
    }
    return it->get<T>();
}

} // namespace

std::string_view cluster_state_name(cluster_state s) noexcept {
    for (const auto& [value, name] : state_names)
        if (value == s) return name;
    return "DEGRADED";
}

std::optional<cluster_state> cluster_state_from_name(std::string_view name) noexcept {
    for (const auto& [value, known] : state_names)
        if (known == name) return value;
    return std::nullopt;
}

json to_json(const std::vector<user_summary>& users) {
    json out = json::array();
    for (const auto& u : users) {
        json one{{"id", u.id},           {"type", u.type},         {"name", u.name},
                 {"mofn", u.mofn},       {"failures", u.failures}, {"two_fa", u.two_fa},
                 {"version", u.version}, {"digest", u.digest}};
        if (u.key_quota) one["key_quota"] = *u.key_quota;
        out.push_back(std::move(one));
    }
    return out;
}

std::variant<user_list_reply, decode_error> decode_user_list_reply(std::string_view body) noexcept {
    if (body.empty()) return decode_error::empty;
    if (body.size() > max_frame_size) return decode_error::too_large;
    try {
        user_list_reader reader;
        bool parsed = json::sax_parse(body.begin(), body.end(), &reader);
        return reader.result(parsed);
    } catch (...) {
        // Only allocation can throw here.
        return decode_error::not_json;
    }
}

json to_json(const hsm_info& info) {
    return {{"hsm_id", info.hsm_id},
            {"cluster_id", info.cluster_id},
            {"state", info.state},
            {"model", info.model},
            {"serial_number", info.serial_number},
            {"firmware", info.firmware},
            {"users", info.users},
            {"max_users", info.max_users},
            {"kdf", info.kdf},
            {"certificate_fingerprint", info.certificate_fingerprint},
            {"audit_head", info.audit_head},
            {"peers", info.peers}};
}

std::optional<hsm_info> hsm_info_from(const json& f) {
    if (!f.is_object()) return std::nullopt;
    // Shown, never acted on: what is missing or of another type shows empty.
    hsm_info info;
    info.hsm_id = field<std::string>(f, "hsm_id").value_or("");
    info.cluster_id = field<std::string>(f, "cluster_id").value_or("");
    info.state = field<std::string>(f, "state").value_or("");
    info.model = field<std::string>(f, "model").value_or("");
    info.serial_number = field<std::string>(f, "serial_number").value_or("");
    info.firmware = field<std::string>(f, "firmware").value_or("");
    info.users = field<std::int64_t>(f, "users").value_or(0);
    info.max_users = field<std::int64_t>(f, "max_users").value_or(0);
    info.kdf = field<std::string>(f, "kdf").value_or("");
    info.certificate_fingerprint = field<std::string>(f, "certificate_fingerprint").value_or("");
    info.audit_head = field<std::string>(f, "audit_head").value_or("");
    if (auto peers = f.find("peers"); peers != f.end() && peers->is_array())
        for (const auto& p : *peers)
            if (p.is_string()) info.peers.push_back(p.get<std::string>());
    return info;
}

json to_json(const sealed_user& r) {
    return {{"name", r.name},
            {"type", user_type_name(r.type)},
            {"version", r.version},
            {"sealed", r.sealed}};
}

std::optional<sealed_user> sealed_user_from(const json& r) {
    if (!r.is_object()) return std::nullopt;
    auto name = field<std::string>(r, "name");
    auto type_name = field<std::string>(r, "type");
    auto type = type_name ? user_type_from_name(*type_name) : std::nullopt;
    auto version = field<std::int64_t>(r, "version");
    auto sealed = field<std::string>(r, "sealed");
    if (!name || !type || !version || !sealed) return std::nullopt;
    return sealed_user{*name, *type, *version, *sealed};
}

json to_json(const std::vector<prepared_entry>& entries) {
    json rows = json::array();
    for (const auto& e : entries)
        rows.push_back({{"txid", e.txid},
                        {"user", e.user},
                        {"change", e.change},
                        {"actor", e.actor},
                        {"deadline_ms", e.deadline_ms}});
    return {{"prepared", std::move(rows)}};
}

std::vector<prepared_entry> prepared_entries_from(const json& f) {
    std::vector<prepared_entry> out;
    if (!f.is_object()) return out;
    auto rows = f.find("prepared");
    if (rows == f.end() || !rows->is_array()) return out;
    for (const auto& row : *rows) {
        if (!row.is_object()) continue;
        out.push_back({field<std::string>(row, "txid").value_or(""),
                       field<std::string>(row, "user").value_or(""),
                       field<std::string>(row, "change").value_or(""),
                       field<std::string>(row, "actor").value_or(""),
                       field<std::int64_t>(row, "deadline_ms").value_or(0)});
    }
    return out;
}

json to_json(const hello_reply& h) {
    return {{"version", h.version},
            {"cluster_id", h.cluster_id},
            {"hsm_id", h.hsm_id},
            {"state", h.state}};
}

hello_reply hello_reply_from(const json& fields) {
    return {integer_field(fields, "version").value_or(0),
            string_field(fields, "cluster_id").value_or(""),
            string_field(fields, "hsm_id").value_or(""),
            string_field(fields, "state").value_or("")};
}

std::optional<std::vector<std::uint8_t>> reply_data(const json& fields) {
    auto data = string_field(fields, "data");
    if (!data) return std::nullopt;
    return from_hex(*data);
}

json to_json(const key_summary& k) {
    json j{{"handle", k.handle},
           {"class", key_class_name(k.cls)},
           {"type", key_type_name(k.type)},
           {"bits", k.bits},
           {"label", k.label},
           {"id", k.id},
           {"flags", flags_to_json(k.flags)},
           {"owner", k.owner},
           {"owner_name", k.owner_name},
           {"shared", k.shared},
           {"digest", k.digest},
           {"public", k.public_key}};
    if (!k.token) j["token"] = false; // a token key's description is as it was
    return j;
}

json to_json(const key_page& page) {
    json keys = json::array();
    for (const auto& k : page.keys)
        keys.push_back(to_json(k));
    return {{"keys", std::move(keys)}, {"more", page.more}};
}

json to_json(const std::vector<sealed_key>& keys) {
    json out = json::array();
    for (const auto& k : keys)
        out.push_back(
            {{"handle", k.handle}, {"class", key_class_name(k.cls)}, {"sealed", k.sealed}});
    return {{"keys", std::move(out)}};
}

std::optional<std::vector<sealed_key>> sealed_keys_from(const json& fields) {
    auto keys = fields.is_object() ? fields.find("keys") : fields.end();
    if (keys == fields.end() || !keys->is_array() || keys->empty() ||
        keys->size() > max_sealed_keys)
        return std::nullopt;
    std::vector<sealed_key> out;
    for (const auto& k : *keys) {
        auto handle = field<std::int64_t>(k, "handle");
        auto cls = key_class_from_name(field<std::string>(k, "class").value_or(""));
        auto sealed = field<std::string>(k, "sealed");
        if (!handle || *handle <= 0 || !cls || !sealed || !from_hex(*sealed)) return std::nullopt;
        out.push_back({*handle, *cls, std::move(*sealed)});
    }
    return out;
}

std::optional<key_summary> key_summary_from(const json& j) {
    if (!j.is_object()) return std::nullopt;
    try {
        key_summary k;
        auto cls = key_class_from_name(j.at("class").get<std::string>());
        auto type = key_type_from_name(j.at("type").get<std::string>());
        auto flags = flags_from_json(j.at("flags"), key_flags{});
        if (!cls || !type || !flags) return std::nullopt;
        k.cls = *cls;
        k.type = *type;
        k.flags = *flags;
        k.handle = j.at("handle").get<std::int64_t>();
        k.bits = j.at("bits").get<int>();
        k.label = j.at("label").get<std::string>();
        k.id = j.at("id").get<std::string>();
        k.owner = j.at("owner").get<std::int64_t>();
        k.owner_name = j.at("owner_name").get<std::string>();
        k.shared = j.at("shared").get<std::vector<std::int64_t>>();
        k.digest = j.at("digest").get<std::string>();
        k.public_key = j.at("public").get<std::string>();
        k.token = j.value("token", true);
        return k;
    } catch (const json::exception&) {
        return std::nullopt;
    }
}

std::optional<key_page> key_page_from(const json& fields) {
    if (!fields.is_object()) return std::nullopt;
    auto keys = fields.find("keys");
    if (keys == fields.end() || !keys->is_array()) return std::nullopt;
    key_page page;
    for (const auto& k : *keys)
        if (auto summary = key_summary_from(k)) page.keys.push_back(std::move(*summary));
    page.more = bool_field(fields, "more").value_or(false);
    return page;
}

json to_json(const found_keys& f) {
    json keys = json::array();
    for (const auto& k : f.keys)
        keys.push_back({{"handle", k.handle}, {"owned", k.owned}});
    return {{"keys", std::move(keys)}, {"hash", f.hash}};
}

std::optional<found_keys> found_keys_from(const json& j) {
    if (!j.is_object()) return std::nullopt;
    try {
        found_keys f;
        for (const auto& k : j.at("keys"))
            f.keys.push_back({k.at("handle").get<std::int64_t>(), k.at("owned").get<bool>()});
        f.hash = j.at("hash").get<std::string>();
        return f;
    } catch (const json::exception&) {
        return std::nullopt;
    }
}

} // namespace hsm
