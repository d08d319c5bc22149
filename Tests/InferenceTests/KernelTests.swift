import Foundation
import TensorGraph
import TestSupport
import Testing
@testable import Inference

func expectClose(_ a: Tensor, _ b: Tensor, tolerance: Float = 1e-4, _ what: String) {
    #expect(a.shape == b.shape, "\(what): shape \(a.shape) vs \(b.shape)")
    let worst = largestRelativeDifference(a, b)
    #expect(worst <= tolerance, "\(what): largest relative difference \(worst)")
}

struct ConvolutionCase: Sendable, CustomStringConvertible {
    var input: Shape
    var attributes: ConvolutionAttributes
    var description: String {
        "\(input) k\(attributes.kernel) s\(attributes.stride) p\(attributes.pad) d\(attributes.dilation) g\(attributes.group) m\(attributes.numOutput)"
    }
}

@Suite struct KernelTests {
    static let convolutions: [ConvolutionCase] = [
        ConvolutionCase(input: [2, 3, 7, 5], attributes: ConvolutionAttributes(numOutput: 4, kernel: Size2(3, 2))),
        ConvolutionCase(input: [3, 4, 9, 9], attributes: ConvolutionAttributes(numOutput: 6, kernel: Size2(square: 3), stride: Size2(2, 1), pad: Size2(1, 2), group: 2)),
        ConvolutionCase(input: [1, 2, 11, 8], attributes: ConvolutionAttributes(numOutput: 3, kernel: Size2(square: 3), pad: Size2(square: 2), dilation: Size2(2, 3), biasTerm: false)),
        ConvolutionCase(input: [5, 1, 6, 6], attributes: ConvolutionAttributes(numOutput: 1, kernel: Size2(square: 1))),
        ConvolutionCase(input: [2, 6, 5, 7], attributes: ConvolutionAttributes(numOutput: 6, kernel: Size2(square: 3), stride: Size2(square: 3), pad: Size2(square: 1), group: 3)),
        ConvolutionCase(input: [1, 2, 3, 3], attributes: ConvolutionAttributes(numOutput: 2, kernel: Size2(square: 5), pad: Size2(square: 2))),
        // Register-kernel edges: whole 16-wide rows, half rows, two rows per block, blocks that
        // cross rows and end short, and channel counts leaving every tile remainder 1...5.
        ConvolutionCase(input: [2, 5, 16, 16], attributes: ConvolutionAttributes(numOutput: 13, kernel: Size2(square: 3), pad: Size2(square: 1))),
        ConvolutionCase(input: [1, 3, 32, 32], attributes: ConvolutionAttributes(numOutput: 11, kernel: Size2(square: 5), pad: Size2(square: 2))),
        ConvolutionCase(input: [3, 4, 8, 8], attributes: ConvolutionAttributes(numOutput: 10, kernel: Size2(square: 5), pad: Size2(square: 2))),
        ConvolutionCase(input: [2, 3, 13, 11], attributes: ConvolutionAttributes(numOutput: 9, kernel: Size2(3, 2), stride: Size2(1, 2))),
        ConvolutionCase(input: [1, 7, 28, 28], attributes: ConvolutionAttributes(numOutput: 25, kernel: Size2(square: 5))),
        ConvolutionCase(input: [2, 4, 9, 10], attributes: ConvolutionAttributes(numOutput: 12, kernel: Size2(square: 1), stride: Size2(square: 2), biasTerm: false)),
        // Patches longer than one panel slice (two and three slices), with short last blocks.
        ConvolutionCase(input: [1, 40, 6, 10], attributes: ConvolutionAttributes(numOutput: 7, kernel: Size2(square: 3), pad: Size2(square: 1))),
        ConvolutionCase(input: [2, 64, 5, 5], attributes: ConvolutionAttributes(numOutput: 8, kernel: Size2(square: 3))),
    ]

