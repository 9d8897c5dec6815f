// SPDX-License-Identifier: Apache-2.0
// Encoding and total decoding of frames, requests and replies.
#include "hsmsh/protocol/wire.hpp"

#include "hsmsh/secret.hpp"

#include <array>

#include <fmt/format.h>

namespace hsm {
namespace {

// Parses a body into a JSON object, or says why it is not one. The nesting
// is bounded before any tree is built: copying or destroying a deep tree
// recurses once per level, and a 140 KB frame can hold 70,000 of them.
std::variant<json, decode_error> parse_object(std::string_view body) noexcept {
    if (body.empty()) return decode_error::empty;
    if (body.size() > max_frame_size) return decode_error::too_large;
    if (json_depth_exceeds(body, max_json_depth)) return decode_error::too_deep;
    try {
        json doc = json::parse(body, nullptr, false);
        if (doc.is_discarded()) return decode_error::not_json;
        if (!doc.is_object()) return decode_error::not_object;
        return doc;
    } catch (...) {
        // parse() without exceptions can still fail to allocate.
        return decode_error::not_json;
    }
}

std::optional<decode_error> check_header(const json& doc) {
    if (!doc.contains("id")) return decode_error::missing_field;
    if (!doc["id"].is_number_unsigned()) return decode_error::wrong_type;
    if (doc.contains("f") && !doc["f"].is_object()) return decode_error::wrong_type;
    return std::nullopt;
}

request_or_error request_from(json& doc) {
    if (auto e = check_header(doc)) return *e;
    if (!doc.contains("v") || !doc.contains("op")) return decode_error::missing_field;
    if (!doc["v"].is_number_unsigned() || !doc["op"].is_string()) return decode_error::wrong_type;
    auto op = operation_from_name(doc["op"].get_ref<const std::string&>());
    if (!op) return decode_error::unknown_operation;
    request r;
    r.version = static_cast<std::uint32_t>(doc["v"].get<std::uint64_t>());
    r.id = doc["id"].get<std::uint64_t>();
    r.op = *op;
    if (doc.contains("f")) r.fields = std::move(doc["f"]);
    return r;
}

reply_or_error reply_from(json& doc) {
    if (auto e = check_header(doc)) return *e;
    if (!doc.contains("status")) return decode_error::missing_field;
    if (!doc["status"].is_string()) return decode_error::wrong_type;
    auto code = status_from_name(doc["status"].get_ref<const std::string&>());
    if (!code) return decode_error::unknown_status;
    reply r;
    r.id = doc["id"].get<std::uint64_t>();
    r.code = *code;
    if (doc.contains("f")) r.fields = std::move(doc["f"]);
    return r;
}

} // namespace

bool json_depth_exceeds(std::string_view text, std::size_t limit) noexcept {
    std::size_t depth = 0;
    bool in_string = false, escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > limit) return true;
        } else if ((c == '}' || c == ']') && depth > 0) {
            --depth;
        }
    }
    return false;
}

std::string_view operation_name(operation op) noexcept {
    for (const auto& [value, name] : operation_names)
        if (value == op) return name;
    return "unknown";
}

std::optional<operation> operation_from_name(std::string_view name) noexcept {
    for (const auto& [value, known] : operation_names)
        if (known == name) return value;
    return std::nullopt;
}

std::string_view decode_error_name(decode_error e) noexcept {
    switch (e) {
    case decode_error::empty:
        return "empty message";
    case decode_error::too_large:
        return "message too large";
    case decode_error::not_json:
        return "not JSON";
    case decode_error::not_object:
        return "not a JSON object";
    case decode_error::missing_field:
        return "missing field";
    case decode_error::wrong_type:
        return "field of the wrong type";
    case decode_error::unknown_operation:
        return "unknown operation";
    case decode_error::unknown_status:
        return "unknown status";
    case decode_error::too_deep:
        return "nested too deeply";
    }
    return "malformed message";
}

request_or_error decode_request(std::string_view body) noexcept {
    auto doc = parse_object(body);
    if (auto* e = std::get_if<decode_error>(&doc)) return *e;
    try {
        return request_from(std::get<json>(doc));
    } catch (...) {
        return decode_error::wrong_type;
    }
}

