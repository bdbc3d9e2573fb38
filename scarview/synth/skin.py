"""A synthetic patient: the skin plane in millimetres, its scars and look-alikes.

Everything here is deterministic in the seed. The skin's fine textures are
stored as tiles at :data:`TILE_PX_PER_MM` over the patient's extent and are
resampled by the renderer; the scars are analytic, so their outlines and true
areas are exact at any camera resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from scarview.core.types import ScarType

#: The measurand's depth: skin at least this far below the surrounding surface is scar.
DEPRESSION_THRESHOLD_MM = 0.05
#: Resolution of the stored texture tiles.
TILE_PX_PER_MM = 16.0

#: Constitutive skin colour per Fitzpatrick type (sRGB, 0-255), light to dark.
FITZPATRICK_SRGB: dict[int, tuple[int, int, int]] = {
    1: (241, 208, 190),
    2: (228, 186, 160),
    3: (205, 158, 125),
    4: (168, 118, 86),
    5: (122, 82, 57),
    6: (78, 52, 38),
}

FloatArray = NDArray[np.float32]


def srgb_to_linear(c: NDArray[np.floating]) -> NDArray[np.float64]:
    """sRGB values in 0..1 to linear light."""
    c = np.asarray(c, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


@dataclass(frozen=True)
class ScarSpec:
    """One atrophic scar on the skin plane (baseline state).

    Attributes
    ----------
    id : int
        1-based id, stable across sessions.
    type : {"icepick", "boxcar", "rolling"}
    center_mm : tuple of float
        ``(u, v)`` on the skin plane, mm.
    radius_mm : float
        Radius where the profile meets the surrounding surface (its outer edge).
    depth_mm : float
        Maximum depth below the surrounding surface at baseline.
    aspect : float
        Ellipse aspect ratio (>= 1), area-preserving.
    angle_deg : float
        Orientation of the ellipse's long axis.
    wall_frac : float
        Boxcar wall width as a fraction of the radius (sharp walls: 0.08-0.2).
    shape : tuple of (k, amplitude, phase)
        Low-order Fourier perturbations of the outline.
    heal_rate : float
        Fractional loss of depth per session (0 = unchanged).
    """

    id: int
    type: ScarType
    center_mm: tuple[float, float]
    radius_mm: float
    depth_mm: float
    aspect: float = 1.0
    angle_deg: float = 0.0
    wall_frac: float = 0.12
    shape: tuple[tuple[int, float, float], ...] = ()
    heal_rate: float = 0.0


def scar_depth_at_session(spec: ScarSpec, session: int) -> tuple[float, float]:
    """Depth and outer radius of a scar after ``session`` treatments.

    Collagen fills the pit from its floor up, so depth falls geometrically;
    boxcar walls also creep inward a little.

    Returns
    -------
    depth_mm, radius_mm : float
    """
    keep = (1.0 - spec.heal_rate) ** session
    depth = spec.depth_mm * keep
    radius = spec.radius_mm
    if spec.type == "boxcar":
        radius *= 1.0 - 0.25 * (1.0 - keep)
    return depth, radius


def profile(
    scar_type: ScarType, rho: NDArray[np.floating], wall_frac: float = 0.12
) -> NDArray[np.float64]:
    """Normalised depth profile (1 at the deepest point, 0 at and beyond the edge).

    Parameters
    ----------
    scar_type : str
    rho : ndarray
        Radius normalised by the scar's outer radius.
    wall_frac : float
        Boxcar wall width as a fraction of the radius.
    """
    rho = np.asarray(rho, dtype=np.float64)
    inside = rho < 1.0
    if scar_type == "icepick":
        # V-shaped: a steep cone, slightly concave.
        out = np.clip(1.0 - rho, 0.0, 1.0) ** 0.8
    elif scar_type == "boxcar":
        # U-shaped: near-flat floor, sharp walls over the outer wall_frac of the radius.
        t = np.clip((1.0 - rho) / wall_frac, 0.0, 1.0)
        wall = t * t * (3.0 - 2.0 * t)
        out = wall * (1.0 - 0.12 * np.clip(rho, 0, 1) ** 2) / 1.0
    else:
        # Rolling: broad and sloping, a raised cosine.
        out = 0.5 * (1.0 + np.cos(np.pi * np.clip(rho, 0.0, 1.0)))
    return np.where(inside, out, 0.0)


def threshold_rho(scar_type: ScarType, depth_mm: float, wall_frac: float) -> float:
    """Normalised radius inside which the scar is deeper than the measurand's threshold."""
    if depth_mm <= DEPRESSION_THRESHOLD_MM:
        return 0.0
    level = DEPRESSION_THRESHOLD_MM / depth_mm
    lo, hi = 0.0, 1.0
    for _ in range(60):  # the profile falls monotonically with rho
        mid = 0.5 * (lo + hi)
        if profile(scar_type, np.array([mid]), wall_frac)[0] >= level:
            lo = mid
        else:
            hi = mid
    return lo


