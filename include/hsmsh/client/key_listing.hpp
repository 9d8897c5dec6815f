// SPDX-License-Identifier: Apache-2.0
// A crypto user's keys as the cluster holds them, listed from every node at
// once: a key made while a node was down is on the others only (until an
// officer's syncKey), so no one node's listing is the cluster's.
#pragma once

#include "hsmsh/protocol/payloads.hpp"

#include <cstdint>
#include <vector>

namespace hsm {

/// One round of a listing: what the nodes that answered list after `after`,
/// merged.
struct merged_key_page {
    std::vector<key_summary> keys; // by handle, each once (the first node's)
    std::int64_t after = 0;        // where the next round starts
    bool more = false;             // a node has more beyond `after`
};

/// Merges the pages nodes gave for one `after`, in node order. A node with
/// more to give sets the bound: keys beyond the first such page's end wait
/// for the next round, so that none is skipped. Keys at or before `after`
/// are dropped (a node that ignored the cursor).
merged_key_page merge_key_pages(std::vector<key_page> pages, std::int64_t after);

} // namespace hsm
