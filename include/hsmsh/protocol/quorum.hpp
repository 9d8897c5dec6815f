// SPDX-License-Identifier: Apache-2.0
// Quorum (M of N) approval as CMU spells it: the services it guards, the m
// values a node accepts, the token records officers sign, and CMU's approval
// file (docs/design.md, "Quorum").
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hsm::quorum {

/// The services a quorum guards, numbered as CMU numbers them.
enum class service : std::uint16_t {
    user_mgmt = 3, // createUser, deleteUser, changePswd of another user
    misc_co = 4,   // setMValue
};

/// Nullopt for a number that names no service here (CMU's 0-2, 5, 6 included).
std::optional<service> service_from_number(long n) noexcept;
/// "USER_MGMT", "MISC_CO".
std::string_view service_name(service s) noexcept;

/// m = 1 is "off"; a quorum asks 2 to 8 approvers.
inline constexpr int min_m = 1;
inline constexpr int max_m = 8;

/// Whether `m` may be set on a node with `officers` crypto officers (the
/// PCO counts): 1, or 2..8 and at most the officers who could approve.
bool valid_m(long m, std::size_t officers) noexcept;

/// One node's token, as an 80-byte record (the layout of CloudHSM's
/// approval data): version 1, service, the node's token id, a zero key
/// handle, 16 random bytes, the requester's name NUL-padded to 32 bytes and
/// the creation time in Unix seconds, all big-endian.
struct token_record {
    service svc = service::user_mgmt;
    std::uint32_t id = 0;
    std::array<std::uint8_t, 16> nonce{};
    std::string user; // at most 31 bytes
    std::uint32_t created = 0;

    bool operator==(const token_record&) const = default;
};

inline constexpr std::size_t token_record_size = 80;
/// The most bytes of a registration token (what one RSA-2048 PKCS#1 v1.5
/// block can carry: 256 - 11).
inline constexpr std::size_t max_registration_token = 245;
/// An RSA-2048 signature.
inline constexpr std::size_t signature_size = 256;

/// The most records a token file holds (one per node; CMU's limit).
inline constexpr std::size_t max_token_records = 32;

/// Throws std::invalid_argument for a user name of more than 31 bytes or with a NUL.
std::array<std::uint8_t, token_record_size> encode(const token_record& t);
/// Nullopt unless `bytes` is one well-formed record.
std::optional<token_record> decode(std::span<const std::uint8_t> bytes);
/// The records of a token file, in order; nullopt unless the file is 1 to
/// max_token_records well-formed records.
std::optional<std::vector<token_record>> decode_file(std::span<const std::uint8_t> bytes);

/// Whether a token file asks for one thing: all its records of one service,
/// requested by one officer (a node also takes at most one of its own).
bool one_token_request(std::span<const token_record> records) noexcept;

/// CMU's approval file: the token file's path and one block per approver.
struct approver {
    int type = 2;     // 2 CO, 1 CU (CMU's numbers)
    std::string name; // as written
    std::string signature_file;
};
struct approval_file {
    std::string token_file;
    std::vector<approver> approvers;
};

/// The most approvers an approval file names (CMU's limit).
inline constexpr std::size_t max_approvals = 20;

/// Reads CMU's layout: lines `Key = value;` (or `Key: value`), the value
/// ending at `;` or the line's end and anything after the `;` ignored; blank
/// lines and lines starting with `#` skipped; keys matched without regard to
/// case and spacing. `Multi Token File Path` (or, when it is empty, `Token
/// File Path`) and `Number of Approvals` come first, then that many blocks
/// of `Approver Type` (1 CU, 2 CO), `Approver Name`, `Approval File`.
/// Throws std::invalid_argument naming the line that is wrong.
approval_file parse_approval_file(std::string_view text);

} // namespace hsm::quorum