    @Test(arguments: convolutions, ConvolutionMethod.allCases)
    func convolutionMatchesReference(_ test: ConvolutionCase, method: ConvolutionMethod) throws {
        let a = test.attributes
        let node = Node(name: "conv", op: .convolution(a), inputs: ["x"], outputs: ["y"])
        let outputShape = try ShapeInference.outputShapes(of: node, inputs: [test.input])[0]
        let weights = randomTensor([a.numOutput, test.input[1] / a.group, a.kernel.h, a.kernel.w], seed: 1)
        let bias = a.biasTerm ? randomTensor([a.numOutput], seed: 2) : nil
        let x = randomTensor(test.input, seed: 3)
        let fast: Tensor
        switch method {
        case .gemm:
            fast = Kernels.gemmConvolution(x, a, weights: weights, bias: bias, outputShape: outputShape)
        case .direct:
            guard #available(macOS 26, *), VectorUnit.available else {
                print("skipped: this CPU lacks the vector instructions of the direct convolution")
                return
            }
            fast = Kernels.directConvolution(x, a, weights: weights, bias: bias, outputShape: outputShape)
        case .winograd:
            guard #available(macOS 26, *), VectorUnit.available else {
                print("skipped: this CPU lacks the vector instructions of the Winograd convolution")
                return
            }
            fast = Kernels.convolution(x, a, weights: weights, bias: bias, outputShape: outputShape, method: .winograd)
        }
        expectClose(fast, ReferenceKernels.convolution(x, a, weights: weights, bias: bias, outputShape: outputShape), "\(test) \(method)")
    }

    /// A row's inner product is the same bit for bit whatever batch it runs in, so a network's
    /// output for an image does not depend on the images beside it.
    @Test func innerProductOfARowDoesNotDependOnTheBatch() throws {
        guard #available(macOS 26, *), VectorUnit.available else { return }
        let a = InnerProductAttributes(numOutput: 37)
        let weights = randomTensor([37, 300], seed: 7), bias = randomTensor([37], seed: 8), x = randomTensor([13, 300], seed: 9)
        let whole = Kernels.vectorInnerProduct(x, a, weights: weights, bias: bias, outputShape: [13, 37])
        for row in [0, 5, 12] {
            let alone = Kernels.vectorInnerProduct(Tensor(shape: [1, 300], data: Array(x.data[(row * 300)..<((row + 1) * 300)])), a,
                                                   weights: weights, bias: bias, outputShape: [1, 37])
            #expect(alone.data == Array(whole.data[(row * 37)..<((row + 1) * 37)]), "row \(row)")
        }
    }

    @Test func convolutionSplitsLargeBatchesIntoSlicesCorrectly() throws {
        // Enough images that one worker's column buffer holds only some of them.
        let a = ConvolutionAttributes(numOutput: 5, kernel: Size2(square: 3), pad: Size2(square: 1))
        let input: Shape = [37, 8, 23, 23]
        #expect(8 * 9 * 23 * 23 * 37 > Kernels.columnBudget)
        let weights = randomTensor([5, 8, 3, 3], seed: 4), bias = randomTensor([5], seed: 5), x = randomTensor(input, seed: 6)
        let shape: Shape = [37, 5, 23, 23]
        expectClose(Kernels.gemmConvolution(x, a, weights: weights, bias: bias, outputShape: shape),
                    ReferenceKernels.convolution(x, a, weights: weights, bias: bias, outputShape: shape), "sliced batch")
    }

    /// Batches of images (a matrix product per core), and one image (a matrix-vector product,
    /// outputs split between the cores), with weights stored either way.
    @Test(arguments: [(false, 1, 7), (true, 1, 7), (false, 2, 3), (false, 1, 1), (true, 1, 1)])
    func innerProductMatchesReference(transpose: Bool, axis: Int, batch: Int) throws {
        let input: Shape = axis == 1 ? [batch, 3, 2, 5] : [batch, 4, 5]
        let a = InnerProductAttributes(numOutput: 9, axis: axis, transpose: transpose)
        let k = input.count(from: axis)
        let weights = randomTensor(transpose ? [k, 9] : [9, k], seed: 7), bias = randomTensor([9], seed: 8)
        let outputShape = Shape(Array(input.dims[..<axis]) + [9])
        let x = randomTensor(input, seed: 9)
        let reference = ReferenceKernels.innerProduct(x, a, weights: weights, bias: bias, outputShape: outputShape)
        expectClose(Kernels.blasInnerProduct(x, a, weights: weights, bias: bias, outputShape: outputShape), reference, "BLAS ip")
        if #available(macOS 26, *), VectorUnit.available {
            expectClose(Kernels.vectorInnerProduct(x, a, weights: weights, bias: bias, outputShape: outputShape), reference, "vector ip")
        }
    }

    static let poolings: [PoolingAttributes] = [
        PoolingAttributes(method: .max, kernel: Size2(square: 3), stride: Size2(square: 2)),
        PoolingAttributes(method: .average, kernel: Size2(square: 3), stride: Size2(square: 2)),
        PoolingAttributes(method: .max, kernel: Size2(3, 2), stride: Size2(2, 3), pad: Size2(1, 1)),
        PoolingAttributes(method: .average, kernel: Size2(square: 3), stride: Size2(square: 2), pad: Size2(square: 1)),
        PoolingAttributes(method: .average, kernel: Size2(square: 1), global: true),
        PoolingAttributes(method: .max, kernel: Size2(square: 2), stride: Size2(square: 2), ceilMode: false),
        PoolingAttributes(method: .average, kernel: Size2(square: 3), stride: Size2(square: 1), pad: Size2(square: 1)),
        PoolingAttributes(method: .max, kernel: Size2(square: 3), stride: Size2(square: 3)),
    ]

    /// Both pooling paths against the reference, exactly: AVE must add in Caffe's order. Inputs
    /// give output rows shorter than, equal to and longer than one vector.
    @Test(arguments: poolings, [[2, 3, 9, 7], [1, 2, 32, 32], [1, 2, 21, 37]] as [Shape])
    func poolingMatchesReference(_ a: PoolingAttributes, input: Shape) throws {
        let node = Node(name: "pool", op: .pooling(a), inputs: ["x"], outputs: ["y"])
        let shape = try ShapeInference.outputShapes(of: node, inputs: [input])[0]
        let x = randomTensor(input, seed: 10)
        let expected = ReferenceKernels.pooling(x, a, outputShape: shape)
        expectClose(Kernels.scalarPooling(x, a, outputShape: shape), expected, tolerance: 0, "\(a) scalar")
        if #available(macOS 26, *), VectorUnit.available {
            expectClose(Kernels.vectorPooling(x, a, outputShape: shape), expected, tolerance: 0, "\(a) vector")
        }
    }

    /// Both regions, both window sizes, beta 3/4 (the square-root form) and another (powf),
    /// rows shorter and longer than a vector; the vector and scalar within-channel kernels.
    @Test(arguments: [LRNRegion.acrossChannels, .withinChannel], [3, 5])
    func lrnMatchesReference(region: LRNRegion, size: Int) {
        for (beta, width) in [(Float(0.75), 6), (0.75, 11), (0.6, 11)] {
            let a = LRNAttributes(localSize: size, alpha: 0.3, beta: beta, k: region == .acrossChannels ? 2 : 1, region: region)
            let x = randomTensor([2, 7, 5, width], seed: 11)
            let reference = ReferenceKernels.lrn(x, a)
            expectClose(Kernels.lrn(x, a), reference, "\(region) \(size) beta \(beta) width \(width)")
            expectClose(Kernels.lrn(x, a, vectorUnit: false), reference, "scalar \(region) \(size) beta \(beta) width \(width)")
        }
    }

    @Test func poolingSizesFollowCaffe() throws {
        // 3x3 stride-2 pooling of 32x32 is 16x16 in Caffe (ceil), 15x15 with floor rounding.
        let ceil = PoolingAttributes(method: .max, kernel: Size2(square: 3), stride: Size2(square: 2))
        var floor = ceil
        floor.ceilMode = false
        let shape: Shape = [1, 1, 32, 32]
        #expect(try ShapeInference.outputShapes(of: Node(name: "p", op: .pooling(ceil), inputs: ["x"], outputs: ["y"]), inputs: [shape])[0] == [1, 1, 16, 16])
        #expect(try ShapeInference.outputShapes(of: Node(name: "p", op: .pooling(floor), inputs: ["x"], outputs: ["y"]), inputs: [shape])[0] == [1, 1, 15, 15])
    }

    @Test func elementwiseKernels() {
        var relu = Tensor(shape: [4], data: [-2, -0.5, 0, 3])
        Kernels.relu(&relu, negativeSlope: 0.1)
        #expect(relu.data == [-0.2, -0.05, 0, 3])
        let softmax = Kernels.softmax(Tensor(shape: [1, 3], data: [1, 2, 3]), axis: 1)
        let e = [1, 2, 3].map { Foundation.exp(Float($0) - 3) }
        #expect(zip(softmax.data, e.map { $0 / e.reduce(0, +) }).allSatisfy { abs($0 - $1) < 1e-6 })
        let a = Tensor(shape: [3], data: [1, -2, 3]), b = Tensor(shape: [3], data: [4, 5, -6])
        #expect(Kernels.eltwise([a, b], EltwiseAttributes(operation: .sum, coefficients: [1, -1])).data == [-3, -7, 9])
        let c = Tensor(shape: [3], data: [8, 0, 2])
        #expect(Kernels.eltwise([a, b, c], EltwiseAttributes(operation: .sum, coefficients: [2, 1, -0.5])).data == [2, 1, -1])
        #expect(Kernels.eltwise([a], EltwiseAttributes(operation: .sum, coefficients: [3])).data == [3, -6, 9])
        #expect(Kernels.eltwise([a, b], EltwiseAttributes(operation: .product)).data == [4, -10, -18])
        #expect(Kernels.eltwise([a, b], EltwiseAttributes(operation: .max)).data == [4, 5, 3])
        let concat = Kernels.concat([Tensor(shape: [2, 1], data: [1, 2]), Tensor(shape: [2, 2], data: [3, 4, 5, 6])], axis: 1, outputShape: [2, 3])
        #expect(concat.data == [1, 3, 4, 2, 5, 6])
    }

    @Test func batchNormDividesByTheStoredFactor() {
        var x = Tensor(shape: [1, 2, 1, 1], data: [3, 5])
        Kernels.batchNorm(&x, BatchNormAttributes(eps: 0), mean: Tensor(shape: [2], data: [2, 4]),
                          variance: Tensor(shape: [2], data: [8, 32]), factor: Tensor(shape: [1], data: [2]))
        // mean = blob/2 = (1, 2); variance = blob/2 = (4, 16) → ((3-1)/2, (5-2)/4)
        #expect(x.data == [1, 0.75])
        var y = Tensor(shape: [1, 2, 1, 2], data: [1, 2, 3, 4])
        Kernels.scale(&y, ScaleAttributes(biasTerm: true), scale: Tensor(shape: [2], data: [2, -1]), bias: Tensor(shape: [2], data: [1, 0]))
        #expect(y.data == [3, 5, -3, -4])
    }
}
