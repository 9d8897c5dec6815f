// SPDX-License-Identifier: Apache-2.0
// Keys brought in (import_key): checked as keys the node could have made,
// marked as brought in (CKA_LOCAL false), then inserted and used as
// generated keys are; OpenSSL, with the original keys, checks their work.
#include "hsmsh/hex.hpp"
#include "hsmsh/pki.hpp"
#include "memory_node.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <doctest/doctest.h>

// A namespace of its own: the unity build compiles the unit tests together.
namespace hsm::test::key_import {
namespace {

template <typename T, typename Encode> bytes der(T* key, Encode encode) {
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

// An RSA-2048 key with exponent `e` and `primes` primes.
pkey_ptr rsa_with(unsigned long e, int primes) {
    std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
        EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr), EVP_PKEY_CTX_free);
    std::unique_ptr<BIGNUM, decltype(&BN_free)> exponent(BN_new(), BN_free);
    EVP_PKEY* key = nullptr;
    REQUIRE(ctx);
    REQUIRE(BN_set_word(exponent.get(), e) == 1);
    REQUIRE(EVP_PKEY_keygen_init(ctx.get()) == 1);
    REQUIRE(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), 2048) == 1);
    REQUIRE(EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx.get(), exponent.get()) == 1);
    REQUIRE(EVP_PKEY_CTX_set_rsa_keygen_primes(ctx.get(), primes) == 1);
    REQUIRE(EVP_PKEY_keygen(ctx.get(), &key) == 1);
    return pkey_ptr(key);
}

