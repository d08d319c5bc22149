#ifndef BMQ_INTEGER_KERNELS_H
#define BMQ_INTEGER_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/// The CPU's byte dot-product instructions, as bits of `bmq_dot_units()`.
enum {
    /// AVX2 `vpmaddubsw` + `vpmaddwd`: exact only while every pair of products fits 16 bits.
    BMQ_DOT_AVX2 = 1,
    /// AVX-512 VNNI `vpdpbusd`: four u8 x s8 products added into 32 bits, always exact.
    BMQ_DOT_AVX512_VNNI = 2,
};

/// Which of the units the CPU executes (a bit set of the values above).
int bmq_dot_units(void);

/// Columns are padded to a multiple of this in the patch layout.
#define BMQ_DOT_COLUMN_ALIGNMENT 16

/// The patch layout both kernels read: row groups of four, each holding `columns_padded` columns
/// of four consecutive bytes (rows 4g..4g+3), so one 64-byte load carries 16 columns x 4 rows.
/// Byte (row r, column n) is at ((r / 4) * columns_padded + n) * 4 + r % 4. Rows past the
/// kernel's rows and columns past the outputs hold 0.
///
/// Packs one image's convolution patches (im2col) of 32-bit values plus `offset`, which must land
/// in 0...255; padding cells hold `offset` (the value 0 plus the offset).
void bmq_pack_patches(const int32_t *image, int channels, int height, int width,
                      int kernel_h, int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w,
                      int dilation_h, int dilation_w, int out_h, int out_w,
                      int32_t offset, int row_groups, int columns_padded, uint8_t *patches);

/// Packs `count` vectors of `length` values (an inner product's inputs, one column per vector).
void bmq_pack_vectors(const int32_t *vectors, int count, int length, int32_t offset,
                      int row_groups, int columns_padded, uint8_t *patches);

/// sums[m * columns_padded + n] = sum over rows r of weights[m * row_groups * 4 + r] x patch(r, n),
/// for m < rows_out; the sums wrap modulo 2^32 (the caller proves they fit). `unit` is one
/// BMQ_DOT_* value the CPU has. Returns 0, or -1 for a unit this build or CPU lacks.
int bmq_dot_products(int unit, const int8_t *weights, int rows_out, const uint8_t *patches,
                     int row_groups, int columns_padded, int32_t *sums);

/// Bytes a channel-packed image needs past its last value: the direct kernels read whole vectors
/// from the last row, and use only the columns the output has.
#define BMQ_DOT_PACKED_SLACK 64

/// Packs one image of 32-bit values plus `offset` (landing in 0...255) for the direct kernels:
/// groups of four channels, each a (height + 2 pad_h) x (width + 2 pad_w) grid of four bytes
/// (channels 4g..4g+3), the border and the channels past `channels` holding `offset`.
void bmq_pack_channels(const int32_t *image, int channels, int height, int width, int pad_h, int pad_w,
                       int32_t offset, uint8_t *packed);

/// A stride-1 convolution straight from a channel-packed image:
/// sums[(m * out_h + oy) * out_w_padded + ox] = sum over (g, ky, kx, j) of
/// weights[m * groups * kernel_h * kernel_w * 4 + ((g * kernel_h + ky) * kernel_w + kx) * 4 + j]
/// x packed byte (group g, row oy + ky, column ox + kx, channel j),
/// for m < rows_out, with out_w_padded a multiple of 16. Returns 0, or -1 for a unit this build
/// or CPU lacks.
int bmq_direct_products(int unit, const int8_t *weights, int rows_out, const uint8_t *packed, int groups,
                        int padded_h, int padded_w, int kernel_h, int kernel_w, int out_h, int out_w,
                        int32_t *sums, int out_w_padded);

/// What requantizing a block of sums saw.
typedef struct {
    /// The largest |accumulator|.
    int64_t largest;
    /// Outputs clamped (a fused ReLU's zeros not counted).
    int64_t saturated;
} bmq_requantize_statistics;

