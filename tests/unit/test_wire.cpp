// SPDX-License-Identifier: Apache-2.0
// The frame and message codec: round trips and rejection of malformed input.
#include "hsmsh/protocol/wire.hpp"

#include <random>

#include <doctest/doctest.h>

using namespace hsm;

TEST_CASE("a request survives encoding and decoding") {
    request r;
    r.id = 42;
    r.op = operation::create_user;
    r.fields = {{"type", "CU"}, {"name", "alice"}};
    auto decoded = decode_request(encode(r));
    REQUIRE(std::holds_alternative<request>(decoded));
    auto& back = std::get<request>(decoded);
    CHECK(back.id == 42);
    CHECK(back.version == protocol_version);
    CHECK(back.op == operation::create_user);
    CHECK(back.fields == r.fields);
}

TEST_CASE("a request's password is written once, where it belongs, whatever the other keys") {
    // Found by fuzz_wire: a key spelling the old placeholder took the password.
    request r;
    r.id = 9;
    r.op = operation::login;
    r.fields = {
        {R"(a"password)", "\x01password\x01"}, {"name", "alice"}, {"password", "pass\"word\\"}};
    auto decoded = decode_request(encode(r));
    REQUIRE(std::holds_alternative<request>(decoded));
    CHECK(std::get<request>(decoded).fields == r.fields);
    r.fields = {{"password", "only"}};
    decoded = decode_request(encode(r));
    REQUIRE(std::holds_alternative<request>(decoded));
    CHECK(std::get<request>(decoded).fields == r.fields);
}

TEST_CASE("a reply survives encoding and decoding with every status") {
    for (int s = 0; s <= static_cast<int>(status::internal_error); ++s) {
        reply r{7, static_cast<status>(s), {{"users", json::array()}}};
        auto decoded = decode_reply(encode(r));
        REQUIRE(std::holds_alternative<reply>(decoded));
        CHECK(std::get<reply>(decoded).code == r.code);
        CHECK(status_from_name(status_name(r.code)) == r.code);
    }
}

TEST_CASE("every operation name maps back") {
    for (int o = 0; o <= static_cast<int>(operation::get_user); ++o) {
        auto op = static_cast<operation>(o);
        CHECK(operation_from_name(operation_name(op)) == op);
    }
}

TEST_CASE("malformed requests give typed errors") {
    auto error_of = [](std::string_view body) {
        auto d = decode_request(body);
        REQUIRE(std::holds_alternative<decode_error>(d));
        return std::get<decode_error>(d);
    };
    CHECK(error_of("") == decode_error::empty);
    CHECK(error_of("{") == decode_error::not_json);
    CHECK(error_of("\xff\xfe") == decode_error::not_json);
    CHECK(error_of("[1,2]") == decode_error::not_object);
    CHECK(error_of(R"({"v":1,"op":"hello"})") == decode_error::missing_field);
    CHECK(error_of(R"({"v":1,"id":-1,"op":"hello"})") == decode_error::wrong_type);
    CHECK(error_of(R"({"v":"1","id":1,"op":"hello"})") == decode_error::wrong_type);
    CHECK(error_of(R"({"v":1,"id":1,"op":"format_disk"})") == decode_error::unknown_operation);
    CHECK(error_of(R"({"v":1,"id":1,"op":"hello","f":[]})") == decode_error::wrong_type);
    CHECK(error_of(std::string(max_frame_size + 1, ' ')) == decode_error::too_large);
    CHECK(std::get<decode_error>(decode_reply(R"({"id":1,"status":"RET_NOPE"})")) ==
          decode_error::unknown_status);
}

TEST_CASE("frame headers are bounded before anything is allocated") {
    CHECK(decode_frame_header(encode_frame_header(1)) == 1u);
    CHECK(decode_frame_header(encode_frame_header(max_frame_size)) == max_frame_size);
    CHECK_FALSE(decode_frame_header(encode_frame_header(0)));
    CHECK_FALSE(decode_frame_header(encode_frame_header(max_frame_size + 1)));
    std::array<std::uint8_t, 4> huge{0xff, 0xff, 0xff, 0xff};
    CHECK_FALSE(decode_frame_header(huge));
}

TEST_CASE("typed field access refuses other types") {
    json f{{"name", "bob"}, {"n", 3}, {"s", 3}, {"yes", true}};
    CHECK(string_field(f, "name") == "bob");
    CHECK_FALSE(string_field(f, "s"));
    CHECK_FALSE(string_field(f, "missing"));
    CHECK(integer_field(f, "n") == 3);
    CHECK_FALSE(integer_field(f, "name"));
    CHECK(bool_field(f, "yes") == true);
    CHECK_FALSE(bool_field(f, "n"));
    CHECK_FALSE(bool_field(f, "missing"));
    CHECK_FALSE(bool_field(json::array(), "yes"));
}

TEST_CASE("random byte strings never crash the decoder") {
    std::mt19937 rng(1234);
    const std::string alphabet = R"({}[]":,0123456789abcdefghijklmnopqrstuvwxyz \)";
    for (int round = 0; round < 5000; ++round) {
        std::string body(rng() % 64, '\0');
        for (auto& c : body)
            c = (round % 2) ? static_cast<char>(rng()) : alphabet[rng() % alphabet.size()];
        auto d = decode_request(body);
        CHECK((std::holds_alternative<request>(d) || std::holds_alternative<decode_error>(d)));
    }
}

TEST_CASE("wipe_password blanks the password field only") {
    json f{{"name", "alice"}, {"password", "secret-password"}};
    wipe_password(f);
    CHECK(f["password"] == "");
    CHECK(f["name"] == "alice");
}
