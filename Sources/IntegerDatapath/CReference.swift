import Foundation
import Quantization
import TensorGraph

extension IntegerProgram {
    /// A self-contained C99 program that runs this datapath exactly as `formats/datapath/SPEC.md`
    /// defines it: it reads a test-vectors folder (section 12), recomputes every layer of every
    /// image from the input vectors, compares each file, prints `N images, M mismatches` and exits
    /// non-zero on any mismatch or malformed file.
    public func cReference(name: String) -> String {
        var c = Self.cPrelude(name)
        var sizes = [Int](repeating: 0, count: slotCount)
        sizes[inputSlot] = inputCount
        var body: [String] = []
        for (index, step) in steps.enumerated() {
            switch step {
            case let .dense(d):
                sizes[d.output] = d.outputShape.count(from: 1)
                c += denseFunction(d, index: index)
                body.append("    step\(index)(s\(d.input), s\(d.output));")
            case let .sum(s):
                sizes[s.output] = sizes[s.inputs[0]]
                let terms = zip(s.inputs, s.shifts).map { "rshift_round(s\($0)[i], \($1))" }.joined(separator: " + ")
                body.append("    for (i = 0; i < \(sizes[s.output]); i++) s\(s.output)[i] = (int32_t)saturate(\(terms), \(s.format.minimum)LL, \(s.format.maximum)LL);")
            case let .pool(p):
                sizes[p.output] = p.outputShape.count(from: 1)
                c += poolFunction(p, index: index)
                body.append("    step\(index)(s\(p.input), s\(p.output));")
            case let .normalization(n):
                sizes[n.output] = sizes[n.input]
                c += normalizationFunction(n, index: index)
                body.append("    step\(index)(s\(n.input), s\(n.output));")
            case let .relu(input, output):
                sizes[output] = sizes[input]
                body.append("    for (i = 0; i < \(sizes[output]); i++) s\(output)[i] = s\(input)[i] > 0 ? s\(input)[i] : 0;")
            case let .alias(input, output):
                sizes[output] = sizes[input]
                body.append("    memcpy(s\(output), s\(input), sizeof s\(input));")
            }
        }
        c += "\n/* One buffer per value of one image. */\n"
        for slot in 0..<slotCount { c += "static int32_t s\(slot)[\(max(sizes[slot], 1))];\n" }
        c += "\nstatic void run(void) {\n    long i;\n    (void)i;\n" + body.joined(separator: "\n") + "\n}\n\n"
        c += "/* The vectors files: the input first, then every traced layer output in execution order. */\n"
        c += "static const vector_file files[] = {\n"
        for value in traced {
            c += "    {\"\(TestVectors.fileName(value.layer))\", \(value.shape.reduce(1, *)), \(value.format.bits), \(value.format.signed ? 1 : 0), s\(value.slot)},\n"
        }
        c += "};\n\n" + Self.cMain(fileCount: traced.count)
        return c
    }

    func denseFunction(_ d: Dense, index: Int) -> String {
        let m = d.outputShape[1], perChannel = d.weights.count / m
        var c = "\n/* \(d.layer): output \(d.format), accumulator fraction \(d.accumulatorFraction), shift \(d.shift). */\n"
        c += "static const int32_t w\(index)[\(d.weights.count)] = {" + Self.cList(d.weights.map(String.init)) + "};\n"
        c += "static const int64_t b\(index)[\(m)] = {" + Self.cList(d.bias.map { "\($0)LL" }) + "};\n"
        c += "static void step\(index)(const int32_t *x, int32_t *y) {\n"
        let clamp = "(int32_t)saturate(rshift_round(acc + b\(index)[oc], \(d.shift)), \(d.format.minimum)LL, \(d.format.maximum)LL)"
        if let a = d.convolution {
            let (c0, h, w) = (d.inputShape[1], d.inputShape[2], d.inputShape[3])
            let (oh, ow) = (d.outputShape[2], d.outputShape[3])
            let cg = c0 / a.group, mg = m / a.group
            c += """
                    int oc, oy, ox, ic, ky, kx;
                    for (oc = 0; oc < \(m); oc++) {
                        const int g = oc / \(mg);
                        for (oy = 0; oy < \(oh); oy++) for (ox = 0; ox < \(ow); ox++) {
                            int64_t acc = 0;
                            for (ic = 0; ic < \(cg); ic++) for (ky = 0; ky < \(a.kernel.h); ky++) for (kx = 0; kx < \(a.kernel.w); kx++) {
                                const int iy = oy * \(a.stride.h) - \(a.pad.h) + ky * \(a.dilation.h), ix = ox * \(a.stride.w) - \(a.pad.w) + kx * \(a.dilation.w);
                                if (iy < 0 || iy >= \(h) || ix < 0 || ix >= \(w)) continue;
                                acc += (int64_t)x[((g * \(cg) + ic) * \(h) + iy) * \(w) + ix] * w\(index)[oc * \(perChannel) + (ic * \(a.kernel.h) + ky) * \(a.kernel.w) + kx];
                            }
                            y[(oc * \(oh) + oy) * \(ow) + ox] = \(clamp);
                        }
                    }

                """
        } else {
            c += """
                    int oc, k;
                    for (oc = 0; oc < \(m); oc++) {
                        int64_t acc = 0;
                        for (k = 0; k < \(perChannel); k++) acc += (int64_t)x[k] * w\(index)[oc * \(perChannel) + k];
                        y[oc] = \(clamp);
                    }

                """
        }
        return c + "}\n"
    }

