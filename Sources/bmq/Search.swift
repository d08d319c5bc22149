import ArgumentParser
import BMQKit
import Datasets
import Foundation
import Quantization
import TensorGraph

struct Search: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find the best bit pattern for every layer on calibration data; test the result separately.",
        discussion: """
            Candidates for each layer are every pattern of K stored bits the label notation writes \
            within --max-width total bits, binary-point shifts included, each distinct value set once, \
            limited to those whose top bit reaches the layer's weights. The objective is how closely \
            the quantized model's class probabilities follow the float model's on the calibration \
            images (mean KL divergence; top-1 agreement and accuracy are reported beside it). The test \
            set (--data) is only used for the final table, never to choose.

            Strategy beam: a sensitivity scan (each candidate with the other layers in float; the \
            --shortlist best by the layer's own output error are scored through the network), a beam \
            search over the layers in order, then coordinate-descent sweeps. Strategy exhaustive: \
            every combination of the shortlists. Activations before a changed layer are cached.

            With --compensate, each weight still takes a value of its pattern, but which neighbour \
            it rounds to is chosen on the calibration images so the network's output stays close to \
            the float model's (biases adjusted too); --save-weights keeps those weights. Learned \
            rounding (the default method) trains for a few minutes; it is what makes 2 bits usable.

            Examples (N = lenet_train_test.prototxt, W = lenet_iter_10000.caffemodel):
              bmq search --net N --weights W --bits 3 \\
                --calibration train-images-idx3-ubyte \\
                --data t10k-images-idx3-ubyte -o plan.json
              bmq search ... --layers conv --bits 4 --report report
              bmq search ... --bits 3,ip1=2
              bmq search ... --average-bits 2.5
              bmq search ... --budget adders=150k
              bmq search ... --compensate --save-weights q.caffemodel
              bmq search ... --compensate gptq
            """)

    @OptionGroup var model: ModelOptions

    @Option(help: ArgumentHelp("Images the search chooses on (a training set, never the test set): MNIST, CIFAR, an LMDB or LevelDB folder or an image list. Default: the prototxt's TRAIN data source, from the working directory.", valueName: "path"))
    var calibration: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Use N calibration images: the first N, or N drawn with --calibration-seed.", valueName: "N"))
    var calibrationLimit: Int = 5000

    @Option(help: ArgumentHelp("Override content detection of the calibration data: mnist, cifar10, cifar100, lmdb, leveldb or image-list.", valueName: "format"))
    var calibrationFormat: DatasetFormat?

    @Option(help: ArgumentHelp("Draw the --calibration-limit images at random from the whole calibration set with this seed, instead of taking the first ones (repeat with other seeds to see how much the choice depends on them).", valueName: "seed"))
    var calibrationSeed: UInt64?

    @Option(help: ArgumentHelp("Test set for the final table only. Default: the prototxt's TEST data source when it is on this machine, else none.", valueName: "path"))
    var data: String?

    @Option(help: ArgumentHelp("Override content detection of the test data.", valueName: "format"))
    var dataFormat: DatasetFormat?

    @Option(parsing: .unconditional, help: "Use only the first N test images.")
    var limit: Int?

    @Option(help: ArgumentHelp("Stored bits per weight, sign included: K for every selected layer, LAYER=K per layer, or both (3,ip1=2).", valueName: "bits"))
    var bits: String?

    @Option(help: ArgumentHelp("""
        Instead of --bits: a budget of stored bits per weight averaged over the selected layers' weights \
        (2.5, 3). Each layer may take from one below to one above it; the search spends the bits where they help most.
        """, valueName: "B"))
    var averageBits: Double?

    @Option(help: ArgumentHelp("""
        Instead of --bits: a hardware budget for the selected layers' weights together. bits=N: N stored bits \
        in all, signs included (weight memory). adders=N: N shift-add terms in all, each weight counting its \
        pattern's stored magnitude bits (a multiplier-free datapath with every product in parallel). \
        N may end in k or M (adders=150k). Searched like --average-bits at the average it comes to.
        """, valueName: "kind=N"))
    var budget: String?

    @Option(help: ArgumentHelp("""
        Also choose the integer datapath's activation formats (formats/datapath/SPEC.md) with this many bits \
        (8, 6, 4; LAYER=B per layer, e.g. 8,conv1=6) on the calibration images, record them in the plan (version 2) \
        and test the integer network.
        """, valueName: "bits"))
    var activationBits: String?

    @Option(help: ArgumentHelp("""
        float: minimise the float-activation network's divergence from the float model. integer: then refine the choice \
        on the integer datapath itself (coordinate descent over each layer's shortlist, activation formats fixed; \
        needs --activation-bits and every weight layer searched).
        """, valueName: "kind"))
    var objective: Datapath = .float

    @Option(help: ArgumentHelp("Layers a plain K applies to: conv, fc, all (default), or a comma list of names.", valueName: "layers"))
    var layers: String = "all"

    @Option(help: ArgumentHelp("Candidates: masks (every bit mask, default), pow2 (top bits masked in order only), float-scale (baselines).", valueName: "family"))
    var family: CandidateFamily = .masks

    @Option(help: "Largest total pattern width n a candidate label may use.")
    var maxWidth: Int = 10

    @Option(help: ArgumentHelp("beam (scan, beam search, coordinate descent) or exhaustive.", valueName: "strategy"))
    var strategy: SearchStrategy = .beam

    @Option(help: "Candidates per layer scored through the network (the best by output error).")
    var shortlist: Int = 8

    @Option(help: "States kept per layer in the beam search.")
    var beamWidth: Int = 3

    @Option(help: ArgumentHelp("How weights map onto a pattern: nearest (default) or mask-after (the thesis literally).", valueName: "mode"))
    var rounding: RoundingMode = .nearest

    @Option(help: "Images per forward pass.")
    var batchSize: Int = 100

    @Flag(help: "Skip the comparison rows (plain k-bit, power-of-two only, float-scale baselines).")
    var noCompare = false

    @Option(help: ArgumentHelp("""
        Round with calibration data: each weight still takes a value of its pattern; only which neighbour changes. \
        adaround (a bare --compensate): learned rounding. Starting from reconstruct, every weight chooses between \
        two neighbouring values by gradient descent on the whole network's divergence from the float model over \
        the calibration images (AdaRound's relaxation, trained end to end for --learning-steps), the biases \
        trained with it; kept only if it scores better. reconstruct: layer after layer, the rounding and the bias \
        that keep each layer's output closest to the float model's, from the inputs the already quantized layers \
        give (GPTQ's pass refined by coordinate descent). gptq: each layer alone on the float model's inputs \
        (always with --objective integer). The search scores candidates with gptq weights; the final table and \
        --save-weights use the method's. The plan records the method, but only --save-weights keeps the weights.
        """, valueName: "method"))
    var compensate: CompensationMethod?

    @Option(help: ArgumentHelp("Training steps of --compensate adaround, one calibration batch each.", valueName: "N"))
    var learningSteps = SearchRequest.defaultLearningSteps

    @Option(help: ArgumentHelp("Calibration images whose layer inputs drive --compensate's per-layer statistics (default 256 for gptq, 1024 otherwise).", valueName: "N"))
    var compensationImages: Int?

    @Option(help: ArgumentHelp("Write the model with the chosen quantized weights: .caffemodel, .caffemodel.h5 or packed .bmq.", valueName: "file"))
    var saveWeights: String?

    @Option(name: .shortAndLong, help: ArgumentHelp("Write the chosen plan here (JSON, the format eval/quantize/convert take).", valueName: "plan.json"))
    var output: String?

    @Option(help: ArgumentHelp("Write an HTML report with SVG plots into this folder (index.html).", valueName: "dir"))
    var report: String?

    @Flag(help: "Print the whole report as JSON instead of text.")
    var json = false

    @Option(help: ArgumentHelp("""
        Instead of one search: the accuracy-versus-bits curve. Searches at 2, 3 and 4 bits (with the power-of-two \
        and float-scale baselines at each) and under average budgets 2.25 to 3.75, and writes pareto.csv and \
        pareto.svg into this folder: accuracy against stored bits per weight, and against shift-add terms (adders) \
        per weight, the stored bits but the sign. Takes about nine searches' time.
        """, valueName: "dir"))
    var pareto: String?

    func validate() throws {
        if calibrationLimit <= 0 { throw ValidationError("--calibration-limit must be positive") }
        if let limit, limit <= 0 { throw ValidationError("--limit must be positive") }
        if shortlist <= 0 { throw ValidationError("--shortlist must be positive") }
        if beamWidth <= 0 { throw ValidationError("--beam-width must be positive") }
        if let compensationImages, compensationImages <= 0 { throw ValidationError("--compensation-images must be positive") }
        if pareto != nil {
            guard bits == nil, averageBits == nil, budget == nil else {
                throw ValidationError("--pareto sweeps the widths itself: leave out --bits, --average-bits and --budget")
            }
            guard output == nil, saveWeights == nil, report == nil else {
                throw ValidationError("--pareto writes its curve only: leave out -o, --save-weights and --report")
            }
            return
        }
        switch [bits != nil, averageBits != nil, budget != nil].filter({ $0 }).count {
        case 0: throw ValidationError("give --bits K (or LAYER=K), --average-bits B or --budget bits=N|adders=N")
        case 1: break
        default: throw ValidationError("give one of --bits, --average-bits and --budget")
        }
    }

    func run() throws {
        let request = try commandLineRequest { try SearchRequest(
            model: try model.source, calibration: calibration.map { URL(fileURLWithPath: $0) }, calibrationFormat: calibrationFormat,
            calibrationLimit: calibrationLimit, calibrationSeed: calibrationSeed, test: data.map { URL(fileURLWithPath: $0) }, testFormat: dataFormat, testLimit: limit,
            bits: try bits.map { text in
                do { return try BitWidths(parsing: text) } catch let error as PlanError { throw CommandLineMistake(message: "--bits: \(error.message)") }
            } ?? BitWidths(all: max(2, Int((averageBits ?? 2).rounded(.down)))), layers: LayerSelection(parsing: layers), family: family, maxWidth: maxWidth,
            rounding: rounding, options: SearchOptions(strategy: strategy, shortlist: shortlist, beamWidth: beamWidth),
            batchSize: batchSize, compare: !noCompare, compensationImages: compensate.map { compensationImages ?? ($0 == .gptq ? 256 : 1024) } ?? 0,
            compensation: compensate ?? .best, learningSteps: learningSteps, averageBits: averageBits,
            budget: try budget.map { text in
                do { return try WeightBudget(parsing: text) } catch let error as PlanError { throw CommandLineMistake(message: "--budget: \(error.message)") }
            },
            activationBits: try activationBits.map(ActivationWidths.init(parsing:)), objective: objective) }
        if let pareto { return try runPareto(request, folder: URL(fileURLWithPath: pareto, isDirectory: true)) }
        // Refuse an output name of no known format, or a place that cannot be written, before the search runs, not after.
        if let saveWeights { _ = try FormatRegistry.writer(for: URL(fileURLWithPath: saveWeights)) }
        for path in [output, saveWeights].compactMap({ $0 }) { try FileIO.checkWritable(URL(fileURLWithPath: path)) }
        if let report { try FileIO.checkCreatableFolder(URL(fileURLWithPath: report, isDirectory: true)) }
        let progress = PhaseProgress(enabled: !json)
        let result = try SearchPipeline.run(request, progress: progress.update)
        progress.finish()
        if let output { try result.plan.write(to: URL(fileURLWithPath: output)) }
        if let saveWeights { try SearchPipeline.saveWeights(result, to: URL(fileURLWithPath: saveWeights)) }
        if result.compensated && saveWeights == nil && output != nil {
            Terminal.warn("the plan alone does not reproduce error-compensated weights; add --save-weights to keep them")
        }
        if let report { try SearchReportPage.write(result, to: URL(fileURLWithPath: report, isDirectory: true)) }
        if json {
            try Terminal.printJSON(result)
            return
        }
        for line in SearchReportText.lines(result) { print(line) }
        if let output { print("plan written to \(output)") }
        if let saveWeights { print("quantized weights written to \(saveWeights)") }
        if let report { print("report: \(URL(fileURLWithPath: report).appendingPathComponent("index.html").path)") }
    }
}

