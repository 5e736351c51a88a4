#include "media/jpeg_checks.h"

#include <cstddef>

namespace loom::media {

bool jpegLooksTruncated(std::string_view b) {
  size_t pos = 2;
  while (pos + 4 <= b.size()) {
    if (static_cast<unsigned char>(b[pos]) != 0xFF) return false;  // not a marker: leave it to libjpeg
    unsigned char m = static_cast<unsigned char>(b[pos + 1]);
    if (m == 0xFF) {
      ++pos;
      continue;
    }
    if (m == 0xDA) return b.find("\xFF\xD9", pos) == std::string_view::npos;
    if (m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) {
      pos += 2;
      continue;
    }
    size_t len = (static_cast<unsigned char>(b[pos + 2]) << 8) | static_cast<unsigned char>(b[pos + 3]);
    pos += 2 + len;
  }
  return true;  // no scan at all
}

}  // namespace loom::media
