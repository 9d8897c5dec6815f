// SPDX-License-Identifier: Apache-2.0
// Merging the nodes' pages of a listing (hsmsh/client/key_listing.hpp): a
// key on some nodes only is listed once, and none is skipped between rounds.
#include "hsmsh/client/key_listing.hpp"

#include <doctest/doctest.h>

using namespace hsm;

namespace {

key_page page_of(std::vector<std::int64_t> handles, bool more, std::string label = "") {
    key_page p;
    for (auto h : handles) {
        key_summary k;
        k.handle = h;
        k.label = label;
        p.keys.push_back(k);
    }
    p.more = more;
    return p;
}

std::vector<std::int64_t> handles_of(const merged_key_page& m) {
    std::vector<std::int64_t> out;
    for (const auto& k : m.keys)
        out.push_back(k.handle);
    return out;
}

} // namespace

TEST_CASE("a key on two nodes of three is listed once, from the first node that lists it") {
    auto m = merge_key_pages(
        {page_of({1, 5}, false, "a"), page_of({1, 5, 9}, false, "b"), page_of({1}, false, "c")}, 0);
    CHECK(handles_of(m) == std::vector<std::int64_t>{1, 5, 9});
    CHECK(m.keys[0].label == "a");
    CHECK(m.keys[2].label == "b");
    CHECK_FALSE(m.more);
    CHECK(m.after == 9);
}

TEST_CASE("a node with more sets where the round ends, so the next round skips nothing") {
    // Node 0 pages at 4; node 1 has ended but holds 6 and 8: they wait.
    auto m = merge_key_pages({page_of({2, 4}, true), page_of({2, 3, 6, 8}, false)}, 0);
    CHECK(handles_of(m) == std::vector<std::int64_t>{2, 3, 4});
    CHECK(m.more);
    CHECK(m.after == 4);
    auto next = merge_key_pages({page_of({7}, false), page_of({6, 8}, false)}, m.after);
    CHECK(handles_of(next) == std::vector<std::int64_t>{6, 7, 8});
    CHECK_FALSE(next.more);
}

TEST_CASE("a page that makes no progress ends its node's listing") {
    // "more" with nothing new, or with keys before the cursor only: no loop.
    auto m = merge_key_pages({page_of({}, true), page_of({1, 2}, true)}, 3);
    CHECK(m.keys.empty());
    CHECK_FALSE(m.more);
    CHECK(m.after == 3);
}