def outline_radius(spec: ScarSpec, theta: NDArray[np.floating]) -> NDArray[np.float64]:
    """Outer radius factor R(theta)/radius_mm of the perturbed outline."""
    r = np.ones_like(np.asarray(theta, dtype=np.float64))
    for k, amp, phase in spec.shape:
        r = r + amp * np.cos(k * theta + phase)
    return r


def local_rho(
    spec: ScarSpec, du: NDArray[np.floating], dv: NDArray[np.floating], radius_mm: float
) -> NDArray[np.float64]:
    """Normalised radius of skin points ``(u, v) = centre + (du, dv)`` in mm."""
    a = math.radians(spec.angle_deg)
    c, s = math.cos(a), math.sin(a)
    x = (c * du + s * dv) / math.sqrt(spec.aspect)
    y = (-s * du + c * dv) * math.sqrt(spec.aspect)
    theta = np.arctan2(y, x)
    return np.hypot(x, y) / (radius_mm * outline_radius(spec, theta))


def true_area_mm2(spec: ScarSpec, session: int) -> float:
    """Exact skin-plane area (mm²) of the scar deeper than the threshold."""
    depth, radius = scar_depth_at_session(spec, session)
    rho_t = threshold_rho(spec.type, depth, spec.wall_frac)
    if rho_t <= 0.0:
        return 0.0
    theta = np.linspace(0.0, 2.0 * np.pi, 2048, endpoint=False)
    r = outline_radius(spec, theta) * radius * rho_t
    return float(0.5 * np.mean(r * r) * 2.0 * np.pi)


def max_extent_mm(spec: ScarSpec) -> float:
    """A radius (mm) around the centre that contains the whole scar."""
    amp = sum(abs(a) for _, a, _ in spec.shape)
    return spec.radius_mm * (1.0 + amp) * math.sqrt(spec.aspect) + 0.05


@dataclass(frozen=True)
class Spot:
    """A flat colour spot or a raised papule on the skin plane."""

    kind: Literal["pih", "erythema", "papule"]
    center_mm: tuple[float, float]
    radius_mm: float
    strength: float
    height_mm: float = 0.0


@dataclass(frozen=True, eq=False)
class Patient:
    """A synthetic patient's skin.

    Attributes
    ----------
    seed : int
    fitzpatrick : int
        1 to 6.
    extent_mm : tuple of float
        ``(width, height)`` of the skin plane, centred on ``(0, 0)``.
    scars : tuple of ScarSpec
    spots : tuple of Spot
    marker_center_mm, marker_angle_deg, marker_mm, marker_id
        The printed scale marker lying flat on the skin (``marker_mm`` is the
        side of the black ArUco square; a white quiet zone of one module
        surrounds it). ``marker_mm == 0`` means no marker.
    curvature_per_mm : float
        The cheek's slow curvature (height = -c * r²).
    albedo_tile : ndarray of shape (Ht, Wt, 3) and dtype float32
        Linear-light reflectance at :data:`TILE_PX_PER_MM`.
    height_tile : ndarray of shape (Ht, Wt) and dtype float32
        Micro-relief, pores and hair height in mm (no scars, no curvature).
    """

    seed: int
    fitzpatrick: int
    extent_mm: tuple[float, float]
    scars: tuple[ScarSpec, ...]
    spots: tuple[Spot, ...]
    marker_center_mm: tuple[float, float]
    marker_angle_deg: float
    marker_mm: float
    marker_id: int
    curvature_per_mm: float
    albedo_tile: FloatArray = field(repr=False)
    height_tile: FloatArray = field(repr=False)

    @cached_property
    def marker_bits(self) -> NDArray[np.uint8]:
        """The marker's 6x6 module pattern (1 = white), border included."""
        dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
        img = cv2.aruco.generateImageMarker(dictionary, self.marker_id, 6)
        return (img > 127).astype(np.uint8)

    def with_scars(self, scars: tuple[ScarSpec, ...]) -> Patient:
        """The same skin with other scars (e.g. none, for look-alike-only photos)."""
        return replace(self, scars=scars)


