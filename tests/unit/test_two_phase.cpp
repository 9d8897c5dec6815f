// SPDX-License-Identifier: Apache-2.0
// The two-phase run's decisions: when it commits, asks, or aborts unasked.
#include "hsmsh/client/two_phase.hpp"

#include <doctest/doctest.h>

#include <map>

using namespace hsm;

namespace {

server_outcome replied(status code) {
    server_outcome o;
    o.what = server_outcome::kind::replied;
    o.code = code;
    return o;
}

server_outcome cut_off() {
    server_outcome o;
    o.what = server_outcome::kind::cancelled;
    return o;
}

// Three servers whose prepare answers are given; records what was sent where.
struct fake_cluster {
    std::map<std::size_t, server_outcome> prepare;
    std::vector<std::pair<operation, std::vector<std::size_t>>> sent;
    int questions = 0;
    partial_choice answer = partial_choice::abort;

    std::vector<phase_report> run() {
        two_phase_change change(
            [this](const std::vector<std::size_t>& servers, operation op, const json&) {
                sent.emplace_back(op, servers);
                std::vector<server_report> out;
                for (auto i : servers)
                    out.push_back(
                        {i, "s", op == operation::prepare ? prepare.at(i) : replied(status::ok)});
                return out;
            },
            [this](const std::vector<server_report>&) {
                ++questions;
                return answer;
            });
        return change.run({0, 1, 2}, json{{"change", "create_user"}, {"name", "bob"}});
    }
};

} // namespace

TEST_CASE("every server prepared: committed everywhere, nothing asked") {
    fake_cluster c;
    c.prepare = {{0, replied(status::ok)}, {1, replied(status::ok)}, {2, replied(status::ok)}};
    auto reports = c.run();
    CHECK(c.questions == 0);
    REQUIRE(c.sent.size() == 2);
    CHECK(c.sent[1] == std::pair{operation::commit, std::vector<std::size_t>{0, 1, 2}});
    for (const auto& r : reports)
        CHECK(r.result == phase_result::committed);
}

TEST_CASE("servers that differ: the operator chooses") {
    fake_cluster c;
    c.prepare = {
        {0, replied(status::ok)}, {1, replied(status::ok)}, {2, replied(status::user_exists)}};
    c.answer = partial_choice::abort;
    auto reports = c.run();
    CHECK(c.questions == 1);
    CHECK(c.sent.back() == std::pair{operation::abort, std::vector<std::size_t>{0, 1}});
    CHECK(reports[0].result == phase_result::aborted);
    CHECK(reports[2].result == phase_result::refused);
}

TEST_CASE("a refusal every server gives alike: aborted unasked") {
    fake_cluster c;
    SUBCASE("the same deterministic reason") {
        c.prepare = {{0, replied(status::user_exists)},
                     {1, replied(status::user_exists)},
                     {2, replied(status::user_exists)}};
        c.run();
        CHECK(c.questions == 0);
        CHECK(c.sent.size() == 2); // prepare, then an abort with nobody to tell
        CHECK(c.sent.back().first == operation::abort);
        CHECK(c.sent.back().second.empty());
    }
    SUBCASE("a conflict may pass: asked") {
        c.prepare = {{0, replied(status::conflict)},
                     {1, replied(status::conflict)},
                     {2, replied(status::conflict)}};
        c.run();
        CHECK(c.questions == 1);
    }
    SUBCASE("different reasons: asked") {
        c.prepare = {{0, replied(status::user_exists)},
                     {1, replied(status::user_exists)},
                     {2, replied(status::permission_denied)}};
        c.run();
        CHECK(c.questions == 1);
    }
}

TEST_CASE("Ctrl-C during the prepare: aborted where prepared, unasked") {
    fake_cluster c;
    c.prepare = {{0, replied(status::ok)}, {1, replied(status::ok)}, {2, cut_off()}};
    c.answer = partial_choice::ignore; // would commit on 0 and 1 if it were asked
    auto reports = c.run();
    CHECK(c.questions == 0);
    CHECK(c.sent.back() == std::pair{operation::abort, std::vector<std::size_t>{0, 1}});
    CHECK(reports[0].result == phase_result::aborted);
    CHECK(reports[1].result == phase_result::aborted);
    CHECK(reports[2].outcome.what == server_outcome::kind::cancelled);
}
