// SPDX-License-Identifier: Apache-2.0
// The two-factor message and the TLS channel binding it names.
#include "hsmsh/second_factor.hpp"

#include <memory>
#include <stdexcept>
#include <string>

#include <openssl/evp.h>
#include <openssl/ssl.h>

namespace hsm {
namespace {

void append_field(std::string& out, std::span<const std::uint8_t> field) {
    auto n = static_cast<std::uint32_t>(field.size());
    for (int shift = 24; shift >= 0; shift -= 8)
        out.push_back(static_cast<char>((n >> shift) & 0xff));
    out.append(reinterpret_cast<const char*>(field.data()), field.size());
}

std::span<const std::uint8_t> as_bytes(std::string_view text) {
    return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

} // namespace

std::string_view second_factor_purpose_name(second_factor_purpose p) noexcept {
    return p == second_factor_purpose::login ? "login" : "enroll";
}

std::vector<std::uint8_t> channel_binding(ssl_st* ssl) {
    std::vector<std::uint8_t> out(channel_binding_size);
    if (!ssl || !SSL_is_init_finished(ssl) ||
        SSL_export_keying_material(ssl, out.data(), out.size(), channel_binding_label.data(),
                                   channel_binding_label.size(), nullptr, 0, 0) != 1)
        throw std::runtime_error("no TLS channel binding: the handshake is not done");
    return out;
}

std::vector<std::uint8_t> second_factor_digest(second_factor_purpose p, std::string_view hsm_id,
                                               std::string_view user,
                                               std::span<const std::uint8_t> challenge,
                                               std::span<const std::uint8_t> channel) {
    std::string message(second_factor_domain);
    message.push_back('\0');
    append_field(message, as_bytes(second_factor_purpose_name(p)));
    append_field(message, as_bytes(hsm_id));
    append_field(message, as_bytes(user));
    append_field(message, challenge);
    append_field(message, channel);
    std::vector<std::uint8_t> digest(32);
    unsigned size = 0;
    if (EVP_Digest(message.data(), message.size(), digest.data(), &size, EVP_sha256(), nullptr) !=
            1 ||
        size != digest.size())
        throw std::runtime_error("SHA-256 failed");
    return digest;
}

} // namespace hsm