/// y[m * row_stride + n * column_stride] = clamp(rshift_round(sums[m * sum_stride + n] + bias[m / rows_per_bias], shift), low, high)
/// for m < rows, n < columns, with 0 <= shift <= 30 and every accumulator (sum + bias) within
/// 32 bits. A clamp counts as saturation when the shifted value is positive or `signed_output`.
void bmq_requantize(const int32_t *sums, int rows, int columns, int sum_stride, const int32_t *bias, int rows_per_bias,
                    int shift, int32_t low, int32_t high, int signed_output,
                    int32_t *y, ptrdiff_t row_stride, ptrdiff_t column_stride,
                    bmq_requantize_statistics *statistics);

/// Eltwise SUM (`formats/datapath/SPEC.md`): y[i] = clamp(sum over inputs j of
/// rshift_round(inputs[j][i], shifts[j]), low, high) in 64 bits, where a shift of 0 or less
/// (down to -31) moves left. Statistics as for `bmq_requantize`.
void bmq_sum(const int32_t *const *inputs, const int *shifts, int input_count, size_t count, int32_t low, int32_t high,
             int signed_output, int32_t *y, bmq_requantize_statistics *statistics);

/// Pooling of `planes` planes (`formats/datapath/SPEC.md` section 5): each output is the MAX, or
/// for AVE `(S x reciprocals[oy * out_w + ox] + 2^15) >> 16` with S the sum, of the window's cells
/// inside the input. `largest` bounds |x| (AVE sums in 32 bits when that proves them safe, in 64
/// otherwise; negative for no bound); `columns` is scratch for 2 x `width` values.
void bmq_pool(const int32_t *x, int planes, int height, int width, int kernel_h, int kernel_w, int stride_h, int stride_w,
              int pad_h, int pad_w, int out_h, int out_w, const int32_t *reciprocals, int64_t largest, int32_t *y,
              int64_t *columns);

/// Input codes: y[i] = clamp(round_half_away(x[i] x scale), low, high), NaN to `low`; `scale` a
/// power of two and |low|, |high| <= 2^24, so every step is exact in float32. Returns how many
/// values were clamped.
size_t bmq_quantize(const float *x, size_t count, float scale, int32_t low, int32_t high, int32_t *y);

/// LRN (`formats/datapath/SPEC.md` section 8) of `images` images of `channels` planes: S, the
/// window's sum of squares (across `local_size` channels, or a `local_size` square within the
/// plane, clipped at the edges), picks factor = (table[S >> table_shift] << table_shift) + (next
/// entry - entry) x (S's remaining bits); y = clamp(rshift_round(x x factor, value_shift), low,
/// high). `statistics->largest` takes the largest S, `saturated` every clamp; `scratch` holds
/// 2 x channels x height x width values.
void bmq_normalize(const int32_t *x, int images, int channels, int height, int width, int across_channels, int local_size,
                   const int32_t *table, int table_shift, int value_shift, int32_t low, int32_t high, int32_t *y,
                   bmq_requantize_statistics *statistics, int64_t *scratch);

/// Channel-packed bytes (the layout of `bmq_pack_channels`) carry activations from layer to layer
/// when their format fits 8 bits: one image is groups of four channels, each a padded grid of
/// four-byte cells holding value + offset (128 for a signed format, 0 otherwise), the border
/// and the channels past the last holding the offset, so a convolution reads its zero padding.
///
/// Unpacks one image back to 32-bit planes.
void bmq_unpack_channels(const uint8_t *packed, int channels, int height, int width, int pad_h, int pad_w, int32_t offset,
                         int32_t *image);

/// `bmq_requantize` of one image's convolution sums (channel m's row oy at m x channel_stride +
/// oy x sum_stride), written as value + offset into a channel-packed image padded by pad_h,
/// pad_w (border and missing channels are left as they are). `values` is scratch for 4 x out_w
/// values.
void bmq_requantize_packed(const int32_t *sums, int channels, int out_h, int out_w, size_t channel_stride, int sum_stride,
                           const int32_t *bias,
                           int shift, int32_t low, int32_t high, int signed_output, int32_t offset, uint8_t *packed,
                           int pad_h, int pad_w, bmq_requantize_statistics *statistics, int32_t *values);

