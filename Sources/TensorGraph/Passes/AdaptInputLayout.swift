extension Graph {
    /// The graph taking images shaped `imageShape` (C x H x W, as datasets hold them) when it
    /// declares the same images flattened (`[batch, C·H·W]`, or `[batch, C·H·W, 1]`) or channels
    /// last (`[batch, H, W, C]`): a new first node (Flatten, or Permute to channels last) turns
    /// the images into what the first layers read. Unchanged when the input already matches, or
    /// matches neither layout.
    public func adaptingInput(to imageShape: Shape) -> Graph {
        guard inputs.count == 1, imageShape.rank == 3 else { return self }
        let input = inputs[0]
        let declared = Array(input.shape.dims.dropFirst())
        let (c, h, w) = (imageShape[0], imageShape[1], imageShape[2])
        let op: Op
        if declared == imageShape.dims {
            return self
        } else if declared == [imageShape.count] || declared == [imageShape.count, 1] {
            op = .flatten(FlattenAttributes(axis: 1))
        } else if declared == [h, w, c] {
            op = .permute(PermuteAttributes(order: [0, 2, 3, 1]))
        } else {
            return self
        }
        var adapted = self
        let images = input.name + "/images"
        adapted.inputs = [GraphInput(name: images, shape: Shape([input.shape[0]] + imageShape.dims))]
        adapted.nodes.insert(Node(name: input.name + "/layout", op: op, inputs: [images], outputs: [input.name]), at: 0)
        return adapted
    }
}
