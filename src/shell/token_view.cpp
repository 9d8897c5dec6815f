// SPDX-License-Identifier: Apache-2.0
// What an approver signs: a quorum token file's one request, in words.
#include "token_view.hpp"

#include "command_line.hpp"
#include "hsmsh/hex.hpp"
#include "hsmsh/log.hpp"
#include "hsmsh/protocol/quorum.hpp"

#include <algorithm>
#include <set>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <openssl/evp.h>

namespace hsm {
namespace {

std::string sha256_hex(std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    std::size_t size = 0;
    if (EVP_Q_digest(nullptr, "SHA256", nullptr, data.data(), data.size(), digest, &size) != 1)
        throw std::runtime_error("SHA-256 failed");
    return to_hex({digest, size});
}

// Why a file of well-formed records is not one request.
std::string mixed_request(std::span<const quorum::token_record> records) {
    std::set<int> services;
    std::set<std::string> officers;
    for (const auto& r : records) {
        services.insert(static_cast<int>(r.svc));
        officers.insert(r.user);
    }
    std::vector<std::string> names;
    for (const auto& o : officers)
        names.push_back(escape_terminal(o));
    return fmt::format("{} records of service(s) {} asked for by {}: the nodes take one "
                       "officer's tokens of one service per file (one getToken)",
                       records.size(), fmt::join(services, ", "), fmt::join(names, ", "));
}

} // namespace

std::string describe_token_file(std::string_view path, std::string_view data) {
    auto records =
        quorum::decode_file({reinterpret_cast<const std::uint8_t*>(data.data()), data.size()});
    if (!records)
        throw usage_error(
            fmt::format("token file {}: not the records getToken writes", escape_terminal(path)));
    if (!quorum::one_token_request(*records))
        throw usage_error(
            fmt::format("token file {}: {}", escape_terminal(path), mixed_request(*records)));
    const auto& first = records->front();
    auto made = std::ranges::min(*records, {}, &quorum::token_record::created).created;
    auto name = escape_terminal(path);
    auto quoted = escape_terminal(shell_quoted(path));
    auto signature = escape_terminal(shell_quoted(std::string(path) + ".sig"));
    return fmt::format("Token file {} asks for one approval:\n"
                       "  Service:  {} ({})\n"
                       "  Officer:  {}\n"
                       "  Tokens:   {} (one per HSM that answered getToken)\n"
                       "  Made:     {:%Y-%m-%d %H:%M:%S} UTC\n"
                       "  SHA-256:  {}\n"
                       "Sign it only if you approve this; each HSM counts the signature for "
                       "this officer's token of this service, nothing else:\n"
                       "  openssl dgst -sha256 -sign <your-key.pem> -out {} {}\n",
                       name, static_cast<int>(first.svc), quorum::service_name(first.svc),
                       escape_terminal(first.user), records->size(),
                       fmt::gmtime(static_cast<std::time_t>(made)), sha256_hex(data), signature,
                       quoted);
}

} // namespace hsm
