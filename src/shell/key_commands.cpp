// SPDX-License-Identifier: Apache-2.0
// CMU's key commands (findAllKeys, getKeyInfo, listAttributes, getAttribute,
// shareKey) and ours (generateKey, destroyKey): what officers see of keys,
// and the key changes crypto users make through prepare/commit.
#include "key_commands.hpp"

#include "render.hpp"
#include "shell_context.hpp"

#include "command_line.hpp"
#include "divergence.hpp"
#include "hsmsh/client/cluster_link.hpp"
#include "hsmsh/client/key_generation.hpp"
#include "hsmsh/der.hpp"
#include "hsmsh/files.hpp"
#include "hsmsh/hex.hpp"
#include "hsmsh/log.hpp"
#include "hsmsh/pki.hpp"
#include "hsmsh/protocol/changes.hpp"
#include "hsmsh/protocol/requests.hpp"
#include "hsmsh/secret.hpp"
#include "key_view.hpp"

#include <sstream>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <fmt/ranges.h>

namespace hsm {
namespace {

std::int64_t handle_argument(const std::string& text) {
    auto h = parse_number(text);
    if (!h || *h == 0) throw usage_error(fmt::format("'{}' is not a key handle", text));
    return *h;
}

const attribute_info& attribute_argument(const std::string& text) {
    auto id = parse_number(text);
    const auto* a = id ? find_key_attribute(static_cast<std::uint32_t>(*id)) : nullptr;
    if (!a) throw usage_error(fmt::format("no attribute {} (listAttributes shows them)", text));
    return *a;
}

// getAttribute's values of key `k` in JSON: `a`'s, or every one's.
json attribute_values(const key_summary& k, const attribute_info& asked) {
    json values = json::object();
    for (const auto& a : key_attributes())
        if (asked.id == key_attribute::all || a.id == asked.id)
            if (auto v = attribute_value(k, a.id)) values[std::string(a.name)] = *v;
    return values;
}

} // namespace

line_result run_find_keys(shell_context& ctx, parsed_command& cmd) {
    auto user = parse_number(cmd.args[0]);
    if (!user || *user == 0) throw usage_error("findAllKeys takes a user id (see listUsers)");
    if (cmd.args[1] != "0" && cmd.args[1] != "1")
        throw usage_error("the key hash argument is 0 (no hash) or 1");
    auto reports = ctx.cluster.fan_out(ctx.cluster.targets(), *cmd.spec->op,
                                       json{{"user", *user}, {"hash", cmd.args[1] == "1"}});
    for (const auto& r : reports)
        if (auto found = r.outcome.ok() ? found_keys_from(r.outcome.fields) : std::nullopt)
            for (const auto& k : found->keys)
                ctx.session.known_handles.insert(k.handle);
    auto differ = key_disagreements(reports);
    bool all_ok = std::ranges::all_of(reports, [](const auto& r) { return r.outcome.ok(); });
    auto result = all_ok ? line_result::ok : line_result::failed;
    if (ctx.options.json) {
        ctx.output.emit(result_json(cmd.spec->name, reports, cmd.spec->op,
                                    json{{"agree", differ.empty()}, {"differences", differ}}));
        return result;
    }
    std::ostringstream text;
    for (const auto& r : reports)
        print_found_keys(text, cmd.spec->name, r);
    if (!differ.empty())
        fmt::print(text, "\nServers disagree on the keys of user {}:\n    {}\n", *user,
                   fmt::join(differ, "\n    "));
    // Agreement among the servers that answered says nothing of the others.
    if (auto blind = unasked(reports, status::user_not_found);
        !blind.empty() && blind.size() < reports.size())
        fmt::print(text, "{}: partial: the keys of user {} are unknown on {}\n", cmd.spec->name,
                   *user, describe_unasked(blind));
    auto file = cmd.args.size() > 2 ? std::optional(cmd.args[2]) : std::nullopt;
    return ctx.output.deliver(text.str(), file, result);
}

line_result run_key_info(shell_context& ctx, parsed_command& cmd) {
    // CMU's syntax is getKeyInfo -k <handle>; its own examples omit -k.
    auto args = cmd.args;
    if (!args.empty() && args.front() == "-k") args.erase(args.begin());
    if (args.empty() || args.size() > 2)
        throw usage_error(fmt::format("usage: {}", cmd.spec->synopsis));
    auto handle = handle_argument(args[0]);
    auto reports =
        ctx.cluster.fan_out(ctx.cluster.targets(), *cmd.spec->op, json{{"handle", handle}});
    bool all_ok = std::ranges::all_of(reports, [](const auto& r) { return r.outcome.ok(); });
    auto result = all_ok ? line_result::ok : line_result::failed;
    if (ctx.options.json) {
        ctx.output.emit(result_json(cmd.spec->name, reports, cmd.spec->op));
        return result;
    }
    std::ostringstream text;
    for (const auto& r : reports)
        print_key_info(text, cmd.spec->name, r);
    return ctx.output.deliver(text.str(), args.size() > 1 ? std::optional(args[1]) : std::nullopt,
                              result);
}

line_result run_list_attributes(shell_context& ctx, parsed_command& cmd) {
    if (ctx.options.json) {
        json attributes = json::array();
        for (const auto& a : key_attributes())
            attributes.push_back({{"name", a.name},
                                  {"id", static_cast<std::uint32_t>(a.id)},
                                  {"settable", a.settable}});
        ctx.output.emit(
            json{{"command", cmd.spec->name}, {"ok", true}, {"attributes", attributes}});
        return line_result::ok;
    }
    print_attribute_list(ctx.output.out());
    return line_result::ok;
}

line_result run_get_attribute(shell_context& ctx, parsed_command& cmd) {
    auto handle = handle_argument(cmd.args[0]);
    const auto* attribute = &attribute_argument(cmd.args[1]);
    auto reports =
        ctx.cluster.fan_out(ctx.cluster.targets(), operation::get_key, json{{"handle", handle}});
    bool all_ok = std::ranges::all_of(reports, [](const auto& r) { return r.outcome.ok(); });
    auto result = all_ok ? line_result::ok : line_result::failed;
    if (ctx.options.json) {
        ctx.output.emit(
            result_json(cmd.spec->name, reports, [&](json& entry, const server_report& r) {
                if (auto k = key_summary_from(r.outcome.fields))
                    entry["attributes"] = attribute_values(*k, *attribute);
            }));
        return result;
    }
    std::ostringstream text;
    for (const auto& r : reports)
        print_attribute(text, cmd.spec->name, r, *attribute);
    return ctx.output.deliver(
        text.str(), cmd.args.size() > 2 ? std::optional(cmd.args[2]) : std::nullopt, result);
}

line_result run_share_key(shell_context& ctx, parsed_command& cmd) {
    auto handle = handle_argument(cmd.args[0]);
    std::vector<std::int64_t> users;
    std::stringstream ids(cmd.args[1]);
    for (std::string id; std::getline(ids, id, ',');) {
        auto n = parse_number(id);
        if (!n || *n == 0) throw usage_error(fmt::format("'{}' is not a user id", id));
        users.push_back(*n);
    }
    if (users.empty() || users.size() > max_key_shares)
        throw usage_error(
            fmt::format("shareKey takes 1 to {} user ids, separated by commas", max_key_shares));
    if (cmd.args[2] != "0" && cmd.args[2] != "1")
        throw usage_error("the last argument is 1 (share) or 0 (unshare)");
    return ctx.changes.run_confirmed_change(
        cmd, to_fields(key_sharing{handle, std::move(users), cmd.args[2] == "1"}));
}

line_result run_set_attribute(shell_context& ctx, parsed_command& cmd) {
    auto handle = handle_argument(cmd.args[0]);
    const auto* a = &attribute_argument(cmd.args[1]);
    if (!a->settable) {
        std::vector<std::string> settable;
        for (const auto& each : key_attributes())
            if (each.settable)
                settable.push_back(std::to_string(static_cast<std::uint32_t>(each.id)));
        throw usage_error(
            fmt::format("{} cannot be changed; these can: {}", a->name, fmt::join(settable, ", ")));
    }
    const auto& value = cmd.args[2];
    if (!valid_attribute_value(*a, value))
        throw usage_error(
            a->id == key_attribute::label
                ? fmt::format("a label is at most {} printable bytes", max_key_label)
            : a->id == key_attribute::id
                ? fmt::format("an id is at most {} bytes in lower-case hex", max_key_id)
                : fmt::format("{} takes 0 or 1", a->name));
    // Cipher and wrapping uses and extractability only narrow (the nodes'
    // rule, whatever the key): refused before anything is sent.
    if (!may_turn(*a, key_type::generic_secret, value == "1"))
        throw usage_error(fmt::format("{} is only turned off (0) once a key is made", a->name));
    return ctx.changes.run_confirmed_change(
        cmd, to_fields(key_attribute_change{handle, static_cast<std::uint32_t>(a->id), value}));
}

line_result run_sync_key(shell_context& ctx, parsed_command& cmd) {
    auto handle = handle_argument(cmd.args[0]);
    if (!ctx.session.server_mode)
        throw usage_error("syncKey <key-handle> <server> works in server mode (server N), as in "
                          "CMU: it copies the key from that server");
    auto destination = parse_server_number(cmd.args[1], ctx.cluster.link().size());
    if (!destination || *destination == *ctx.session.server_mode)
        throw usage_error(fmt::format("no other server {}", cmd.args[1]));
    auto source = *ctx.session.server_mode;
    auto got = ctx.cluster.fan_out({source}, operation::get_sealed_key, json{{"handle", handle}});
    if (!got[0].outcome.ok()) return ctx.output.finish(cmd.spec->name, got);
    auto keys = sealed_keys_from(got[0].outcome.fields);
    if (!keys) {
        fmt::print(ctx.output.err(), "{}: {} sent no readable key; nothing was changed\n",
                   cmd.spec->name, server_label(source, ctx.cluster.link().server(source).name));
        return line_result::failed;
    }
    if (!ctx.cluster.link().connected(*destination)) ctx.cluster.targets(); // reconnect a lost one
    auto answer = ctx.changes.confirm(*cmd.spec, {*destination});
    if (answer != line_result::ok) return answer;
    return ctx.changes.run_prepared(cmd.spec->name, {*destination},
                                    to_fields(key_copy{std::move(*keys)}));
}

line_result run_destroy_key(shell_context& ctx, parsed_command& cmd) {
    return ctx.changes.run_confirmed_change(
        cmd, to_fields(key_destruction{handle_argument(cmd.args[0])}));
}

namespace {

// The label and id a command gives after its first argument, checked, in `request`.
void name_request(const parsed_command& cmd, json& request) {
    if (cmd.args.size() > 1) {
        if (!valid_key_label(cmd.args[1]))
            throw usage_error(fmt::format("a label is at most {} printable bytes", max_key_label));
        request["label"] = cmd.args[1];
    }
    if (cmd.args.size() > 2) {
        // PKCS#11's CKA_ID, by which applications (pkcs11-tool --id) pick a key.
        if (!valid_key_id_hex(cmd.args[2]))
            throw usage_error(
                fmt::format("an id is at most {} bytes in lower-case hex", max_key_id));
        request["id"] = cmd.args[2];
    }
}

// generateKey's request to the node that makes the key: its type, and its
// label and id when given.
json generate_request(const parsed_command& cmd) {
    auto spec = parse_key_spec(cmd.args[0]);
    if (!spec)
        throw usage_error(fmt::format("no key type '{}': ec:p256, ec:p384, ed25519, rsa:2048, "
                                      "rsa:3072, rsa:4096, aes:128, aes:192, aes:256 or "
                                      "hmac:<bits>",
                                      cmd.args[0]));
    json request{{"spec", key_spec_name(*spec)}};
    name_request(cmd, request);
    return request;
}

// The type of a public key (SubjectPublicKeyInfo DER), if the nodes keep its kind.
std::optional<key_type> public_key_type(const std::string& der) {
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    pkey_ptr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
    if (!key) return std::nullopt;
    switch (EVP_PKEY_get_base_id(key.get())) {
    case EVP_PKEY_EC:
        return key_type::ec;
    case EVP_PKEY_RSA:
        return key_type::rsa;
    case EVP_PKEY_ED25519:
        return key_type::ed25519;
    default:
        return std::nullopt;
    }
}

// The PEM blocks importPem tells apart (a private key's, of any form, to refuse it).
constexpr std::string_view certificate_marker = "-----BEGIN CERTIFICATE-----";
constexpr std::string_view public_key_marker = "-----BEGIN PUBLIC KEY-----";
constexpr std::string_view private_key_marker = "PRIVATE KEY-----";

bool holds(std::string_view pem, std::string_view marker) {
    return pem.find(marker) != std::string_view::npos;
}

// importPem's request: the file's certificate or public key, as DER. A
// private key is refused here: none crosses a terminal in the clear.
json import_request(const parsed_command& cmd) {
    auto pem = read_argument_file(cmd.args[0], 64 * 1024, "PEM file");
    json request;
    try {
        if (holds(pem, certificate_marker)) {
            auto der = der_encoding(cert_from_pem(pem).get(), i2d_X509);
            if (der.empty()) throw usage_error("PEM file: the certificate does not encode");
            request = {{"class", key_class_name(key_class::certificate)},
                       {"type", key_type_name(key_type::x509)},
                       {"material", to_hex(der)}};
        } else if (holds(pem, public_key_marker)) {
            auto der = public_key_der_from_pem(pem);
            auto type = public_key_type(der);
            if (!type)
                throw usage_error("PEM file: an EC or RSA public key is brought in, no other");
            request = {
                {"class", key_class_name(key_class::public_key)},
                {"type", key_type_name(*type)},
                {"material",
                 to_hex(std::span(reinterpret_cast<const std::uint8_t*>(der.data()), der.size()))}};
        } else if (holds(pem, private_key_marker)) {
            wipe(pem);
            throw usage_error("PEM file: a private key is never brought in from the shell (a "
                              "PKCS#11 application's C_CreateObject can)");
        } else {
            throw usage_error("PEM file: no certificate ('BEGIN CERTIFICATE') or public key "
                              "('BEGIN PUBLIC KEY')");
        }
    } catch (const pki_error& e) {
        throw usage_error(fmt::format("PEM file: {}", e.what()));
    }
    name_request(cmd, request);
    return request;
}

// Why no key was made, as the shell tells it: the maker's own line when it
// refused or did not answer.
line_result report_unmade(shell_context& ctx, const parsed_command& cmd,
                          const key_generation_failure& failure) {
    using enum key_generation_failure::kind;
    if (failure.what == refused || failure.what == unanswered)
        return ctx.output.finish(cmd.spec->name, {failure.maker});
    if (failure.what == no_server)
        fmt::print(ctx.output.err(), "{}: no server is connected; nothing was changed\n",
                   cmd.spec->name);
    else
        fmt::print(ctx.output.err(), "{}: {} sent no readable keys; nothing was changed\n",
                   cmd.spec->name, server_label(failure.maker.index, failure.maker.name));
    return line_result::failed;
}

// Inserts the keys made on one node on every server of `where` (one
// two-phase change, confirmed and reported as the others), then names them.
line_result insert_made(shell_context& ctx, const parsed_command& cmd,
                        const std::vector<std::size_t>& where, std::vector<sealed_key> keys) {
    std::vector<std::string> handles;
    json shown = json::array();
    for (const auto& k : keys) {
        handles.push_back(fmt::format("{} key handle {}", key_class_name(k.cls), k.handle));
        shown.push_back({{"handle", k.handle}, {"class", key_class_name(k.cls)}});
        ctx.session.known_handles.insert(k.handle);
    }
    auto result =
        ctx.changes.run_prepared(cmd.spec->name, where, to_fields(key_insertion{std::move(keys)}),
                                 nullptr, json{{"keys", shown}});
    if (result == line_result::ok && !ctx.options.json)
        fmt::print(ctx.output.out(), "{}: {}\n", cmd.spec->name,
                   escape_terminal(fmt::format("{}", fmt::join(handles, ", "))));
    return result;
}

// The keys `op` (generate_key, import_key) makes on one node, inserted on
// every server of the cluster's targets.
line_result make_and_insert(shell_context& ctx, const parsed_command& cmd, operation op,
                            const json& request) {
    auto where = ctx.cluster.targets();
    auto made =
        generate_on_one(ctx.cluster.link(), where, request, [&](std::size_t i, const json& r) {
            return ctx.cluster.fan_out({i}, op, r)[0];
        });
    if (auto* failure = std::get_if<key_generation_failure>(&made))
        return report_unmade(ctx, cmd, *failure);
    return insert_made(ctx, cmd, where, std::move(std::get<made_keys>(made).keys));
}

} // namespace

// A key is made on one node (its generator and the owner's session there),
// sealed for the cluster, then inserted everywhere by one two-phase change:
// on every server or none.
line_result run_generate_key(shell_context& ctx, parsed_command& cmd) {
    return make_and_insert(ctx, cmd, operation::generate_key, generate_request(cmd));
}

// A certificate or public key is brought in as a key is made: checked and
// sealed by one node, then inserted everywhere by one two-phase change.
line_result run_import_pem(shell_context& ctx, parsed_command& cmd) {
    return make_and_insert(ctx, cmd, operation::import_key, import_request(cmd));
}

namespace {

// The mechanisms that wrap from the shell, by the nodes' names.
std::string transport_mechanism_argument(const std::string& text) {
    auto m = mechanism_from_name(text);
    if (!m || !(is_key_wrap(*m) || *m == mechanism::aes_gcm))
        throw usage_error(
            fmt::format("no key wrap '{}': aes-key-wrap-pad (RFC 5649), aes-key-wrap (RFC 3394) "
                        "or aes-gcm",
                        text));
    return std::string(mechanism_name(*m));
}

// unwrapKey's key kinds: a secret key's type, or a private key's.
std::pair<key_class, key_type> unwrapped_kind(const std::string& text) {
    if (text == "aes") return {key_class::secret_key, key_type::aes};
    if (text == "hmac") return {key_class::secret_key, key_type::generic_secret};
    if (text == "ec") return {key_class::private_key, key_type::ec};
    if (text == "rsa") return {key_class::private_key, key_type::rsa};
    if (text == "ed25519") return {key_class::private_key, key_type::ed25519};
    throw usage_error(fmt::format(
        "no key kind '{}': aes, hmac, ec, rsa or ed25519 (a PKCS#8 private key)", text));
}

} // namespace

// A key its owner takes away: wrapped by one server (the first that
// answers), written to a file (mode 0600) as the mechanism gives it. The
// nodes hold the policy: an extractable key, a wrapping key that wraps and
// neither encrypts nor decrypts.
line_result run_wrap_key(shell_context& ctx, parsed_command& cmd) {
    json request{{"key", handle_argument(cmd.args[0])},
                 {"handle", handle_argument(cmd.args[1])},
                 {"mechanism", transport_mechanism_argument(cmd.args[2])}};
    std::optional<server_report> wrapped;
    for (auto i : ctx.cluster.targets()) {
        auto r = ctx.cluster.fan_out({i}, operation::wrap_key, request)[0];
        if (r.outcome.what == server_outcome::kind::replied) {
            wrapped = std::move(r);
            break;
        }
    }
    if (!wrapped) {
        fmt::print(ctx.output.err(), "{}: no server answered; nothing was written\n",
                   cmd.spec->name);
        return line_result::failed;
    }
    auto data =
        wrapped->outcome.ok() ? string_field(wrapped->outcome.fields, "data") : std::nullopt;
    auto blob = data ? from_hex(*data) : std::nullopt;
    if (!blob) return ctx.output.finish(cmd.spec->name, {*wrapped});
    try {
        write_file_atomic(
            cmd.args[3],
            std::string_view(reinterpret_cast<const char*>(blob->data()), blob->size()), 0600);
    } catch (const std::exception& e) {
        fmt::print(ctx.output.err(), "{}: {}\n", cmd.spec->name, e.what());
        return line_result::failed;
    }
    if (ctx.options.json) {
        ctx.output.emit(json{{"command", cmd.spec->name},
                             {"server", wrapped->index},
                             {"file", cmd.args[3]},
                             {"bytes", blob->size()}});
    } else {
        fmt::print(ctx.output.out(), "{}: key handle {} wrapped by {} into {} ({} bytes)\n",
                   cmd.spec->name, cmd.args[0], server_label(wrapped->index, wrapped->name),
                   escape_terminal(cmd.args[3]), blob->size());
    }
    return line_result::ok;
}

// A wrapped key brought in: unwrapped and sealed by one server, then
// inserted everywhere by one two-phase change, as a generated key is.
line_result run_unwrap_key(shell_context& ctx, parsed_command& cmd) {
    auto [cls, type] = unwrapped_kind(cmd.args[3]);
    auto blob = read_argument_file(cmd.args[2], max_wrapped_key, "wrapped key file");
    json request{{"handle", handle_argument(cmd.args[0])},
                 {"mechanism", transport_mechanism_argument(cmd.args[1])},
                 {"class", key_class_name(cls)},
                 {"type", key_type_name(type)},
                 {"data", to_hex(std::span(reinterpret_cast<const std::uint8_t*>(blob.data()),
                                           blob.size()))}};
    parsed_command names = cmd;
    names.args.erase(names.args.begin(), names.args.begin() + 3); // label and id from args[1]
    name_request(names, request);
    return make_and_insert(ctx, cmd, operation::unwrap_key, request);
}

} // namespace hsm
