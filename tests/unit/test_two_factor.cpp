// SPDX-License-Identifier: Apache-2.0
// Two-factor login's pieces: the node's challenges (bound, single purpose,
// expiring, answered only by the key's signature of the digest itself) and
// the shell's authdata file (what it writes, what it accepts back).
#include "access/two_factor.hpp"
#include "authdata.hpp"
#include "command_line.hpp"
#include "crypto/key_crypto.hpp"
#include "hsmsh/hex.hpp"

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace hsm;
using purpose = two_factor_challenge::purpose;

namespace {

struct officer_key {
    std::shared_ptr<loaded_key> private_key;
    quorum_key public_key;
};

officer_key make_officer_key() {
    auto pair = generate_key_material({key_type::rsa, 2048});
    auto der = bytes(pair.at(0).public_der);
    auto key =
        loaded_key::load(key_class::private_key, key_type::rsa, std::move(pair.at(0).material));
    REQUIRE(key);
    auto pub = quorum_key::from_der(der);
    REQUIRE(pub);
    return {std::make_shared<loaded_key>(std::move(*key)), std::move(*pub)};
}

// What `openssl pkeyutl -sign -pkeyopt digest:sha256` makes of a digest.
bytes sign_digest(const loaded_key& key, std::span<const std::uint8_t> digest) {
    std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
        EVP_PKEY_CTX_new(key.pkey(), nullptr), EVP_PKEY_CTX_free);
    REQUIRE(EVP_PKEY_sign_init(ctx.get()) == 1);
    REQUIRE(EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) == 1);
    REQUIRE(EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) == 1);
    std::size_t size = 512;
    bytes out(size);
    REQUIRE(EVP_PKEY_sign(ctx.get(), out.data(), &size, digest.data(), digest.size()) == 1);
    out.resize(size);
    return out;
}

} // namespace

const bytes channel_a(32, 0xa1);
const bytes channel_b(32, 0xb2);
const two_factor_context here{"hsm-1", "officer1", channel_a};

TEST_CASE("what a 2FA answer signs names the purpose, HSM, user, challenge and connection") {
    bytes challenge(32, 7);
    auto digest = second_factor_digest(purpose::login, "hsm-1", "officer1", challenge, channel_a);
    CHECK(digest.size() == 32);
    // The node sends the challenge, never the digest: the shell computes it.
    auto c = two_factor_challenge::issue(purpose::login, 7, 3, here, std::chrono::minutes(10));
    CHECK(c.digest ==
          second_factor_digest(purpose::login, "hsm-1", "officer1", c.challenge, channel_a));
    CHECK(c.digest != c.challenge);
    // Each part changes it: a relay (another connection), another node,
    // user or purpose, or the challenge alone signed as it is.
    CHECK(second_factor_digest(purpose::login, "hsm-1", "officer1", challenge, channel_b) !=
          digest);
    CHECK(second_factor_digest(purpose::login, "hsm-2", "officer1", challenge, channel_a) !=
          digest);
    CHECK(second_factor_digest(purpose::login, "hsm-1", "officer2", challenge, channel_a) !=
          digest);
    CHECK(second_factor_digest(purpose::enroll, "hsm-1", "officer1", challenge, channel_a) !=
          digest);
    // Lengths are explicit: moving a byte from one part to the next is another message.
    CHECK(second_factor_digest(purpose::login, "hsm-1o", "fficer1", challenge, channel_a) !=
          digest);
    // What the node checks: a signature over the challenge alone (as a rogue
    // node would ask for it) never answers.
    auto officer = make_officer_key();
    CHECK_FALSE(c.answered(purpose::login, 7, 3, officer.public_key,
                           sign_digest(*officer.private_key, c.challenge)));
    CHECK(c.answered(purpose::login, 7, 3, officer.public_key,
                     sign_digest(*officer.private_key, c.digest)));
}

TEST_CASE("a 2FA challenge is answered only by its key, for its purpose, user and time") {
    auto officer = make_officer_key();
    auto other = make_officer_key();
    auto c = two_factor_challenge::issue(purpose::login, 7, 3, here, std::chrono::minutes(10));
    CHECK(c.digest.size() == two_factor_challenge::digest_size);
    CHECK(
        two_factor_challenge::issue(purpose::login, 7, 3, here, std::chrono::minutes(10)).digest !=
        c.digest);
    auto signature = sign_digest(*officer.private_key, c.digest);
    CHECK(c.answered(purpose::login, 7, 3, officer.public_key, signature));
    CHECK_FALSE(c.answered(purpose::enroll, 7, 3, officer.public_key, signature));
    CHECK_FALSE(c.answered(purpose::login, 8, 3, officer.public_key, signature));
    CHECK_FALSE(c.answered(purpose::login, 7, 4, officer.public_key, signature)); // record changed
    CHECK_FALSE(c.answered(purpose::login, 7, 3, other.public_key, signature));
    CHECK_FALSE(c.answered(purpose::login, 7, 3, officer.public_key,
                           sign_digest(*other.private_key, c.digest)));
    // The digest is signed as it is, not hashed again (dgst -sign would).
    auto hashed =
        std::get<bytes>(sign_data(mechanism::rsa_pkcs1_sha256, *officer.private_key, c.digest));
    CHECK_FALSE(c.answered(purpose::login, 7, 3, officer.public_key, hashed));
    auto flipped = signature;
    flipped[10] ^= 1;
    CHECK_FALSE(c.answered(purpose::login, 7, 3, officer.public_key, flipped));
    CHECK_FALSE(c.answered(purpose::login, 7, 3, officer.public_key, bytes(600, 1)));
    auto expired =
        two_factor_challenge::issue(purpose::login, 7, 3, here, std::chrono::milliseconds(0));
    CHECK_FALSE(expired.answered(purpose::login, 7, 3, officer.public_key,
                                 sign_digest(*officer.private_key, expired.digest)));
}

