#ifndef BMQ_IMAGE_CODECS_H
#define BMQ_IMAGE_CODECS_H
#include <stddef.h>
#include <stdint.h>

/// 8-bit interleaved pixels: `channels` is 1 (gray) or 3 (blue, green, red: OpenCV's order,
/// which is the order Caffe's image readers hand to the net).
typedef struct {
    uint8_t *pixels;
    int width;
    int height;
    int channels;
} bmq_image;

typedef enum {
    /// Gray files stay gray, colour files become BGR (OpenCV's IMREAD_ANYCOLOR).
    BMQ_IMAGE_NATIVE = 0,
    /// Always BGR (IMREAD_COLOR); gray files are replicated.
    BMQ_IMAGE_COLOR = 1,
    /// Always gray (IMREAD_GRAYSCALE).
    BMQ_IMAGE_GRAY = 2,
} bmq_image_mode;

/// Decodes a PNG or JPEG held in memory. Returns 0 and fills `image` (free it with
/// bmq_image_free), or returns non-zero with a message in `error`.
int bmq_image_decode(const uint8_t *bytes, size_t size, bmq_image_mode mode, bmq_image *image,
                     char *error, size_t error_size);

void bmq_image_free(bmq_image *image);

/// Encodes 8-bit gray or BGR pixels as PNG in memory. Returns 0 and sets `*png` (free it with
/// free()) and `*png_size`, or non-zero with a message in `error`.
int bmq_png_encode(const uint8_t *pixels, int width, int height, int channels, uint8_t **png, size_t *png_size,
                   char *error, size_t error_size);

#endif
