/// Errors raised while building, checking or attaching weights to a tensor graph.
public enum GraphError: Error, Equatable, CustomStringConvertible {
    /// A shape computation overflowed or produced a non-positive dimension.
    case invalidShape(layer: String, reason: String)
    /// A layer's parameter blob does not have the shape the layer needs.
    case parameterShapeMismatch(layer: String, blob: String, found: Shape, expected: Shape)
    /// A layer needs parameters that the weights source does not provide.
    case missingParameters(layer: String, reason: String)
    /// A layer reads a value that no earlier layer or input produces.
    case undefinedValue(layer: String, value: String)
    /// Attribute values that cannot be executed.
    case invalidAttribute(layer: String, reason: String)
    /// The graph has no layers, inputs or output.
    case emptyGraph(reason: String)

    /// The layer at fault, when the error names one.
    public var layer: String? {
        switch self {
        case let .invalidShape(layer, _), let .parameterShapeMismatch(layer, _, _, _), let .missingParameters(layer, _),
             let .undefinedValue(layer, _), let .invalidAttribute(layer, _):
            return layer
        case .emptyGraph:
            return nil
        }
    }

    public var description: String {
        switch self {
        case let .invalidShape(layer, reason):
            return "layer '\(layer)': invalid shape: \(reason)"
        case let .parameterShapeMismatch(layer, blob, found, expected):
            return "layer '\(layer)': \(blob) has shape \(found), the net needs \(expected)"
        case let .missingParameters(layer, reason):
            return "layer '\(layer)': \(reason)"
        case let .undefinedValue(layer, value):
            return "layer '\(layer)' reads '\(value)', which no earlier layer or input produces"
        case let .invalidAttribute(layer, reason):
            return "layer '\(layer)': \(reason)"
        case let .emptyGraph(reason):
            return reason
        }
    }
}
