// SPDX-License-Identifier: Apache-2.0
// Keys brought in (import_key): checked as keys the node could have made,
// marked as brought in (CKA_LOCAL false), then inserted and used as
// generated keys are; OpenSSL, with the original keys, checks their work.
#include "hsmsh/hex.hpp"
#include "hsmsh/pki.hpp"
#include "memory_node.hpp"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <doctest/doctest.h>

// A namespace of its own: the unity build compiles the unit tests together.
namespace hsm::test::key_import {
namespace {

template <typename Encode> bytes der(EVP_PKEY* key, Encode encode) {
    bytes out(static_cast<std::size_t>(encode(key, nullptr)));
    auto* p = out.data();
    REQUIRE(encode(key, &p) == static_cast<int>(out.size()));
    return out;
}

bytes pkcs8(EVP_PKEY* key) {
    return der(key, [](EVP_PKEY* k, unsigned char** p) {
        std::unique_ptr<PKCS8_PRIV_KEY_INFO, decltype(&PKCS8_PRIV_KEY_INFO_free)> info(
            EVP_PKEY2PKCS8(k), PKCS8_PRIV_KEY_INFO_free);
        return i2d_PKCS8_PRIV_KEY_INFO(info.get(), p);
    });
}

// SEC 1's or PKCS#1's own form.
bytes traditional(EVP_PKEY* key) {
    return der(key, [](EVP_PKEY* k, unsigned char** p) { return i2d_PrivateKey(k, p); });
}

bytes spki(EVP_PKEY* key) {
    return der(key, [](EVP_PKEY* k, unsigned char** p) { return i2d_PUBKEY(k, p); });
}

pkey_ptr rsa(std::size_t bits) {
    return pkey_ptr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits));
}

pkey_ptr ec(const char* curve) {
    return pkey_ptr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
}

bool verifies(EVP_PKEY* key, const EVP_MD* md, const bytes& data, const bytes& signature) {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    return EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) == 1 &&
           EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), data.data(),
                            data.size()) == 1;
}

bytes signed_by(EVP_PKEY* key, const bytes& data) {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    std::size_t size = 0;
    REQUIRE(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1);
    REQUIRE(EVP_DigestSign(ctx.get(), nullptr, &size, data.data(), data.size()) == 1);
    bytes out(size);
    REQUIRE(EVP_DigestSign(ctx.get(), out.data(), &size, data.data(), data.size()) == 1);
    out.resize(size);
    return out;
}

const bytes message{'b', 'r', 'o', 'u', 'g', 'h', 't', ' ', 'i', 'n'};

// A node with an officer and a crypto user, alice, logged in.
struct import_fixture : node_fixture {
    session admin = activated();
    session alice;

    import_fixture() {
        REQUIRE(create(admin, "CU", "alice") == status::ok);
        REQUIRE(login(alice, "CU", "alice", "password1") == status::ok);
    }
    reply import(session& s, std::string_view cls, std::string_view type, const bytes& material,
                 json more = json::object()) {
        more["class"] = cls;
        more["type"] = type;
        more["material"] = to_hex(material);
        return call(s, operation::import_key, more);
    }
    status refusal(std::string_view cls, std::string_view type, const bytes& material,
                   json more = json::object()) {
        return import(alice, cls, type, material, std::move(more)).code;
    }
    // Imported and inserted: the new key's handle.
    std::int64_t imported(std::string_view cls, std::string_view type, const bytes& material,
                          json more = json::object()) {
        auto r = import(alice, cls, type, material, std::move(more));
        REQUIRE(r.code == status::ok);
        auto keys = r.fields.at("keys");
        REQUIRE(keys.size() == 1);
        REQUIRE(prepared(alice, {{"change", "insert_keys"}, {"keys", keys}}) == status::ok);
        return keys[0].at("handle").get<std::int64_t>();
    }
    key_summary described(std::int64_t handle) {
        auto r = call(alice, operation::get_key, {{"handle", handle}});
        REQUIRE(r.code == status::ok);
        auto k = key_summary_from(r.fields);
        REQUIRE(k);
        return *k;
    }
    bytes used(operation op, std::int64_t handle, std::string_view mechanism, const bytes& data,
               json more = json::object()) {
        more["handle"] = handle;
        more["mechanism"] = mechanism;
        more["data"] = to_hex(data);
        auto r = call(alice, op, more);
        REQUIRE(r.code == status::ok);
        return *from_hex(r.fields.at("data").get<std::string>());
    }
};

} // namespace

