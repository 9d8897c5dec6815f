// SPDX-License-Identifier: Apache-2.0
// Quorum commands: an officer registers the key that approves quorum tokens.
#include "hsmsh/files.hpp"
#include "hsmsh/hex.hpp"
#include "hsmsh/log.hpp"
#include "hsmsh/pki.hpp"
#include "hsmsh/protocol/changes.hpp"
#include "hsmsh/quorum.hpp"
#include "json_fields.hpp"
#include "shell.hpp"
#include "token_view.hpp"

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
void print_token(std::ostream& out, const json& t, std::size_t node) {
    fmt::print(out, "Token:\nId:{}\nService:{}\nNode:{}\nKey Handle:0\nUser:{}\n",
               number_in(t, "id"), number_in(t, "service"), node,
               escape_terminal(text_in(t, "user")));
}

} // namespace

// registerQuorumPubKey CO <name> <token> <signed token> <public key>: the
// nodes check that the key is RSA-2048 and that the signature over the token
// is its own (proof that the officer holds the private key); every node
// stores the key, or none.
line_result shell::run_register_quorum_key(parsed_command& cmd) {
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
    return change_user(cmd, user, std::move(fields));
}

} // namespace hsm

namespace hsm {

line_result shell::run_get_m_value(parsed_command& cmd) {
    auto svc = service_argument(cmd.args[0]);
    auto reports =
        fan_out(targets(), operation::get_m_value, json{{"service", static_cast<int>(svc)}});
    if (options_.json) {
        emit(result_json(cmd.spec->name, reports, operation::get_m_value));
    } else {
        for (const auto& r : reports) {
            if (r.outcome.ok())
                fmt::print(out_, "MValue of service {}[{}] on server {} : [{}]\n",
                           static_cast<int>(svc), quorum::service_name(svc), r.index,
                           number_in(r.outcome.fields, "m"));
            else
                print_server_lines(out_, cmd.spec->name, {r}, options_.color);
        }
    }
    bool all_ok = std::ranges::all_of(reports, [](const auto& r) { return r.outcome.ok(); });
    return all_ok && !reports.empty() ? line_result::ok : line_result::failed;
}

// setMValue <service> <m>: a cluster-wide change, every node or none. The
// nodes check the value, the order of services 3 and 4, and (once service
// 4's m is above 1) that this session holds an approved service-4 token.
line_result shell::run_set_m_value(parsed_command& cmd) {
    auto svc = service_argument(cmd.args[0]);
    const auto& text = cmd.args[1];
    if (text.size() != 1 || text[0] < '1' || text[0] > '8')
        throw usage_error(fmt::format("m is 1 (no quorum) or 2 to 8, not '{}'", text));
    int m = text[0] - '0';
    auto service = static_cast<int>(svc);
    // The subject names the change in listPrepared's terms, as the node does.
    auto fields = to_fields(m_value_change{svc, m});
    fields["subject"] = fmt::format("mvalue {}", service);
    auto result =
        run_confirmed_change(cmd, std::move(fields),
                             fmt::format("Setting M Value({}) for {} on {{}} nodes", m, service));
    std::vector<std::size_t> logged_in;
    for (std::size_t i = 0; i < logins_.size(); ++i)
        if (logins_[i]) logged_in.push_back(i);
    if (result == line_result::ok) note_quorum(logged_in); // the next change may need a token
    return result;
}

// getToken <service> <user> <file>: one token per node, bound to this
// login there; their records go to the file, in server order, for the
// approvers to sign as one (openssl dgst -sha256 -sign).
line_result shell::run_get_token(parsed_command& cmd) {
    auto svc = service_argument(cmd.args[0]);
    const auto& name = cmd.args[1];
    const auto& path = cmd.args[2];
    auto where = targets();
    for (auto i : where)
        if (logins_[i] && canonical_user_name(logins_[i]->name) != canonical_user_name(name))
            throw usage_error(fmt::format("a token is asked for by the officer logged in: {}, "
                                          "not {}",
                                          logins_[i]->name, name));
    auto reports = fan_out(where, operation::get_token, json{{"service", static_cast<int>(svc)}});
    std::string file;
    std::size_t records = 0;
    for (const auto& r : reports) {
        auto record = r.outcome.ok() ? from_hex(text_in(r.outcome.fields, "record")) : std::nullopt;
        if (record && record->size() == quorum::token_record_size) {
            file.append(reinterpret_cast<const char*>(record->data()), record->size());
            ++records;
        }
    }
    bool written = false;
    if (records > 0) {
        try {
            write_file_atomic(path, file, 0644);
            written = true;
        } catch (const file_error& e) {
            fmt::print(err_, "getToken: {}\n", e.what());
        }
    }
    if (options_.json) {
        auto doc = result_json(cmd.spec->name, reports, operation::get_token);
        doc["file"] = written ? json(path) : json();
        doc["records"] = written ? records : 0;
        emit(std::move(doc));
    } else {
        for (const auto& r : reports) {
            print_server_lines(out_, cmd.spec->name, {r}, options_.color);
            if (r.outcome.ok()) print_token(out_, r.outcome.fields.value("token", json()), r.index);
        }
        if (written && !options_.cmu_mode)
            fmt::print(info(),
                       "Wrote {} token record(s). {}(an approver can see this again: hsmsh "
                       "show-token FILE)\n",
                       records, describe_token_file(path, file));
    }
    bool all_ok = std::ranges::all_of(reports, [](const auto& r) { return r.outcome.ok(); });
    return all_ok && written ? line_result::ok : line_result::failed;
}

// approveToken <approval-file>: CMU's approval file names the token file
// and, per approver, a name and a signature file. Every node gets the whole
// file and every signature, and checks them against the registered keys.
line_result shell::run_approve_token(parsed_command& cmd) {
    quorum::approval_file approval;
    try {
        approval = quorum::parse_approval_file(
            read_argument_file(cmd.args[0], 64 * 1024, "approval file"));
    } catch (const std::invalid_argument& e) {
        throw usage_error(fmt::format("approval file {}: {}", cmd.args[0], e.what()));
    }
    auto tokens = token_file_argument(approval.token_file);
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
    auto reports = fan_out(targets(), operation::approve_token,
                           json{{"tokens", hex_of(tokens)}, {"approvals", std::move(approvals)}});
    if (options_.json) {
        emit(result_json(cmd.spec->name, reports, operation::approve_token));
    } else {
        print_server_lines(out_, cmd.spec->name, reports, options_.color);
        for (const auto& r : reports) {
            const auto& f = r.outcome.fields;
            if (r.outcome.ok() && !options_.cmu_mode && f.contains("token"))
                fmt::print(info(), "  server {}: {} of {} approvals\n", r.index,
                           number_in(f["token"], "approvals"), number_in(f["token"], "required"));
            else if (r.outcome.code == status::signature_invalid && f.contains("approver"))
                fmt::print(info(),
                           "  server {}: the signature of {} is not its registered "
                           "key's over this token file\n",
                           r.index, escape_terminal(text_in(f, "approver")));
        }
    }
    if (std::ranges::any_of(
            reports, [](const auto& r) { return r.outcome.code == status::token_file_invalid; }))
        fmt::print(info(), "  {}\n", why_not_one_request(approval.token_file, tokens));
    bool all_ok = std::ranges::all_of(reports, [](const auto& r) { return r.outcome.ok(); });
    return all_ok && !reports.empty() ? line_result::ok : line_result::failed;
}

// listTokens, in CMU's blocks: each server's tokens of this session.
line_result shell::run_list_tokens(parsed_command& cmd) {
    auto reports = fan_out(targets(), operation::list_tokens, json::object());
    bool all_ok = std::ranges::all_of(reports, [](const auto& r) { return r.outcome.ok(); });
    if (options_.json) {
        emit(result_json(cmd.spec->name, reports, operation::list_tokens));
    } else {
        for (const auto& r : reports) {
            fmt::print(out_, "\n=====================\n    {}\n=====================\n",
                       escape_terminal(fmt::format("Server {}({})", r.index, r.name)));
            if (!r.outcome.ok()) {
                print_server_lines(out_, cmd.spec->name, {r}, options_.color);
                continue;
            }
            auto tokens = list_in(r.outcome.fields, "tokens");
            std::size_t k = 0;
            for (const auto& t : tokens) {
                fmt::print(out_, "-------- Token - {} ----------\n", k++);
                print_token(out_, t, r.index);
                fmt::print(out_,
                           "Token Validity: {} sec\nRequired num of approvers : {}\n"
                           "Current num of approvals : {}\n",
                           number_in(t, "validity"), number_in(t, "required"),
                           number_in(t, "approvals"));
                std::size_t n = 0;
                for (const auto& a : list_in(t, "approvers"))
                    fmt::print(out_, "Approver-{}: {}\n", n++,
                               escape_terminal(a.is_string() ? a.get<std::string>() : ""));
            }
            fmt::print(out_, "Num of tokens = {}\n", tokens.size());
        }
        fmt::print(out_, "\n{} {}\n", cmd.spec->name, all_ok ? "success" : "failed");
    }
    return all_ok && !reports.empty() ? line_result::ok : line_result::failed;
}

// delToken <token-file> | all: this session's tokens on every node.
line_result shell::run_delete_token(parsed_command& cmd) {
    json fields = json::object();
    if (cmd.args[0] != "all") fields["tokens"] = hex_of(token_file_argument(cmd.args[0]));
    return finish(cmd.spec->name, fan_out(targets(), operation::delete_token, std::move(fields)));
}

// quorum status (our extension): in one view per server, what CMU spreads
// over getMValue, listUsers and listTokens.
line_result shell::run_quorum_status(parsed_command& cmd) {
    if (cmd.args[0] != "status") throw usage_error("usage: quorum status");
    auto where = targets();
    auto m3 = fan_out(where, operation::get_m_value, json{{"service", 3}});
    auto m4 = fan_out(where, operation::get_m_value, json{{"service", 4}});
    auto users = fan_out(where, operation::list_users, json::object());
    auto tokens = fan_out(where, operation::list_tokens, json::object());
    json servers = json::array();
    bool all_ok = !where.empty();
    std::set<std::pair<int, int>> seen;
    for (std::size_t k = 0; k < where.size(); ++k) {
        const auto& r = m3[k];
        json s{{"index", r.index}, {"name", r.name}};
        if (!r.outcome.ok() || !m4[k].outcome.ok()) {
            const auto& bad = r.outcome.ok() ? m4[k] : r;
            all_ok = false;
            s["status"] = "error";
            s["code"] = outcome_code(bad.outcome);
            servers.push_back(std::move(s));
            continue;
        }
        int a = number_in(r.outcome.fields, "m"), b = number_in(m4[k].outcome.fields, "m");
        seen.insert({a, b});
        std::size_t officers = 0, keyed = 0;
        for (const auto& u : users[k].outcome.users)
            if (u.type == "CO" || u.type == "PCO") {
                ++officers;
                keyed += u.mofn ? 1 : 0;
            }
        s["status"] = "success";
        s["m"] = {{"3", a}, {"4", b}};
        s["officers"] = officers;
        s["officers_with_keys"] = keyed;
        s["tokens"] =
            tokens[k].outcome.ok() ? list_in(tokens[k].outcome.fields, "tokens") : json::array();
        servers.push_back(std::move(s));
    }
    if (options_.json) {
        emit(json{{"command", "quorum status"},
                  {"ok", all_ok},
                  {"agree", seen.size() <= 1},
                  {"servers", servers}});
        return all_ok ? line_result::ok : line_result::failed;
    }
    for (const auto& s : servers) {
        auto label = server_label(s["index"].get<std::size_t>(), s["name"].get<std::string>());
        if (s["status"] != "success") {
            fmt::print(out_, "quorum status failed on {}: {}\n", label,
                       s["code"].get<std::string>());
            continue;
        }
        fmt::print(out_, "{}: USER_MGMT m={}, MISC_CO m={}; {} officers, {} with keys\n", label,
                   s["m"]["3"].get<int>(), s["m"]["4"].get<int>(), s["officers"].get<std::size_t>(),
                   s["officers_with_keys"].get<std::size_t>());
        for (const auto& t : s["tokens"]) {
            std::vector<std::string> who;
            for (const auto& a : list_in(t, "approvers"))
                if (a.is_string()) who.push_back(escape_terminal(a.get<std::string>()));
            auto svc = quorum::service_from_number(number_in(t, "service"));
            fmt::print(out_, "  token {} ({}): {} of {} approvals{}, expires in {} s\n",
                       number_in(t, "id"), svc ? quorum::service_name(*svc) : "?",
                       number_in(t, "approvals"), number_in(t, "required"),
                       who.empty() ? std::string() : fmt::format(" ({})", fmt::join(who, ", ")),
                       number_in(t, "validity"));
        }
    }
    if (seen.size() > 1) fmt::print(out_, "Servers disagree on m values.\n");
    return all_ok ? line_result::ok : line_result::failed;
}

} // namespace hsm
