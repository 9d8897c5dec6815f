// SPDX-License-Identifier: Apache-2.0
// Hexadecimal encoding by table.
#include "hsmsh/hex.hpp"

#include "hsmsh/secret.hpp"

#include <stdexcept>

#include <openssl/rand.h>

namespace hsm {
namespace {

int nibble(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

} // namespace

std::string to_hex(std::span<const std::uint8_t> bytes) {
    // A table, not fmt per byte: listUsers computes a digest per user and
    // per request, and formatting each byte was 14% of a node's time in it.
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(bytes.size() * 2, '\0');
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 0x0f];
    }
    return out;
}

std::optional<std::vector<std::uint8_t>> from_hex(std::string_view text) {
    if (text.size() % 2 != 0) return std::nullopt;
    std::vector<std::uint8_t> out(text.size() / 2);
    for (std::size_t i = 0; i < out.size(); ++i) {
        int hi = nibble(text[2 * i]), lo = nibble(text[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    return out;
}

std::string random_hex(std::size_t count) {
    std::vector<std::uint8_t> raw(count);
    if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1)
        throw std::runtime_error("the random generator failed");
    auto out = to_hex(raw);
    wipe(raw.data(), raw.size());
    return out;
}

} // namespace hsm