extension Search {
    /// The sweep behind --pareto: its table, and the CSV and SVG in `folder`.
    func runPareto(_ request: SearchRequest, folder: URL) throws {
        try FileIO.checkCreatableFolder(folder)
        let progress = PhaseProgress(enabled: !json)
        let sweep = try ParetoSweep.run(request) { phase, done, total in progress.update("pareto: \(phase)", done, total) }
        progress.finish()
        try FileIO.createFolder(folder)
        try FileIO.writeAtomically(Data(sweep.csv.utf8), to: folder.appendingPathComponent("pareto.csv"))
        let name = URL(fileURLWithPath: model.weights ?? model.packedModel ?? "model").lastPathComponent
        try FileIO.writeAtomically(Data(sweep.svg(title: "\(name): accuracy against stored bits per weight").utf8),
                                   to: folder.appendingPathComponent("pareto.svg"))
        if json {
            try Terminal.printJSON(sweep)
            return
        }
        print("series          bits   calib acc  test acc   search s")
        for point in [sweep.float] + sweep.points {
            let test = point.testAccuracy.map { String(format: "%.4f", $0) } ?? "-"
            print(point.series.padding(toLength: 15, withPad: " ", startingAt: 0)
                  + String(format: " %5.2f  %.4f     ", point.averageBits, point.calibration.accuracy)
                  + test.padding(toLength: 9, withPad: " ", startingAt: 0) + (point.searchSeconds.map { String(format: "  %.1f", $0) } ?? "  -"))
        }
        print("curve: \(folder.appendingPathComponent("pareto.svg").path) and pareto.csv")
    }
}

extension CandidateFamily: ExpressibleByArgument {}
extension CompensationMethod: ExpressibleByArgument {}
extension SearchStrategy: ExpressibleByArgument {}

/// A progress line whose label follows the search's phases; quiet lines in a pipe.
final class PhaseProgress: @unchecked Sendable {
    let enabled: Bool
    private var line: ProgressLine?
    private var phase = ""
    private let lock = NSLock()

    init(enabled: Bool) { self.enabled = enabled }

    func update(_ phase: String, _ done: Int, _ total: Int) {
        lock.lock()
        defer { lock.unlock() }
        guard enabled else { return }
        if phase != self.phase {
            line?.finish()
            if !Terminal.stderrIsTerminal { FileHandle.standardError.write(Data("\(phase)\n".utf8)) }
            line = ProgressLine(label: phase)
            self.phase = phase
        }
        line?.update(done, total)
    }

    func finish() {
        lock.lock()
        defer { lock.unlock() }
        line?.finish()
    }
}
