// SPDX-License-Identifier: Apache-2.0
// Choosing the node that makes a key and reading what it made
// (hsmsh/client/key_generation.hpp).
#include "hsmsh/client/key_generation.hpp"

#include "hsmsh/client/cluster_link.hpp"

namespace hsm {

key_generation made_keys_from(server_report maker) {
    using enum key_generation_failure::kind;
    if (maker.outcome.what != server_outcome::kind::replied)
        return key_generation_failure{unanswered, std::move(maker)};
    if (!maker.outcome.ok()) return key_generation_failure{refused, std::move(maker)};
    auto keys = sealed_keys_from(maker.outcome.fields);
    if (!keys) return key_generation_failure{unreadable, std::move(maker)};
    return made_keys{std::move(maker), std::move(*keys)};
}

key_generation generate_on_one(const cluster_link& link, const std::vector<std::size_t>& candidates,
                               const json& request, const maker_call& call,
                               const maker_fail_over& fail_over) {
    key_generation_failure last;
    for (auto i : candidates) {
        if (!link.connected(i)) continue;
        auto made = made_keys_from(call(i, request));
        auto* failed = std::get_if<key_generation_failure>(&made);
        // A reply without readable keys is the maker's fault, not a reason
        // to make the key again elsewhere.
        if (!failed || failed->what == key_generation_failure::kind::unreadable || !fail_over ||
            !fail_over(failed->maker))
            return made;
        last = std::move(*failed);
    }
    return last;
}

} // namespace hsm
