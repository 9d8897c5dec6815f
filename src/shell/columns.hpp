// SPDX-License-Identifier: Apache-2.0
// Lists laid out for a terminal: words in columns (as ls does), and terms
// with their text wrapped beside them (help).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace hsm {

/// `words` in as many columns as fit in `width`, filled down then across
/// as ls(1) does, each column as wide as its longest word plus two spaces;
/// every line ends with '\n'. One word per line when even two do not fit.
std::string in_columns(const std::vector<std::string>& words, std::size_t width);

/// `term` padded to `indent`, then `text` wrapped at `width` with its
/// continuation lines under its first word (a word longer than the room
/// stands alone on its line); ends with '\n'.
std::string term_and_text(std::string_view term, std::string_view text, std::size_t indent,
                          std::size_t width);

/// The width of the terminal standard output goes to; 80 elsewhere.
std::size_t terminal_width() noexcept;

} // namespace hsm
