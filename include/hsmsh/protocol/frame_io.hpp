// SPDX-License-Identifier: Apache-2.0
// Reading and writing length-prefixed frames on an async stream.
#pragma once

#include "hsmsh/deadline.hpp"
#include "hsmsh/protocol/wire.hpp"

#include <stdexcept>
#include <string>

namespace hsm {

/// The peer broke the framing or sent what does not decode: an error value
/// (errc::bad_message) as much as an exception type.
struct frame_error : boost::system::system_error {
    explicit frame_error(std::string what)
        : boost::system::system_error(
              boost::system::errc::make_error_code(boost::system::errc::bad_message)),
          detail(std::move(what)) {}
    const char* what() const noexcept override { return detail.c_str(); }
    std::string detail;
};

/// Reads one frame with no deadline of its own: for a caller that bounds
/// the whole exchange. Throws frame_error or boost::system::system_error.
template <typename Stream> awaitable<std::string> read_frame(Stream& stream) {
    std::array<std::uint8_t, frame_header_size> header{};
    co_await asio::async_read(stream, asio::buffer(header), use_awaitable);
    auto size = decode_frame_header(header);
    if (!size) throw frame_error("frame size out of bounds");
    std::string body(*size, '\0');
    co_await asio::async_read(stream, asio::buffer(body), use_awaitable);
    co_return body;
}

/// Reads one frame. The header may take `header_timeout` (idle time between
/// messages), the body `body_timeout`. Throws frame_error, deadline_exceeded,
/// or boost::system::system_error for transport failures.
template <typename Stream>
awaitable<std::string> read_frame(Stream& stream, duration header_timeout, duration body_timeout) {
    std::array<std::uint8_t, frame_header_size> header{};
    co_await with_deadline(asio::async_read(stream, asio::buffer(header), use_awaitable),
                           header_timeout);
    auto size = decode_frame_header(header);
    if (!size) throw frame_error("frame size out of bounds");
    std::string body(*size, '\0');
    co_await with_deadline(asio::async_read(stream, asio::buffer(body), use_awaitable),
                           body_timeout);
    co_return body;
}

/// The header of a frame carrying `body`. Throws frame_error for an empty
/// body or one larger than a frame may be.
inline std::array<std::uint8_t, frame_header_size> frame_header_for(std::string_view body) {
    if (body.empty() || body.size() > max_frame_size) throw frame_error("frame too large");
    return encode_frame_header(body.size());
}

/// Writes one frame (header and body in one gathered write) with no
/// deadline of its own.
template <typename Stream> awaitable<void> write_frame(Stream& stream, std::string_view body) {
    auto header = frame_header_for(body);
    std::array<asio::const_buffer, 2> buffers{asio::buffer(header), asio::buffer(body)};
    co_await asio::async_write(stream, buffers, use_awaitable);
}

/// Writes one frame within `timeout`.
template <typename Stream>
awaitable<void> write_frame(Stream& stream, std::string_view body, duration timeout) {
    co_await with_deadline(write_frame(stream, body), timeout);
}

} // namespace hsm
