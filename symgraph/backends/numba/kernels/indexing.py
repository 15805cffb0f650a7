"""Indexing helpers for generated modules: one_hot."""


def one_hot_into(labels, out):
    """out[k, :] = one_hot(labels[k]) for flat labels and a (labels.size, depth) output; 1 if a label is out of
    range (the generated code then raises naming the node)."""
    depth = out.shape[1]
    for k in range(labels.size):
        label = labels[k]
        if label < 0 or label >= depth:
            return 1
        for j in range(depth):
            out[k, j] = 0
        out[k, label] = 1
    return 0
