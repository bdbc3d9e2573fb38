"""A small physical model of one pit, fitted to the shading around a candidate.

Private helper of :mod:`scarview.core.scars`.

The model is a depression with an elliptical outline and a profile
``depth(rho) = D * (1 - rho**q) ** r`` (``rho`` = 0 at the centre, 1 at the
outer edge): ``q`` near 1 gives a V-shaped cone (ice pick), large ``q`` a flat
floor with steep walls (boxcar), ``q`` near 2 with ``r`` near 2 a smooth bowl
(rolling). It is lit by a directional light from +x (the caller rotates the
image so) at a nominal elevation, plus ambient light, and rendered with what
makes a real pit look the way it does:

* Lambert's law on the surface normal, clipped at zero (attached shadow);
* cast shadows, traced along the light's direction;
* ambient occlusion (deep narrow places see less of the sky);
* subsurface scattering, which blurs the light inside the skin.

The fit is a weighted Levenberg-Marquardt least-squares on the log-shading.
A null model -- a Gaussian dark or bright spot on the surrounding skin, i.e.
anything pigment-like that needs no relief -- is fitted to the same patch; the
improvement of the pit over the null, in units of the patch's noise
variance, is the evidence that the candidate is a depression.

Under a single directional light the depth scale and the light's elevation
trade off (the generalised bas-relief ambiguity), so the fitted depth is
relative; the outline (where the surface starts to go down) is what the
shading determines well.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float32]

#: Parameter vector layout of the pit model.
#: cx, cy (mm), log mean radius (mm), e1, e2 (ellipticity), log depth (mm), log q, log r, offset
N_PIT = 9
#: Largest ellipticity: the long axis at most e^(2*0.4) = 2.2 times the short one.
MAX_ELLIPTICITY = 0.4
#: Patch resolution: pixels across a candidate's radius (capped by the working resolution).
PATCH_PX_PER_RADIUS = 16.0
#: Loss of ambient light per mm a point lies below its 0.4 mm neighbourhood (ambient occlusion).
OCCLUSION_PER_MM = 1.0
#: Gaussian smoothing (patch pixels) of observed patches against noise; the model gets the same.
PATCH_BLUR_PX = 0.6
#: Levenberg-Marquardt iterations of a full fit, and of the first look at a candidate.
FIT_ITERATIONS = 14
SCREEN_ITERATIONS = 6


@dataclass(frozen=True)
class PitGeometry:
    """Decoded pit parameters (patch coordinates in mm, light from +x).

    Attributes
    ----------
    cx, cy : float
        Centre relative to the patch centre, mm.
    a, b : float
        Semi-axes of the outer edge, mm.
    theta : float
        Angle of the ``a`` axis, radians.
    depth : float
        Relative depth, mm at the nominal light elevation.
    q : float
        Wall sharpness (1: cone; large: flat floor and steep walls).
    r : float
        Profile exponent (large: gentle start at the rim).
    offset : float
        Log-shading level of the surrounding skin.
    """

    cx: float
    cy: float
    a: float
    b: float
    theta: float
    depth: float
    q: float
    r: float
    offset: float

    def level_radius(self, fraction: float) -> float:
        """Normalised radius inside which the depth exceeds ``fraction`` of its maximum."""
        f = min(max(fraction, 1e-6), 0.999999)
        inner = 1.0 - f ** (1.0 / self.r)
        return float(max(inner, 0.0) ** (1.0 / self.q))


def decode(p: NDArray[np.float64]) -> PitGeometry:
    """Turn a parameter vector into a :class:`PitGeometry`."""
    e = min(math.hypot(p[3], p[4]), MAX_ELLIPTICITY)
    theta = 0.5 * math.atan2(p[4], p[3])
    rad = math.exp(p[2])
    return PitGeometry(
        cx=float(p[0]),
        cy=float(p[1]),
        a=rad * math.exp(e),
        b=rad * math.exp(-e),
        theta=theta,
        depth=math.exp(p[5]),
        q=math.exp(p[6]),
        r=math.exp(p[7]),
        offset=float(p[8]),
    )


def render(
    p: NDArray[np.float64],
    X: FloatArray,
    Y: FloatArray,
    elevation: float,
    ambient: float,
    px_per_mm: float,
    sss_mm: float = 0.1,
    occlusion_mm: float = 0.4,
    extra_blur_px: float = PATCH_BLUR_PX,
) -> FloatArray:
    """Log-shading of the pit relative to flat skin, light from +x.

    Parameters
    ----------
    p : ndarray of shape (9,)
        Pit parameters (see :data:`N_PIT`).
    X, Y : ndarray of shape (n, n) and dtype float32
        Grid in mm; rows run along the light's direction.
    elevation : float
        Light elevation in radians.
    ambient : float
        Diffuse light relative to the direct light at normal incidence.
    px_per_mm : float
        Grid resolution.
    sss_mm : float
        Subsurface blur (Gaussian sigma) in mm.
    occlusion_mm : float
        Neighbourhood over which a point counts as sunk (ambient occlusion).
    extra_blur_px : float
        Further blur in grid pixels: the smoothing applied to the observed
        patch, so that model and data are compared alike.

    Returns
    -------
    ndarray of shape (n, n) and dtype float32
    """
    out = render_batch(
        np.asarray(p, np.float64)[None, :],
        X,
        Y,
        elevation,
        ambient,
        px_per_mm,
        sss_mm,
        occlusion_mm,
        extra_blur_px,
    )
    return out[0]


def render_batch(
    params: NDArray[np.float64],
    X: FloatArray,
    Y: FloatArray,
    elevation: float,
    ambient: float,
    px_per_mm: float,
    sss_mm: float = 0.1,
    occlusion_mm: float = 0.4,
    extra_blur_px: float = PATCH_BLUR_PX,
) -> FloatArray:
    """:func:`render` for several parameter vectors at once.

    One call renders every column of a finite-difference Jacobian: the
    per-call overhead of the small array operations is paid once.

    Parameters
    ----------
    params : ndarray of shape (k, 9)
        One pit parameter vector per row (see :data:`N_PIT`).
    X, Y, elevation, ambient, px_per_mm, sss_mm, occlusion_mm, extra_blur_px
        As for :func:`render`.

    Returns
    -------
    ndarray of shape (k, n, n) and dtype float32
        The log-shading of each pit.
    """
    P = np.asarray(params, np.float64)
    k = P.shape[0]
    e = np.minimum(np.hypot(P[:, 3], P[:, 4]), MAX_ELLIPTICITY)
    theta = 0.5 * np.arctan2(P[:, 4], P[:, 3])
    rad = np.exp(P[:, 2])
    f32 = np.float32

    def col(values: NDArray[np.float64]) -> NDArray[np.float32]:
        return values.astype(f32).reshape(k, 1, 1)

    c = col(np.cos(theta))
    s_ = col(np.sin(theta))
    dx = X - col(P[:, 0])
    dy = Y - col(P[:, 1])
    u = (c * dx + s_ * dy) * col(1.0 / (rad * np.exp(e)))
    v = (c * dy - s_ * dx) * col(1.0 / (rad * np.exp(-e)))
    rho = np.sqrt(u * u + v * v)
    np.minimum(rho, f32(1.0), out=rho)
    prof = np.maximum(f32(1.0) - rho ** col(np.exp(P[:, 6])), f32(0.0)) ** col(np.exp(P[:, 7]))
    h = col(-np.exp(P[:, 5])) * prof
    half = f32(px_per_mm / 2.0)
    hx = np.empty_like(h)
    hy = np.empty_like(h)
    hx[:, :, 1:-1] = (h[:, :, 2:] - h[:, :, :-2]) * half
    hx[:, :, 0] = hx[:, :, 1]
    hx[:, :, -1] = hx[:, :, -2]
    hy[:, 1:-1] = (h[:, 2:] - h[:, :-2]) * half
    hy[:, 0] = hy[:, 1]
    hy[:, -1] = hy[:, -2]
    se, ce = math.sin(elevation), math.cos(elevation)
    lam = np.maximum((f32(se) - hx * f32(ce)) / np.sqrt(f32(1.0) + hx * hx + hy * hy), f32(0.0))
    # Cast shadow: a point is dark if the surface toward the light rises above the ray.
    horizon = h - X * f32(math.tan(elevation))
    ahead = np.maximum.accumulate(horizon[..., ::-1], axis=-1)[..., ::-1]
    excess = np.empty_like(h)
    excess[..., :-1] = ahead[..., 1:] - horizon[..., :-1]
    excess[..., -1] = -1.0
    shadow = np.clip(f32(1.0) - excess * f32(50.0), f32(0.0), f32(1.0))
    around = _blur_stack(h, occlusion_mm * px_per_mm, cv2.BORDER_REPLICATE)
    occlusion = f32(1.0) - np.clip((around - h) * f32(OCCLUSION_PER_MM), f32(0.0), f32(0.6))
    irradiance = (f32(ambient) * occlusion + lam * shadow) / f32(ambient + se)
    blur_px = math.hypot(sss_mm * px_per_mm, extra_blur_px)
    irradiance = _blur_stack(irradiance, max(0.3, blur_px), cv2.BORDER_REFLECT_101)
    out = np.log(np.maximum(irradiance, f32(1e-3)))
    out += col(P[:, 8])
    return out


def _blur_stack(stack: NDArray[np.float32], sigma_px: float, border: int) -> NDArray[np.float32]:
    """Gaussian blur of each image of a (k, n, n) stack (k <= 512)."""
    if stack.shape[0] == 1:
        out = cv2.GaussianBlur(stack[0], (0, 0), sigma_px, borderType=border)
        return np.asarray(out, np.float32)[None]
    # OpenCV blurs the channels of one multi-channel image in a single pass.
    chans = np.ascontiguousarray(np.moveaxis(stack, 0, -1))
    out = cv2.GaussianBlur(chans, (0, 0), sigma_px, borderType=border)
    return np.ascontiguousarray(np.moveaxis(np.asarray(out, np.float32), -1, 0))


def levenberg_marquardt(
    residual: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    x0: NDArray[np.float64],
    step: NDArray[np.float64],
    lower: NDArray[np.float64],
    upper: NDArray[np.float64],
    max_iter: int = 30,
    tol: float = 1e-3,
    residuals: Callable[[NDArray[np.float64]], NDArray[np.float64]] | None = None,
) -> tuple[NDArray[np.float64], float]:
    """Bounded Levenberg-Marquardt with forward-difference Jacobians.

    ``residuals``, if given, evaluates the residual at several parameter
    vectors at once (rows of a ``(k, n)`` array to a ``(k, m)`` array); the
    Jacobian's columns are then computed in one call.

    Small and dependency-free on purpose: the problems have ~10 parameters
    and a few thousand residuals, where the overhead of general solvers (and
    of multithreaded BLAS on a busy machine) dominates.

    Returns
    -------
    x : ndarray
        Parameters at the minimum found.
    cost : float
        Sum of squared residuals there.
    """
    x = np.clip(np.asarray(x0, dtype=np.float64), lower, upper)
    r = residual(x)
    cost = float(r @ r)
    n = x.size
    lam = 1e-2
    for _ in range(max_iter):
        d = np.where(x + step <= upper, step, -step)
        if residuals is not None:
            J = ((residuals(x[None, :] + np.diag(d)) - r[None, :]) / d[:, None]).T
        else:
            J = np.empty((r.size, n))
            for j in range(n):
                xj = x.copy()
                xj[j] += d[j]
                J[:, j] = (residual(xj) - r) / d[j]
        A = J.T @ J
        g = J.T @ r
        diag = np.diag(A).copy()
        diag[diag <= 0] = 1e-12
        improved = False
        rel = 0.0
        while lam < 1e7:
            try:
                delta = np.linalg.solve(A + lam * np.diag(diag), -g)
            except np.linalg.LinAlgError:
                lam *= 10
                continue
            xn = np.clip(x + delta, lower, upper)
            rn = residual(xn)
            cn = float(rn @ rn)
            if cn < cost:
                rel = (cost - cn) / max(cost, 1e-12)
                x, r, cost = xn, rn, cn
                lam = max(lam / 3, 1e-6)
                improved = True
                break
            lam *= 4
        if not improved or rel < tol:
            break
    return x, cost


@dataclass(frozen=True, eq=False)
class PitFit:
    """A fitted candidate.

    Attributes
    ----------
    geometry : PitGeometry
        In mm, relative to the patch centre.
    center_xy : tuple of float
        Patch centre in rotated working pixels.
    px_per_mm : float
        Resolution of the patch used for the fit.
    gain : float
        (null cost - pit cost) / noise variance: evidence for a depression.
    cost, cost_null : float
        Weighted sums of squared residuals.
    half_mm : float
        Half-size of the patch.
    params : ndarray of shape (8,)
        The fitted parameter vector (without the offset, see :data:`N_PIT`).
    elevation, ambient : float
        The light the fit used.
    noise2 : float
        Noise variance of the patch.
    """

    geometry: PitGeometry
    center_xy: tuple[float, float]
    px_per_mm: float
    gain: float
    cost: float
    cost_null: float
    half_mm: float
    params: NDArray[np.float64]
    elevation: float
    ambient: float
    noise2: float


@dataclass(frozen=True, eq=False)
class Arena:
    """A patch of shading on which several explanations can be compared.

    Attributes
    ----------
    P : ndarray of shape (n, n) and dtype float32
        Smoothed shading with the surrounding skin's slope removed.
    X, Y : ndarray of shape (n, n) and dtype float32
        Grid in mm relative to the centre (light from +x).
    weight : ndarray of shape (n*n,) and dtype float64
        Square root of each pixel's validity (0 off the skin).
    center_xy : tuple of float
        Centre in rotated working pixels.
    px_per_mm : float
        Grid resolution.
    """

    P: FloatArray
    X: FloatArray
    Y: FloatArray
    weight: NDArray[np.float64]
    center_xy: tuple[float, float]
    px_per_mm: float


def make_arena(
    shading_r: FloatArray,
    valid_r: FloatArray,
    cx: float,
    cy: float,
    half_mm: float,
    w: float,
    ppm: float,
) -> Arena:
    """The patch a fit of these dimensions sees (same smoothing and weights)."""
    P, X, Y = extract_patch(shading_r, cx, cy, half_mm, w, ppm)
    V, _, _ = extract_patch(valid_r, cx, cy, half_mm, w, ppm)
    P = np.asarray(cv2.GaussianBlur(P, (0, 0), PATCH_BLUR_PX), np.float32)
    P = _detrend_by_border(P, X, Y, V, half_mm)
    wt = np.sqrt(np.clip(V, 0.0, 1.0)).astype(np.float64).ravel()
    return Arena(P, X, Y, wt, (cx, cy), ppm)


def explain_cost(fits: list[PitFit], arena: Arena, w: float) -> float:
    """Weighted cost of explaining an arena by some pits (their log-shadings add) and a level.

    Parameters
    ----------
    fits : list of PitFit
        Pits placed where they were fitted; an empty list is the level alone.
    arena : Arena
    w : float
        Working resolution (px/mm) of the rotated frame the centres refer to.
    """
    model = np.zeros(arena.P.shape, np.float32)
    for fit in fits:
        q = np.append(fit.params, 0.0)
        q[0] += (fit.center_xy[0] - arena.center_xy[0]) / w
        q[1] += (fit.center_xy[1] - arena.center_xy[1]) / w
        model += render(q, arena.X, arena.Y, fit.elevation, fit.ambient, arena.px_per_mm)
    wt = arena.weight
    Aw, Ginv = _linear_background(arena.X, arena.Y, wt)
    Pw = arena.P.astype(np.float64).ravel() * wt
    mw = model.astype(np.float64).ravel() * wt
    r = Pw - mw
    c = Ginv @ (Aw.T @ r)
    res = mw + Aw @ c - Pw
    return float(res @ res)


def estimate_azimuth(
    shading: FloatArray,
    valid: NDArray[np.bool_],
    features: list[tuple[float, float, float, float, float]],
    w: float,
    elevation: float,
    ambient: float,
    *,
    max_features: int = 12,
    directions: int = 24,
) -> tuple[float | None, float]:
    """Direction the light comes from, read from the pits' shading.

    For each of the darkest compact features (the near walls and shadows of
    pits), the shading around it is compared with a pit of the feature's size
    rendered with the light from each of ``directions`` azimuths, the pit's
    centre on the far side of the dark feature. The normalised correlations,
    clipped at zero and weighted by the feature's darkness, are summed over
    features; the best direction, refined by a parabola, is the azimuth.
    A pit is darker on the side nearer the light, a raised bump on the far
    side, so a few bumps only add a small opposite peak.

    Parameters
    ----------
    shading : ndarray of shape (h, w) and dtype float32
        Smoothed shading at working resolution (not rotated).
    valid : ndarray of shape (h, w) and dtype bool
    features : list of tuple
        From :func:`scarview.core._shading.dark_features`.
    w : float
        Working resolution.
    elevation, ambient : float
        Nominal light of the templates.

    Returns
    -------
    azimuth_deg : float or None
        Image coordinates (0 = from +x, 90 = from +y); None without features.
    confidence : float
        0 to 1: how much the best direction beats the opposite one.
    """
    ranked = sorted(features, key=lambda t: -t[4])
    score = np.zeros(directions)
    used = 0
    validf = valid.astype(np.float32)
    for cx, cy, r, _area, darkness in ranked:
        if used >= max_features:
            break
        r0 = max(0.3, min(r, 3.0))
        ppm = float(np.clip(8.0 / r0, 3.0, w))
        half = 2.0 * r0 + 0.5
        P, X, Y = extract_patch(shading, cx, cy, half, w, ppm)
        V, _, _ = extract_patch(validf, cx, cy, half, w, ppm)
        if float(V.mean()) < 0.8:
            continue
        used += 1
        p = np.array(
            [-0.6 * r0, 0.0, math.log(r0), 0.0, 0.0, math.log(0.3), math.log(3.0), 0.0, 0.0]
        )
        T = render(p, X, Y, elevation, ambient, ppm)
        T = T - T.mean()
        Pc = P - P.mean()
        pn = float(np.linalg.norm(Pc))
        n = T.shape[0]
        centre = ((n - 1) / 2.0, (n - 1) / 2.0)
        for k in range(directions):
            rot = cv2.getRotationMatrix2D(centre, -360.0 * k / directions, 1.0)
            Tr = cv2.warpAffine(
                T, rot, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
            ncc = float((Tr * Pc).sum()) / (float(np.linalg.norm(Tr)) * pn + 1e-9)
            score[k] += max(ncc, 0.0) * math.sqrt(max(darkness, 0.0))
    if used == 0 or score.max() <= 0:
        return None, 0.0
    k = int(np.argmax(score))
    a, b, c = score[(k - 1) % directions], score[k], score[(k + 1) % directions]
    den = a - 2 * b + c
    off = 0.5 * (a - c) / den if den < 0 else 0.0
    # Pits and raised bumps look alike under opposite lights: the confidence is
    # how much the best direction beats its opposite (0 = undecided, 1 = clear).
    opposite = float(score[(k + directions // 2) % directions])
    confidence = float(1.0 - opposite / score[k])
    return (360.0 * (k + off) / directions) % 360.0, confidence


def estimate_light_elevation(
    shading_r: FloatArray,
    valid_r: FloatArray,
    centers_r: list[tuple[float, float, float, float]],
    w: float,
    *,
    elevations_deg: tuple[float, ...] = (25.0, 32.0, 40.0, 48.0, 56.0, 64.0),
    ambients: tuple[float, ...] = (0.2, 0.3, 0.4),
    depths_mm: tuple[float, ...] = (0.2, 0.5),
    max_features: int = 10,
) -> tuple[float, float]:
    """Light elevation and ambient share that best explain how the pits look.

    The higher the light, the weaker the lit far wall against the dark near
    wall, and the shorter the cast shadows; more ambient light lifts the
    shadows. Around the darkest features (light from +x after rotation), pits
    of the feature's size rendered for every pair of elevation and ambient
    (and a shallow and a deep profile) are correlated with the shading; the
    pair with the largest darkness-weighted sum of correlations wins.
    Only the *look* is compared (normalised correlation), not the contrast, so
    the depth scale -- which trades off with the elevation -- does not matter.

    Parameters
    ----------
    shading_r, valid_r : ndarray of shape (H, W) and dtype float32
        Smoothed shading and validity, rotated so the light comes from +x.
    centers_r : list of tuple
        ``(x, y, radius_mm, darkness)`` of dark features in that frame.
    w : float
        Working resolution.

    Returns
    -------
    elevation_deg, ambient : float
    """
    score = np.zeros((len(elevations_deg), len(ambients)))
    used = 0
    for xr, yr, r, darkness in sorted(centers_r, key=lambda t: -t[3]):
        if used >= max_features:
            break
        r0 = max(0.3, min(r, 3.0))
        ppm = float(np.clip(8.0 / r0, 3.0, w))
        half = 2.0 * r0 + 0.5
        P, X, Y = extract_patch(shading_r, xr, yr, half, w, ppm)
        V, _, _ = extract_patch(valid_r, xr, yr, half, w, ppm)
        if float(V.mean()) < 0.8:
            continue
        used += 1
        Pc = P - P.mean()
        pn = float(np.linalg.norm(Pc)) + 1e-9
        wgt = math.sqrt(max(darkness, 0.0))
        for i, el in enumerate(elevations_deg):
            for j, amb in enumerate(ambients):
                best = 0.0
                for depth in depths_mm:
                    p = np.array(
                        [
                            -0.6 * r0,
                            0.0,
                            math.log(r0),
                            0.0,
                            0.0,
                            math.log(depth),
                            math.log(3.0),
                            0.0,
                            0.0,
                        ]
                    )
                    T = render(p, X, Y, math.radians(el), amb, ppm)
                    T = T - T.mean()
                    best = max(best, float((T * Pc).sum()) / (float(np.linalg.norm(T)) * pn + 1e-9))
                score[i, j] += best * wgt
    if used == 0:
        return 40.0, 0.3
    best_i, best_j = np.unravel_index(int(np.argmax(score)), score.shape)
    return float(elevations_deg[int(best_i)]), float(ambients[int(best_j)])


def extract_patch(
    image: FloatArray, cx: float, cy: float, half_mm: float, w: float, ppm: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Square patch of ``image`` around ``(cx, cy)`` resampled at ``ppm`` px/mm.

    Returns
    -------
    patch, X, Y : ndarray of shape (n, n) and dtype float32
        Values and grid coordinates in mm relative to the centre.
    """
    n = math.ceil(half_mm * ppm)
    grid = (np.arange(-n, n + 1) / ppm).astype(np.float32)
    X, Y = np.meshgrid(grid, grid)
    mx = (cx + X * w).astype(np.float32)
    my = (cy + Y * w).astype(np.float32)
    if ppm < 0.7 * w:
        # Anti-alias: blur only the window the patch reads from.
        sigma = 0.5 * w / ppm
        pad = math.ceil(3 * sigma) + 2
        x0 = max(0, math.floor(float(mx.min())) - pad)
        y0 = max(0, math.floor(float(my.min())) - pad)
        x1 = min(image.shape[1], math.ceil(float(mx.max())) + pad + 1)
        y1 = min(image.shape[0], math.ceil(float(my.max())) + pad + 1)
        if x1 <= x0 or y1 <= y0:
            return np.zeros(X.shape, np.float32), X, Y
        src = cv2.GaussianBlur(np.ascontiguousarray(image[y0:y1, x0:x1]), (0, 0), sigma)
        mx = mx - np.float32(x0)
        my = my - np.float32(y0)
    else:
        src = image
    patch = cv2.remap(src, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.asarray(patch, np.float32), X, Y


def fit_pit(
    shading_r: FloatArray,
    valid_r: FloatArray,
    cx: float,
    cy: float,
    r0_mm: float,
    w: float,
    elevation: float,
    ambient: float,
    noise_at: Callable[[float], float],
    *,
    max_iter: int = FIT_ITERATIONS,
    grow: int = 2,
    screen_gain: float = 0.0,
) -> PitFit:
    """Fit the pit model around a candidate, growing the patch if the pit outgrows it.

    Parameters
    ----------
    shading_r : ndarray of shape (H, W) and dtype float32
        Shading rotated so that the light comes from +x.
    valid_r : ndarray of shape (H, W) and dtype float32
        1 on analysable skin, 0 elsewhere (same frame).
    cx, cy : float
        First guess of the pit's centre (rotated working px).
    r0_mm : float
        First guess of its radius.
    w : float
        Working resolution (px/mm).
    elevation, ambient : float
        Nominal light (radians, ratio).
    noise_at : callable
        Noise standard deviation of the shading at a given patch resolution.
    max_iter : int
        Levenberg-Marquardt iterations.
    grow : int
        How many times the patch may be enlarged around a pit that outgrows it.
    screen_gain : float
        Candidates whose gain after a few iterations is below this are not
        refined further (they are far from being scars).
    """
    fit = _fit_once(
        shading_r, valid_r, cx, cy, r0_mm, w, elevation, ambient, noise_at, max_iter, screen_gain
    )
    for _ in range(grow):
        if fit.gain < screen_gain:
            break
        g = fit.geometry
        if max(g.a, g.b) < 0.6 * fit.half_mm:
            break
        fit = _fit_once(
            shading_r,
            valid_r,
            fit.center_xy[0] + g.cx * w,
            fit.center_xy[1] + g.cy * w,
            max(g.a, g.b),
            w,
            elevation,
            ambient,
            noise_at,
            max_iter,
            screen_gain,
        )
    return fit


def _linear_background(
    X: FloatArray, Y: FloatArray, wt: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Weighted design of a constant level and the solver of its normal equation."""
    Aw = wt[:, None].astype(np.float64)
    G = Aw.T @ Aw + 1e-9 * np.eye(1)
    return Aw, np.asarray(np.linalg.inv(G), dtype=np.float64)


def _detrend_by_border(
    P: FloatArray, X: FloatArray, Y: FloatArray, V: FloatArray, half_mm: float
) -> FloatArray:
    """Remove the plane fitted to the patch's outer ring (the skin around the candidate).

    The background's slope is taken from where the candidate is not, so that
    neither model can absorb a broad shading dipole -- the signature of a
    shallow scar -- into a free gradient.
    """
    ring = (np.maximum(np.abs(X), np.abs(Y)) > 0.75 * half_mm) & (V > 0.5)
    if int(ring.sum()) < 10:
        return P
    A = np.stack([np.ones(int(ring.sum())), X[ring], Y[ring]], 1).astype(np.float64)
    c, *_ = np.linalg.lstsq(A, P[ring].astype(np.float64), rcond=None)
    return (P - (c[0] + c[1] * X + c[2] * Y)).astype(np.float32)


def _fit_once(
    shading_r: FloatArray,
    valid_r: FloatArray,
    cx: float,
    cy: float,
    r0: float,
    w: float,
    elevation: float,
    ambient: float,
    noise_at: Callable[[float], float],
    max_iter: int,
    screen_gain: float = 0.0,
) -> PitFit:
    ppm = float(np.clip(PATCH_PX_PER_RADIUS / r0, 4.0, w))
    half = 1.7 * r0 + 0.7
    P, X, Y = extract_patch(shading_r, cx, cy, half, w, ppm)
    V, _, _ = extract_patch(valid_r, cx, cy, half, w, ppm)
    P = cv2.GaussianBlur(P, (0, 0), PATCH_BLUR_PX)
    P = _detrend_by_border(P, X, Y, V, half)
    wt = np.sqrt(np.clip(V, 0.0, 1.0)).astype(np.float64).ravel()
    Pw = P.astype(np.float64).ravel() * wt
    Aw, Ginv = _linear_background(X, Y, wt)
    n2 = max(noise_at(ppm) ** 2, 1e-8)

    def project(model_w: NDArray[np.float64]) -> NDArray[np.float64]:
        # Best level under the model (variable projection), then the residual.
        r = Pw - model_w
        c = Ginv @ (Aw.T @ r)
        return model_w + Aw @ c - Pw

    # Null model: level + Gaussian spot; the spot's amplitude and the level are linear.
    def res_blob(p: NDArray[np.float64]) -> NDArray[np.float64]:
        x0, y0, ls = p
        s2 = 2.0 * math.exp(2 * ls)
        spot = np.exp(-((X - x0) ** 2 + (Y - y0) ** 2) / s2).astype(np.float64).ravel() * wt
        B = np.concatenate([Aw, spot[:, None]], 1)
        c, *_ = np.linalg.lstsq(B, Pw, rcond=None)
        return B @ c - Pw

    b0 = np.array([0.0, 0.0, math.log(max(0.1, r0 / 2))])
    blo = np.array([-half, -half, math.log(0.05)])
    bhi = np.array([half, half, math.log(8.0)])
    _, cost_null = levenberg_marquardt(
        res_blob, b0, np.array([0.02, 0.02, 0.03]), blo, bhi, max_iter=max_iter
    )

    x0 = np.array([0, 0, math.log(r0), 0, 0, math.log(0.2), math.log(3.0), 0], float)
    lo = np.array(
        [
            -r0,
            -r0,
            math.log(0.15),
            -MAX_ELLIPTICITY,
            -MAX_ELLIPTICITY,
            math.log(0.01),
            0.0,
            -0.7,
        ]
    )
    hi = np.array(
        [
            r0,
            r0,
            math.log(max(0.2, 0.75 * half)),
            MAX_ELLIPTICITY,
            MAX_ELLIPTICITY,
            math.log(3.0),
            math.log(20.0),
            1.1,
        ]
    )
    st = np.array([0.02, 0.02, 0.02, 0.02, 0.02, 0.03, 0.03, 0.03])

    def res_pit(p: NDArray[np.float64]) -> NDArray[np.float64]:
        q = np.append(p, 0.0)
        model = render(q, X, Y, elevation, ambient, ppm).astype(np.float64).ravel() * wt
        return project(model)

    def res_pits(ps: NDArray[np.float64]) -> NDArray[np.float64]:
        qs = np.concatenate([ps, np.zeros((ps.shape[0], 1))], 1)
        models = render_batch(qs, X, Y, elevation, ambient, ppm).reshape(ps.shape[0], -1)
        mw = models.astype(np.float64) * wt[None, :]
        rs = Pw[None, :] - mw
        cs = (Ginv @ (Aw.T @ rs.T)).T
        return mw + cs @ Aw.T - Pw[None, :]

    xp, cost = levenberg_marquardt(
        res_pit, x0, st, lo, hi, max_iter=min(SCREEN_ITERATIONS, max_iter), residuals=res_pits
    )
    if screen_gain <= 0 or (cost_null - cost) / n2 >= screen_gain:
        xp, cost = levenberg_marquardt(
            res_pit, xp, st, lo, hi, max_iter=max_iter, residuals=res_pits
        )
    return PitFit(
        geometry=decode(np.append(xp, 0.0)),
        center_xy=(cx, cy),
        px_per_mm=ppm,
        gain=(cost_null - cost) / n2,
        cost=cost,
        cost_null=cost_null,
        half_mm=half,
        params=xp.copy(),
        elevation=elevation,
        ambient=ambient,
        noise2=n2,
    )
