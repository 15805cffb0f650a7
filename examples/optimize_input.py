"""Gradient descent on an input image, as in neural style transfer: gradients with respect to a placeholder.

A fixed random two-layer convolutional feature extractor describes images by the Gram matrices of its feature maps
(their "style"). Starting from noise, the image is moved down the gradient of the Gram-matrix loss toward the style
of a target texture (diagonal stripes), plus a small feature ("content") loss toward a second image.
"""

import argparse

import numpy as np

import symgraph as sg
from common import HelpFormatter


def stripes(size: int) -> np.ndarray:
    rows, cols = np.mgrid[0:size, 0:size]
    return (0.5 + 0.5 * np.sin((rows + cols) * 0.8)).astype(np.float32)


def gram(features):
    """Channel-by-channel correlations of (1, C, H, W) features, normalised by the number of positions."""
    channels, positions = features.shape[1], features.shape[2] * features.shape[3]
    flat = sg.reshape(features, (channels, positions))
    return flat @ sg.transpose(flat) / positions


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--size", type=int, default=24, help="image side in pixels")
    parser.add_argument("--steps", type=int, default=200, help="gradient steps on the image")
    parser.add_argument("--lr", type=float, default=5e-4, help="mean pixel change per step")
    parser.add_argument("--content-weight", type=float, default=0.01, help="weight of the feature (content) loss")
    parser.add_argument("--seed", type=int, default=0, help="seed of the filters and the starting noise")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)

    image = sg.placeholder((1, 1, args.size, args.size), name="image")
    filters1 = sg.constant(rng.standard_normal((8, 1, 3, 3)).astype(np.float32) * 0.5, name="filters1")
    filters2 = sg.constant(rng.standard_normal((8, 8, 3, 3)).astype(np.float32) * 0.2, name="filters2")

    def features(x):
        first = sg.relu(sg.nn.conv2d(x, filters1, padding="same"))
        return first, sg.relu(sg.nn.conv2d(first, filters2, padding="same"))

    style_image = stripes(args.size)[None, None]
    content_image = np.full_like(style_image, 0.5)
    extract = sg.function([image], [gram(f) for f in features(image)] + [features(image)[1]])
    style_targets = [sg.constant(g) for g in extract(style_image)[:2]]
    content_target = sg.constant(extract(content_image)[2])

    first, second = features(image)
    style_loss = sum(sg.sum(sg.square(gram(f) - t)) for f, t in zip((first, second), style_targets))
    content_loss = sg.mean(sg.square(second - content_target))
    loss = style_loss + args.content_weight * content_loss
    step_direction = sg.grad(loss, image)  # a gradient graph with respect to the placeholder
    loss_and_gradient = sg.function([image], [loss, step_direction])

    value = rng.uniform(0, 1, style_image.shape).astype(np.float32)
    first_loss = None
    for k in range(args.steps + 1):
        current, gradient = loss_and_gradient(value)
        first_loss = float(current) if first_loss is None else first_loss
        if k % max(args.steps // 5, 1) == 0:
            print(f"step {k:4d}  loss {float(current):.5f}")
        if k < args.steps:
            value = value - args.lr * gradient / (np.abs(gradient).mean() + 1e-12)  # normalized gradient step
    print(f"loss fell from {first_loss:.5f} to {float(current):.5f}")
    return first_loss, float(current)


if __name__ == "__main__":
    main()
