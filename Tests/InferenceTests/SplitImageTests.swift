import Foundation
import Synchronization
import TensorGraph
import TestSupport
import Testing
@testable import Inference

/// One image alone is split across the cores layer by layer (output positions, channel tiles,
/// output panels, planes); the shares must add up to the whole image's bits.
@Suite struct SplitImageTests {
    /// conv 5x5 (direct, padded) with a fused ReLU → MAX pool → conv 3x3 wide enough for Winograd
    /// → ReLU → AVE pool → inner product of three output panels → ReLU → inner product.
    static func graph() -> Graph {
        let nodes = [
            Node(name: "conv1", op: .convolution(ConvolutionAttributes(numOutput: 20, kernel: Size2(square: 5), pad: Size2(square: 2))),
                 inputs: ["data"], outputs: ["conv1"], parameters: [randomTensor([20, 3, 5, 5], seed: 61), randomTensor([20], seed: 62)]),
            Node(name: "relu1", op: .relu(ReLUAttributes(negativeSlope: 0)), inputs: ["conv1"], outputs: ["conv1"]),
            Node(name: "pool1", op: .pooling(PoolingAttributes(method: .max, kernel: Size2(square: 3), stride: Size2(square: 2))),
                 inputs: ["conv1"], outputs: ["pool1"]),
            Node(name: "conv2", op: .convolution(ConvolutionAttributes(numOutput: 40, kernel: Size2(square: 3), pad: Size2(square: 1))),
                 inputs: ["pool1"], outputs: ["conv2"], parameters: [randomTensor([40, 20, 3, 3], seed: 63), randomTensor([40], seed: 64)]),
            Node(name: "relu2", op: .relu(ReLUAttributes(negativeSlope: 0)), inputs: ["conv2"], outputs: ["conv2"]),
            Node(name: "pool2", op: .pooling(PoolingAttributes(method: .average, kernel: Size2(square: 3), stride: Size2(square: 2))),
                 inputs: ["conv2"], outputs: ["pool2"]),
            Node(name: "ip1", op: .innerProduct(InnerProductAttributes(numOutput: 40)), inputs: ["pool2"], outputs: ["ip1"],
                 parameters: [randomTensor([40, 40 * 8 * 8], seed: 65), randomTensor([40], seed: 66)]),
            Node(name: "relu3", op: .relu(ReLUAttributes(negativeSlope: 0)), inputs: ["ip1"], outputs: ["ip1"]),
            Node(name: "ip2", op: .innerProduct(InnerProductAttributes(numOutput: 10)), inputs: ["ip1"], outputs: ["ip2"],
                 parameters: [randomTensor([10, 40], seed: 67), randomTensor([10], seed: 68)]),
        ]
        return Graph(name: "split", inputs: [GraphInput(name: "data", shape: [1, 3, 32, 32])], nodes: nodes, output: "ip2")
    }

    @Test(arguments: [ConvolutionMethod.winograd, .direct])
    func oneImageSplitAcrossTheCoresHasTheBitsOfTheWholeImage(_ method: ConvolutionMethod) throws {
        let network = try Network(graph: Self.graph(), options: EngineOptions(convolution: method, imageSplit: .always))
        let images = 3
        let batch = randomTensor([images, 3, 32, 32], seed: 69)
        // Each image whole on one thread: the reference.
        let whole = try Parallel.runSerially { try network.forward(batch) }
        let size = batch.count / images
        func alone(_ image: Int) -> Tensor { Tensor(shape: [1, 3, 32, 32], data: Array(batch.data[(image * size)..<((image + 1) * size)])) }
        for image in 0..<images {
            let scores = try network.forward(alone(image))
            let expected = Array(whole.data[(image * 10)..<((image + 1) * 10)])
            #expect(scores.data.map(\.bitPattern) == expected.map(\.bitPattern), "\(method), image \(image)")
        }
        guard Parallel.workers > 1, network.options.vectorKernels else { return }
        // On a team of its own (the shared one may be held by other suites' batches, and the
        // layers then run on one core): every layer kind above splits one image.
        let team = WorkerTeam(helpers: Parallel.workers - 1)
        let before = Parallel.splitsOnThisThread
        let scores = try Parallel.withTeam(team) { try network.forward(alone(0)) }
        #expect(scores.data.map(\.bitPattern) == Array(whole.data[0..<10]).map(\.bitPattern))
        #expect(Parallel.splitsOnThisThread - before >= 5, "the layers of one image were split across the cores")
    }

