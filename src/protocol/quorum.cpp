// SPDX-License-Identifier: Apache-2.0
// Quorum's services, m values, token records and CMU's approval file.
#include "hsmsh/protocol/quorum.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <stdexcept>

namespace hsm::quorum {
namespace {

constexpr std::size_t name_field = 32;

void put_be(std::uint8_t* out, std::uint64_t v, int bytes) noexcept {
    for (int i = bytes - 1; i >= 0; --i, v >>= 8)
        out[i] = static_cast<std::uint8_t>(v & 0xff);
}

std::uint64_t get_be(const std::uint8_t* in, int bytes) noexcept {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i)
        v = v << 8 | in[i];
    return v;
}

bool all_zero(std::span<const std::uint8_t> b) noexcept {
    return std::all_of(b.begin(), b.end(), [](std::uint8_t c) { return c == 0; });
}

// "Approver Name" -> "approvername".
std::string key_of(std::string_view k) {
    std::string out;
    for (char c : k)
        if (!std::isspace(static_cast<unsigned char>(c)))
            out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
        s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
        s.remove_suffix(1);
    return s;
}

struct field {
    std::size_t line = 0;
    std::string key;
    std::string value;
};

// The file's fields in order; comments and blank lines skipped.
std::vector<field> fields_of(std::string_view text) {
    std::vector<field> out;
    std::size_t number = 0;
    while (!text.empty()) {
        auto end = text.find('\n');
        auto line = trim(text.substr(0, end));
        text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
        ++number;
        if (line.empty() || line.front() == '#') continue;
        auto sep = line.find_first_of("=:");
        if (sep == std::string_view::npos)
            throw std::invalid_argument(fmt::format("line {}: expected 'Key = value;'", number));
        auto value = line.substr(sep + 1);
        value = trim(value.substr(0, value.find(';')));
        out.push_back({number, key_of(line.substr(0, sep)), std::string(value)});
    }
    return out;
}

long number_of(const field& f, long low, long high) {
    long n = 0;
    auto [end, ec] = std::from_chars(f.value.data(), f.value.data() + f.value.size(), n);
    if (ec != std::errc{} || end != f.value.data() + f.value.size() || n < low || n > high)
        throw std::invalid_argument(
            fmt::format("line {}: expected a number from {} to {}", f.line, low, high));
    return n;
}

const field& expect(const std::vector<field>& fields, std::size_t i, std::string_view key,
                    std::string_view shown) {
    if (i >= fields.size())
        throw std::invalid_argument(fmt::format("'{}' missing at the end of the file", shown));
    if (fields[i].key != key)
        throw std::invalid_argument(fmt::format("line {}: expected '{}'", fields[i].line, shown));
    if (fields[i].value.empty())
        throw std::invalid_argument(fmt::format("line {}: '{}' is empty", fields[i].line, shown));
    return fields[i];
}

} // namespace

std::optional<service> service_from_number(long n) noexcept {
    if (n == 3) return service::user_mgmt;
    if (n == 4) return service::misc_co;
    return std::nullopt;
}

std::string_view service_name(service s) noexcept {
    return s == service::user_mgmt ? "USER_MGMT" : "MISC_CO";
}

bool valid_m(long m, std::size_t officers) noexcept {
    if (m == 1) return true;
    return m >= 2 && m <= max_m && static_cast<std::size_t>(m) <= officers;
}

std::array<std::uint8_t, token_record_size> encode(const token_record& t) {
    if (t.user.size() >= name_field || t.user.find('\0') != std::string::npos)
        throw std::invalid_argument("a token's user name is 1 to 31 bytes");
    std::array<std::uint8_t, token_record_size> out{};
    put_be(&out[0], 1, 2);
    put_be(&out[2], static_cast<std::uint16_t>(t.svc), 2);
    put_be(&out[4], t.id, 4);
    std::copy(t.nonce.begin(), t.nonce.end(), &out[16]);
    std::copy(t.user.begin(), t.user.end(), &out[32]);
    put_be(&out[68], t.created, 4);
    return out;
}

