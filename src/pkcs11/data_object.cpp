// SPDX-License-Identifier: Apache-2.0
// Data objects' packing and attributes.
#include "data_object.hpp"

#include "hsmsh/hex.hpp"

#include <cstring>

namespace hsm::p11 {
namespace {

constexpr std::uint8_t packed_format = 1;

void put_part(bytes& out, std::span<const std::uint8_t> part) {
    out.push_back(static_cast<std::uint8_t>(part.size() >> 8));
    out.push_back(static_cast<std::uint8_t>(part.size() & 0xff));
    out.insert(out.end(), part.begin(), part.end());
}

// The next part of `in` from `at`; nullopt when the length runs past the end.
std::optional<bytes> take_part(std::span<const std::uint8_t> in, std::size_t& at) {
    if (in.size() - at < 2) return std::nullopt;
    std::size_t size = (std::size_t{in[at]} << 8) | in[at + 1];
    at += 2;
    if (in.size() - at < size) return std::nullopt;
    bytes out(in.begin() + static_cast<std::ptrdiff_t>(at),
              in.begin() + static_cast<std::ptrdiff_t>(at + size));
    at += size;
    return out;
}

bytes flag_value(bool v) {
    return {static_cast<std::uint8_t>(v ? CK_TRUE : CK_FALSE)};
}

attribute_value kept(bytes b) {
    return {CKR_OK, std::move(b)};
}

} // namespace

bytes pack_data(const data_contents& d) {
    bytes out{packed_format};
    put_part(out, std::span(reinterpret_cast<const std::uint8_t*>(d.application.data()),
                            d.application.size()));
    put_part(out, d.object_id);
    out.insert(out.end(), d.value.begin(), d.value.end());
    return out;
}

std::optional<data_contents> unpack_data(std::span<const std::uint8_t> packed) {
    if (packed.empty() || packed[0] > packed_format) return std::nullopt;
    bool first_form = packed[0] == 0; // an application's length is at most 255
    std::size_t at = first_form ? 0 : 1;
    auto application = take_part(packed, at);
    auto object_id = application ? take_part(packed, at) : std::nullopt;
    if (!object_id) return std::nullopt;
    std::optional<bytes> value;
    if (first_form)
        value = take_part(packed, at);
    else
        value = bytes(packed.begin() + static_cast<std::ptrdiff_t>(at), packed.end());
    if (!value || (first_form && at != packed.size())) return std::nullopt;
    return data_contents{std::string(application->begin(), application->end()),
                         std::move(*object_id), std::move(*value)};
}

attribute_value data_attribute(const key_summary& k, CK_ATTRIBUTE_TYPE type) {
    switch (type) {
    case CKA_CLASS: {
        CK_OBJECT_CLASS cls = CKO_DATA;
        bytes b(sizeof cls);
        std::memcpy(b.data(), &cls, sizeof cls);
        return kept(std::move(b));
    }
    case CKA_TOKEN:
        return kept(flag_value(k.token));
    case CKA_PRIVATE:
        return kept(flag_value(k.flags.private_));
    case CKA_MODIFIABLE: // its label changes
    case CKA_COPYABLE:   // C_CopyObject brings it in again
        return kept(flag_value(true));
    case CKA_DESTROYABLE:
        return kept(flag_value(k.flags.destroyable));
    case CKA_LABEL:
        return kept(bytes(k.label.begin(), k.label.end()));
    case CKA_APPLICATION:
    case CKA_OBJECT_ID:
    case CKA_VALUE: {
        // Only its owner and the users it is shared with get its bytes.
        if (k.public_key.empty()) return {CKR_ATTRIBUTE_SENSITIVE, {}};
        auto packed = from_hex(k.public_key);
        auto d = packed ? unpack_data(*packed) : std::nullopt;
        if (!d) return {CKR_GENERAL_ERROR, {}};
        if (type == CKA_APPLICATION)
            return kept(bytes(d->application.begin(), d->application.end()));
        return kept(type == CKA_OBJECT_ID ? std::move(d->object_id) : std::move(d->value));
    }
    default:
        return {CKR_ATTRIBUTE_TYPE_INVALID, {}};
    }
}

} // namespace hsm::p11
