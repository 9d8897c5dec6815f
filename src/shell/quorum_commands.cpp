// SPDX-License-Identifier: Apache-2.0
// Quorum commands: an officer registers the key that approves quorum tokens.
#include "quorum_commands.hpp"

#include "hsmsh/files.hpp"
#include "hsmsh/hex.hpp"
#include "hsmsh/log.hpp"
#include "hsmsh/pki.hpp"
#include "hsmsh/protocol/changes.hpp"
#include "hsmsh/protocol/quorum.hpp"
#include "hsmsh/protocol/replies.hpp"
#include "render.hpp"
#include "shell_context.hpp"
#include "token_view.hpp"
#include "user_change.hpp"

#include <fmt/ostream.h>
#include <fmt/ranges.h>

#include <set>

namespace hsm {

std::string read_argument_file(const std::string& path, std::size_t limit, std::string_view what) {
    try {
        return read_file(path, limit);
    } catch (const file_error& e) {
        throw usage_error(fmt::format("{}: {}", what, e.what()));
    }
}

namespace {

std::span<const std::uint8_t> bytes_of(std::string_view data) {
    return {reinterpret_cast<const std::uint8_t*>(data.data()), data.size()};
}

std::string hex_of(std::string_view data) {
    return to_hex(bytes_of(data));
}

quorum::service service_argument(const std::string& text) {
    auto svc = text.size() == 1 ? quorum::service_from_number(text[0] - '0') : std::nullopt;
    if (!svc)
        throw usage_error(fmt::format("no quorum service '{}': 3 (USER_MGMT: createUser, "
                                      "deleteUser, changePswd of another user) or 4 (MISC_CO: "
                                      "setMValue)",
                                      text));
    return *svc;
}

constexpr std::size_t max_token_file = quorum::token_record_size * quorum::max_token_records;

// A token file as getToken wrote it: 1 to 32 records of 80 bytes.
std::string token_file_argument(const std::string& path) {
    auto data = read_argument_file(path, max_token_file, "token file");
    if (!quorum::decode_file(bytes_of(data)))
        throw usage_error(fmt::format("token file {}: not the records getToken writes", path));
    return data;
}

// Why the nodes refused a token file (they take one request per file).
std::string why_not_one_request(const std::string& path, std::string_view data) {
    try {
        describe_token_file(path, data);
        return "the file holds more than one token of one HSM (one getToken per file)";
    } catch (const usage_error& e) {
        return e.what();
    }
}

// CMU's token block (getToken, listTokens); `node` is the server's index.
void print_token(std::ostream& out, const token_summary& t, std::size_t node) {
    fmt::print(out, "Token:\nId:{}\nService:{}\nNode:{}\nKey Handle:0\nUser:{}\n", t.id, t.service,
               node, escape_terminal(t.user));
}

} // namespace

// registerQuorumPubKey CO <name> <token> <signed token> <public key>: the
// nodes check that the key is RSA-2048 and that the signature over the token
// is its own (proof that the officer holds the private key); every node
// stores the key, or none.
line_result run_register_quorum_key(shell_context& ctx, parsed_command& cmd) {
    auto user = user_arguments(cmd);
    if (!is_officer(user.type))
        throw usage_error("only a crypto officer (CO) registers a quorum key");
    auto token =
        read_argument_file(cmd.args.at(2), quorum::max_registration_token, "registration token");
    if (token.empty()) throw usage_error("registration token: the file is empty");
    auto signature =
        read_argument_file(cmd.args.at(3), quorum::signature_size, "signed registration token");
    if (signature.size() != quorum::signature_size)
        throw usage_error(fmt::format("signed registration token: {} bytes, not the {} of an "
                                      "RSA-2048 signature (openssl dgst -sha256 -sign)",
                                      signature.size(), quorum::signature_size));
    std::string der;
    try {
        der = public_key_der_from_pem(read_argument_file(cmd.args.at(4), 16 * 1024, "public key"));
    } catch (const pki_error& e) {
        throw usage_error(fmt::format("public key: {} (openssl rsa -pubout writes one)", e.what()));
    }
    json fields{
        {"quorum_key", hex_of(der)}, {"token", hex_of(token)}, {"signature", hex_of(signature)}};
    return change_user(ctx, cmd, user, std::move(fields));
}

} // namespace hsm

