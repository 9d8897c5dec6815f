// SPDX-License-Identifier: Apache-2.0
// Quorum's pure pieces: services, m values, token records, CMU's approval file.
#include "hsmsh/protocol/quorum.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

using namespace hsm::quorum;

namespace {

token_record officer1_token() {
    token_record t;
    t.svc = service::user_mgmt;
    t.id = 24;
    for (std::uint8_t i = 0; i < t.nonce.size(); ++i)
        t.nonce[i] = static_cast<std::uint8_t>(0xa0 + i);
    t.user = "officer1";
    t.created = 0x63E6F6DE; // 2023-02-11, as in CloudHSM's documented example
    return t;
}

std::string file_error(std::string_view text) {
    try {
        parse_approval_file(text);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "";
}

// CMU's documented approval file, as the user guide prints it.
constexpr std::string_view cmu_example = "Multi Token File Path = officer1.token;\n"
                                         "Token File Path = ;\n"
                                         "Number of Approvals = 2;\n"
                                         "Approver Type = 2; # 2 for CO, 1 for CU\n"
                                         "Approver Name = officer1;\n"
                                         "Approval File = officer1.token.sig1;\n"
                                         "Approver Type = 2;\n"
                                         "Approver Name = officer2;\n"
                                         "Approval File = officer1.token.sig2;\n";

} // namespace

TEST_CASE("quorum services are CMU's numbers 3 (USER_MGMT) and 4 (MISC_CO) only") {
    CHECK(service_from_number(3) == service::user_mgmt);
    CHECK(service_from_number(4) == service::misc_co);
    for (long n : {-1L, 0L, 1L, 2L, 5L, 6L, 65539L})
        CHECK_FALSE(service_from_number(n));
    CHECK(service_name(service::user_mgmt) == "USER_MGMT");
    CHECK(service_name(service::misc_co) == "MISC_CO");
}

TEST_CASE("an m value is 1 (off) or 2 to 8 approvers, never more than the officers") {
    CHECK(valid_m(1, 1));
    CHECK(valid_m(1, 0));
    CHECK_FALSE(valid_m(2, 1));
    CHECK(valid_m(2, 2));
    CHECK(valid_m(3, 5));
    CHECK(valid_m(8, 10));
    CHECK_FALSE(valid_m(9, 10));
    CHECK_FALSE(valid_m(0, 10));
    CHECK_FALSE(valid_m(-2, 10));
}

TEST_CASE("a token record is CloudHSM's 80-byte layout and reads back as written") {
    auto t = officer1_token();
    auto b = encode(t);
    CHECK(b[0] == 0x00);
    CHECK(b[1] == 0x01); // version
    CHECK(b[2] == 0x00);
    CHECK(b[3] == 0x03); // the service
    CHECK(b[7] == 24);   // the node's token id, big-endian
    CHECK(b[16] == 0xa0);
    CHECK(std::string(reinterpret_cast<const char*>(&b[32]), 8) == "officer1");
    CHECK(b[40] == 0);
    CHECK(b[68] == 0x63);
    CHECK(b[71] == 0xDE);
    CHECK(decode(b) == t);
}

TEST_CASE("a token record that is not exactly one well-formed record is refused") {
    auto good = encode(officer1_token());
    auto broken = [&](std::size_t at, std::uint8_t value) {
        auto b = good;
        b[at] = value;
        return !decode(b);
    };
    CHECK(broken(1, 2));    // another version
    CHECK(broken(3, 5));    // a service we do not guard
    CHECK(broken(10, 1));   // a key handle
    CHECK(broken(32, 0));   // no name
    CHECK(broken(45, 'x')); // bytes after the name's NUL
    CHECK(broken(66, 1));   // reserved bytes
    CHECK(broken(79, 1));
    CHECK_FALSE(decode(std::span(good).first(79)));
    auto full_name = good;
    std::fill(&full_name[32], &full_name[64], 'a'); // 32 bytes, no NUL
    CHECK_FALSE(decode(full_name));

    auto t = officer1_token();
    t.user = std::string(32, 'a');
    CHECK_THROWS_AS(encode(t), std::invalid_argument);
    t.user = std::string(31, 'a');
    CHECK(decode(encode(t))->user == t.user);
}

TEST_CASE("a token file is 1 to 32 records, one per node") {
    std::vector<std::uint8_t> file;
    for (std::uint32_t id : {24u, 21u, 20u}) {
        auto t = officer1_token();
        t.id = id;
        auto b = encode(t);
        file.insert(file.end(), b.begin(), b.end());
    }
    auto records = decode_file(file);
    REQUIRE(records);
    REQUIRE(records->size() == 3);
    CHECK((*records)[1].id == 21);
    CHECK_FALSE(decode_file({}));
    CHECK_FALSE(decode_file(std::span(file).first(file.size() - 1)));
    file[80 + 1] = 9; // the second record is damaged
    CHECK_FALSE(decode_file(file));
    std::vector<std::uint8_t> too_many;
    auto b = encode(officer1_token());
    for (int i = 0; i < 33; ++i)
        too_many.insert(too_many.end(), b.begin(), b.end());
    CHECK_FALSE(decode_file(too_many));
    too_many.resize(32 * token_record_size);
    CHECK(decode_file(too_many)->size() == 32);
}

TEST_CASE("CMU's approval file reads as the user guide writes it") {
    auto f = parse_approval_file(cmu_example);
    CHECK(f.token_file == "officer1.token");
    REQUIRE(f.approvers.size() == 2);
    CHECK(f.approvers[0].type == 2);
    CHECK(f.approvers[0].name == "officer1");
    CHECK(f.approvers[0].signature_file == "officer1.token.sig1");
    CHECK(f.approvers[1].name == "officer2");
    CHECK(f.approvers[1].signature_file == "officer1.token.sig2");
}

TEST_CASE("the approval file's spelling is lenient where CMU's is") {
    auto f = parse_approval_file("# approvals for createUser\n"
                                 "\n"
                                 "  number of approvals: 1\r\n"
                                 "TOKEN FILE PATH = /tmp/t.token ;\n"
                                 "Multi Token File Path =;\n"
                                 "Approver Type=1;\n"
                                 "ApproverName = app1\n"
                                 "Approval File = /tmp/my sig#1.bin; trailing words\n");
    CHECK(f.token_file == "/tmp/t.token"); // the single path when the multi one is empty
    REQUIRE(f.approvers.size() == 1);
    CHECK(f.approvers[0].type == 1);
    CHECK(f.approvers[0].name == "app1");
    CHECK(f.approvers[0].signature_file == "/tmp/my sig#1.bin");
}

TEST_CASE("a wrong approval file is refused with the line that is wrong") {
    std::string text(cmu_example);
    auto replaced = [&](std::string_view from, std::string_view to) {
        auto t = text;
        t.replace(t.find(from), from.size(), to);
        return file_error(t);
    };
    CHECK(replaced("Number of Approvals = 2", "Number of Approvals = 3") ==
          "'Approver Type' missing at the end of the file");
    CHECK(replaced("Number of Approvals = 2", "Number of Approvals = 1") ==
          "line 7: more approvers than 'Number of Approvals' says");
    CHECK(replaced("Number of Approvals = 2", "Number of Approvals = 21") ==
          "line 3: expected a number from 1 to 20");
    CHECK(replaced("Number of Approvals = 2", "Number of Approvals = two") ==
          "line 3: expected a number from 1 to 20");
    CHECK(replaced("Approver Type = 2;", "Approver Type = 3;") ==
          "line 4: expected a number from 1 to 2");
    CHECK(replaced("Approver Name = officer2", "Approver Name = ") ==
          "line 8: 'Approver Name' is empty");
    CHECK(replaced("Approver Name = officer2", "Approver = officer2") ==
          "line 8: expected 'Approver Name'");
    CHECK(replaced("Token File Path = ;\n", "") ==
          "line 3: expected 'Multi Token File Path', 'Token File Path' or 'Number of "
          "Approvals'");
    CHECK(replaced("Multi Token File Path = officer1.token", "Multi Token File Path =") ==
          "no token file: 'Multi Token File Path' is empty");
    CHECK(replaced("Approval File = officer1.token.sig2;", "Approval File officer1.sig2") ==
          "line 9: expected 'Key = value;'");
    CHECK(file_error("Number of Approvals = 1;\nNumber of Approvals = 1;\n") == "line 2: repeated");
    CHECK(file_error("") == "the header needs 'Multi Token File Path', 'Token File Path' and "
                            "'Number of Approvals'");
}
