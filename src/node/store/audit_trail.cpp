// SPDX-License-Identifier: Apache-2.0
// The node's audit trail in its store: rows chained by an HMAC under the node's audit key.
#include "store/audit_trail.hpp"

#include "hsmsh/hex.hpp"
#include "hsmsh/sealing.hpp"
#include "hsmsh/secret.hpp"

#include <array>

#include <fmt/format.h>

namespace hsm {
namespace {

// One audit row's link in the chain: HMAC-SHA256 under the node's audit key
// over the previous link and the row's fields, so that changing, inserting or
// removing a row breaks every link after it, and nobody without the key can
// compute a new chain (a cut tail shows as a head that went backwards).
std::string chain_link(const std::vector<std::uint8_t>& key, std::string_view previous,
                       std::int64_t seq, const std::array<std::string, 8>& fields) {
    std::string text = fmt::format("{}\x1f{}", previous, seq);
    for (const auto& f : fields)
        text += fmt::format("\x1f{}", f);
    return to_hex(hmac_sha256(key, text));
}

} // namespace

audit_trail::~audit_trail() {
    wipe(audit_key_.data(), audit_key_.size());
}

void audit_trail::append(std::string_view node, const audit_entry& e) {
    auto last = head();
    auto seq = last.rows + 1;
    std::array<std::string, 8> fields{store_time_now(), std::string(node), e.actor,  e.role,
                                      e.peer,           e.operation,       e.target, e.result};
    auto s = db_.query("INSERT INTO audit(seq, time, node, actor, role, peer, operation, "
                       "target, result, hash) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    s.bind(1, seq);
    for (int i = 0; i < 8; ++i)
        s.bind(i + 2, fields[static_cast<std::size_t>(i)]);
    s.bind(10, chain_link(audit_key_, last.hash, seq, fields)).run();
}

std::size_t audit_trail::count() const {
    return static_cast<std::size_t>(db_.scalar("SELECT count(*) FROM audit"));
}

std::optional<audit_head> parse_audit_head(std::string_view text) {
    auto colon = text.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 18) return std::nullopt;
    auto rows = text.substr(0, colon);
    auto hash = text.substr(colon + 1);
    if (rows.find_first_not_of("0123456789") != std::string_view::npos || hash.size() != 64 ||
        !from_hex(hash))
        return std::nullopt;
    return audit_head{std::stoll(std::string(rows)), std::string(hash)};
}

bool audit_trail::holds_row(const audit_head& h) const {
    auto s = db_.query("SELECT 1 FROM audit WHERE seq = ? AND hash = ?");
    s.bind(1, h.rows).bind(2, h.hash);
    return s.step();
}

audit_head audit_trail::head() const {
    auto s = db_.query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
    if (!s.step()) return {};
    return {s.integer(0), s.text(1)};
}

std::optional<std::int64_t> audit_trail::verify(std::size_t& rows) const {
    auto s = db_.query("SELECT seq, time, node, actor, role, peer, operation, target, "
                       "result, hash FROM audit ORDER BY seq");
    std::string previous;
    rows = 0;
    while (s.step()) {
        std::array<std::string, 8> fields;
        for (int i = 0; i < 8; ++i)
            fields[static_cast<std::size_t>(i)] = s.text(i + 1);
        auto seq = s.integer(0);
        if (seq != static_cast<std::int64_t>(rows) + 1 ||
            chain_link(audit_key_, previous, seq, fields) != s.text(9))
            return seq;
        previous = s.text(9);
        ++rows;
    }
    return std::nullopt;
}

} // namespace hsm