namespace hsm {

line_result run_get_m_value(shell_context& ctx, parsed_command& cmd) {
    auto svc = service_argument(cmd.args[0]);
    auto reports = ctx.cluster.fan_out(ctx.cluster.targets(), operation::get_m_value,
                                       json{{"service", static_cast<int>(svc)}});
    if (ctx.options.json) {
        ctx.output.emit(result_json(cmd.spec->name, reports, operation::get_m_value));
    } else {
        for (const auto& r : reports) {
            if (r.outcome.ok())
                fmt::print(ctx.output.out(), "MValue of service {}[{}] on server {} : [{}]\n",
                           static_cast<int>(svc), quorum::service_name(svc), r.index,
                           m_value_from(r.outcome.fields).value_or(0));
            else
                print_server_lines(ctx.output.out(), cmd.spec->name, {r}, ctx.options.color);
        }
    }
    bool all_ok = std::ranges::all_of(reports, [](const auto& r) { return r.outcome.ok(); });
    return all_ok && !reports.empty() ? line_result::ok : line_result::failed;
}

// setMValue <service> <m>: a cluster-wide change, every node or none. The
// nodes check the value, the order of services 3 and 4, and (once service
// 4's m is above 1) that this session holds an approved service-4 token.
line_result run_set_m_value(shell_context& ctx, parsed_command& cmd) {
    auto svc = service_argument(cmd.args[0]);
    const auto& text = cmd.args[1];
    if (text.size() != 1 || text[0] < '1' || text[0] > '8')
        throw usage_error(fmt::format("m is 1 (no quorum) or 2 to 8, not '{}'", text));
    int m = text[0] - '0';
    auto result = ctx.changes.run_confirmed_change(
        cmd, to_fields(m_value_change{svc, m}),
        fmt::format("Setting M Value({}) for {} on {{}} nodes", m, static_cast<int>(svc)));
    // The next change may need a token.
    if (result == line_result::ok) ctx.changes.note_quorum(ctx.session.logged_in());
    return result;
}

namespace {

// The records of getToken's replies, in server order: the token file.
struct token_records {
    std::string file;
    std::size_t count = 0;
};

token_records records_of(const std::vector<server_report>& reports) {
    token_records out;
    for (const auto& r : reports) {
        auto record =
            r.outcome.ok() ? from_hex(token_grant_from(r.outcome.fields).record) : std::nullopt;
        if (record && record->size() == quorum::token_record_size) {
            out.file.append(reinterpret_cast<const char*>(record->data()), record->size());
            ++out.count;
        }
    }
    return out;
}

// getToken's token is asked for by the officer logged in, for itself.
void check_token_user(const shell_context& ctx, const std::vector<std::size_t>& where,
                      const std::string& name) {
    for (auto i : where)
        if (const auto& l = ctx.session.logins[i];
            l && canonical_user_name(l->name) != canonical_user_name(name))
            throw usage_error(fmt::format("a token is asked for by the officer logged in: {}, "
                                          "not {}",
                                          l->name, name));
}

void print_got_tokens(shell_context& ctx, const parsed_command& cmd,
                      const std::vector<server_report>& reports) {
    for (const auto& r : reports) {
        print_server_lines(ctx.output.out(), cmd.spec->name, {r}, ctx.options.color);
        if (r.outcome.ok())
            print_token(ctx.output.out(), token_grant_from(r.outcome.fields).token, r.index);
    }
}

} // namespace

// getToken <service> <user> <file>: one token per node, bound to this
// login there; their records go to the file, in server order, for the
// approvers to sign as one (openssl dgst -sha256 -sign).
line_result run_get_token(shell_context& ctx, parsed_command& cmd) {
    auto svc = service_argument(cmd.args[0]);
    const auto& path = cmd.args[2];
    auto where = ctx.cluster.targets();
    check_token_user(ctx, where, cmd.args[1]);
    auto reports =
        ctx.cluster.fan_out(where, operation::get_token, json{{"service", static_cast<int>(svc)}});
    auto records = records_of(reports);
    bool written = false;
    if (records.count > 0) {
        try {
            write_file_atomic(path, records.file, 0644);
            written = true;
        } catch (const file_error& e) {
            fmt::print(ctx.output.err(), "getToken: {}\n", e.what());
        }
    }
    if (ctx.options.json) {
        auto doc = result_json(cmd.spec->name, reports, operation::get_token);
        doc["file"] = written ? json(path) : json();
        doc["records"] = written ? records.count : 0;
        ctx.output.emit(std::move(doc));
    } else {
        print_got_tokens(ctx, cmd, reports);
        if (written && !ctx.options.cmu_mode)
            fmt::print(ctx.output.info(),
                       "Wrote {} token record(s). {}(an approver can see this again: hsmsh "
                       "show-token FILE)\n",
                       records.count, describe_token_file(path, records.file));
    }
    bool all_ok = std::ranges::all_of(reports, [](const auto& r) { return r.outcome.ok(); });
    return all_ok && written ? line_result::ok : line_result::failed;
}

namespace {

quorum::approval_file approval_file_argument(const std::string& path) {
    try {
        return quorum::parse_approval_file(read_argument_file(path, 64 * 1024, "approval file"));
    } catch (const std::invalid_argument& e) {
        throw usage_error(fmt::format("approval file {}: {}", path, e.what()));
    }
}

// Each approver's name and signature, as the nodes take them.
json approvals_of(const quorum::approval_file& approval) {
    json approvals = json::array();
    for (const auto& a : approval.approvers) {
        auto signature = read_argument_file(a.signature_file, quorum::signature_size,
                                            fmt::format("approval file of {}", a.name));
        if (signature.size() != quorum::signature_size)
            throw usage_error(fmt::format("approval file of {}: {} bytes, not the {} of an "
                                          "RSA-2048 signature (openssl dgst -sha256 -sign)",
                                          a.name, signature.size(), quorum::signature_size));
        approvals.push_back({{"name", a.name}, {"signature", hex_of(signature)}});
    }
    return approvals;
}

// Beside each server's line: how far its token got, or whose signature failed.
void print_approvals(shell_context& ctx, const std::vector<server_report>& reports) {
    for (const auto& r : reports) {
        auto reply = approve_token_reply_from(r.outcome.fields);
        if (r.outcome.ok() && !ctx.options.cmu_mode && reply.token)
            fmt::print(ctx.output.info(), "  server {}: {} of {} approvals\n", r.index,
                       reply.token->approvals.value_or(0), reply.token->required.value_or(0));
        else if (r.outcome.code == status::signature_invalid && reply.approver)
            fmt::print(ctx.output.info(),
                       "  server {}: the signature of {} is not its registered "
                       "key's over this token file\n",
                       r.index, escape_terminal(*reply.approver));
    }
}

} // namespace

// approveToken <approval-file>: CMU's approval file names the token file
// and, per approver, a name and a signature file. Every node gets the whole
// file and every signature, and checks them against the registered keys.
line_result run_approve_token(shell_context& ctx, parsed_command& cmd) {
    auto approval = approval_file_argument(cmd.args[0]);
    auto tokens = token_file_argument(approval.token_file);
    auto approvals = approvals_of(approval);
    auto reports =
        ctx.cluster.fan_out(ctx.cluster.targets(), operation::approve_token,
                            json{{"tokens", hex_of(tokens)}, {"approvals", std::move(approvals)}});
    if (ctx.options.json) {
        ctx.output.emit(result_json(cmd.spec->name, reports, operation::approve_token));
    } else {
        print_server_lines(ctx.output.out(), cmd.spec->name, reports, ctx.options.color);
        print_approvals(ctx, reports);
    }
    if (std::ranges::any_of(
            reports, [](const auto& r) { return r.outcome.code == status::token_file_invalid; }))
        fmt::print(ctx.output.info(), "  {}\n", why_not_one_request(approval.token_file, tokens));
    bool all_ok = std::ranges::all_of(reports, [](const auto& r) { return r.outcome.ok(); });
    return all_ok && !reports.empty() ? line_result::ok : line_result::failed;
}

namespace {

// One server's tokens in CMU's listTokens block.
void print_token_list(std::ostream& out, const parsed_command& cmd, const server_report& r,
                      bool color) {
    fmt::print(out, "\n=====================\n    {}\n=====================\n",
               escape_terminal(fmt::format("Server {}({})", r.index, r.name)));
    if (!r.outcome.ok()) {
        print_server_lines(out, cmd.spec->name, {r}, color);
        return;
    }
    auto tokens = token_list_from(r.outcome.fields);
    std::size_t k = 0;
    for (const auto& t : tokens) {
        fmt::print(out, "-------- Token - {} ----------\n", k++);
        print_token(out, t, r.index);
        fmt::print(out,
                   "Token Validity: {} sec\nRequired num of approvers : {}\n"
                   "Current num of approvals : {}\n",
                   t.validity, t.required.value_or(0), t.approvals.value_or(0));
        std::size_t n = 0;
        for (const auto& a : t.approvers)
            fmt::print(out, "Approver-{}: {}\n", n++, escape_terminal(a.value_or("")));
    }
    fmt::print(out, "Num of tokens = {}\n", tokens.size());
}

} // namespace

// listTokens, in CMU's blocks: each server's tokens of this session.
line_result run_list_tokens(shell_context& ctx, parsed_command& cmd) {
    auto reports =
        ctx.cluster.fan_out(ctx.cluster.targets(), operation::list_tokens, json::object());
    bool all_ok = std::ranges::all_of(reports, [](const auto& r) { return r.outcome.ok(); });
    if (ctx.options.json) {
        ctx.output.emit(result_json(cmd.spec->name, reports, operation::list_tokens));
    } else {
        for (const auto& r : reports)
            print_token_list(ctx.output.out(), cmd, r, ctx.options.color);
        fmt::print(ctx.output.out(), "\n{} {}\n", cmd.spec->name, all_ok ? "success" : "failed");
    }
    return all_ok && !reports.empty() ? line_result::ok : line_result::failed;
}

// delToken <token-file> | all: this session's tokens on every node.
line_result run_delete_token(shell_context& ctx, parsed_command& cmd) {
    json fields = json::object();
    if (cmd.args[0] != "all") fields["tokens"] = hex_of(token_file_argument(cmd.args[0]));
    return ctx.output.finish(
        cmd.spec->name,
        ctx.cluster.fan_out(ctx.cluster.targets(), operation::delete_token, std::move(fields)));
}

namespace {

// One server's line of quorum status.
struct server_quorum {
    std::size_t index = 0;
    std::string name;
    std::string error; // the code when the m values could not be read
    int user_mgmt_m = 0;
    int misc_co_m = 0;
    std::size_t officers = 0;
    std::size_t officers_with_keys = 0;
    std::vector<token_summary> tokens;