TEST_CASE("each node finds its own signature among the ones sent to all") {
    json f = {{"signatures", {{"hsm-a", "0a0b"}, {"hsm-b", "0c"}}}};
    CHECK(two_factor_challenge::signature_for(f, "hsm-a") == bytes{0x0a, 0x0b});
    CHECK(two_factor_challenge::signature_for(f, "hsm-b") == bytes{0x0c});
    CHECK_FALSE(two_factor_challenge::signature_for(f, "hsm-c"));
    CHECK_FALSE(two_factor_challenge::signature_for(json{{"signatures", "0a"}}, "hsm-a"));
    CHECK_FALSE(two_factor_challenge::signature_for(json{{"signatures", {{"hsm-a", 1}}}}, "hsm-a"));
    CHECK_FALSE(
        two_factor_challenge::signature_for(json{{"signatures", {{"hsm-a", "zz"}}}}, "hsm-a"));
    json many = {{"signatures", json::object()}};
    for (int i = 0; i < 40; ++i)
        many["signatures"][fmt::format("hsm-{}", i)] = "00";
    CHECK_FALSE(two_factor_challenge::signature_for(many, "hsm-1")); // no cluster is that large
    json huge = {{"signatures", {{"hsm-a", std::string(2000, '0')}}}};
    CHECK_FALSE(two_factor_challenge::signature_for(huge, "hsm-a"));
}

TEST_CASE("base64 as the authdata file has it") {
    CHECK(base64_encode("") == "");
    CHECK(base64_encode("f") == "Zg==");
    CHECK(base64_encode("fo") == "Zm8=");
    CHECK(base64_encode("foo") == "Zm9v");
    for (const std::string& s :
         std::vector<std::string>{"", "f", "fo", "foo", "foob", std::string(32, '\xff')})
        CHECK(base64_decode(base64_encode(s)) == s);
    CHECK(base64_decode("Zm9v\nYmFy") == "foobar");
    CHECK_FALSE(base64_decode("Zm9"));
    CHECK_FALSE(base64_decode("Zm9*"));
}

TEST_CASE("the authdata file: written as CloudHSM's, read back only as asked") {
    std::vector<authdata_challenge> asked{{"hsm-a", std::string(32, 'a')},
                                          {"hsm-b", std::string(32, 'b')}};
    auto written = json::parse(authdata_request(asked));
    CHECK(written["Version"] == "1.0");
    REQUIRE(written["Data"].size() == 2);
    CHECK(written["Data"][0]["HsmId"] == "hsm-a");
    CHECK(written["Data"][1]["Digest"] == base64_encode(std::string(32, 'b')));
    auto signed_file = written;
    signed_file["Data"][0]["Signature"] = base64_encode(std::string(256, '\x01'));
    signed_file["Data"][1]["Signature"] = base64_encode(std::string(256, '\x02'));
    auto answer = read_authdata(signed_file.dump(), asked, false);
    CHECK(from_hex(answer.signatures["hsm-a"].get<std::string>()) == bytes(256, 1));
    CHECK(from_hex(answer.signatures["hsm-b"].get<std::string>()) == bytes(256, 2));
    CHECK(answer.public_key_pem.empty());
    // Asked for a key, a file without one is refused.
    CHECK_THROWS_AS(read_authdata(signed_file.dump(), asked, true), usage_error);
    signed_file["PublicKey"] = "-----BEGIN PUBLIC KEY-----\n...";
    CHECK(read_authdata(signed_file.dump(), asked, true).public_key_pem.starts_with("-----BEGIN"));
    // A missing entry or signature, a changed digest, an oversized
    // signature, not JSON: each a usage error, nothing sent.
    auto without = signed_file;
    without["Data"].erase(1);
    CHECK_THROWS_AS(read_authdata(without.dump(), asked, false), usage_error);
    auto unsigned_entry = signed_file;
    unsigned_entry["Data"][1].erase("Signature");
    CHECK_THROWS_AS(read_authdata(unsigned_entry.dump(), asked, false), usage_error);
    auto changed = signed_file;
    changed["Data"][0]["Digest"] = base64_encode(std::string(32, 'c'));
    CHECK_THROWS_AS(read_authdata(changed.dump(), asked, false), usage_error);
    auto oversized = signed_file;
    oversized["Data"][0]["Signature"] = base64_encode(std::string(600, '\x01'));
    CHECK_THROWS_AS(read_authdata(oversized.dump(), asked, false), usage_error);
    CHECK_THROWS_AS(read_authdata("{\"Data\": [", asked, false), usage_error);
    CHECK_THROWS_AS(read_authdata(std::string(100, '[') + std::string(100, ']'), asked, false),
                    usage_error);
}