std::optional<token_record> decode(std::span<const std::uint8_t> b) {
    if (b.size() != token_record_size || get_be(&b[0], 2) != 1) return std::nullopt;
    auto svc = service_from_number(static_cast<long>(get_be(&b[2], 2)));
    if (!svc || !all_zero(b.subspan(8, 8)) || !all_zero(b.subspan(64, 4)) ||
        !all_zero(b.subspan(72, 8)))
        return std::nullopt;
    auto name = b.subspan(32, name_field);
    auto len = static_cast<std::size_t>(std::find(name.begin(), name.end(), 0) - name.begin());
    if (len == 0 || len == name_field || !all_zero(name.subspan(len))) return std::nullopt;
    token_record t;
    t.svc = *svc;
    t.id = static_cast<std::uint32_t>(get_be(&b[4], 4));
    std::copy_n(&b[16], t.nonce.size(), t.nonce.begin());
    t.user.assign(name.begin(), name.begin() + static_cast<std::ptrdiff_t>(len));
    t.created = static_cast<std::uint32_t>(get_be(&b[68], 4));
    return t;
}

std::optional<std::vector<token_record>> decode_file(std::span<const std::uint8_t> bytes) {
    if (bytes.empty() || bytes.size() % token_record_size != 0 ||
        bytes.size() / token_record_size > max_token_records)
        return std::nullopt;
    std::vector<token_record> out;
    for (std::size_t at = 0; at < bytes.size(); at += token_record_size) {
        auto t = decode(bytes.subspan(at, token_record_size));
        if (!t) return std::nullopt;
        out.push_back(std::move(*t));
    }
    return out;
}

namespace {

// The header of an approval file: its three fields, in any order, each once.
struct approval_header {
    std::optional<std::string> multi, single;
    std::optional<long> count;
    bool complete() const { return multi && single && count; }
};

// Reads the header from `fields`; `i` is left at the first approver's field.
approval_header header_of(const std::vector<field>& fields, std::size_t& i) {
    approval_header h;
    for (; i < fields.size() && !h.complete(); ++i) {
        const auto& f = fields[i];
        bool repeated = f.key == "multitokenfilepath" ? h.multi.has_value()
                        : f.key == "tokenfilepath"    ? h.single.has_value()
                        : f.key == "numberofapprovals"
                            ? h.count.has_value()
                            : throw std::invalid_argument(fmt::format(
                                  "line {}: expected 'Multi Token File Path', 'Token File Path' "
                                  "or 'Number of Approvals'",
                                  f.line));
        if (repeated) throw std::invalid_argument(fmt::format("line {}: repeated", f.line));
        if (f.key == "multitokenfilepath") h.multi = f.value;
        if (f.key == "tokenfilepath") h.single = f.value;
        if (f.key == "numberofapprovals") h.count = number_of(f, 1, long{max_approvals});
    }
    if (!h.complete())
        throw std::invalid_argument("the header needs 'Multi Token File Path', 'Token File "
                                    "Path' and 'Number of Approvals'");
    return h;
}

} // namespace

approval_file parse_approval_file(std::string_view text) {
    auto fields = fields_of(text);
    std::size_t i = 0;
    auto header = header_of(fields, i);
    approval_file out;
    out.token_file = header.multi->empty() ? *header.single : *header.multi;
    if (out.token_file.empty())
        throw std::invalid_argument("no token file: 'Multi Token File Path' is empty");
    for (long n = 0; n < *header.count; ++n) {
        approver a;
        a.type =
            static_cast<int>(number_of(expect(fields, i++, "approvertype", "Approver Type"), 1, 2));
        a.name = expect(fields, i++, "approvername", "Approver Name").value;
        a.signature_file = expect(fields, i++, "approvalfile", "Approval File").value;
        out.approvers.push_back(std::move(a));
    }
    if (i < fields.size())
        throw std::invalid_argument(
            fmt::format("line {}: more approvers than 'Number of Approvals' says", fields[i].line));
    return out;
}

bool one_token_request(std::span<const token_record> records) noexcept {
    for (const auto& r : records)
        if (r.svc != records.front().svc || r.user != records.front().user) return false;
    return true;
}

} // namespace hsm::quorum
