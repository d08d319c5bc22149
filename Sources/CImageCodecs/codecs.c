// PNG and JPEG decoding with the pixel conventions of OpenCV's imread, which Caffe's data
// layers use: BGR channel order, alpha dropped (not composited), gray kept or replicated.
// In C because libjpeg reports errors by longjmp, which Swift cannot catch.
#include "bmq_image_codecs.h"

// stdio.h first: jpeglib.h uses FILE without including it.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>
#include <png.h>

// Larger images are refused rather than allocated: 2^28 pixels is 16384 x 16384.
static const size_t max_pixels = (size_t)1 << 28;

static void set_error(char *error, size_t size, const char *message) {
    if (error && size) snprintf(error, size, "%s", message);
}

// Gray from colour as libpng's rgb_to_gray makes it for OpenCV's PNG reader (weights 0.299 and
// 0.587 as 15-bit fractions, blue the rest; truncated). libjpeg converts JPEGs itself.
static uint8_t gray_of_bgr(const uint8_t *bgr) {
    return (uint8_t)((bgr[0] * 3737 + bgr[1] * 19234 + bgr[2] * 9797) >> 15);
}

// Converts between gray and BGR as `mode` asks; takes ownership of `image->pixels`.
static int convert_channels(bmq_image *image, bmq_image_mode mode, char *error, size_t error_size) {
    int want = mode == BMQ_IMAGE_GRAY ? 1 : mode == BMQ_IMAGE_COLOR ? 3 : image->channels;
    if (want == image->channels) return 0;
    size_t count = (size_t)image->width * (size_t)image->height;
    uint8_t *converted = malloc(count * (size_t)want);
    if (!converted) {
        set_error(error, error_size, "out of memory");
        return 1;
    }
    for (size_t i = 0; i < count; i++) {
        if (want == 1) {
            converted[i] = gray_of_bgr(image->pixels + 3 * i);
        } else {
            memset(converted + 3 * i, image->pixels[i], 3);
        }
    }
    free(image->pixels);
    image->pixels = converted;
    image->channels = want;
    return 0;
}

static int decode_png(const uint8_t *bytes, size_t size, bmq_image_mode mode, bmq_image *image, char *error,
                      size_t error_size) {
    png_image png;
    memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&png, bytes, size)) {
        set_error(error, error_size, png.message);
        return 1;
    }
    if (png.format & PNG_FORMAT_FLAG_LINEAR) {
        png_image_free(&png);
        set_error(error, error_size, "16-bit PNG: only 8-bit images are read");
        return 1;
    }
    if ((size_t)png.width * (size_t)png.height > max_pixels) {
        png_image_free(&png);
        set_error(error, error_size, "the image is larger than 16384 x 16384 pixels");
        return 1;
    }
    int color = (png.format & PNG_FORMAT_FLAG_COLOR) != 0;
    int alpha = (png.format & PNG_FORMAT_FLAG_ALPHA) != 0;
    // Read with alpha when there is one, so that it is dropped rather than composited.
    png.format = color ? (alpha ? PNG_FORMAT_BGRA : PNG_FORMAT_BGR) : (alpha ? PNG_FORMAT_GA : PNG_FORMAT_GRAY);
    int stored = (int)PNG_IMAGE_PIXEL_CHANNELS(png.format);
    size_t count = (size_t)png.width * (size_t)png.height;
    uint8_t *buffer = malloc(count * (size_t)stored);
    if (!buffer) {
        png_image_free(&png);
        set_error(error, error_size, "out of memory");
        return 1;
    }
    if (!png_image_finish_read(&png, NULL, buffer, 0, NULL)) {
        free(buffer);
        set_error(error, error_size, png.message);
        return 1;
    }
    int channels = color ? 3 : 1;
    if (alpha) {
        for (size_t i = 0; i < count; i++) memmove(buffer + i * channels, buffer + i * stored, (size_t)channels);
    }
    image->pixels = buffer;
    image->width = (int)png.width;
    image->height = (int)png.height;
    image->channels = channels;
    return convert_channels(image, mode, error, error_size);
}