reply_or_error decode_reply(std::string_view body) noexcept {
    auto doc = parse_object(body);
    if (auto* e = std::get_if<decode_error>(&doc)) return *e;
    try {
        return reply_from(std::get<json>(doc));
    } catch (...) {
        return decode_error::wrong_type;
    }
}

namespace {

// Appends `s` as a JSON string; `out` must have room, so that no copy of a
// password is left behind in a buffer the string outgrew.
void append_json_string(std::string& out, std::string_view s) {
    static constexpr char digits[] = "0123456789abcdef";
    out.push_back('"');
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (u < 0x20) {
            out.append("\\u00");
            out.push_back(digits[u >> 4]);
            out.push_back(digits[u & 0x0f]);
        } else {
            out.push_back(c);
        }
    }
    out.push_back('"');
}

} // namespace

std::string encode(const request& r) {
    // The header by hand: it is written once per server and command, and a
    // tree for four fixed fields costs more than the rest of the request.
    auto header =
        fmt::format(R"({{"v":{},"id":{},"op":"{}","f":)", r.version, r.id, operation_name(r.op));
    auto dump = [](const json& j) {
        return j.dump(-1, ' ', false, json::error_handler_t::replace);
    };
    auto password = r.fields.find("password");
    if (password == r.fields.end() || !password->is_string()) return header + dump(r.fields) + '}';
    json fields = json::object();
    for (auto it = r.fields.begin(); it != r.fields.end(); ++it)
        if (it != password) fields[it.key()] = it.value();
    // The password goes in last, by hand, into a buffer sized for it: the
    // JSON tree and the serializer's growing buffer never hold a copy. It
    // is appended after the other fields rather than put in a placeholder's
    // place, since a key of the caller's could spell the placeholder too.
    auto text = dump(fields);
    text.pop_back(); // the closing brace
    const auto& value = password->get_ref<const std::string&>();
    std::string out;
    out.reserve(header.size() + text.size() + 6 * value.size() + 16);
    out.append(header);
    out.append(text);
    if (text.size() > 1) out.push_back(',');
    out.append(R"("password":)");
    append_json_string(out, value);
    out.append("}");
    out.push_back('}');
    return out;
}

std::string encode(const reply& r) {
    json doc{{"id", r.id}, {"status", status_name(r.code)}, {"f", r.fields}};
    return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::array<std::uint8_t, frame_header_size> encode_frame_header(std::size_t size) noexcept {
    return {static_cast<std::uint8_t>(size >> 24), static_cast<std::uint8_t>(size >> 16),
            static_cast<std::uint8_t>(size >> 8), static_cast<std::uint8_t>(size)};
}

std::optional<std::size_t>
decode_frame_header(std::span<const std::uint8_t, frame_header_size> header) noexcept {
    std::size_t size = (std::size_t{header[0]} << 24) | (std::size_t{header[1]} << 16) |
                       (std::size_t{header[2]} << 8) | std::size_t{header[3]};
    if (size == 0 || size > max_frame_size) return std::nullopt;
    return size;
}

bool valid_txid(std::string_view txid) noexcept {
    return txid.size() == 32 &&
           txid.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

namespace {

void wipe_string(json& fields, const char* key) noexcept {
    if (!fields.is_object()) return;
    auto it = fields.find(key);
    if (it != fields.end() && it->is_string()) wipe(it->get_ref<std::string&>());
}

} // namespace

void wipe_password(json& fields) noexcept {
    wipe_string(fields, "password");
}

void wipe_data(json& fields) noexcept {
    wipe_string(fields, "data");
    wipe_string(fields, "material");
}

std::optional<std::string> string_field(const json& fields, std::string_view key) {
    auto it = fields.find(key);
    if (it == fields.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
}

std::optional<std::int64_t> integer_field(const json& fields, std::string_view key) {
    auto it = fields.find(key);
    if (it == fields.end() || !it->is_number_integer()) return std::nullopt;
    return it->get<std::int64_t>();
}

std::optional<bool> bool_field(const json& fields, std::string_view key) {
    auto it = fields.find(key);
    if (it == fields.end() || !it->is_boolean()) return std::nullopt;
    return it->get<bool>();
}

} // namespace hsm