    func poolFunction(_ p: Pool, index: Int) -> String {
        let (channels, h, w) = (p.inputShape[1], p.inputShape[2], p.inputShape[3])
        let (oh, ow) = (p.outputShape[2], p.outputShape[3])
        let (kernel, stride, pad) = p.attributes.window(height: h, width: w)
        let average = p.attributes.method == .average
        return """

            /* pooling (\(average ? "AVE" : "MAX")) */
            static void step\(index)(const int32_t *x, int32_t *y) {
                int c, oy, ox, iy, ix;
                for (c = 0; c < \(channels); c++) for (oy = 0; oy < \(oh); oy++) for (ox = 0; ox < \(ow); ox++) {
                    const int y0 = oy * \(stride.h) - \(pad.h), x0 = ox * \(stride.w) - \(pad.w);
                    int32_t best = INT32_MIN;
                    int64_t sum = 0;
                    for (iy = y0 < 0 ? 0 : y0; iy < (y0 + \(kernel.h) < \(h) ? y0 + \(kernel.h) : \(h)); iy++)
                        for (ix = x0 < 0 ? 0 : x0; ix < (x0 + \(kernel.w) < \(w) ? x0 + \(kernel.w) : \(w)); ix++) {
                            const int32_t v = x[(c * \(h) + iy) * \(w) + ix];
                            if (v > best) best = v;
                            sum += v;
                        }
                    \(average ? """
                    {
                                const int64_t divisor = (int64_t)((y0 + \(kernel.h) < \(h + pad.h) ? y0 + \(kernel.h) : \(h + pad.h)) - y0)
                                                      * ((x0 + \(kernel.w) < \(w + pad.w) ? x0 + \(kernel.w) : \(w + pad.w)) - x0);
                                const int64_t reciprocal = (2 * ((int64_t)1 << \(Self.reciprocalBits)) + divisor) / (2 * divisor);
                                y[(c * \(oh) + oy) * \(ow) + ox] = (int32_t)rshift_round(sum * reciprocal, \(Self.reciprocalBits));
                            }
                    """ : "y[(c * \(oh) + oy) * \(ow) + ox] = best; (void)sum;")
                }
            }

            """
    }

    func normalizationFunction(_ n: Normalization, index: Int) -> String {
        let (channels, h, w) = (n.shape[1], n.shape[2], n.shape[3])
        let half = (n.localSize - 1) / 2
        let window = n.region == .acrossChannels
            ? "for (o = c - \(half) < 0 ? 0 : c - \(half); o <= (c + \(half) < \(channels) ? c + \(half) : \(channels - 1)); o++) { const int64_t v = x[(o * \(h) + py) * \(w) + px]; s += v * v; }"
            : """
            for (yy = py - \(half) < 0 ? 0 : py - \(half); yy <= (py + \(half) < \(h) ? py + \(half) : \(h - 1)); yy++)
                            for (xx = px - \(half) < 0 ? 0 : px - \(half); xx <= (px + \(half) < \(w) ? px + \(half) : \(w - 1)); xx++) { const int64_t v = x[(c * \(h) + yy) * \(w) + xx]; s += v * v; }
            """
        return """

            /* \(n.layer): LRN \(n.region.rawValue) \(n.localSize), factor interpolated in a table at the sum of squares, \(n.tableShift) bits a step. */
            static const int32_t t\(index)[\(n.table.count)] = {\(Self.cList(n.table.map(String.init)))};
            static void step\(index)(const int32_t *x, int32_t *y) {
                int c, py, px, o, yy, xx;
                (void)o; (void)yy; (void)xx;
                for (c = 0; c < \(channels); c++) for (py = 0; py < \(h); py++) for (px = 0; px < \(w); px++) {
                    int64_t s = 0, entry, factor;
                    const long at = ((long)c * \(h) + py) * \(w) + px;
                    \(window)
                    entry = s >> \(n.tableShift);
                    factor = ((int64_t)t\(index)[entry] << \(n.tableShift)) + ((int64_t)t\(index)[entry + 1] - t\(index)[entry]) * (s - (entry << \(n.tableShift)));
                    y[at] = (int32_t)saturate(rshift_round((int64_t)x[at] * factor, \(Self.lrnTableBits + n.tableShift)), \(n.format.minimum)LL, \(n.format.maximum)LL);
                }
            }

            """
    }

    static func cList(_ items: [String]) -> String {
        stride(from: 0, to: items.count, by: 16).map { "\n    " + items[$0..<min($0 + 16, items.count)].joined(separator: ", ") + "," }.joined() + "\n"
    }

