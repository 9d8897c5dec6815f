// SPDX-License-Identifier: Apache-2.0
// The authdata exchange of two-factor login, and base64 through OpenSSL.
#include "authdata.hpp"

#include "command_line.hpp"
#include "hsmsh/hex.hpp"
#include "hsmsh/log.hpp"
#include "json_fields.hpp"

#include <openssl/evp.h>

#include <fmt/format.h>

namespace hsm {
namespace {

constexpr std::size_t max_signature = 512;

} // namespace

std::string base64_encode(std::string_view data) {
    std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
    auto n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                             reinterpret_cast<const unsigned char*>(data.data()),
                             static_cast<int>(data.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    std::string clean;
    for (char c : text)
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t') clean += c;
    if (clean.size() % 4 != 0) return std::nullopt;
    std::string out(clean.size() / 4 * 3, '\0');
    // EVP_DecodeBlock refuses what is not base64 but counts padding as zero
    // bytes: those are taken off here.
    auto n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                             reinterpret_cast<const unsigned char*>(clean.data()),
                             static_cast<int>(clean.size()));
    if (n < 0) return std::nullopt;
    std::size_t pad = 0;
    if (!clean.empty() && clean.back() == '=') ++pad;
    if (clean.size() > 1 && clean[clean.size() - 2] == '=') ++pad;
    out.resize(static_cast<std::size_t>(n) - pad);
    return out;
}

std::string authdata_request(std::span<const authdata_challenge> asked) {
    json data = json::array();
    for (const auto& c : asked)
        data.push_back({{"HsmId", c.hsm_id}, {"Digest", base64_encode(c.digest)}});
    return json{{"Version", "1.0"}, {"Data", data}}.dump(2) + "\n";
}

authdata_answer read_authdata(std::string_view text, std::span<const authdata_challenge> asked,
                              bool wants_key) {
    if (text.size() > max_authdata_file || json_depth_exceeds(text, max_json_depth))
        throw usage_error("authdata: not the file hsmsh wrote (too large or too deep)");
    auto doc = json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object())
        throw usage_error("authdata: not JSON (add each \"Signature\" inside the file's quotes)");
    auto data = doc.find("Data");
    if (data == doc.end() || !data->is_array())
        throw usage_error("authdata: no \"Data\" list: not the file hsmsh wrote");
    authdata_answer answer;
    for (const auto& c : asked) {
        const json* entry = nullptr;
        for (const auto& e : *data)
            if (e.is_object() && text_in(e, "HsmId") == c.hsm_id) entry = &e;
        if (!entry)
            throw usage_error(
                fmt::format("authdata: no entry for HSM {}", escape_control(c.hsm_id)));
        if (base64_decode(text_in(*entry, "Digest")) != c.digest)
            throw usage_error(fmt::format("authdata: the Digest of HSM {} is not the one asked",
                                          escape_control(c.hsm_id)));
        auto signature = base64_decode(text_in(*entry, "Signature"));
        if (!signature || signature->empty())
            throw usage_error(fmt::format("authdata: no base64 \"Signature\" for HSM {}",
                                          escape_control(c.hsm_id)));
        if (signature->size() > max_signature)
            throw usage_error(fmt::format("authdata: the Signature for HSM {} is {} bytes, not "
                                          "an RSA-2048 signature",
                                          escape_control(c.hsm_id), signature->size()));
        answer.signatures[c.hsm_id] = to_hex(
            std::span(reinterpret_cast<const std::uint8_t*>(signature->data()), signature->size()));
    }
    if (wants_key) {
        answer.public_key_pem = text_in(doc, "PublicKey");
        if (answer.public_key_pem.empty())
            throw usage_error("authdata: no \"PublicKey\" (the PEM of openssl rsa -pubout)");
    }
    return answer;
}

} // namespace hsm