    json to_json() const {
        json s{{"index", index}, {"name", name}};
        if (!error.empty()) {
            s["status"] = "error";
            s["code"] = error;
            return s;
        }
        s["status"] = "success";
        s["m"] = {{"3", user_mgmt_m}, {"4", misc_co_m}};
        s["officers"] = officers;
        s["officers_with_keys"] = officers_with_keys;
        s["tokens"] = hsm::to_json(tokens);
        return s;
    }
};

// What the four fan-outs of quorum status say of one server.
server_quorum quorum_of(const server_report& m3, const server_report& m4,
                        const server_report& users, const server_report& tokens) {
    server_quorum q{};
    q.index = m3.index;
    q.name = m3.name;
    if (!m3.outcome.ok() || !m4.outcome.ok()) {
        q.error = outcome_code((m3.outcome.ok() ? m4 : m3).outcome);
        return q;
    }
    q.user_mgmt_m = static_cast<int>(m_value_from(m3.outcome.fields).value_or(0));
    q.misc_co_m = static_cast<int>(m_value_from(m4.outcome.fields).value_or(0));
    for (const auto& u : users.outcome.users)
        if (u.type == "CO" || u.type == "PCO") {
            ++q.officers;
            q.officers_with_keys += u.mofn ? 1 : 0;
        }
    if (tokens.outcome.ok()) q.tokens = token_list_from(tokens.outcome.fields);
    return q;
}

void print_status_token(std::ostream& out, const token_summary& t) {
    std::vector<std::string> who;
    for (const auto& a : t.approvers)
        if (a) who.push_back(escape_terminal(*a));
    auto svc = quorum::service_from_number(t.service);
    fmt::print(
        out, "  token {} ({}): {} of {} approvals{}, expires in {} s\n", t.id,
        svc ? quorum::service_name(*svc) : "?", t.approvals.value_or(0), t.required.value_or(0),
        who.empty() ? std::string() : fmt::format(" ({})", fmt::join(who, ", ")), t.validity);
}

void print_server_quorum(std::ostream& out, const server_quorum& q) {
    auto label = server_label(q.index, q.name);
    if (!q.error.empty()) {
        fmt::print(out, "quorum status failed on {}: {}\n", label, q.error);
        return;
    }
    fmt::print(out, "{}: USER_MGMT m={}, MISC_CO m={}; {} officers, {} with keys\n", label,
               q.user_mgmt_m, q.misc_co_m, q.officers, q.officers_with_keys);
    for (const auto& t : q.tokens)
        print_status_token(out, t);
}

} // namespace

// quorum status (our extension): in one view per server, what CMU spreads
// over getMValue, listUsers and listTokens.
line_result run_quorum_status(shell_context& ctx, parsed_command& cmd) {
    if (cmd.args[0] != "status") throw usage_error("usage: quorum status");
    auto where = ctx.cluster.targets();
    auto m3 = ctx.cluster.fan_out(where, operation::get_m_value, json{{"service", 3}});
    auto m4 = ctx.cluster.fan_out(where, operation::get_m_value, json{{"service", 4}});
    auto users = ctx.cluster.fan_out(where, operation::list_users, json::object());
    auto tokens = ctx.cluster.fan_out(where, operation::list_tokens, json::object());
    std::vector<server_quorum> servers;
    bool all_ok = !where.empty();
    std::set<std::pair<int, int>> seen;
    for (std::size_t k = 0; k < where.size(); ++k) {
        servers.push_back(quorum_of(m3[k], m4[k], users[k], tokens[k]));
        const auto& q = servers.back();
        if (q.error.empty())
            seen.insert({q.user_mgmt_m, q.misc_co_m});
        else
            all_ok = false;
    }
    if (ctx.options.json) {
        json docs = json::array();
        for (const auto& q : servers)
            docs.push_back(q.to_json());
        ctx.output.emit(json{{"command", "quorum status"},
                             {"ok", all_ok},
                             {"agree", seen.size() <= 1},
                             {"servers", std::move(docs)}});
        return all_ok ? line_result::ok : line_result::failed;
    }
    for (const auto& q : servers)
        print_server_quorum(ctx.output.out(), q);
    if (seen.size() > 1) fmt::print(ctx.output.out(), "Servers disagree on m values.\n");
    return all_ok ? line_result::ok : line_result::failed;
}

} // namespace hsm
