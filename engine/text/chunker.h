#pragma once
// Splitting text into overlapping chunks for retrieval and model context windows (text.chunk).
// Pure functions, thread-safe.
//
// Sizes count either characters (Unicode code points) or tokens. A token here is a word (a run of
// letters and digits, non-ASCII letters included, cut every 16 characters so that long strings such
// as hashes or base64 count as several) or one punctuation or symbol character; whitespace is not a
// token, and each CJK ideograph or kana is a token of its own. That is close to counting words, so a
// model's own tokenizer, which splits long and rare words into pieces, usually counts more.
//
// A chunk ends where the text breaks best within the second half of its allowed size: after a blank
// line (paragraph), else after a sentence (. ! ? … 。 followed by whitespace), else at a line end,
// else between words, else at the size limit. The next chunk starts `overlap` units before that end,
// moved to the start of a word. Chunks never split a code point; leading and trailing
// whitespace is trimmed, and text[start, end) is exactly the chunk.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace loom::text {

enum class ChunkUnit { Chars, Tokens };

struct ChunkOptions {
  ChunkUnit unit = ChunkUnit::Chars;
  size_t size = 1000;     // units per chunk at most
  size_t overlap = 0;     // units repeated from the end of the previous chunk; < size
  size_t maxChunks = 100000;  // more than this for one text is an error (size too small for the text)
};

struct Chunk {
  size_t start = 0, end = 0;  // code points of the input
  std::string text;           // UTF-8
};

// The chunks of `utf8` (empty for text that is empty or only whitespace).
core::Result<std::vector<Chunk>> chunkText(std::string_view utf8, const ChunkOptions& options);

// Tokens in `utf8` as defined above.
size_t countTokens(std::string_view utf8);

}  // namespace loom::text
