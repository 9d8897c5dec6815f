// SPDX-License-Identifier: Apache-2.0
// The one place the project includes Boost.Asio, with the names it uses.
#pragma once

// Asio's awaitable operators use std::exchange without including <utility>.
#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl.hpp>

namespace hsm {
namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using boost::asio::awaitable;
using boost::asio::use_awaitable;
using tls_stream = ssl::stream<tcp::socket>;
} // namespace hsm