struct jpeg_failure {
    struct jpeg_error_mgr manager;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

static void jpeg_fail(j_common_ptr info) {
    struct jpeg_failure *failure = (struct jpeg_failure *)info->err;
    (*info->err->format_message)(info, failure->message);
    longjmp(failure->jump, 1);
}

static void jpeg_ignore_warning(j_common_ptr info, int level) {
    (void)info;
    (void)level;
}

static int decode_jpeg(const uint8_t *bytes, size_t size, bmq_image_mode mode, bmq_image *image, char *error,
                       size_t error_size) {
    struct jpeg_decompress_struct info;
    struct jpeg_failure failure;
    uint8_t *volatile buffer = NULL;
    info.err = jpeg_std_error(&failure.manager);
    failure.manager.error_exit = jpeg_fail;
    failure.manager.emit_message = jpeg_ignore_warning;
    if (setjmp(failure.jump)) {
        jpeg_destroy_decompress(&info);
        free(buffer);
        set_error(error, error_size, failure.message);
        return 1;
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, bytes, (unsigned long)size);
    jpeg_read_header(&info, TRUE);
    int gray = mode == BMQ_IMAGE_GRAY || (mode == BMQ_IMAGE_NATIVE && info.num_components == 1);
    info.out_color_space = gray ? JCS_GRAYSCALE : JCS_EXT_BGR;
    jpeg_calc_output_dimensions(&info);
    if ((size_t)info.output_width * (size_t)info.output_height > max_pixels) {
        jpeg_destroy_decompress(&info);
        set_error(error, error_size, "the image is larger than 16384 x 16384 pixels");
        return 1;
    }
    jpeg_start_decompress(&info);
    int channels = gray ? 1 : 3;
    size_t row = (size_t)info.output_width * (size_t)channels;
    buffer = malloc(row * info.output_height);
    if (!buffer) {
        jpeg_destroy_decompress(&info);
        set_error(error, error_size, "out of memory");
        return 1;
    }
    while (info.output_scanline < info.output_height) {
        JSAMPROW line = buffer + row * info.output_scanline;
        jpeg_read_scanlines(&info, &line, 1);
    }
    jpeg_finish_decompress(&info);
    image->pixels = buffer;
    image->width = (int)info.output_width;
    image->height = (int)info.output_height;
    image->channels = channels;
    jpeg_destroy_decompress(&info);
    return 0;
}

int bmq_image_decode(const uint8_t *bytes, size_t size, bmq_image_mode mode, bmq_image *image, char *error,
                     size_t error_size) {
    memset(image, 0, sizeof *image);
    static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (size >= 8 && memcmp(bytes, png_signature, 8) == 0) return decode_png(bytes, size, mode, image, error, error_size);
    if (size >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) {
        return decode_jpeg(bytes, size, mode, image, error, error_size);
    }
    set_error(error, error_size, "neither a PNG nor a JPEG image");
    return 1;
}

void bmq_image_free(bmq_image *image) {
    free(image->pixels);
    image->pixels = NULL;
}

int bmq_png_encode(const uint8_t *pixels, int width, int height, int channels, uint8_t **png_bytes, size_t *png_size,
                   char *error, size_t error_size) {
    png_image png;
    memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    png.width = (png_uint_32)width;
    png.height = (png_uint_32)height;
    png.format = channels == 3 ? PNG_FORMAT_BGR : PNG_FORMAT_GRAY;
    png_alloc_size_t size = 0;
    if (!png_image_write_to_memory(&png, NULL, &size, 0, pixels, 0, NULL)) {
        set_error(error, error_size, png.message);
        return 1;
    }
    uint8_t *buffer = malloc(size);
    if (!buffer) {
        set_error(error, error_size, "out of memory");
        return 1;
    }
    if (!png_image_write_to_memory(&png, buffer, &size, 0, pixels, 0, NULL)) {
        free(buffer);
        set_error(error, error_size, png.message);
        return 1;
    }
    *png_bytes = buffer;
    *png_size = size;
    return 0;
}
