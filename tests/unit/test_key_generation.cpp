// SPDX-License-Identifier: Apache-2.0
// Reading what the node that made a key replied (hsmsh/client/key_generation.hpp):
// the keys, or a typed failure the shell and the PKCS#11 module each tell.
#include "hsmsh/client/key_generation.hpp"

#include <doctest/doctest.h>

using namespace hsm;

namespace {

server_report replied(status code, json fields = json::object()) {
    server_outcome o;
    o.what = server_outcome::kind::replied;
    o.code = code;
    o.fields = std::move(fields);
    return {1, "node1", std::move(o)};
}

key_generation_failure::kind failure_of(const key_generation& g) {
    REQUIRE(std::holds_alternative<key_generation_failure>(g));
    return std::get<key_generation_failure>(g).what;
}

} // namespace

TEST_CASE("a maker's sealed keys are what it made") {
    std::vector<sealed_key> keys{{7, key_class::private_key, "ab"},
                                 {8, key_class::public_key, "cd"}};
    auto made = made_keys_from(replied(status::ok, to_json(keys)));
    REQUIRE(std::holds_alternative<made_keys>(made));
    CHECK(std::get<made_keys>(made).keys == keys);
    CHECK(std::get<made_keys>(made).maker.index == 1);
}

TEST_CASE("a maker that refuses, is silent or sends no keys made nothing") {
    using enum key_generation_failure::kind;
    auto refusal = made_keys_from(replied(status::key_limit_exceeded));
    CHECK(failure_of(refusal) == refused);
    CHECK(std::get<key_generation_failure>(refusal).maker.outcome.code ==
          status::key_limit_exceeded);
    server_report silent{2, "node2", {}};
    silent.outcome.what = server_outcome::kind::failed;
    CHECK(failure_of(made_keys_from(silent)) == unanswered);
    CHECK(failure_of(made_keys_from(replied(status::ok))) == unreadable);
    CHECK(failure_of(made_keys_from(replied(status::ok, {{"keys", "no"}}))) == unreadable);
}
