// SPDX-License-Identifier: Apache-2.0
// Names, passwords, types, secrets and PBKDF2 test vectors.
#include "hsmsh/endpoint.hpp"
#include "hsmsh/kdf.hpp"
#include "hsmsh/protocol/user_rules.hpp"
#include "hsmsh/secret.hpp"

#include <fmt/format.h>

#include <doctest/doctest.h>

using namespace hsm;

namespace {
std::string hex(const std::vector<std::uint8_t>& bytes) {
    std::string out;
    for (auto b : bytes)
        out += fmt::format("{:02x}", b);
    return out;
}
std::vector<std::uint8_t> bytes_of(std::string_view s) {
    return {s.begin(), s.end()};
}
} // namespace

TEST_CASE("user names are 1-31 of letters, digits and underscore") {
    CHECK(valid_user_name("a"));
    CHECK(valid_user_name("Crypto_Officer_1"));
    CHECK(valid_user_name(std::string(31, 'x')));
    CHECK_FALSE(valid_user_name(""));
    CHECK_FALSE(valid_user_name(std::string(32, 'x')));
    CHECK_FALSE(valid_user_name("bad-name"));
    CHECK_FALSE(valid_user_name("with space"));
    CHECK_FALSE(valid_user_name("caf\xc3\xa9"));
    CHECK(canonical_user_name("AlIcE_9") == "alice_9");
}

TEST_CASE("passwords are 7-128 bytes without control characters") {
    CHECK(valid_password("1234567"));
    CHECK(valid_password(std::string(128, 'p')));
    CHECK(valid_password("p\xc3\xa4sswort"));
    CHECK_FALSE(valid_password("123456"));
    CHECK_FALSE(valid_password(std::string(129, 'p')));
    CHECK_FALSE(valid_password("pass\tword"));
    CHECK_FALSE(valid_password("password\x7f"));
    CHECK_FALSE(valid_password(std::string("pass\0word", 9)));
}

TEST_CASE("user types parse as CMU spells them") {
    CHECK(user_type_from_name("CO") == user_type::co);
    CHECK(user_type_from_name("preCO") == user_type::preco);
    CHECK(user_type_from_name("PRECO") == user_type::preco);
    CHECK_FALSE(user_type_from_name("co"));
    CHECK_FALSE(user_type_from_name("ADMIN"));
    CHECK(is_officer(user_type::pco));
    CHECK_FALSE(is_officer(user_type::preco));
}

TEST_CASE("PBKDF2-HMAC-SHA256 matches published vectors") {
    CHECK(hex(pbkdf2_sha256("password", bytes_of("salt"), 1, 32)) ==
          "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b");
    CHECK(hex(pbkdf2_sha256("password", bytes_of("salt"), 2, 32)) ==
          "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43");
    CHECK(hex(pbkdf2_sha256("password", bytes_of("salt"), 4096, 32)) ==
          "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a");
}

TEST_CASE("password hashes verify, salt is random, default cost is 600,000") {
    CHECK(default_kdf_iterations == 600'000u);
    auto a = hash_password("correct horse", 1000);
    auto b = hash_password("correct horse", 1000);
    CHECK(a.salt.size() == salt_size);
    CHECK(a.salt != b.salt);
    CHECK(verify_password("correct horse", a));
    CHECK_FALSE(verify_password("correct horsE", a));
    CHECK_FALSE(verify_password("correct horse", password_hash{}));
}

TEST_CASE("secrets compare by content and are emptied when moved") {
    secret a{std::string("s3cret-value")};
    secret b{std::string("s3cret-value")};
    secret c{std::string("s3cret-valuf")};
    CHECK(a.equals(b));
    CHECK_FALSE(a.equals(c));
    secret moved(std::move(a));
    CHECK(moved.view() == "s3cret-value");
    CHECK(a.empty());
    std::string s = "wipe me please, I am long enough to live on the heap";
    wipe(s);
    CHECK(s.empty());
}

TEST_CASE("HOST:PORT parses names, IPv4 and IPv6 literals") {
    auto p = parse_host_port("10.0.0.5:2226", 2225);
    CHECK(p.host == "10.0.0.5");
    CHECK(p.port == 2226);
    CHECK(parse_host_port("hsm.example", 2225).port == 2225);
    p = parse_host_port("[::1]:2300", 2225);
    CHECK(p.host == "::1");
    CHECK(p.port == 2300);
    CHECK(p.text() == "[::1]:2300");
    CHECK(parse_host_port("[fe80::1]", 2225).port == 2225);
    CHECK(parse_host_port("::1", 2225).host == "::1");
    CHECK(parse_host_port("127.0.0.1:0", std::nullopt, true).port == 0);
    CHECK(parse_host_port("a:1", std::nullopt).text() == "a:1");
    for (auto bad :
         {"a:0", "a:65536", "a:", "a:x1", ":2225", "[::1", "[::1]x", "[]:1", "a:123456"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(parse_host_port(bad, 2225), std::invalid_argument);
    }
    CHECK_THROWS_AS(parse_host_port("host", std::nullopt), std::invalid_argument);
}
