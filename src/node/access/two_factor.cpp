// SPDX-License-Identifier: Apache-2.0
// Two-factor challenges: random, bound, single use, short-lived.
#include "access/two_factor.hpp"

#include "crypto/key_crypto.hpp"
#include "hsmsh/hex.hpp"
#include "peers/peer_list.hpp"

namespace hsm {

two_factor_challenge two_factor_challenge::issue(purpose p, std::int64_t user_id,
                                                 std::int64_t generation,
                                                 const two_factor_context& where,
                                                 std::chrono::milliseconds lifetime) {
    auto challenge = random_bytes(digest_size);
    auto digest = second_factor_digest(p, where.hsm_id, where.user, challenge, where.channel);
    return {p,
            user_id,
            generation,
            std::move(challenge),
            std::move(digest),
            std::chrono::steady_clock::now() + lifetime};
}

std::optional<bytes> two_factor_challenge::signature_for(const node_signatures& all,
                                                         const std::string& hsm_id) {
    if (!all.given || all.count > peer_list::max_peers + 1) return std::nullopt;
    auto mine = all.hex.find(hsm_id);
    if (mine == all.hex.end() || mine->second.size() > 2 * max_signature_size) return std::nullopt;
    return from_hex(mine->second);
}

bool two_factor_challenge::answered(purpose p, std::int64_t user_id, std::int64_t generation,
                                    const quorum_key& key,
                                    std::span<const std::uint8_t> signature) const {
    if (what != p || this->user_id != user_id || this->generation != generation) return false;
    if (std::chrono::steady_clock::now() >= expires) return false;
    if (signature.size() > max_signature_size) return false;
    return key.approves_digest(digest, signature);
}

} // namespace hsm
