#pragma once
// Byte-level checks on encoded images that both native modules (thumbnails, local models) make
// before handing bytes to a decoder. No decoder library needed.

#include <string_view>

namespace loom::media {

// A JPEG whose entropy-coded data has no end-of-image marker was cut off; libjpeg would fill the rest
// with grey and call it a success. Walks the marker segments to the first scan (so an EXIF thumbnail's
// own end marker is not mistaken for the image's), then looks for FFD9, which stuffing keeps out of
// scan data.
bool jpegLooksTruncated(std::string_view bytes);

}  // namespace loom::media