// `key` as it encodes with a string parameter set (a point format, say).
pkey_ptr with_param(EVP_PKEY* key, const char* name, const char* value) {
    REQUIRE(EVP_PKEY_set_utf8_string_param(key, name, value) == 1);
    return pkey_ptr(EVP_PKEY_dup(key));
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
    key_summary described(std::int64_t handle) { return node_fixture::described(alice, handle); }
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
    SUBCASE("a certificate is kept as it is, owned, and used by nobody") {
        auto key = ec("P-256");
        auto cert = make_ca_certificate(key.get(), "hsmsh import test", 30);
        auto encoded = der(cert.get(), [](X509* c, unsigned char** p) { return i2d_X509(c, p); });
        auto handle = n.imported("certificate", "x509", encoded, {{"label", "ca"}, {"id", "0a"}});
        auto k = n.described(handle);
        CHECK(k.cls == key_class::certificate);
        CHECK(k.type == key_type::x509);
        CHECK(k.public_key == to_hex(encoded));
        CHECK(k.owner_name == "alice");
        CHECK_FALSE(k.flags.local);
        CHECK_FALSE(k.flags.private_);
        CHECK_FALSE(k.flags.sign);
        auto r = n.call(n.alice, operation::sign,
                        {{"handle", handle}, {"mechanism", "ecdsa-sha256"}, {"data", "00"}});
        CHECK(r.code == status::mechanism_invalid);
        encoded.push_back(0);
        CHECK(n.refusal("certificate", "x509", encoded) == status::attribute_invalid);
        CHECK(n.refusal("certificate", "x509", spki(key.get())) == status::attribute_invalid);
        CHECK(n.refusal("certificate", "x509", bytes(max_certificate + 1, 0x30)) ==
              status::attribute_invalid);
    }
    SUBCASE("a data object's bytes are its owner's: an officer describes it without them") {
        bytes value{'a', 'p', 'p', ' ', 'd', 'a', 't', 'a'};
        auto handle = n.imported("data", "opaque", value, {{"label", "config"}});
        auto k = n.described(handle);
        CHECK(k.cls == key_class::data);
        CHECK(k.public_key == to_hex(value));
        CHECK(k.flags.private_);
        CHECK_FALSE(k.flags.local);
        auto seen = n.call(n.admin, operation::get_key, {{"handle", handle}});
        REQUIRE(seen.code == status::ok);
        auto described = key_summary_from(seen.fields);
        REQUIRE(described);
        CHECK(described->public_key.empty());
        CHECK(described->label == "config");
        // Sealed alone: the store holds no copy of its bytes in the clear.
        CHECK(n.store.keys().find(handle)->public_der.empty());
        // It is its owner's alone: not shared with another crypto user.
        REQUIRE(n.create(n.admin, "CU", "bob") == status::ok);
        CHECK(n.prepared(n.alice, {{"change", "share_key"},
                                   {"handle", handle},
                                   {"users", json::array({n.store.users().find("bob")->id})},
                                   {"share", true}}) == status::key_not_shareable);
        // Its label changes; it has no id and no flag to change.
        auto set = [&](key_attribute a, std::string_view v) {
            return n.prepared(n.alice, {{"change", "set_attribute"},
                                        {"handle", handle},
                                        {"attribute", static_cast<std::uint32_t>(a)},
                                        {"value", v}});
        };
        CHECK(set(key_attribute::label, "renamed") == status::ok);
        CHECK(set(key_attribute::id, "01") == status::attribute_read_only);
        CHECK(set(key_attribute::wrap_with_trusted, "1") == status::attribute_read_only);
        CHECK(n.refusal("data", "opaque", value, {{"attributes", {{"wrap_with_trusted", true}}}}) ==
              status::attribute_invalid);
        // A session data object's bytes come back to the session that made it.
        auto in_session = n.import(n.alice, "data", "opaque", value, {{"session", true}});
        REQUIRE(in_session.code == status::ok);
        auto page = key_page_from(in_session.fields);
        REQUIRE(page);
        CHECK(page->keys.at(0).public_key == to_hex(value));
        // The largest one is kept whole, and listed alone on its page.
        bytes largest(max_data_object, 0x5a);
        largest.front() = 1;
        auto big = n.imported("data", "opaque", largest, {{"label", "largest"}});
        CHECK(n.described(big).public_key == to_hex(largest));
        CHECK(n.refusal("data", "opaque", bytes(max_data_object + 1, 1)) ==
              status::attribute_invalid);
        // A session holds 16 of the largest in memory, and no more.
        for (int i = 1; i < 16; ++i)
            REQUIRE(n.import(n.alice, "data", "opaque", largest, {{"session", true}}).code ==
                    status::ok);
        CHECK(n.import(n.alice, "data", "opaque", largest, {{"session", true}}).code ==
              status::key_limit_exceeded);
        CHECK(n.import(n.alice, "data", "opaque", value, {{"session", true}}).code == status::ok);
        CHECK(n.refusal("data", "x509", value) == status::attribute_invalid);
    }
    SUBCASE("a compressed point is kept uncompressed, as the node writes its own") {
        auto original = ec("P-256");
        auto compressed = with_param(original.get(), OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                     OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_COMPRESSED);
        auto pub = n.imported("public", "ec", spki(compressed.get()));
        auto uncompressed = with_param(original.get(), OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                       OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED);
        CHECK(n.described(pub).public_key == to_hex(spki(uncompressed.get())));
        CHECK(spki(compressed.get()).size() < spki(uncompressed.get()).size());
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
    // Only what the node makes: exponent 65537, two primes, named curves.
    auto small_exponent = rsa_with(3, 2);
    auto three_primes = rsa_with(65537, 3);
    CHECK(n.refusal("private", "rsa", pkcs8(small_exponent.get())) == status::attribute_invalid);
    CHECK(n.refusal("public", "rsa", spki(small_exponent.get())) == status::attribute_invalid);
    CHECK(n.refusal("private", "rsa", pkcs8(three_primes.get())) == status::attribute_invalid);
    auto explicit_curve =
        with_param(ec("P-256").get(), OSSL_PKEY_PARAM_EC_ENCODING, OSSL_PKEY_EC_ENCODING_EXPLICIT);
    CHECK(n.refusal("private", "ec", pkcs8(explicit_curve.get())) == status::attribute_invalid);
    CHECK(n.refusal("public", "ec", spki(explicit_curve.get())) == status::attribute_invalid);
    // Only an officer trusts a key, and officers bring none in nor make any.
    CHECK(n.refusal("secret", "aes", bytes(16, 1), {{"attributes", {{"trusted", true}}}}) ==
          status::attribute_invalid);
    CHECK(n.call(n.alice, operation::generate_key,
                 {{"spec", "aes:256"}, {"attributes", {{"trusted", true}}}})
              .code == status::attribute_invalid);
    // A key brought in never claims the node made it; it may be extractable
    // (it was in the clear before), and then leaves wrapped alone.
    auto key = pkcs8(good.get());
    CHECK(n.refusal("private", "ec", key, {{"attributes", {{"local", true}}}}) ==
          status::attribute_invalid);
    CHECK(n.refusal("private", "ec", key, {{"attributes", {{"never_extractable", true}}}}) ==
          status::attribute_invalid);
    CHECK(n.refusal("private", "ec", key, {{"attributes", {{"extractable", true}}}}) == status::ok);
    // Nor does a generated key claim to be brought in.
    CHECK(n.call(n.alice, operation::generate_key,
                 {{"spec", "aes:256"}, {"attributes", {{"local", false}}}})
              .code == status::attribute_invalid);
    // Nor marks one trusted after the fact; and a key wrapped with trusted
    // keys only stays so.
    auto aes = n.imported("secret", "aes", bytes(16, 2));
    auto set = [&](key_attribute a, std::string_view value) {
        return n.prepared(n.alice, {{"change", "set_attribute"},
                                    {"handle", aes},
                                    {"attribute", static_cast<std::uint32_t>(a)},
                                    {"value", value}});
    };
    CHECK(set(key_attribute::trusted, "1") == status::attribute_read_only);
    CHECK(set(key_attribute::wrap_with_trusted, "1") == status::ok);
    CHECK(set(key_attribute::wrap_with_trusted, "0") == status::attribute_read_only);
    CHECK_FALSE(n.described(aes).flags.trusted);
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

TEST_CASE("an Ed25519 key signs as RFC 8032 says, by EdDSA alone") {
    import_fixture n;
    // RFC 8032 section 7.1, test 2: the key, as PKCS#8, and its one-byte message.
    auto pkcs8 = *from_hex("302e020100300506032b657004220420"
                           "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");
    auto priv = n.imported("private", "ed25519", pkcs8);
    auto k = n.described(priv);
    CHECK(k.type == key_type::ed25519);
    CHECK(k.bits == 256);
    CHECK(k.public_key == "302a300506032b6570032100"
                          "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
    auto signature = n.used(operation::sign, priv, "eddsa", bytes{0x72});
    CHECK(to_hex(signature) == "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
                               "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00");
    // No ECDSA with an Edwards key, no EdDSA with a Weierstrass one.
    json ask{{"handle", priv}, {"mechanism", "ecdsa-sha256"}, {"data", "72"}};
    CHECK(n.call(n.alice, operation::sign, ask).code == status::mechanism_invalid);
    // A generated pair: the public half verifies the private half's
    // signatures, and nothing else.
    auto made = n.call(n.alice, operation::generate_key, {{"spec", "ed25519"}});
    REQUIRE(made.code == status::ok);
    auto keys = made.fields.at("keys");
    REQUIRE(keys.size() == 2);
    REQUIRE(n.prepared(n.alice, {{"change", "insert_keys"}, {"keys", keys}}) == status::ok);
    auto mine = keys[0].at("handle").get<std::int64_t>();
    auto theirs = keys[1].at("handle").get<std::int64_t>();
    if (keys[0].at("class") == "public") std::swap(mine, theirs);
    auto sig = n.used(operation::sign, mine, "eddsa", message);
    json check{{"handle", theirs},
               {"mechanism", "eddsa"},
               {"data", to_hex(message)},
               {"signature", to_hex(sig)}};
    CHECK(n.call(n.alice, operation::verify, check).code == status::ok);
    check["data"] = "00";
    CHECK(n.call(n.alice, operation::verify, check).code == status::signature_invalid);
    ask["handle"] = mine;
    ask["mechanism"] = "eddsa";
    ask["mac_length"] = 12;
    CHECK(n.call(n.alice, operation::sign, ask).code == status::mechanism_invalid);
    CHECK(parse_key_spec("ec:edwards25519") == key_spec{key_type::ed25519, 256});
    CHECK(key_spec_name({key_type::ed25519, 256}) == "ed25519");
}

} // namespace hsm::test::key_import