TEST_CASE("a key brought in is sealed like a generated one, works, and says it was brought in") {
    import_fixture n;
    SUBCASE("an AES key encrypts and decrypts") {
        auto handle = n.imported("secret", "aes", bytes(32, 0x5a), {{"label", "aes-in"}});
        auto k = n.described(handle);
        CHECK(k.bits == 256);
        CHECK(k.label == "aes-in");
        CHECK_FALSE(k.flags.local);
        CHECK_FALSE(k.flags.always_sensitive);
        CHECK_FALSE(k.flags.never_extractable);
        CHECK(k.flags.sensitive);
        CHECK_FALSE(k.flags.extractable);
        auto sealed = n.used(operation::encrypt, handle, "aes-gcm", message);
        CHECK(n.used(operation::decrypt, handle, "aes-gcm", sealed) == message);
    }
    SUBCASE("an RSA private key (PKCS#8) signs what its original verifies") {
        auto original = rsa(2048);
        auto handle = n.imported("private", "rsa", pkcs8(original.get()));
        auto k = n.described(handle);
        CHECK(k.bits == 2048);
        CHECK(k.public_key == to_hex(spki(original.get())));
        auto signature = n.used(operation::sign, handle, "rsa-pkcs1-sha256", message);
        CHECK(verifies(original.get(), EVP_sha256(), message, signature));
    }
    SUBCASE("an EC private key (SEC 1) signs; an EC public key verifies the original's") {
        auto original = ec("P-384");
        auto priv = n.imported("private", "ec", traditional(original.get()));
        CHECK(n.described(priv).bits == 384);
        auto signature = n.used(operation::sign, priv, "ecdsa-sha256", message);
        CHECK(verifies(original.get(), EVP_sha256(), message, signature));
        auto other = ec("P-256");
        auto pub = n.imported("public", "ec", spki(other.get()));
        auto k = n.described(pub);
        CHECK(k.cls == key_class::public_key);
        CHECK_FALSE(k.flags.local);
        auto theirs = signed_by(other.get(), message);
        auto r = n.call(n.alice, operation::verify,
                        {{"handle", pub},
                         {"mechanism", "ecdsa-sha256"},
                         {"data", to_hex(message)},
                         {"signature", to_hex(theirs)}});
        CHECK(r.code == status::ok);
    }
    SUBCASE("a session key, too: kept by the node for the login, never sealed") {
        auto r = n.import(n.alice, "secret", "generic_secret", bytes(32, 1), {{"session", true}});
        REQUIRE(r.code == status::ok);
        auto page = key_page_from(r.fields);
        REQUIRE(page);
        REQUIRE(page->keys.size() == 1);
        CHECK(is_session_handle(page->keys[0].handle));
        CHECK_FALSE(page->keys[0].flags.local);
        CHECK(r.fields.dump().find("sealed") == std::string::npos);
    }
}

TEST_CASE("what a node would not have made is refused, and so is a claim to have made it") {
    import_fixture n;
    auto small = rsa(1024);
    auto k1 = ec("secp256k1");
    auto good = ec("P-256");
    auto with_tail = pkcs8(good.get());
    with_tail.push_back(0);
    CHECK(n.refusal("secret", "aes", bytes(20, 1)) == status::attribute_invalid);
    CHECK(n.refusal("secret", "generic_secret", bytes(8, 1)) == status::attribute_invalid);
    CHECK(n.refusal("private", "rsa", pkcs8(small.get())) == status::attribute_invalid);
    CHECK(n.refusal("private", "ec", pkcs8(k1.get())) == status::attribute_invalid);
    CHECK(n.refusal("private", "ec", with_tail) == status::attribute_invalid);
    CHECK(n.refusal("private", "rsa", pkcs8(good.get())) == status::attribute_invalid);
    CHECK(n.refusal("public", "ec", pkcs8(good.get())) == status::attribute_invalid);
    CHECK(n.refusal("secret", "rsa", bytes(32, 1)) == status::attribute_invalid);
    // A key brought in never claims the node made it, nor becomes extractable.
    auto key = pkcs8(good.get());
    CHECK(n.refusal("private", "ec", key, {{"attributes", {{"local", true}}}}) ==
          status::attribute_invalid);
    CHECK(n.refusal("private", "ec", key, {{"attributes", {{"never_extractable", true}}}}) ==
          status::attribute_invalid);
    CHECK(n.refusal("private", "ec", key, {{"attributes", {{"extractable", true}}}}) ==
          status::attribute_invalid);
    // Nor does a generated key claim to be brought in.
    CHECK(n.call(n.alice, operation::generate_key,
                 {{"spec", "aes:256"}, {"attributes", {{"local", false}}}})
              .code == status::attribute_invalid);
    // Officers manage keys and bring none in; nothing before a login.
    CHECK(n.import(n.admin, "secret", "aes", bytes(16, 1)).code == status::permission_denied);
    session nobody;
    CHECK(n.import(nobody, "secret", "aes", bytes(16, 1)).code == status::not_logged_in);
    auto r = n.call(n.alice, operation::import_key,
                    {{"class", "secret"}, {"type", "aes"}, {"material", "zz"}});
    CHECK(r.code == status::attribute_invalid);
    r = n.call(n.alice, operation::import_key, {{"class", "secret"}, {"material", "00"}});
    CHECK(r.code == status::bad_request);
}

TEST_CASE("a secret or private key is always sensitive and never extractable exactly when local") {
    auto made = default_flags(key_class::secret_key, key_type::aes);
    CHECK(flags_fit(made, key_class::secret_key, key_type::aes));
    auto brought = made;
    brought.local = brought.always_sensitive = brought.never_extractable = false;
    CHECK(flags_fit(brought, key_class::secret_key, key_type::aes));
    auto claimed = brought;
    claimed.never_extractable = true;
    CHECK_FALSE(flags_fit(claimed, key_class::secret_key, key_type::aes));
    auto denied = made;
    denied.always_sensitive = false;
    CHECK_FALSE(flags_fit(denied, key_class::secret_key, key_type::aes));
    auto pub = default_flags(key_class::public_key, key_type::ec);
    pub.local = false;
    CHECK(flags_fit(pub, key_class::public_key, key_type::ec));
}

} // namespace hsm::test::key_import
