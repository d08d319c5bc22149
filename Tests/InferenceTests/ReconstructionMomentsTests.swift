import Testing
@testable import Inference
import TensorGraph

/// The moments layer reconstruction runs on, against sums written out sample by sample.
@Suite struct ReconstructionMomentsTests {
    func values(_ count: Int, seed: Int) -> [Float] { (0..<count).map { Float((($0 + seed) * 7919) % 23) / 11 - 1 } }

    /// Every input vector of a convolution (channel, kernel row, kernel column; zero in the padding), plus a 1.
    func vectors(_ x: Tensor, _ a: ConvolutionAttributes) -> [[Float]] {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let oh = (h + 2 * a.pad.h - a.kernel.h) / a.stride.h + 1, ow = (w + 2 * a.pad.w - a.kernel.w) / a.stride.w + 1
        var result: [[Float]] = []
        for image in 0..<n {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var vector: [Float] = []
                    for channel in 0..<c {
                        for ky in 0..<a.kernel.h {
                            for kx in 0..<a.kernel.w {
                                let y = oy * a.stride.h - a.pad.h + ky, xx = ox * a.stride.w - a.pad.w + kx
                                let inside = (0..<h).contains(y) && (0..<w).contains(xx)
                                vector.append(inside ? x.data[((image * c + channel) * h + y) * w + xx] : 0)
                            }
                        }
                    }
                    result.append(vector + [1])
                }
            }
        }
        return result
    }

    func expectMoments(_ moments: (gram: [Float], cross: [Float])?, quantized: [[Float]], float: [[Float]]) throws {
        let moments = try #require(moments)
        let size = quantized[0].count
        #expect(moments.gram.count == size * size && moments.cross.count == size * size)
        for i in 0..<size {
            for j in 0..<size {
                var gram = 0.0, cross = 0.0
                for (q, f) in zip(quantized, float) {
                    gram += Double(q[i]) * Double(q[j])
                    cross += Double(q[i]) * Double(f[j])
                }
                #expect(abs(Double(moments.gram[i * size + j]) - gram) <= 1e-4 * max(1, abs(gram)), "gram \(i),\(j)")
                #expect(abs(Double(moments.cross[i * size + j]) - cross) <= 1e-4 * max(1, abs(cross)), "cross \(i),\(j)")
            }
        }
    }

    @Test(arguments: [
        (ConvolutionAttributes(numOutput: 2, kernel: Size2(square: 3), stride: Size2(square: 2), pad: Size2(square: 1)), Shape([3, 2, 5, 5])),
        // 1,024 positions per image: several chunks of images.
        (ConvolutionAttributes(numOutput: 2, kernel: Size2(square: 3), pad: Size2(square: 1)), Shape([10, 1, 32, 32])),
    ])
    func convolutionMomentsAreSumsOverPatches(attributes: ConvolutionAttributes, shape: Shape) throws {
        let float = Tensor(shape: shape, data: values(shape.count, seed: 1))
        let quantized = Tensor(shape: shape, data: values(shape.count, seed: 5))
        let node = Node(name: "conv", op: .convolution(attributes), inputs: ["x"], outputs: ["y"])
        try expectMoments(InputCorrelation.reconstructionMoments(of: node, quantized: quantized, float: float),
                          quantized: vectors(quantized, attributes), float: vectors(float, attributes))
        // With equal inputs, the gram's inputs part is the error compensation's H.
        let same = try #require(InputCorrelation.reconstructionMoments(of: node, quantized: float, float: float))
        let h = try #require(InputCorrelation.gram(of: node, input: float))
        let k = Int(Double(h.count).squareRoot())
        for i in 0..<k { for j in 0..<k { #expect(abs(same.gram[i * (k + 1) + j] - h[i * k + j]) <= 1e-4 * max(1, abs(h[i * k + j]))) } }
    }

    @Test func innerProductMomentsAreSumsOverRows() throws {
        // 300 rows: more than one chunk.
        let shape = Shape([300, 2, 2, 2])
        let float = Tensor(shape: shape, data: values(shape.count, seed: 2))
        let quantized = Tensor(shape: shape, data: values(shape.count, seed: 9))
        let node = Node(name: "ip", op: .innerProduct(InnerProductAttributes(numOutput: 3)), inputs: ["x"], outputs: ["y"])
        func rows(_ t: Tensor) -> [[Float]] { (0..<300).map { Array(t.data[($0 * 8)..<(($0 + 1) * 8)]) + [1] } }
        try expectMoments(InputCorrelation.reconstructionMoments(of: node, quantized: quantized, float: float),
                          quantized: rows(quantized), float: rows(float))
    }

    @Test func uncoveredLayersAndMismatchedInputsGiveNothing() {
        let x = Tensor(shape: [1, 2, 4, 4], data: values(32, seed: 0))
        let grouped = Node(name: "g", op: .convolution(ConvolutionAttributes(numOutput: 2, kernel: Size2(square: 3), group: 2)), inputs: ["x"], outputs: ["y"])
        #expect(InputCorrelation.reconstructionMoments(of: grouped, quantized: x, float: x) == nil)
        let conv = Node(name: "c", op: .convolution(ConvolutionAttributes(numOutput: 2, kernel: Size2(square: 3))), inputs: ["x"], outputs: ["y"])
        #expect(InputCorrelation.reconstructionMoments(of: conv, quantized: x, float: Tensor(shape: [1, 2, 2, 8], data: x.data)) == nil)
        let relu = Node(name: "r", op: .relu(ReLUAttributes()), inputs: ["x"], outputs: ["x"])
        #expect(InputCorrelation.reconstructionMoments(of: relu, quantized: x, float: x) == nil)
    }
}
