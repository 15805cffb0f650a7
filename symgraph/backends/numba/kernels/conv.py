"""Convolution and pooling kernels for generated modules (NCHW data, OIHW filters); their shape rules are in
conv_shapes.py.

Convolutions are im2col + GEMM: these kernels move the data (im2col, col2im, layouts), and conv_gemm.py, plain
Python, calls them and the GEMMs (SciPy's BLAS) for a run of images at a time; pooling and its gradients are direct
loops over the windows. Kernels read only the in-bounds part of each window: padding is implicit (zeros for
convolutions and average pooling, -inf for max pooling).
"""

import numpy as np

# Inlined: small helpers, the conv layouts with a single caller each and the max-pooling planes (compiled on their
# own they cost the lecture CNN's cold start ~0.2 s each, and the inlined max pooling runs 5-20% faster there).
# conv_im2col has two callers and stays a function of its own.
INLINED = ("conv_valid_range", "conv_transfer", "max_pool2d_first_tap", "conv_im2col_rows", "conv_channels_last_image",
           "conv_channels_first_image", "max_pool2d_plane_route", "max_pool2d_plane")
# Called by the other kernels alone, never from Python (compiled without a CPython wrapper).
COMPILED_CALLERS_ONLY = ("conv_im2col",)

# -- convolutions (Numba) -------------------------------------------------------------------------------------------

