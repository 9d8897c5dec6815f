// SPDX-License-Identifier: Apache-2.0
// Two-factor login in the shell: the authdata round (the nodes' challenges
// written to the officer's file, a wait while the officer signs them, the
// signatures read back) for loginHSM's second step, and for createUser and
// changePswd turning 2FA on (docs/design.md, "Two-factor login").
#include "two_factor.hpp"

#include "hsmsh/client/cluster_link.hpp"
#include "hsmsh/files.hpp"
#include "hsmsh/hex.hpp"
#include "hsmsh/log.hpp"
#include "hsmsh/pki.hpp"
#include "hsmsh/protocol/replies.hpp"
#include "render.hpp"
#include "shell_context.hpp"

#include <fmt/ostream.h>

namespace hsm {
namespace {

// A PEM key pasted on one line (as CloudHSM's example shows it) gets its
// line breaks back, which the PEM reader needs.
std::string with_line_breaks(const std::string& pem) {
    if (pem.find('\n') != std::string::npos) return pem;
    constexpr std::string_view begin = "-----BEGIN PUBLIC KEY-----";
    constexpr std::string_view end = "-----END PUBLIC KEY-----";
    auto from = pem.find(begin);
    auto to = pem.find(end);
    if (from == std::string::npos || to == std::string::npos || to < from) return pem;
    std::string body;
    for (char c : pem.substr(from + begin.size(), to - from - begin.size()))
        if (c != ' ' && c != '\t' && c != '\r') body += c;
    std::string out = std::string(begin) + "\n";
    for (std::size_t i = 0; i < body.size(); i += 64)
        out += body.substr(i, 64) + "\n";
    return out + std::string(end) + "\n";
}

// The Digest of each server's challenge, computed by the shell; nullopt
// when a server sent none that is usable.
std::optional<std::vector<authdata_challenge>>
digests_to_sign(shell_context& ctx, const parsed_command& cmd,
                const std::vector<server_report>& challenges, second_factor_purpose purpose,
                const std::string& user) {
    std::vector<authdata_challenge> asked;
    for (const auto& r : challenges) {
        auto [hsm_id, challenge_hex] = challenge_from(r.outcome.fields);
        auto challenge = from_hex(challenge_hex);
        auto channel = ctx.cluster.link().channel(r.index);
        if (hsm_id.empty() || hsm_id.size() > 64 || !challenge || challenge->size() != 32 ||
            channel.empty()) {
            fmt::print(ctx.output.err(), "{}: server {} sent no usable 2FA challenge\n",
                       cmd.spec->name, r.index);
            return std::nullopt;
        }
        auto digest = second_factor_digest(purpose, hsm_id, user, *challenge, channel);
        asked.push_back({hsm_id, std::string(digest.begin(), digest.end())});
    }
    return asked;
}

} // namespace

std::optional<authdata_answer> authdata_round(shell_context& ctx, const parsed_command& cmd,
                                              const std::vector<server_report>& challenges,
                                              second_factor_purpose purpose,
                                              const std::string& user, line_result& failure) {
    bool wants_key = purpose == second_factor_purpose::enroll;
    auto digests = digests_to_sign(ctx, cmd, challenges, purpose, user);
    if (!digests) return std::nullopt;
    const auto& asked = *digests;
    const auto& path = *cmd.two_factor_file;
    try {
        write_file_atomic(path, authdata_request(asked), 0600);
    } catch (const file_error& e) {
        fmt::print(ctx.output.err(), "{}: authdata: {}\n", cmd.spec->name, e.what());
        return std::nullopt;
    }
    auto& o = ctx.output.info();
    fmt::print(o,
               "Wrote {} challenge{} to {}: sign each Digest with your 2FA key and add it as "
               "\"Signature\"{} (help {} shows how).\n",
               asked.size(), asked.size() == 1 ? "" : "s", escape_control(path),
               wants_key ? ", and your public key as \"PublicKey\"" : "", cmd.spec->name);
    auto answer = ctx.changes.ask(o, "Press Enter once the file is signed, or n to cancel: ");
    if (!ctx.input.interactive()) fmt::print(o, "\n");
    if (!answer || parse_yes_no(*answer) == false) {
        fmt::print(ctx.output.info(), "Cancelled.\n");
        failure = line_result::cancelled;
        return std::nullopt;
    }
    return read_authdata(read_argument_file(path, max_authdata_file, "authdata"), asked, wants_key);
}

// loginHSM's second step, where a node answered RET_2FA_REQUIRED: with
// -2fa, the signatures go to those nodes and their answers replace the
// first ones; without, the first answers stand.
line_result second_login_step(shell_context& ctx, const parsed_command& cmd,
                              std::vector<server_report>& reports) {
    std::vector<server_report> asked;
    for (const auto& r : reports)
        if (r.outcome.what == server_outcome::kind::replied &&
            r.outcome.code == status::two_factor_required)
            asked.push_back(r);
    if (asked.empty() || !cmd.two_factor_file) return line_result::ok;
    line_result failure = line_result::failed;
    auto answer = authdata_round(ctx, cmd, asked, second_factor_purpose::login,
                                 user_arguments(cmd).name, failure);
    if (!answer) return failure;
    std::vector<std::size_t> where;
    for (const auto& r : asked)
        where.push_back(r.index);
    auto second =
        ctx.cluster.fan_out(where, operation::login_2fa, json{{"signatures", answer->signatures}});
    for (auto& r : reports)
        for (auto& s : second)
            if (s.index == r.index) r = s;
    return line_result::ok;
}

// createUser or changePswd with -2fa: each node's enrollment challenge,
// signed with the new key, and the key; the same fields go to every node.
std::optional<json> enrollment_proof(shell_context& ctx, const parsed_command& cmd,
                                     const std::vector<std::size_t>& where, line_result& failure) {
    auto challenges = ctx.cluster.fan_out(where, operation::get_2fa_challenge, json::object());
    std::vector<server_report> refused;
    for (const auto& r : challenges)
        if (!r.outcome.ok()) refused.push_back(r);
    if (!refused.empty()) {
        print_server_lines(ctx.output.out(), cmd.spec->name, refused, ctx.options.color);
        fmt::print(ctx.output.err(),
                   "{}: not every server gave a 2FA challenge; nothing was changed\n",
                   cmd.spec->name);
        return std::nullopt;
    }
    // Every server's enrollment challenge names the officer of this login.
    auto officer = ctx.session.login_name(where);
    auto answer = authdata_round(ctx, cmd, challenges, second_factor_purpose::enroll,
                                 canonical_user_name(officer), failure);
    if (!answer) return std::nullopt;
    std::string der;
    try {
        der = public_key_der_from_pem(with_line_breaks(answer->public_key_pem));
    } catch (const pki_error& e) {
        throw usage_error(
            fmt::format("authdata: PublicKey: {} (openssl rsa -pubout writes one)", e.what()));
    }
    return json{
        {"key", to_hex(std::span(reinterpret_cast<const std::uint8_t*>(der.data()), der.size()))},
        {"signatures", answer->signatures}};
}

// Whether any server lists `name` with two-factor login on.
bool has_second_factor(shell_context& ctx, const std::string& name,
                       const std::vector<std::size_t>& where) {
    for (const auto& r : ctx.cluster.fan_out(where, operation::list_users, json::object()))
        for (const auto& u : r.outcome.users)
            if (u.name == name && u.two_fa) return true;
    return false;
}

} // namespace hsm