def _smooth_noise(
    rng: np.random.Generator, shape: tuple[int, int], sigma_px: float
) -> NDArray[np.float32]:
    """Gaussian-filtered white noise with unit standard deviation."""
    if sigma_px > 8:
        # Generate at lower resolution and upsample: same spectrum, far cheaper.
        f = sigma_px / 4.0
        small = (max(2, int(shape[0] / f) + 2), max(2, int(shape[1] / f) + 2))
        n = _smooth_noise(rng, small, 4.0)
        big = cv2.resize(n, (int(small[1] * f), int(small[0] * f)), interpolation=cv2.INTER_CUBIC)
        big = big[: shape[0], : shape[1]]
        if big.shape != shape:
            big = cv2.resize(n, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
        return (big / (big.std() + 1e-12)).astype(np.float32)
    n = rng.standard_normal(shape).astype(np.float32)
    n = cv2.GaussianBlur(n, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT)
    return (n / (n.std() + 1e-12)).astype(np.float32)


def _sample_scar(rng: np.random.Generator, scar_id: int, scar_type: ScarType) -> ScarSpec:
    """Draw one scar's shape from Jacob's ranges (widths of the measured outline)."""
    shape: tuple[tuple[int, float, float], ...]
    if scar_type == "icepick":
        radius = rng.uniform(0.35, 0.85)
        depth = rng.uniform(0.45, 1.4)
        aspect = rng.uniform(1.0, 1.3)
        shape = ((3, rng.uniform(0, 0.06), rng.uniform(0, 6.3)),)
        wall = 0.12
    elif scar_type == "boxcar":
        radius = rng.uniform(0.85, 1.9)
        depth = rng.uniform(0.12, 0.6)
        aspect = rng.uniform(1.0, 1.45)
        shape = tuple((k, rng.uniform(0, 0.07), rng.uniform(0, 6.3)) for k in (3, 4, 5))
        wall = rng.uniform(0.1, 0.2)
    else:
        radius = rng.uniform(3.4, 5.5)
        depth = rng.uniform(0.14, 0.38)
        aspect = rng.uniform(1.0, 1.5)
        shape = tuple((k, rng.uniform(0, 0.09), rng.uniform(0, 6.3)) for k in (2, 3, 4))
        wall = 0.12
    return ScarSpec(
        id=scar_id,
        type=scar_type,
        center_mm=(0.0, 0.0),
        radius_mm=float(radius),
        depth_mm=float(depth),
        aspect=float(aspect),
        angle_deg=float(rng.uniform(0, 180)),
        wall_frac=float(wall),
        shape=shape,
        heal_rate=float(rng.uniform(0.04, 0.16)),
    )


def make_patient(
    seed: int,
    *,
    fitzpatrick: int | None = None,
    n_scars: int | None = None,
    type_weights: tuple[float, float, float] = (0.45, 0.35, 0.2),
    scar_region_mm: tuple[float, float] = (56.0, 40.0),
    extent_mm: tuple[float, float] = (150.0, 115.0),
    lookalikes: bool = True,
    hair: bool = True,
    marker_mm: float = 10.0,
) -> Patient:
    """Create a deterministic synthetic patient.

    Parameters
    ----------
    seed : int
        Everything follows from it.
    fitzpatrick : int, optional
        Skin type 1-6; random when omitted.
    n_scars : int, optional
        Number of atrophic scars (default 10-22; 0 for unscarred skin).
    type_weights : tuple of float
        Relative frequency of icepick, boxcar and rolling scars.
    scar_region_mm : tuple of float
        Width and height of the central region holding the scars and marker.
    extent_mm : tuple of float
        Size of the whole skin plane (cameras must stay inside it).
    lookalikes : bool
        Add brown PIH, red erythema and raised red papules.
    hair : bool
        Add hair strands.
    marker_mm : float
        Printed side of the ArUco marker; 0 for none.

    Returns
    -------
    Patient
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5CA2]))
    fitz = int(fitzpatrick if fitzpatrick is not None else rng.integers(1, 7))
    if n_scars is None:
        n_scars = int(rng.integers(10, 23))
    rw, rh = scar_region_mm

    # Marker: in one corner of the scar region, at any rotation.
    corner = rng.integers(0, 4)
    mx = (rw / 2 - 9.0) * (1 if corner % 2 else -1)
    my = (rh / 2 - 8.0) * (1 if corner // 2 else -1)
    marker_center = (float(mx), float(my))
    paper_half_mm = marker_mm * 8.0 / 6.0 / 2.0 * math.sqrt(2.0)

    placed: list[tuple[float, float, float]] = []  # (u, v, keep-out radius)
    if marker_mm > 0:
        placed.append((mx, my, paper_half_mm + 1.0))
    weights = np.asarray(type_weights, dtype=np.float64)
    weights /= weights.sum()
    scars: list[ScarSpec] = []
    attempts = 0
    while len(scars) < n_scars and attempts < 5000:
        attempts += 1
        scar_type: ScarType = ("icepick", "boxcar", "rolling")[int(rng.choice(3, p=weights))]
        spec = _sample_scar(rng, len(scars) + 1, scar_type)
        reach = max_extent_mm(spec)
        u = rng.uniform(-rw / 2 + reach, rw / 2 - reach)
        v = rng.uniform(-rh / 2 + reach, rh / 2 - reach)
        if any(math.hypot(u - pu, v - pv) < reach + pr + 1.2 for pu, pv, pr in placed):
            continue
        placed.append((u, v, reach))
        scars.append(replace(spec, center_mm=(float(u), float(v))))

    spots: list[Spot] = []
    if lookalikes:
        specs = (("pih", 3, 9, 0.8, 3.2), ("erythema", 2, 7, 1.2, 4.0), ("papule", 0, 4, 0.7, 1.8))
        for kind, lo, hi, rmin, rmax in specs:
            for _ in range(int(rng.integers(lo, hi))):
                for _try in range(200):
                    r = rng.uniform(rmin, rmax)
                    u = rng.uniform(-rw / 2 - 10, rw / 2 + 10)
                    v = rng.uniform(-rh / 2 - 8, rh / 2 + 8)
                    if all(math.hypot(u - pu, v - pv) > r + pr + 0.8 for pu, pv, pr in placed):
                        break
                placed.append((u, v, r))
                spots.append(
                    Spot(
                        kind=kind,  # type: ignore[arg-type]
                        center_mm=(float(u), float(v)),
                        radius_mm=float(r),
                        strength=float(rng.uniform(0.35, 0.9)),
                        height_mm=float(rng.uniform(0.08, 0.3)) if kind == "papule" else 0.0,
                    )
                )

    albedo, height = _make_tiles(rng, fitz, extent_mm, spots, hair)
    return Patient(
        seed=seed,
        fitzpatrick=fitz,
        extent_mm=extent_mm,
        scars=tuple(scars),
        spots=tuple(spots),
        marker_center_mm=marker_center,
        marker_angle_deg=float(rng.uniform(0, 360)),
        marker_mm=float(marker_mm),
        marker_id=int(rng.integers(0, 50)),
        curvature_per_mm=float(rng.uniform(0.0006, 0.0016)),
        albedo_tile=albedo,
        height_tile=height,
    )


def _make_tiles(
    rng: np.random.Generator,
    fitz: int,
    extent_mm: tuple[float, float],
    spots: list[Spot],
    hair: bool,
) -> tuple[FloatArray, FloatArray]:
    """Albedo (linear RGB) and micro-height tiles of the whole skin plane."""
    t = TILE_PX_PER_MM
    w, h = round(extent_mm[0] * t), round(extent_mm[1] * t)
    shape = (h, w)
    base = srgb_to_linear(np.asarray(FITZPATRICK_SRGB[fitz], dtype=np.float64) / 255.0)
    base = base * np.exp(rng.normal(0, 0.04, 3))  # individual variation

    # Mottling: slow, mostly red-channel (vascular) and overall (melanin) variation.
    slow = _smooth_noise(rng, shape, 6.0 * t)
    mid = _smooth_noise(rng, shape, 1.5 * t)
    vascular = _smooth_noise(rng, shape, 3.0 * t)
    albedo = np.empty((h, w, 3), dtype=np.float32)
    melanin = 0.05 * slow + 0.025 * mid
    for c in range(3):
        red_gain = (-0.02, 0.05, 0.04)[c]
        albedo[..., c] = base[c] * np.exp(
            melanin * (0.6, 1.0, 1.3)[c] - red_gain * np.abs(vascular)
        )

    # Micro-relief: fine skin texture and a faint anisotropic line pattern.
    relief = 0.006 * _smooth_noise(rng, shape, 0.12 * t) + 0.006 * _smooth_noise(
        rng, shape, 0.35 * t
    )
    lines = _smooth_noise(rng, shape, 0.1 * t)
    angle = rng.uniform(0, 180)
    kernel = cv2.getGaborKernel((15, 15), 2.5, math.radians(angle), 6.0, 0.3)
    relief += (
        0.004 * cv2.filter2D(lines, -1, kernel.astype(np.float32)) / (np.abs(kernel).sum() / 4.0)
    )
    height = relief.astype(np.float32)

    # Pores: small dimples (diameter < 0.4 mm) that also darken the albedo.
    density = rng.uniform(0.8, 2.2)  # per mm²
    n_pores = int(density * extent_mm[0] * extent_mm[1])
    for sigma_mm, share in ((0.035, 0.5), (0.06, 0.35), (0.09, 0.15)):
        k = int(n_pores * share)
        ys = rng.integers(0, h, k)
        xs = rng.integers(0, w, k)
        imp = np.zeros(shape, np.float32)
        np.add.at(imp, (ys, xs), rng.uniform(0.5, 1.0, k).astype(np.float32))
        s_px = sigma_mm * t
        blob = cv2.GaussianBlur(imp, (0, 0), s_px) * (2 * np.pi * s_px * s_px)
        height -= np.float32(0.03) * blob
        albedo *= (1.0 - np.float32(0.22) * np.clip(blob, 0, 1.5))[..., None]

    # Flat colour spots (brown PIH, red erythema) and raised red papules.
    for spot in spots:
        cx = (spot.center_mm[0] + extent_mm[0] / 2) * t
        cy = (spot.center_mm[1] + extent_mm[1] / 2) * t
        r = spot.radius_mm * t
        x0, x1 = int(max(0, cx - 2 * r)), int(min(w, cx + 2 * r + 1))
        y0, y1 = int(max(0, cy - 2 * r)), int(min(h, cy + 2 * r + 1))
        yy, xx = np.ogrid[y0:y1, x0:x1]
        d = np.hypot(xx - cx, yy - cy) / r
        edge = 1.0 / (1.0 + np.exp((d - 1.0) * 8.0))
        if spot.kind == "pih":
            tint = np.array([0.72, 0.6, 0.52]) ** spot.strength  # melanin absorbs blue most
        elif spot.kind == "erythema":
            tint = np.array([0.97, 0.7, 0.76]) ** spot.strength  # haemoglobin absorbs green
        else:
            tint = np.array([0.95, 0.68, 0.72]) ** spot.strength
            bump = np.clip(1.0 - d * d, 0.0, None) ** 1.5
            height[y0:y1, x0:x1] += (spot.height_mm * bump).astype(np.float32)
        for c in range(3):
            albedo[y0:y1, x0:x1, c] *= (1.0 - edge * (1.0 - tint[c])).astype(np.float32)

    if hair:
        hair_layer = np.zeros(shape, np.float32)
        for _ in range(int(rng.integers(2, 9))):
            length = rng.uniform(5.0, 22.0) * t
            x = rng.uniform(0.3, 0.7) * w
            y = rng.uniform(0.3, 0.7) * h
            a = rng.uniform(0, 2 * np.pi)
            bend = rng.normal(0, 0.06)
            pts = []
            for _step in range(40):
                pts.append((x * 16, y * 16))
                x += math.cos(a) * length / 40
                y += math.sin(a) * length / 40
                a += bend
            width_px = max(1, round(rng.uniform(0.04, 0.09) * t * 16))
            cv2.polylines(
                hair_layer,
                [np.asarray(pts, np.int32)],
                False,
                1.0,
                thickness=max(1, width_px // 16 + 1),
                lineType=cv2.LINE_AA,
                shift=4,
            )
        hair_layer = np.clip(hair_layer, 0, 1)
        dark = rng.uniform(0.12, 0.35)
        albedo *= (1.0 - hair_layer * (1.0 - dark))[..., None]
        height += 0.03 * hair_layer

    return np.clip(albedo, 0.003, 0.95).astype(np.float32), height.astype(np.float32)
