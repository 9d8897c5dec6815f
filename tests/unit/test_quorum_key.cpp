// SPDX-License-Identifier: Apache-2.0
// An officer's quorum key against keys and signatures made by OpenSSL's
// command line (tests/unit/fixtures/quorum/make.sh).
#include "quorum/quorum_key.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

using namespace hsm;

namespace {

bytes fixture(const std::string& name) {
    const char* dir = std::getenv("HSMSH_FIXTURES");
    if (!dir) throw std::runtime_error("HSMSH_FIXTURES is not set (meson test sets it)");
    std::ifstream in(std::string(dir) + "/quorum/" + name, std::ios::binary);
    if (!in) throw std::runtime_error("no fixture " + name);
    return bytes(std::istreambuf_iterator<char>(in), {});
}

} // namespace

TEST_CASE("a quorum key is one RSA-2048 public key, as openssl rsa -pubout writes it") {
    auto der = fixture("officer1.pub.der");
    auto key = quorum_key::from_der(der);
    REQUIRE(key);
    CHECK(bytes(key->der().begin(), key->der().end()) == der);

    CHECK_FALSE(quorum_key::from_der(fixture("rsa3072.pub.der")));
    CHECK_FALSE(quorum_key::from_der(fixture("ec.pub.der")));
    CHECK_FALSE(quorum_key::from_der({}));
    auto longer = der;
    longer.push_back(0); // a key and something after it
    CHECK_FALSE(quorum_key::from_der(longer));
    CHECK_FALSE(quorum_key::from_der(std::span(der).first(der.size() - 1)));
    auto damaged = der;
    damaged[1] ^= 0x01; // the outer length
    CHECK_FALSE(quorum_key::from_der(damaged));
}

TEST_CASE("a quorum key approves exactly its own openssl dgst -sha256 -sign signatures") {
    auto officer1 = quorum_key::from_der(fixture("officer1.pub.der"));
    auto officer2 = quorum_key::from_der(fixture("officer2.pub.der"));
    REQUIRE(officer1);
    REQUIRE(officer2);
    auto token = fixture("token.bin");
    auto sig1 = fixture("token.sig1");
    auto sig2 = fixture("token.sig2");
    CHECK(officer1->approves(token, sig1));
    CHECK(officer2->approves(token, sig2));
    CHECK_FALSE(officer1->approves(token, sig2)); // another officer's signature
    CHECK_FALSE(officer2->approves(token, sig1));

    auto altered = token;
    altered[200] ^= 0x80; // one bit of the third node's record
    CHECK_FALSE(officer1->approves(altered, sig1));
    CHECK_FALSE(officer1->approves(std::span(token).first(160), sig1)); // a record left out
    auto bad_sig = sig1;
    bad_sig[10] ^= 0x01;
    CHECK_FALSE(officer1->approves(token, bad_sig));
    CHECK_FALSE(officer1->approves(token, std::span(sig1).first(255)));
    CHECK_FALSE(officer1->approves(token, {}));
}
