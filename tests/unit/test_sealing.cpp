// SPDX-License-Identifier: Apache-2.0
// Sealed records, keyed digests, hex, nesting bounds and password-safe encoding.
#include "hsmsh/hex.hpp"
#include "hsmsh/protocol/wire.hpp"
#include "hsmsh/sealing.hpp"

#include <doctest/doctest.h>

using namespace hsm;

TEST_CASE("a sealed record opens only with its key and its associated data") {
    const bytes key(sealing_key_size, 1);
    auto blob = seal(key, "cluster-a|user|alice|3", R"({"secret":"hash"})");
    CHECK(unseal(key, "cluster-a|user|alice|3", blob) == R"({"secret":"hash"})");
    CHECK(
        std::string_view(reinterpret_cast<const char*>(blob.data()), blob.size()).find("secret") ==
        std::string_view::npos);
    CHECK_FALSE(unseal(key, "cluster-a|user|alice|4", blob));
    CHECK_FALSE(unseal(key, "cluster-b|user|alice|3", blob));
    CHECK_FALSE(unseal(bytes(sealing_key_size, 2), "cluster-a|user|alice|3", blob));
    for (std::size_t i = 0; i < blob.size(); ++i) {
        auto bent = blob;
        bent[i] ^= 0x01;
        CHECK_FALSE(unseal(key, "cluster-a|user|alice|3", bent));
    }
    CHECK_FALSE(unseal(key, "", bytes(10)));
    // Two seals of the same record differ (fresh nonce).
    CHECK(seal(key, "a", "b") != seal(key, "a", "b"));
}

TEST_CASE("HMAC-SHA256 matches RFC 4231 test case 2") {
    std::string_view k = "Jefe";
    auto mac = hmac_sha256(bytes(k.begin(), k.end()), "what do ya want for nothing?");
    CHECK(to_hex(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("hex decoding refuses what it did not encode") {
    CHECK(from_hex("00ff10") == bytes{0, 255, 16});
    CHECK_FALSE(from_hex("0"));
    CHECK_FALSE(from_hex("0G"));
    CHECK_FALSE(from_hex("AB")); // lower case only
    CHECK(random_hex(16).size() == 32);
    CHECK(random_hex(16) != random_hex(16));
}

TEST_CASE("nesting is bounded by a scan that builds nothing") {
    CHECK_FALSE(json_depth_exceeds(R"({"a":[{"b":[1]}]})", 4));
    CHECK(json_depth_exceeds(R"({"a":[{"b":[[1]]}]})", 4));
    // Brackets inside strings, escaped quotes included, do not count.
    CHECK_FALSE(json_depth_exceeds(R"({"a":"[[[[[[\"[[[[["})", 1));
    std::string deep = R"({"v":1,"id":1,"op":"hello","f":{"x":)" + std::string(70'000, '[') +
                       std::string(70'000, ']') + "}}";
    auto decoded = decode_request(deep);
    REQUIRE(std::holds_alternative<decode_error>(decoded));
    CHECK(std::get<decode_error>(decoded) == decode_error::too_deep);
    auto reply = decode_reply(R"({"id":1,"status":"RET_OK","f":)" + std::string(9, '[') +
                              std::string(9, ']') + "}");
    CHECK(std::get<decode_error>(reply) == decode_error::too_deep);
    std::string at_limit = R"({"v":1,"id":1,"op":"hello","f":{"x":)" + std::string(6, '[') +
                           std::string(6, ']') + "}}";
    CHECK(std::holds_alternative<request>(decode_request(at_limit)));
}

TEST_CASE("a request's password is encoded by hand, exactly") {
    for (std::string password : std::initializer_list<std::string>{
             "plain-pw-1", R"(q"uo\te)", "tab\there", "pässwörd", std::string("nul\0in", 6)}) {
        CAPTURE(password);
        request r;
        r.op = operation::login;
        r.fields = {{"type", "CU"}, {"name", "password"}, {"password", password}, {"zz", "x"}};
        auto decoded = decode_request(encode(r));
        REQUIRE(std::holds_alternative<request>(decoded));
        CHECK(std::get<request>(decoded).fields == r.fields);
    }
    // A value that looks like the placeholder is not mistaken for it.
    request r;
    r.op = operation::login;
    r.fields = {{"name", "\x01password\x01"}, {"password", "real-pw-1"}};
    CHECK(std::get<request>(decode_request(encode(r))).fields == r.fields);
}
