// SPDX-License-Identifier: Apache-2.0
// Merging the nodes' pages of one listing (hsmsh/client/key_listing.hpp).
#include "hsmsh/client/key_listing.hpp"

#include <algorithm>
#include <limits>
#include <set>

namespace hsm {

merged_key_page merge_key_pages(std::vector<key_page> pages, std::int64_t after) {
    // The lowest end of a page that has more: beyond it that node is unheard.
    auto bound = std::numeric_limits<std::int64_t>::max();
    bool more = false;
    for (const auto& page : pages) {
        if (!page.more || page.keys.empty()) continue; // an empty page ends its node
        auto last = std::ranges::max(page.keys, {}, &key_summary::handle).handle;
        if (last <= after) continue; // no progress: that node's listing ends here
        bound = std::min(bound, last);
        more = true;
    }
    merged_key_page out;
    std::set<std::int64_t> seen;
    for (auto& page : pages)
        for (auto& k : page.keys)
            if (k.handle > after && k.handle <= bound && seen.insert(k.handle).second)
                out.keys.push_back(std::move(k));
    std::ranges::sort(out.keys, {}, &key_summary::handle);
    out.more = more;
    out.after = more ? bound : (out.keys.empty() ? after : out.keys.back().handle);
    return out;
}

} // namespace hsm
