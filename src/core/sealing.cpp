// SPDX-License-Identifier: Apache-2.0
// HMAC-SHA256 and AES-256-GCM through OpenSSL's EVP interfaces.
#include "hsmsh/sealing.hpp"

#include "hsmsh/secret.hpp"

#include <memory>
#include <stdexcept>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace hsm {
namespace {

constexpr std::size_t nonce_size = 12;
constexpr std::size_t tag_size = 16;

struct cipher_free {
    void operator()(EVP_CIPHER_CTX* c) const noexcept { EVP_CIPHER_CTX_free(c); }
};
using cipher_ptr = std::unique_ptr<EVP_CIPHER_CTX, cipher_free>;

const unsigned char* u8(std::string_view s) noexcept {
    return reinterpret_cast<const unsigned char*>(s.data());
}

// A GCM context keyed for one direction, with `associated` fed in.
cipher_ptr gcm(std::span<const std::uint8_t> key, const std::uint8_t* nonce,
               std::string_view associated, bool encrypt) {
    if (key.size() != sealing_key_size) throw std::runtime_error("sealing key of the wrong size");
    cipher_ptr ctx(EVP_CIPHER_CTX_new());
    int len = 0;
    if (!ctx ||
        EVP_CipherInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce, encrypt) != 1 ||
        EVP_CipherUpdate(ctx.get(), nullptr, &len, u8(associated),
                         static_cast<int>(associated.size())) != 1)
        throw std::runtime_error("AES-256-GCM set-up failed");
    return ctx;
}

} // namespace

bytes hmac_sha256(std::span<const std::uint8_t> key, std::string_view data) {
    static constexpr unsigned char no_key = 0; // OpenSSL wants a pointer even for 0 bytes
    bytes out(EVP_MAX_MD_SIZE);
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), key.empty() ? &no_key : key.data(), static_cast<int>(key.size()),
              u8(data), data.size(), out.data(), &len))
        throw std::runtime_error("HMAC-SHA256 failed");
    out.resize(len);
    return out;
}

bytes seal(std::span<const std::uint8_t> key, std::string_view associated,
           std::string_view plaintext) {
    bytes out(nonce_size + plaintext.size() + tag_size);
    if (RAND_bytes(out.data(), static_cast<int>(nonce_size)) != 1)
        throw std::runtime_error("the random generator failed");
    auto ctx = gcm(key, out.data(), associated, true);
    int len = 0, tail = 0;
    if (EVP_EncryptUpdate(ctx.get(), out.data() + nonce_size, &len, u8(plaintext),
                          static_cast<int>(plaintext.size())) != 1 ||
        EVP_EncryptFinal_ex(ctx.get(), out.data() + nonce_size + len, &tail) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag_size),
                            out.data() + nonce_size + plaintext.size()) != 1)
        throw std::runtime_error("AES-256-GCM sealing failed");
    return out;
}

std::optional<std::string> unseal(std::span<const std::uint8_t> key, std::string_view associated,
                                  std::span<const std::uint8_t> blob) {
    if (blob.size() < nonce_size + tag_size) return std::nullopt;
    auto size = blob.size() - nonce_size - tag_size;
    auto ctx = gcm(key, blob.data(), associated, false);
    std::string plain(size, '\0');
    int len = 0, tail = 0;
    bytes tag(blob.end() - tag_size, blob.end());
    bool ok = EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len,
                                blob.data() + nonce_size, static_cast<int>(size)) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag_size),
                                  tag.data()) == 1 &&
              EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + len,
                                  &tail) == 1;
    if (!ok) {
        wipe(plain);
        return std::nullopt;
    }
    return plain;
}

} // namespace hsm
