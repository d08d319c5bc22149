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
        didSet { if convolution != .gemm, !VectorUnit.available { convolution = .gemm } }
    }
    /// OpenBLAS threads per GEMM call. The engine spreads batches over the cores itself, so one
    /// thread per call is the default.
    public var blasThreads: Int

    public init(convolution: ConvolutionMethod = .preferred, blasThreads: Int = 1) {
        self.convolution = convolution != .gemm && !VectorUnit.available ? .gemm : convolution
        self.blasThreads = max(1, blasThreads)
    }

    /// The preferred convolution method and single-threaded BLAS calls.
    public static let `default` = EngineOptions()
}