def conv_valid_range(count, offset, stride, size):
    """The positions j in [0, count) whose input position j * stride + offset lies inside [0, size), as [lo, hi)."""
    lo = 0 if offset >= 0 else (stride - 1 - offset) // stride
    hi = 0 if size - offset <= 0 else min(count, (size - 1 - offset) // stride + 1)
    return min(lo, hi), hi


# im2col comes in two layouts, chosen per call for the longer contiguous runs (measured several times faster than
# element-wise copies): "rows" (C kh kw, Ho Wo), read straight from NCHW images in runs along the output width (few
# channels: the CNN's first layer), and channels-last (Ho Wo, kh kw C), from an HWC copy of the image in runs of
# kw * C values (many channels). The filters are laid out to match (conv_gemm.conv_filters): OIHW's own order for
# rows, (O, kh, kw, C) else.

def conv_channels_last_image(x, n, image):
    """image[h, w, c] = x[n, c, h, w]: one image channels-last (x may be read-only)."""
    channels, height, width = x.shape[1], x.shape[2], x.shape[3]
    for c in range(channels):
        for h in range(height):
            for w in range(width):
                image[h, w, c] = x[n, c, h, w]


def conv_channels_first_image(image, out, n):
    """out[n, c, h, w] = image[h, w, c]: the inverse of conv_channels_last_image."""
    height, width, channels = image.shape
    for c in range(channels):
        for h in range(height):
            for w in range(width):
                out[n, c, h, w] = image[h, w, c]


def conv_transfer(pixels, taps, scatter):
    """taps = pixels (gathering a window's run), or pixels += taps (scattering it back): 1-D runs of equal size."""
    if scatter:
        for t in range(taps.size):
            pixels[t] += taps[t]
    else:
        for t in range(taps.size):
            taps[t] = pixels[t]


def conv_im2col(image, cols, out_w, k_h, k_w, stride_h, stride_w, top, left, dilation_h, dilation_w, scatter):
    """Channels-last: cols[i * Wo + j, (p * kw + q) * C + c] = image[i * sh + p * dh - top, j * sw + q * dw - left,
    c] (an HWC image, Wo = ``out_w``); with ``scatter``, the adjoint: image += cols at those positions.

    Only positions inside the image are read or written: gathering leaves cols' padding entries untouched (they are
    the same for every image, so a zeroed ``cols`` stays zero there); scattering drops them."""
    height, width, channels = image.shape
    pixels = image.reshape((height, width * channels))
    run = k_w * channels
    for i in range(cols.shape[0] // out_w):
        row0 = i * stride_h - top
        p_lo, p_hi = conv_valid_range(k_h, row0, dilation_h, height)
        for j in range(out_w):
            col0 = j * stride_w - left
            q_lo, q_hi = conv_valid_range(k_w, col0, dilation_w, width)
            window = cols[i * out_w + j]
            for p in range(p_lo, p_hi):
                line = pixels[row0 + p * dilation_h]
                taps = window[p * run:(p + 1) * run]
                # a run of C values per tap; without dilation, one run for all of the row's taps
                length = channels if dilation_w > 1 else (q_hi - q_lo) * channels
                for q in range(q_lo, q_hi if dilation_w > 1 else min(q_hi, q_lo + 1)):
                    start = (col0 + q * dilation_w) * channels
                    conv_transfer(line[start:start + length], taps[q * channels:q * channels + length], scatter)


def conv_im2col_rows(x, n, cols, out_w, k_h, k_w, stride_h, top, left, dilation_h, dilation_w, scatter):
    """Rows (stride 1 along the width): cols[(c * kh + p) * kw + q, i * Wo + j] = x[n, c, i * sh + p * dh - top,
    j + q * dw - left]; with ``scatter``, x[n] += cols there. Positions outside x are skipped, as in conv_im2col."""
    channels, height, width = x.shape[1], x.shape[2], x.shape[3]
    out_h = cols.shape[1] // out_w
    for c in range(channels):
        for p in range(k_h):
            row_offset = p * dilation_h - top
            i_lo, i_hi = conv_valid_range(out_h, row_offset, stride_h, height)
            for q in range(k_w):
                col_offset = q * dilation_w - left
                j_lo, j_hi = conv_valid_range(out_w, col_offset, 1, width)
                taps = cols[(c * k_h + p) * k_w + q]
                for i in range(i_lo, i_hi):
                    line = x[n, c, i * stride_h + row_offset]
                    conv_transfer(line[j_lo + col_offset:j_hi + col_offset], taps[i * out_w + j_lo:i * out_w + j_hi],
                                  scatter)


def conv_im2col_rows_images(x, first, count, cols, out_w, k_h, k_w, stride_h, top, left, dilation_h, dilation_w,
                            scatter):
    """conv_im2col_rows of images first .. first + count - 1 of x into cols[0 .. count - 1] (count, C kh kw, Ho Wo);
    with ``scatter``, x[first + b] += cols[b] at those positions."""
    for b in range(count):
        conv_im2col_rows(x, first + b, cols[b], out_w, k_h, k_w, stride_h, top, left, dilation_h, dilation_w, scatter)


def conv_im2col_images(x, first, count, image, cols, pixels, out_w, k_h, k_w, stride_h, stride_w, top, left,
                       dilation_h, dilation_w):
    """Channels-last im2col of images first .. first + count - 1 of x into consecutive blocks of ``pixels`` (Ho Wo)
    rows of cols, through ``image``, an HWC buffer."""
    for b in range(count):
        conv_channels_last_image(x, first + b, image)
        conv_im2col(image, cols[b * pixels:(b + 1) * pixels], out_w, k_h, k_w, stride_h, stride_w, top, left,
                    dilation_h, dilation_w, np.bool_(False))  # a run-time flag: see conv_col2im_images


def conv_gradient_rows(g, first, count, rows):
    """rows[b * Ho Wo + p, o] = g[first + b, o, p]: a run of images' gradients, channels-last, for one GEMM."""
    out_channels, pixels = g.shape[1], g.shape[2] * g.shape[3]
    for b in range(count):
        image = g[first + b].reshape((out_channels, pixels))
        for o in range(out_channels):
            for p in range(pixels):
                rows[b * pixels + p, o] = image[o, p]


def conv_channels_first_images(rows, out, first, count):
    """out[first + b, o, p] = rows[b * Ho Wo + p, o]: a run of images' channels-last GEMM product stored NCHW (the
    inverse of conv_gradient_rows)."""
    out_channels, pixels = out.shape[1], out.shape[2] * out.shape[3]
    for b in range(count):
        image = out[first + b].reshape((out_channels, pixels))
        for o in range(out_channels):
            for p in range(pixels):
                image[o, p] = rows[b * pixels + p, o]


def conv_col2im_images(cols, image, out, first, count, pixels, out_w, k_h, k_w, stride_h, stride_w, top, left,
                       dilation_h, dilation_w):
    """out[first + b] = col2im of rows b * pixels .. (b + 1) * pixels - 1 of cols (channels-last), for b < count,
    through ``image``, an HWC buffer: the adjoint of conv_im2col_images."""
    for b in range(count):
        image[...] = 0
        # np.bool_ makes the flag a run-time boolean rather than a literal: Numba compiles conv_im2col once for
        # both directions instead of once per literal (0.4 s of the lecture CNN's cold start each)
        conv_im2col(image, cols[b * pixels:(b + 1) * pixels], out_w, k_h, k_w, stride_h, stride_w, top, left,
                    dilation_h, dilation_w, np.bool_(True))
        conv_channels_first_image(image, out, first + b)


# -- pooling (Numba) ------------------------------------------------------------------------------------------------
# Each image plane is pooled whole: padded planes are copied into a buffer whose border holds the padding value, so
# every window lies inside the array read. The lowerings compile these kernels for the graph's kernel sizes (the
# code generator writes copies with k_h and k_w replaced by their values): loops of constant length unroll into
# branch-free code, several times faster than loops of run-time length.

def pool_pad_plane(plane, buffer, pad_h, pad_w):
    """buffer[pad_h + h, pad_w + w] = plane[h, w] (the border keeps the padding value the buffer was filled with)."""
    for h in range(plane.shape[0]):
        for w in range(plane.shape[1]):
            buffer[pad_h + h, pad_w + w] = plane[h, w]


def pool_crop_plane(buffer, plane, pad_h, pad_w):
    """plane[h, w] = buffer[pad_h + h, pad_w + w]: the inverse of pool_pad_plane."""
    for h in range(plane.shape[0]):
        for w in range(plane.shape[1]):
            plane[h, w] = buffer[pad_h + h, pad_w + w]


def max_pool2d_plane(plane, pooled, k_h, k_w, stride_h, stride_w):
    """pooled[i, j] = the max of the window at (i * sh, j * sw) of the (padded) plane; NaN wins, as np.maximum."""
    for i in range(pooled.shape[0]):
        for j in range(pooled.shape[1]):
            best = plane[i * stride_h, j * stride_w]
            for p in range(k_h):
                line = plane[i * stride_h + p]
                for q in range(k_w):
                    value = line[j * stride_w + q]
                    if value > best or value != value:
                        best = value
            pooled[i, j] = best


def max_pool2d_first_tap(plane, row0, col0, k_h, k_w):
    """The tap p * kw + q of the first maximum (row-major) of the window at (row0, col0), as the NumPy reference finds
    it: the first tap's value (perhaps -inf padding or NaN) is replaced only by a strictly greater one."""
    best = plane[row0, col0]
    tap = 0
    for p in range(k_h):
        line = plane[row0 + p]
        for q in range(k_w):
            value = line[col0 + q]
            if value > best:
                best = value
                tap = p * k_w + q
    return tap


def max_pool2d_plane_scatter(plane, source, target, k_h, k_w, stride_h, stride_w, pad_h, pad_w, gather):
    """target[winner of window (i, j)] += source[i, j], dropping winners in the padding (max_pool2d_grad); with
    ``gather``, the adjoint: target[i, j] = source[winner of (i, j)], 0 in the padding (max_pool2d_gather).
    ``plane`` is the padded image whose windows are searched; source and target are not padded."""
    pooled_h, pooled_w = target.shape if gather else source.shape
    height, width = source.shape if gather else target.shape
    for i in range(pooled_h):
        for j in range(pooled_w):
            tap = max_pool2d_first_tap(plane, i * stride_h, j * stride_w, k_h, k_w)
            row, col = i * stride_h + tap // k_w - pad_h, j * stride_w + tap % k_w - pad_w
            inside = 0 <= row < height and 0 <= col < width
            if gather:
                target[i, j] = source[row, col] if inside else 0
            elif inside:
                target[row, col] += source[i, j]


def max_pool2d_plane_route(plane, source, target, taps, k_h, k_w):
    """max_pool2d_grad's plane for windows that tile it (stride = kernel size, no padding): each pixel lies in one
    window at most, so each is written once, with source[i, j] at the first maximum of its window (i, j) and 0 at
    the window's other pixels and at the pixels no window covers, instead of a zero fill and a scatter. ``taps``
    holds a row of windows' winners (pooled_w entries)."""
    pooled_h, pooled_w = source.shape
    height, width = target.shape
    for i in range(pooled_h):
        for j in range(pooled_w):
            taps[j] = max_pool2d_first_tap(plane, i * k_h, j * k_w, k_h, k_w)
        for p in range(k_h):
            line = target[i * k_h + p]
            for j in range(pooled_w):
                value = source[i, j]
                for q in range(k_w):
                    line[j * k_w + q] = value if taps[j] == p * k_w + q else 0
            for col in range(pooled_w * k_w, width):
                line[col] = 0
    for row in range(pooled_h * k_h, height):
        for col in range(width):
            target[row, col] = 0


def max_pool2d_forward(x, out, k_h, k_w, stride_h, stride_w, pad_h, pad_w, lowest):
    """The max over each window of x padded with ``lowest`` (-inf)."""
    if pad_h or pad_w:
        buffer = np.full((x.shape[2] + 2 * pad_h, x.shape[3] + 2 * pad_w), lowest, x.dtype)
        for n in range(out.shape[0]):
            for c in range(out.shape[1]):
                pool_pad_plane(x[n, c], buffer, pad_h, pad_w)
                max_pool2d_plane(buffer, out[n, c], k_h, k_w, stride_h, stride_w)
    else:
        for n in range(out.shape[0]):
            for c in range(out.shape[1]):
                max_pool2d_plane(x[n, c], out[n, c], k_h, k_w, stride_h, stride_w)


def max_pool2d_backward(x, g, out, taps, k_h, k_w, stride_h, stride_w, pad_h, pad_w, lowest, gather):
    """Without ``gather``: out (shaped like x) = g[n, c, i, j] added at each window's first maximum of x
    (max_pool2d_grad). With ``gather``: out (pooled) = g (shaped like x) read there (max_pool2d_gather).
    ``taps``: int64 scratch of g.shape[3] entries for max_pool2d_plane_route, allocated by the caller (an array
    allocated here cost the lecture CNN's cold start ~0.1 s of compiling np.empty)."""
    if not gather and not pad_h and not pad_w and stride_h == k_h and stride_w == k_w:
        for n in range(x.shape[0]):
            for c in range(x.shape[1]):
                max_pool2d_plane_route(x[n, c], g[n, c], out[n, c], taps, k_h, k_w)
        return
    if not gather:
        out[...] = 0
    if pad_h or pad_w:
        buffer = np.full((x.shape[2] + 2 * pad_h, x.shape[3] + 2 * pad_w), lowest, x.dtype)
        for n in range(x.shape[0]):
            for c in range(x.shape[1]):
                pool_pad_plane(x[n, c], buffer, pad_h, pad_w)
                max_pool2d_plane_scatter(buffer, g[n, c], out[n, c], k_h, k_w, stride_h, stride_w, pad_h, pad_w,
                                         gather)
    else:
        for n in range(x.shape[0]):
            for c in range(x.shape[1]):
                max_pool2d_plane_scatter(x[n, c], g[n, c], out[n, c], k_h, k_w, stride_h, stride_w, 0, 0, gather)


def avg_pool2d_plane(plane, pooled, k_h, k_w, stride_h, stride_w, count):
    """pooled[i, j] = the sum of the window at (i * sh, j * sw) of the (zero-padded) plane / count."""
    for i in range(pooled.shape[0]):
        for j in range(pooled.shape[1]):
            total = count - count  # zero, in the output's dtype
            for p in range(k_h):
                line = plane[i * stride_h + p]
                for q in range(k_w):
                    total += line[j * stride_w + q]
            pooled[i, j] = total / count


def avg_pool2d_plane_scatter(grads, target, k_h, k_w, stride_h, stride_w, count):
    """target (padded) += grads[i, j] / count over the window at (i * sh, j * sw), for every window."""
    for i in range(grads.shape[0]):
        for j in range(grads.shape[1]):
            share = grads[i, j] / count
            for p in range(k_h):
                line = target[i * stride_h + p]
                for q in range(k_w):
                    line[j * stride_w + q] += share


def avg_pool2d_forward(x, out, k_h, k_w, stride_h, stride_w, pad_h, pad_w, count):
    """The sum over each window of the zero-padded x, divided by ``count`` = kh * kw (the padding counts)."""
    if pad_h or pad_w:
        buffer = np.zeros((x.shape[2] + 2 * pad_h, x.shape[3] + 2 * pad_w), out.dtype)
        for n in range(out.shape[0]):
            for c in range(out.shape[1]):
                pool_pad_plane(x[n, c], buffer, pad_h, pad_w)
                avg_pool2d_plane(buffer, out[n, c], k_h, k_w, stride_h, stride_w, count)
    else:
        for n in range(out.shape[0]):
            for c in range(out.shape[1]):
                avg_pool2d_plane(x[n, c], out[n, c], k_h, k_w, stride_h, stride_w, count)


def avg_pool2d_backward(g, out, k_h, k_w, stride_h, stride_w, pad_h, pad_w, count):
    """out (shaped like x) = g[n, c, i, j] / count added over each window, the padding cropped."""
    out[...] = 0
    if pad_h or pad_w:
        buffer = np.empty((out.shape[2] + 2 * pad_h, out.shape[3] + 2 * pad_w), out.dtype)
        for n in range(out.shape[0]):
            for c in range(out.shape[1]):
                buffer[...] = 0
                avg_pool2d_plane_scatter(g[n, c], buffer, k_h, k_w, stride_h, stride_w, count)
                pool_crop_plane(buffer, out[n, c], pad_h, pad_w)
    else:
        for n in range(out.shape[0]):
            for c in range(out.shape[1]):
                avg_pool2d_plane_scatter(g[n, c], out[n, c], k_h, k_w, stride_h, stride_w, count)