    static func cPrelude(_ name: String) -> String {
        """
        /* \(name): the integer datapath of formats/datapath/SPEC.md \(DatapathContract.specification), generated by bmq.
         * Build: cc -std=c99 -O2 -o bmq_ref bmq_ref.c
         * Run:   ./bmq_ref VECTORS_DIR   (written by: bmq vectors MODEL.bmq --data IMAGES -o VECTORS_DIR)
         * Recomputes every layer of every image from VECTORS_DIR's input file, compares every file,
         * prints "N images, M mismatches", and exits 1 on a mismatch, 2 on a missing or malformed file. */
        #include <stdint.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>

        /* floor(v / 2^d) for d in 1..62 without shifting a negative value. */
        static int64_t floor_shift(int64_t v, int d) { return v >= 0 ? v >> d : ~((~v) >> d); }

        /* rshift_round (SPEC section 1): round to nearest, ties towards +infinity; d <= 0 shifts left, saturating. */
        static int64_t rshift_round(int64_t x, int d) {
            if (d >= 63) return (d == 63 && x < -((int64_t)1 << 62)) ? -1 : 0;
            if (d > 0) {
                const int64_t q = floor_shift(x, d);
                const uint64_t r = (uint64_t)x & (((uint64_t)1 << d) - 1);
                return q + (r >= ((uint64_t)1 << (d - 1)) ? 1 : 0);
            }
            if (d == 0) return x;
            if (-d >= 62) return x > 0 ? INT64_MAX : x < 0 ? INT64_MIN : 0;
            if (x > (INT64_MAX >> -d)) return INT64_MAX;
            if (x < -(INT64_MAX >> -d)) return INT64_MIN;
            return x * ((int64_t)1 << -d);
        }

        static int64_t saturate(int64_t x, int64_t lo, int64_t hi) { return x < lo ? lo : x > hi ? hi : x; }

        typedef struct { const char *name; long count; int bits; int is_signed; int32_t *buffer; } vector_file;

        """
    }

    static func cMain(fileCount: Int) -> String {
        """
        /* Reads a whole $readmemh file into values; lines starting with // are comments. */
        static int32_t *read_file(const char *dir, const vector_file *f, long *n) {
            char path[4096], line[256];
            long capacity = 1 << 16, count = 0, number = 0;
            int32_t *values = malloc(sizeof *values * capacity);
            FILE *file;
            snprintf(path, sizeof path, "%s/%s", dir, f->name);
            file = fopen(path, "r");
            if (!file || !values) { fprintf(stderr, "%s: cannot be read\\n", path); exit(2); }
            while (fgets(line, sizeof line, file)) {
                char *end;
                unsigned long long raw;
                size_t length = strcspn(line, "\\r\\n");
                number++;
                line[length] = 0;
                if (length == 0 || (line[0] == '/' && line[1] == '/')) continue;
                raw = strtoull(line, &end, 16);
                if (*end != 0 || length > (size_t)((f->bits + 3) / 4) || raw >> f->bits) {
                    fprintf(stderr, "%s:%ld: '%s' is not a %d-bit hex value\\n", path, number, line, f->bits);
                    exit(2);
                }
                if (count == capacity) {
                    capacity *= 2;
                    values = realloc(values, sizeof *values * capacity);
                    if (!values) { fprintf(stderr, "out of memory\\n"); exit(2); }
                }
                values[count++] = (int32_t)(f->is_signed && (raw >> (f->bits - 1)) ? (long long)raw - (1LL << f->bits) : (long long)raw);
            }
            fclose(file);
            *n = count;
            return values;
        }

        int main(int argc, char **argv) {
            int32_t *data[\(fileCount)];
            long counts[\(fileCount)], images, image, mismatches = 0, i;
            int f;
            if (argc != 2) { fprintf(stderr, "usage: %s VECTORS_DIR\\n", argv[0]); return 2; }
            for (f = 0; f < \(fileCount); f++) data[f] = read_file(argv[1], &files[f], &counts[f]);
            images = counts[0] / files[0].count;
            for (f = 0; f < \(fileCount); f++) {
                if (counts[f] != images * files[f].count) {
                    fprintf(stderr, "%s/%s: holds %ld values, %ld images need %ld\\n", argv[1], files[f].name, counts[f], images, images * files[f].count);
                    return 2;
                }
            }
            for (image = 0; image < images; image++) {
                memcpy(files[0].buffer, data[0] + image * files[0].count, sizeof(int32_t) * files[0].count);
                run();
                for (f = 1; f < \(fileCount); f++) {
                    for (i = 0; i < files[f].count; i++) {
                        if (files[f].buffer[i] != data[f][image * files[f].count + i]) {
                            if (mismatches == 0) {
                                printf("first mismatch: %s/%s:%ld\\n", argv[1], files[f].name, image * files[f].count + i + 1);
                            }
                            mismatches++;
                        }
                    }
                }
            }
            printf("%ld images, %ld mismatches\\n", images, mismatches);
            return mismatches ? 1 : 0;
        }

        """
    }
}
