// SPDX-License-Identifier: Apache-2.0
// CMU's permission matrix, as a table.
#include "hsmsh/protocol/policy.hpp"

#include <doctest/doctest.h>

using namespace hsm;

namespace {
constexpr auto ok = status::ok;
constexpr auto no = status::permission_denied;
constexpr auto out = status::not_logged_in;

struct row {
    operation op;
    bool on_self;
    status anonymous, preco, co, pco, cu, au;
};

// clang-format off
constexpr row matrix[] = {
    {operation::hello,            false, ok,  ok, ok, ok, ok, ok},
    {operation::login,            false, ok,  ok, ok, ok, ok, ok},
    {operation::list_users,       false, ok,  ok, ok, ok, ok, ok},
    {operation::hsm_info,         false, ok,  ok, ok, ok, ok, ok},
    {operation::describe_cluster, false, ok,  ok, ok, ok, ok, ok},
    {operation::announce_peers,   false, no,  no, no, no, no, no},
    {operation::generate_key,     false, out, no, no, no, ok, no},
    {operation::find_keys,        false, out, no, ok, ok, no, ok},
    {operation::list_keys,        false, out, no, no, no, ok, no},
    {operation::get_key,          false, out, ok, ok, ok, ok, ok},
    {operation::sign,             false, out, ok, ok, ok, ok, ok},
    {operation::decrypt,          false, out, ok, ok, ok, ok, ok},
    {operation::random,           false, out, ok, ok, ok, ok, ok},
    {operation::logout,           true,  out, ok, ok, ok, ok, ok},
    {operation::create_user,      false, out, no, ok, ok, no, no},
    {operation::delete_user,      false, out, no, ok, ok, no, no},
    {operation::change_password,  true,  out, ok, ok, ok, ok, ok},
    {operation::change_password,  false, out, no, ok, ok, no, no},
    {operation::get_user,         false, out, no, ok, ok, no, no},
    {operation::prepare,          false, out, ok, ok, ok, ok, ok},
    {operation::list_prepared,    false, out, no, ok, ok, no, no},
    {operation::tx_status,        true,  out, ok, ok, ok, ok, ok},
    {operation::tx_status,        false, out, no, ok, ok, no, no},
    {operation::commit,           true,  out, ok, ok, ok, ok, ok},
    {operation::commit,           false, out, no, ok, ok, no, no},
    {operation::abort,            true,  out, ok, ok, ok, ok, ok},
    {operation::abort,            false, out, no, ok, ok, no, no},
    {operation::register_quorum_key, true,  out, no, ok, ok, no, no},
    {operation::register_quorum_key, false, out, no, no, no, no, no},
    {operation::get_m_value,      false, out, ok, ok, ok, ok, ok},
    {operation::set_m_value,      false, out, no, ok, ok, no, no},
    {operation::get_token,        false, out, no, ok, ok, no, no},
    {operation::approve_token,    false, out, no, ok, ok, no, no},
    {operation::list_tokens,      false, out, no, ok, ok, no, no},
    {operation::delete_token,     false, out, no, ok, ok, no, no},
    {operation::login_2fa,        false, ok,  ok, ok, ok, ok, ok},
    {operation::get_2fa_challenge, false, out, no, ok, ok, no, no},
    {operation::set_key_quota,    false, out, no, ok, ok, no, no},
    {operation::set_key_quota,    true,  out, no, ok, ok, no, no},
};
// clang-format on
} // namespace

TEST_CASE("who may run what") {
    for (const auto& r : matrix) {
        CAPTURE(operation_name(r.op));
        CAPTURE(r.on_self);
        CHECK(authorize(std::nullopt, r.op, r.on_self) == r.anonymous);
        CHECK(authorize(user_type::preco, r.op, r.on_self) == r.preco);
        CHECK(authorize(user_type::co, r.op, r.on_self) == r.co);
        CHECK(authorize(user_type::pco, r.op, r.on_self) == r.pco);
        CHECK(authorize(user_type::cu, r.op, r.on_self) == r.cu);
        CHECK(authorize(user_type::au, r.op, r.on_self) == r.au);
    }
}
