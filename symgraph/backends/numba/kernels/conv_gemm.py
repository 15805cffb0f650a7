"""Convolutions as the driver's Python stages run them: the data movement compiled by Numba (kernels/conv.py), the
products by BLAS (kernels/blas.py), a run of images at a time. Plain Python, copied into each generated module.

Deciding the layout here compiles only the kernels of the layout a call takes (one compiled function held both), and
the GEMMs compile nothing: Numba's np.dot inside the kernels was compiled for every operand layout, and the two took
most of the lecture CNN's cold start. A call from Python costs a microsecond or two, once per run of images.
"""

import numpy as np

from symgraph.backends.numba.kernels.blas import gemm_into
from symgraph.backends.numba.kernels.conv import (
    conv_channels_first_images, conv_col2im_images, conv_gradient_rows, conv_im2col_images, conv_im2col_rows_images,
)


def conv_same_padding_before(size, k, stride, dilation):
    """TF's "same" padding before the data: half the total, the odd row or column going after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (k - 1) + 1 - size, 0)
    return total // 2


def conv_rows_layout(channels, k_w, stride_w, dilation_w, out_w):
    """Whether the rows layout's runs (out_w values) are longer than the channels-last layout's."""
    return stride_w == 1 and channels * (k_w if dilation_w == 1 else 1) < out_w


def conv_images_per_gemm(pixels, n_images):
    """How many images one GEMM covers in the channels-last layout: enough for about 1024 output pixels, so that
    BLAS gets a matrix it can block and split between threads (one small GEMM per image cannot)."""
    return max(1, min(n_images, -(-1024 // max(pixels, 1))))


def conv_rows_images(depth, pixels, n_images):
    """How many images the rows layout's im2col buffer holds: about a million values (its products stay one GEMM per
    image)."""
    return max(1, min(n_images, (1 << 20) // max(depth * pixels, 1)))


def image_runs(n_images, chunk):
    """(first image, count) of each run of ``chunk`` images (the last one shorter)."""
    return [(first, min(chunk, n_images - first)) for first in range(0, n_images, chunk)]


def channels_last_buffers(x_shape, pixels, depth, dtype, zeroed):
    """The images per GEMM of the channels-last layout and its buffers: an HWC image of x and the run's columns
    (``zeroed`` where im2col gathers into them: it never writes the padding's entries)."""
    chunk = conv_images_per_gemm(pixels, x_shape[0])
    image = np.empty((x_shape[2], x_shape[3], x_shape[1]), dtype)
    cols = (np.zeros if zeroed else np.empty)((chunk * pixels, depth), dtype)
    return chunk, image, cols


def conv_filters(w, rows, dtype):
    """The (O, C kh kw) filter matrix of OIHW filters ``w`` in a layout's column order: OIHW's own for rows (a view),
    (O, kh, kw, C) for channels-last. NumPy's copies: filters are small, and a compiled kernel for them took 0.2-0.35
    s of the lecture CNN's cold start."""
    matrix = w.reshape((w.shape[0], -1)) if rows else w.transpose(0, 2, 3, 1).reshape((w.shape[0], -1))
    return np.ascontiguousarray(matrix, dtype)


def conv_filters_from_matrix(filters, out, rows):
    """out (OIHW) = the filter matrix of a layout: the inverse of conv_filters."""
    out_channels, channels, k_h, k_w = out.shape
    if rows:
        out[...] = filters.reshape(out.shape)
    else:
        out[...] = filters.reshape((out_channels, k_h, k_w, channels)).transpose(0, 3, 1, 2)


def conv2d_forward(x, w, out, stride_h, stride_w, top, left, dilation_h, dilation_w):
    """out[n] = filters (O, C kh kw) @ im2col(x[n]): in the rows layout one GEMM per image, written NCHW; channels-last
    one GEMM per run of images (conv_images_per_gemm), cols @ filters.T, then stored as NCHW: this orientation
    measured faster than writing NCHW directly for the CNN's second layer."""
    n_images, out_channels, out_h, out_w = out.shape
    channels, k_h, k_w = x.shape[1], w.shape[2], w.shape[3]
    depth, pixels = channels * k_h * k_w, out_h * out_w
    if out.size == 0 or depth == 0:
        out.fill(0)
        return
    rows = conv_rows_layout(channels, k_w, stride_w, dilation_w, out_w)
    filters = conv_filters(w, rows, out.dtype)
    if rows:
        chunk = conv_rows_images(depth, pixels, n_images)
        cols = np.zeros((chunk, depth, pixels), out.dtype)  # padding entries stay zero: no image writes them
        for first, count in image_runs(n_images, chunk):
            conv_im2col_rows_images(x, first, count, cols, out_w, k_h, k_w, stride_h, top, left, dilation_h,
                                    dilation_w, False)
            for b in range(count):
                gemm_into(filters, cols[b], out[first + b].reshape((out_channels, pixels)))
        return
    chunk, image, cols = channels_last_buffers(x.shape, pixels, depth, out.dtype, True)
    product = np.empty((chunk * pixels, out_channels), out.dtype)
    for first, count in image_runs(n_images, chunk):
        conv_im2col_images(x, first, count, image, cols, pixels, out_w, k_h, k_w, stride_h, stride_w, top, left,
                           dilation_h, dilation_w)
        gemm_into(cols[:count * pixels], filters.T, product[:count * pixels])
        conv_channels_first_images(product, out, first, count)


def conv2d_backprop_input(g, w, out, stride_h, stride_w, top, left, dilation_h, dilation_w):
    """out[n] = col2im(filters.T (C kh kw, O) @ g[n] (O, Ho Wo)): the transposed convolution (channels-last, one
    GEMM per run of images)."""
    n_images, channels = out.shape[0], out.shape[1]
    out_channels, out_h, out_w = g.shape[1], g.shape[2], g.shape[3]
    k_h, k_w = w.shape[2], w.shape[3]
    depth, pixels = channels * k_h * k_w, out_h * out_w
    out.fill(0)
    if out.size == 0 or pixels == 0 or out_channels == 0:
        return
    rows = conv_rows_layout(channels, k_w, stride_w, dilation_w, out_w)
    filters = conv_filters(w, rows, out.dtype)
    if rows:
        chunk = conv_rows_images(depth, pixels, n_images)
        cols = np.empty((chunk, depth, pixels), out.dtype)
        for first, count in image_runs(n_images, chunk):
            for b in range(count):
                gemm_into(filters.T, g[first + b].reshape((out_channels, pixels)), cols[b])
            conv_im2col_rows_images(out, first, count, cols, out_w, k_h, k_w, stride_h, top, left, dilation_h,
                                    dilation_w, True)
        return
    chunk, image, cols = channels_last_buffers(out.shape, pixels, depth, out.dtype, False)
    gradients = np.empty((chunk * pixels, out_channels), out.dtype)
    for first, count in image_runs(n_images, chunk):
        conv_gradient_rows(g, first, count, gradients)
        gemm_into(gradients[:count * pixels], filters, cols[:count * pixels])
        conv_col2im_images(cols, image, out, first, count, pixels, out_w, k_h, k_w, stride_h, stride_w, top, left,
                           dilation_h, dilation_w)


def conv2d_backprop_filter(x, g, out, stride_h, stride_w, top, left, dilation_h, dilation_w):
    """out = the sum over images n of g[n] (O, Ho Wo) @ im2col(x[n]).T, reordered to OIHW: each GEMM adds its
    product into the total (BLAS's beta = 1)."""
    out_channels, channels, k_h, k_w = out.shape
    n_images, out_h, out_w = x.shape[0], g.shape[2], g.shape[3]
    depth, pixels = channels * k_h * k_w, out_h * out_w
    rows = conv_rows_layout(channels, k_w, stride_w, dilation_w, out_w)
    total = np.zeros((out_channels, depth), out.dtype)
    if out.size and pixels and n_images:
        if rows:
            chunk = conv_rows_images(depth, pixels, n_images)
            cols = np.zeros((chunk, depth, pixels), out.dtype)
            for first, count in image_runs(n_images, chunk):
                conv_im2col_rows_images(x, first, count, cols, out_w, k_h, k_w, stride_h, top, left, dilation_h,
                                        dilation_w, False)
                for b in range(count):
                    gemm_into(g[first + b].reshape((out_channels, pixels)), cols[b].T, total, True)
        else:
            chunk, image, cols = channels_last_buffers(x.shape, pixels, depth, out.dtype, True)
            gradients = np.empty((chunk * pixels, out_channels), out.dtype)
            for first, count in image_runs(n_images, chunk):
                conv_im2col_images(x, first, count, image, cols, pixels, out_w, k_h, k_w, stride_h, stride_w, top,
                                   left, dilation_h, dilation_w)
                conv_gradient_rows(g, first, count, gradients)
                gemm_into(gradients[:count * pixels].T, cols[:count * pixels], total, True)
    conv_filters_from_matrix(total, out, rows)
