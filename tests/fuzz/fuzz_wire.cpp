// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the frame header and message decoders must be total,
// and the tree-free listing decoder must agree with the general one.
#include "hsmsh/protocol/payloads.hpp"
#include "hsmsh/protocol/wire.hpp"

#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size >= hsm::frame_header_size) {
        std::span<const std::uint8_t, hsm::frame_header_size> header(data, hsm::frame_header_size);
        auto announced = hsm::decode_frame_header(header);
        if (announced && (*announced == 0 || *announced > hsm::max_frame_size)) std::abort();
    }
    std::string_view body(reinterpret_cast<const char*>(data), size);
    auto request = hsm::decode_request(body);
    if (auto* r = std::get_if<hsm::request>(&request)) {
        // Round trip: what decodes re-encodes to something that decodes the same.
        auto again = hsm::decode_request(hsm::encode(*r));
        auto* back = std::get_if<hsm::request>(&again);
        if (!back || back->op != r->op || back->id != r->id || back->fields != r->fields)
            std::abort();
    }
    auto reply = hsm::decode_reply(body);
    if (auto* r = std::get_if<hsm::reply>(&reply)) {
        auto again = hsm::decode_reply(hsm::encode(*r));
        if (!std::holds_alternative<hsm::reply>(again)) std::abort();
    }
    auto listing = hsm::decode_user_list_reply(body);
    if (auto* l = std::get_if<hsm::user_list_reply>(&listing)) {
        // What the listing decoder accepts is a reply to the general one...
        auto* r = std::get_if<hsm::reply>(&reply);
        if (!r || r->id != l->id || r->code != l->code) std::abort();
        // ...and its users survive their own encoding.
        hsm::reply encoded{l->id, l->code, {{"users", hsm::to_json(l->users)}}};
        auto again = hsm::decode_user_list_reply(hsm::encode(encoded));
        auto* back = std::get_if<hsm::user_list_reply>(&again);
        if (!back || back->users != l->users) std::abort();
    }
    return 0;
}
