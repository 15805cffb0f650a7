"""Plain-Python shape rules of the softmax-family ops and the losses, for generated modules' plans."""


def labels_shape(what, logits, labels):
    """The plan's rule for integer labels (...) of logits (..., classes): one label per row of logits."""
    if tuple(labels) != tuple(logits[:-1]):
        raise ValueError(f"{what}: labels of shape {tuple(labels)} do not match logits of shape {tuple(logits)} at "
                         f"run time (expected {tuple(logits[:-1])})")
    return tuple(labels)


def targets_shape(what, logits, targets):
    """The plan's rule for probability targets: the logits' shape; the result drops the class axis."""
    if tuple(targets) != tuple(logits):
        raise ValueError(f"{what}: targets of shape {tuple(targets)} do not match logits of shape {tuple(logits)} "
                         "at run time")
    return tuple(logits[:-1])


def paired_shape(what, loss, predictions_name, predictions, targets):
    """The plan's rule for a loss's targets: the predictions' shape exactly (broadcasting would silently give a
    larger loss)."""
    if tuple(targets) == tuple(predictions):
        return tuple(targets)
    hint = ""
    if all(p == t or p == 1 or t == 1 for p, t in zip(predictions, targets)):
        hint = f"; broadcasting would silently give {tuple(max(p, t) for p, t in zip(predictions, targets))}"
    raise ValueError(f"{what}: {loss}: {predictions_name} of shape {tuple(predictions)} and targets of shape "
                     f"{tuple(targets)} must have the same shape at run time{hint}; reshape one of them")