    @Test func oneCoreOnlyIsKeptToAndGivesTheSameBits() throws {
        guard Parallel.workers > 1 else { return }
        let image = randomTensor([1, 3, 32, 32], seed: 70)
        let split = try Network(graph: Self.graph(), options: EngineOptions(imageSplit: .always))
        let alone = try Network(graph: Self.graph(), options: EngineOptions(imageSplit: .never))
        let team = WorkerTeam(helpers: Parallel.workers - 1)
        let expected = try Parallel.withTeam(team) { try split.forward(image) }
        let before = Parallel.splitsOnThisThread
        let scores = try Parallel.withTeam(team) { try alone.forward(image) }
        #expect(Parallel.splitsOnThisThread == before, "never: no layer split")
        #expect(scores.data.map(\.bitPattern) == expected.data.map(\.bitPattern))
    }

    /// After an untimed pass each way, trials alternate between the two ways; the one with the
    /// lower mean wins until the next round of trials.
    @Test func theChoiceTriesBothWaysThenKeepsTheFaster() {
        let choice = SplitChoice(trialsPerWay: 3, period: 12)
        #expect(choice.period == 12)
        // A split whose quickest trial beats one core's but whose mean does not, then the reverse.
        func round(split: [Double], alone: [Double]) -> [Bool] {
            var times = (split, alone)
            return (0..<12).map { _ in
                let (splits, trial) = choice.next()
                if trial {
                    let seconds = splits ? times.0.removeFirst() : times.1.removeFirst()
                    choice.record(splits: splits, seconds: seconds)
                }
                return splits
            }
        }
        let trials = [true, false, true, false, true, false, true, false]
        let first = round(split: [1, 5, 5], alone: [2, 2, 2])
        #expect(first == trials + Array(repeating: false, count: 4), "one core's mean is lower")
        #expect(!choice.splits)
        let second = round(split: [1, 1, 3], alone: [2, 2, 2])
        #expect(second == trials + Array(repeating: true, count: 4), "the next round finds the split faster")
    }

    /// A thread's scratch memory is kept for its next kernel call, grows when asked for more, and
    /// a nested call gets memory of its own.
    @Test func scratchMemoryIsReusedAndNeverShared() {
        let first = Parallel.withScratch(100) { outer in
            outer[99] = 1
            let inner = Parallel.withScratch(100) { inner in
                #expect(inner != outer)
                inner[99] = 2
                return inner
            }
            #expect(outer[99] == 1, "the nested call wrote elsewhere")
            return (outer, inner)
        }
        let again = Parallel.withScratch(50) { $0 }
        #expect(again == first.0)
        Parallel.withScratch(1 << 20) { $0[(1 << 20) - 1] = 3 }
    }

    @Test func theTeamRunsEveryPartOnceAndNestedSplitsRunInPlace() {
        let team = WorkerTeam(helpers: 1)
        let counts = Mutex([0, 0])
        for _ in 0..<1000 {
            let ran = team.run(parts: 2) { part in
                counts.withLock { $0[part] += 1 }
                // The team is taken: a nested job is refused and its caller runs it alone.
                #expect(!team.run(parts: 2) { _ in })
            }
            #expect(ran)
        }
        #expect(counts.withLock { $0 } == [1000, 1000])
    }

    @Test func twoCallersAtOnceBothFinish() async {
        let team = WorkerTeam(helpers: 1)
        let sums = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    let total = Mutex(0)
                    for _ in 0..<500 {
                        let body = { (part: Int) in total.withLock { $0 += part + 1 } }
                        if !team.run(parts: 2, body) { for part in 0..<2 { body(part) } }
                    }
                    return total.withLock { $0 }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        // Each round adds 1 + 2, on the team or alone.
        #expect(sums == [1500, 1500])
    }
}
