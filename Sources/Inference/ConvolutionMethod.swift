import Foundation

/// How the engine computes convolutions.
public enum ConvolutionMethod: String, Sendable, CaseIterable {
    /// Winograd's F(4x4, 3x3) or F(4x4, 5x5) for stride-1 3x3 and 5x5 kernels where it saves work,
    /// `direct` for every other convolution.
    case winograd
    /// The register kernels of `SIMDKernels`: no column matrix.
    case direct
    /// im2col + OpenBLAS `sgemm`, Caffe's own method; runs anywhere.
    case gemm

    /// `winograd` where this CPU runs the register kernels, `gemm` elsewhere.
    public static var preferred: ConvolutionMethod { VectorUnit.available ? .winograd : .gemm }
}

/// How a network runs, passed as a value to each ``Network`` (never process-wide state).
public struct EngineOptions: Sendable, Equatable {
    /// How convolutions are computed; `winograd` and `direct` become `gemm` where the CPU lacks
    /// the register kernels.
    public var convolution: ConvolutionMethod {
        didSet { if convolution != .gemm, !vectorKernels { convolution = .gemm } }
    }
    /// OpenBLAS threads per GEMM call. The engine spreads batches over the cores itself, so one
    /// thread per call is the default.
    public var blasThreads: Int
    /// Whether the vector kernels run (convolution, inner product, pooling, LRN) where the CPU has
    /// them; false runs the portable kernels everywhere, as on a CPU without AVX2 and FMA.
    public var vectorKernels: Bool {
        didSet {
            if !VectorUnit.available { vectorKernels = false }
            if !vectorKernels { convolution = .gemm }
        }
    }

    /// How a pass with fewer images than cores (one image at a time) uses them.
    public var imageSplit: ImageSplit

    /// - Parameters:
    ///   - convolution: how convolutions are computed.
    ///   - blasThreads: OpenBLAS threads per GEMM call.
    ///   - vectorKernels: false runs the portable kernels (and `gemm` convolutions) even where the
    ///     CPU has the vector unit.
    ///   - imageSplit: how a pass with fewer images than cores uses them.
    public init(convolution: ConvolutionMethod = .preferred, blasThreads: Int = 1, vectorKernels: Bool = true,
                imageSplit: ImageSplit = .measured) {
        self.imageSplit = imageSplit
        self.vectorKernels = vectorKernels && VectorUnit.available
        self.convolution = convolution != .gemm && !self.vectorKernels ? .gemm : convolution
        self.blasThreads = max(1, blasThreads)
    }

    /// The preferred convolution method and single-threaded BLAS calls.
    public static let `default` = EngineOptions()
}

/// How a pass with fewer images than cores (batch 1 on two cores) uses them.
public enum ImageSplit: String, Sendable, CaseIterable {
    /// Whichever of `always` and `never` measured faster on the network's recent passes
    /// (`SplitChoice`): splitting pays only when the cores hand work over quickly.
    case measured
    /// Each layer split across the cores (output positions, channel tiles, panels or planes).
    case always
    /// The calling thread alone.
    case never
}
