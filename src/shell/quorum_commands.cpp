// SPDX-License-Identifier: Apache-2.0
// Quorum commands: an officer registers the key that approves quorum tokens.
#include "hsmsh/files.hpp"
#include "hsmsh/hex.hpp"
#include "hsmsh/pki.hpp"
#include "hsmsh/quorum.hpp"
#include "shell.hpp"

#include <fmt/format.h>

namespace hsm {
namespace {

// A file of at most `limit` bytes, as bytes; a usage error names it otherwise.
std::string read_argument_file(const std::string& path, std::size_t limit, std::string_view what) {
    try {
        return read_file(path, limit);
    } catch (const file_error& e) {
        throw usage_error(fmt::format("{}: {}", what, e.what()));
    }
}

std::string hex_of(std::string_view data) {
    return to_hex(std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
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
