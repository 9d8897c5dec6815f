// SPDX-License-Identifier: Apache-2.0
// The authdata exchange of two-factor login, and base64 through OpenSSL.
#include "authdata.hpp"

#include "authdata_file.hpp"
#include "command_line.hpp"
#include "hsmsh/hex.hpp"
#include "hsmsh/log.hpp"

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

namespace {

// The entry of HSM `hsm_id` (the last, if it is there twice).
const authdata_entry& entry_of(const authdata_file& file, const std::string& hsm_id) {
    const authdata_entry* entry = nullptr;
    for (const auto& e : file.data)
        if (e.hsm_id == hsm_id) entry = &e;
    if (!entry)
        throw usage_error(fmt::format("authdata: no entry for HSM {}", escape_control(hsm_id)));
    return *entry;
}

// The signature of challenge `c` in hex, checked against what was asked.
std::string signature_of(const authdata_file& file, const authdata_challenge& c) {
    const auto& entry = entry_of(file, c.hsm_id);
    if (base64_decode(entry.digest) != c.digest)
        throw usage_error(fmt::format("authdata: the Digest of HSM {} is not the one asked",
                                      escape_control(c.hsm_id)));
    auto signature = base64_decode(entry.signature);
    if (!signature || signature->empty())
        throw usage_error(
            fmt::format("authdata: no base64 \"Signature\" for HSM {}", escape_control(c.hsm_id)));
    if (signature->size() > max_signature)
        throw usage_error(fmt::format("authdata: the Signature for HSM {} is {} bytes, not "
                                      "an RSA-2048 signature",
                                      escape_control(c.hsm_id), signature->size()));
    return to_hex(
        std::span(reinterpret_cast<const std::uint8_t*>(signature->data()), signature->size()));
}

} // namespace

authdata_answer read_authdata(std::string_view text, std::span<const authdata_challenge> asked,
                              bool wants_key) {
    if (text.size() > max_authdata_file || json_depth_exceeds(text, max_json_depth))
        throw usage_error("authdata: not the file hsmsh wrote (too large or too deep)");
    auto doc = json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object())
        throw usage_error("authdata: not JSON (add each \"Signature\" inside the file's quotes)");
    auto file = authdata_file_from(doc);
    if (!file) throw usage_error("authdata: no \"Data\" list: not the file hsmsh wrote");
    authdata_answer answer;
    for (const auto& c : asked)
        answer.signatures[c.hsm_id] = signature_of(*file, c);
    if (wants_key) {
        answer.public_key_pem = file->public_key;
        if (answer.public_key_pem.empty())
            throw usage_error("authdata: no \"PublicKey\" (the PEM of openssl rsa -pubout)");
    }
    return answer;
}

} // namespace hsm