/// `bmq_pool` on one channel-packed image (input padded by in_pad, output by out_pad, both with
/// the same offset): the same integers, provided that for AVE |x| x kernel_h x kernel_w < 2^16,
/// so that no average leaves the format. `columns` is scratch for 4 x width + 16 values, `window`
/// for 8 x out_w.
void bmq_pool_packed(const uint8_t *x, int channels, int height, int width, int in_pad_h, int in_pad_w, int kernel_h, int kernel_w,
                     int stride_h, int stride_w, int pad_h, int pad_w, int out_h, int out_w, const int32_t *reciprocals, int32_t offset,
                     uint8_t *y, int out_pad_h, int out_pad_w, uint16_t *columns, int32_t *window);

/// `bmq_requantize_packed` of a convolution's sums (height x width per channel) fused with the MAX
/// pooling (`bmq_pool`'s window and output size) that alone reads them: the same bytes as
/// requantizing and then pooling, written into a channel-packed image padded by out_pad, and the
/// unpooled requantization's statistics. `scratch` holds channels x out_h x out_w + width +
/// 48 + 4 x out_w values.
void bmq_requantize_max_pool_packed(const int32_t *sums, int channels, int height, int width, size_t channel_stride, int sum_stride,
                                    const int32_t *bias, int shift, int32_t low, int32_t high, int signed_output, int32_t offset,
                                    int kernel_h, int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w, int out_h, int out_w,
                                    uint8_t *packed, int out_pad_h, int out_pad_w, bmq_requantize_statistics *statistics,
                                    int32_t *scratch);

/// ReLU on packed bytes: each byte at least `zero` (the offset).
void bmq_relu_packed(uint8_t *bytes, size_t count, uint8_t zero);

/// An inner product straight from `count` channel-packed images of `image_bytes` each (a multiple
/// of 4): sums[i * channels_padded + c] = bias[c] + sum over bytes b of images[i * image_bytes + b]
/// x weights[((b / 4) * channels_padded + c) * 4 + b % 4], for i < count and c < channels
/// (channels_padded a multiple of 16; columns past `channels` get their weights' sums, no bias).
/// Image-major sums, so that each image's outputs requantize as one contiguous row. The sums wrap
/// modulo 2^32 (the caller proves they fit). Returns 0, or -1 for a unit this build or CPU lacks.
int bmq_image_products(int unit, const uint8_t *images, int count, size_t image_bytes, const int8_t *weights, int channels,
                       int channels_padded, const int32_t *bias, int32_t *sums);

/// `bmq_pack_patches` from one channel-packed image (`packed` pointing at the cell where the
/// convolution's own padding begins, rows `padded_w` cells long, groups `padded_h` rows apart).
/// Rows past the kernel's rows repeat a real row instead of holding 0: their weights are 0.
void bmq_pack_packed_patches(const uint8_t *packed, int channels, int padded_h, int padded_w, int kernel_h, int kernel_w,
                             int stride_h, int stride_w, int dilation_h, int dilation_w, int out_h, int out_w, int row_groups,
                             int columns_padded, uint8_t *patches);

/// `bmq_sum` on channel-packed images (each input padded by its pads and offset by its offset,
/// at most 8 inputs), in 32 bits: the caller proves every total fits, and every shift is in
/// -23...31. `totals` is scratch for 4 x width values.
void bmq_sum_packed(const uint8_t *const *inputs, const int *pads_h, const int *pads_w, const int32_t *offsets, const int *shifts,
                    int input_count, int channels, int height, int width, int32_t low, int32_t high, int signed_output,
                    int32_t out_offset, uint8_t *y, int out_pad_h, int out_pad_w, bmq_requantize_statistics *statistics,
                    int32_t *totals);

/// Within-channel `bmq_normalize` on one channel-packed image (input and output in the same
/// format and offset), in 32-bit window sums: the input's padding must reach (local_size - 1) / 2
/// cells on every side and local_size² x 2^16 stay below 2^31. `columns` is scratch for
/// 8 x (width + local_size) values.
void bmq_normalize_packed(const uint8_t *x, int channels, int height, int width, int in_pad_h, int in_pad_w, int local_size,
                          const int32_t *table, int table_shift, int value_shift, int32_t low, int32_t high, int32_t offset,
                          uint8_t *y, int out_pad_h, int out_pad_w, bmq_requantize_statistics *statistics, int32_t *columns);

#endif
