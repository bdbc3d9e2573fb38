"""Photograph a synthetic patient: light, camera, exposure, sensor and JPEG."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from scarview.synth.skin import (
    DEPRESSION_THRESHOLD_MM,
    TILE_PX_PER_MM,
    Patient,
    ScarSpec,
    local_rho,
    max_extent_mm,
    profile,
    scar_depth_at_session,
    true_area_mm2,
)


@dataclass(frozen=True)
class Camera:
    """Where the camera looks and how it maps the skin plane onto pixels.

    Attributes
    ----------
    width, height : int
        Photo size in pixels.
    px_per_mm : float
        Scale at the photo's centre.
    rotation_deg : float
        Rotation of the skin in the photo (counter-clockwise on screen).
    center_mm : tuple of float
        The skin point seen at the photo's centre.
    perspective : tuple of float
        ``(px, py)``: the homography's projective terms, as the relative change of
        scale across half the photo's width and height (0.03 = 3 %).
    blur_px : float
        Optical blur (Gaussian sigma) in pixels.
    """

    width: int = 1200
    height: int = 900
    px_per_mm: float = 15.0
    rotation_deg: float = 0.0
    center_mm: tuple[float, float] = (0.0, 0.0)
    perspective: tuple[float, float] = (0.0, 0.0)
    blur_px: float = 0.6

    def image_from_skin(self) -> NDArray[np.float64]:
        """3x3 homography: skin-plane mm ``(u, v, 1)`` to photo pixels."""
        a = math.radians(self.rotation_deg)
        s = self.px_per_mm
        # Screen y points down, so a counter-clockwise rotation on screen is -a.
        rot = np.array([[math.cos(a), math.sin(a), 0], [-math.sin(a), math.cos(a), 0], [0, 0, 1]])
        to_origin = np.array(
            [[1, 0, -self.center_mm[0]], [0, 1, -self.center_mm[1]], [0, 0, 1]], dtype=float
        )
        scale = np.diag([s, s, 1.0])
        # Projective terms defined in centred image coordinates.
        px = self.perspective[0] / (self.width / 2)
        py = self.perspective[1] / (self.height / 2)
        proj = np.array([[1, 0, 0], [0, 1, 0], [px, py, 1]], dtype=float)
        to_center = np.array(
            [[1, 0, self.width / 2 - 0.5], [0, 1, self.height / 2 - 0.5], [0, 0, 1]]
        )
        H = to_center @ proj @ scale @ rot @ to_origin
        return H / H[2, 2]


@dataclass(frozen=True)
class Light:
    """A directional light.

    Attributes
    ----------
    azimuth_deg : float
        Direction the light comes FROM on the skin plane (0 = from +u, 90 = from +v).
    elevation_deg : float
        Angle above the skin plane.
    ambient : float
        Diffuse fill relative to the direct light at normal incidence.
    specular : float
        Strength of the skin's sheen.
    """

    azimuth_deg: float = 135.0
    elevation_deg: float = 40.0
    ambient: float = 0.3
    specular: float = 0.04


@dataclass(frozen=True)
class Capture:
    """Exposure, white balance, sensor and encoding.

    Attributes
    ----------
    exposure : float
        Multiplier on the correct exposure (0.7 to 1.3 is +-30 %).
    white_balance : tuple of float
        Per-channel gains (R, G, B), e.g. ``(1.06, 1.0, 0.95)``.
    noise : float
        Read-noise sigma in linear units (shot noise scales with it).
    jpeg_quality : int or None
        JPEG quality; ``None`` keeps the photo lossless.
    captured_at : datetime or None
        Written as EXIF DateTimeOriginal when the photo is encoded.
    """

    exposure: float = 1.0
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)
    noise: float = 0.004
    jpeg_quality: int | None = 92
    captured_at: datetime | None = None


@dataclass(frozen=True, eq=False)
class RenderedPhoto:
    """A synthetic photo and its truth.

    Attributes
    ----------
    rgb : ndarray of shape (H, W, 3) and dtype uint8
        The photo as a reader would return it (after JPEG when requested).
    encoded : bytes
        The file's bytes (JPEG, or PNG when lossless).
    labels : ndarray of shape (H, W) and dtype int32
        Ground truth: the id of the scar whose depth exceeds 0.05 mm there, else 0.
    image_from_skin : ndarray of shape (3, 3)
        Homography from skin-plane mm to photo pixels.
    px_per_mm : float
        Scale at the photo's centre.
    marker_corners_xy : ndarray of shape (4, 2) or None
        The black marker square's corners in photo pixels.
    truth : dict
        JSON-ready truth: scars with type, skin-plane area and centroid, totals.
    """

    rgb: NDArray[np.uint8]
    encoded: bytes
    labels: NDArray[np.int32]
    image_from_skin: NDArray[np.float64]
    px_per_mm: float
    marker_corners_xy: NDArray[np.float64] | None
    truth: dict[str, Any] = field(default_factory=dict)

    @property
    def mask(self) -> NDArray[np.bool_]:
        """Boolean truth mask (H, W)."""
        return self.labels > 0

    def homography_to(self, other: RenderedPhoto) -> NDArray[np.float64]:
        """True homography mapping this photo's pixels onto ``other``'s."""
        H = other.image_from_skin @ np.linalg.inv(self.image_from_skin)
        return H / H[2, 2]


def _jacobian(H: NDArray[np.float64], u: float, v: float) -> NDArray[np.float64]:
    """2x2 derivative of the homography at skin point (u, v): px per mm."""
    p = H @ np.array([u, v, 1.0])
    w = p[2]
    x, y = p[0] / w, p[1] / w
    return np.array(
        [
            [(H[0, 0] - x * H[2, 0]) / w, (H[0, 1] - x * H[2, 1]) / w],
            [(H[1, 0] - y * H[2, 0]) / w, (H[1, 1] - y * H[2, 1]) / w],
        ]
    )


def _skin_coords(
    Hinv: NDArray[np.float64], x0: int, y0: int, w: int, h: int
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Skin-plane (u, v) in mm of every pixel in a window of the photo."""
    xs = np.arange(x0, x0 + w, dtype=np.float64)[None, :]
    ys = np.arange(y0, y0 + h, dtype=np.float64)[:, None]
    den = Hinv[2, 0] * xs + Hinv[2, 1] * ys + Hinv[2, 2]
    u = (Hinv[0, 0] * xs + Hinv[0, 1] * ys + Hinv[0, 2]) / den
    v = (Hinv[1, 0] * xs + Hinv[1, 1] * ys + Hinv[1, 2]) / den
    return u.astype(np.float32), v.astype(np.float32)


def _window(
    H: NDArray[np.float64], center: tuple[float, float], reach_mm: float, w: int, h: int
) -> tuple[int, int, int, int] | None:
    """Pixel window (x0, y0, x1, y1) covering a skin disc, clipped to the photo."""
    cu, cv_ = center
    pts = np.array(
        [[cu + dx * reach_mm, cv_ + dy * reach_mm] for dx in (-1, 1) for dy in (-1, 1)],
        dtype=np.float64,
    )
    img = cv2.perspectiveTransform(pts[None], H)[0]
    x0 = max(0, math.floor(img[:, 0].min()) - 3)
    y0 = max(0, math.floor(img[:, 1].min()) - 3)
    x1 = min(w, math.ceil(img[:, 0].max()) + 4)
    y1 = min(h, math.ceil(img[:, 1].max()) + 4)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def render(
    patient: Patient,
    *,
    session: int = 0,
    camera: Camera | None = None,
    light: Light | None = None,
    capture: Capture | None = None,
    seed: int = 0,
) -> RenderedPhoto:
    """Photograph ``patient`` after ``session`` treatments.

    Parameters
    ----------
    patient : Patient
    session : int
        0 for the baseline; each later session heals every scar a little.
    camera, light, capture : optional
        Defaults: a 1200x900 photo at 15 px/mm, light from the upper left at 40°.
    seed : int
        Seed of the sensor noise.

    Returns
    -------
    RenderedPhoto
    """
    camera = camera or Camera()
    light = light or Light()
    capture = capture or Capture()
    rng = np.random.default_rng(np.random.SeedSequence([patient.seed, session, seed, 0x7E]))
    W, Hh = camera.width, camera.height
    H = camera.image_from_skin()
    Hinv = np.asarray(np.linalg.inv(H), dtype=np.float64)
    J = _jacobian(H, *camera.center_mm)
    u, v = _skin_coords(Hinv, 0, 0, W, Hh)

    # Texture tiles resampled into the photo.
    t = TILE_PX_PER_MM
    ext_w, ext_h = patient.extent_mm
    map_x = (u + ext_w / 2) * t - 0.5
    map_y = (v + ext_h / 2) * t - 0.5
    albedo = cv2.remap(
        patient.albedo_tile, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    height = cv2.remap(
        patient.height_tile, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    del map_x, map_y
    height -= patient.curvature_per_mm * (u * u + v * v)

    # Scars: analytic depth profiles, and the truth at the 0.05 mm threshold.
    labels = np.zeros((Hh, W), np.int32)
    scar_windows: list[tuple[ScarSpec, tuple[int, int, int, int]]] = []
    scar_truth: list[dict[str, Any]] = []
    for spec in patient.scars:
        depth_mm, radius_mm = scar_depth_at_session(spec, session)
        win = _window(H, spec.center_mm, max_extent_mm(spec), W, Hh)
        area = true_area_mm2(spec, session)
        if win is None:
            continue
        x0, y0, x1, y1 = win
        du = u[y0:y1, x0:x1] - spec.center_mm[0]
        dv = v[y0:y1, x0:x1] - spec.center_mm[1]
        rho = local_rho(spec, du, dv, radius_mm)
        depth = depth_mm * profile(spec.type, rho, spec.wall_frac)
        height[y0:y1, x0:x1] -= depth.astype(np.float32)
        inside = depth >= DEPRESSION_THRESHOLD_MM
        labels[y0:y1, x0:x1][inside] = spec.id
        scar_windows.append((spec, win))
        if area > 0 and inside.any():
            ys, xs = np.nonzero(inside)
            scar_truth.append(
                {
                    "id": spec.id,
                    "type": spec.type,
                    "area_mm2": round(area, 5),
                    "diameter_mm": round(2 * math.sqrt(area / math.pi), 4),
                    "depth_mm": round(depth_mm, 4),
                    "center_mm": [round(c, 4) for c in spec.center_mm],
                    "centroid_xy": [
                        round(float(xs.mean() + x0), 2),
                        round(float(ys.mean() + y0), 2),
                    ],
                    "area_px": int(inside.sum()),
                    "fully_visible": bool(x0 > 0 and y0 > 0 and x1 < W and y1 < Hh),
                }
            )

    # The printed marker: flat paper replacing skin albedo and relief.
    marker_corners = None
    if patient.marker_mm > 0:
        marker_corners = _draw_marker(patient, H, u, v, albedo, height)

    # Shading in the skin plane's frame: slope per mm via the camera's Jacobian.
    gx = cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8, borderType=cv2.BORDER_REFLECT)
    gy = cv2.Sobel(height, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8, borderType=cv2.BORDER_REFLECT)
    hu = (J[0, 0] * gx + J[1, 0] * gy).astype(np.float32)
    hv = (J[0, 1] * gx + J[1, 1] * gy).astype(np.float32)
    del gx, gy
    az, el = math.radians(light.azimuth_deg), math.radians(light.elevation_deg)
    L = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    norm = np.sqrt(1.0 + hu * hu + hv * hv)
    lambert = np.clip((-hu * L[0] - hv * L[1] + L[2]) / norm, 0.0, None)
    # Half-vector sheen toward a camera looking straight down.
    half = L + np.array([0.0, 0.0, 1.0])
    half /= np.linalg.norm(half)
    n_dot_h = np.clip((-hu * half[0] - hv * half[1] + half[2]) / norm, 0.0, 1.0)
    sheen = light.specular * n_dot_h**40
    del hu, hv, norm, n_dot_h

    shadow = np.ones_like(lambert)
    occlusion = np.ones_like(lambert)
    px_per_mm_dir = float(np.linalg.norm(J @ np.array([math.cos(az), math.sin(az)])))
    step = (J @ np.array([math.cos(az), math.sin(az)])) / px_per_mm_dir  # unit px toward light
    tan_el = math.tan(el)
    for _spec, (x0, y0, x1, y1) in scar_windows:
        pad = 4
        xa, ya = max(0, x0 - pad), max(0, y0 - pad)
        xb, yb = min(W, x1 + pad), min(Hh, y1 + pad)
        patch = height[ya:yb, xa:xb]
        base = patch.copy()
        # Cast shadows: is the surface toward the light higher than the light ray?
        n_steps = int(max(xb - xa, yb - ya))
        stride = max(1, n_steps // 120)
        excess = np.full(patch.shape, -1.0, np.float32)
        for s in range(stride, n_steps, stride):
            # warpAffine's dst(p) = src(p - t): t = -step * s looks s px toward the light.
            m = np.array([[1, 0, -step[0] * s], [0, 1, -step[1] * s]], np.float32)
            ahead = cv2.warpAffine(
                patch,
                m,
                (patch.shape[1], patch.shape[0]),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REPLICATE,
            )
            np.maximum(excess, ahead - base - (s / px_per_mm_dir) * tan_el, out=excess)
        soft = np.clip(1.0 - excess / 0.025, 0.0, 1.0)
        shadow[ya:yb, xa:xb] = np.minimum(shadow[ya:yb, xa:xb], soft)
        # Ambient occlusion: how far below its neighbourhood a point sits.
        sigma = 0.4 * px_per_mm_dir
        around = cv2.GaussianBlur(patch, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
        sunk = np.clip((around - patch) / 0.5, 0.0, 0.55)
        occlusion[ya:yb, xa:xb] = np.minimum(occlusion[ya:yb, xa:xb], 1.0 - sunk)

    direct = lambert * shadow
    flat = light.ambient + L[2]
    irradiance = ((light.ambient * occlusion + direct) / flat).astype(np.float32)
    del lambert, shadow, occlusion, direct, u, v, height

    # Subsurface scattering blurs the light inside the skin, red the most.
    ppm = camera.px_per_mm
    radiance = np.empty_like(albedo)
    for c, sss_mm in enumerate((0.12, 0.07, 0.05)):
        e = cv2.GaussianBlur(irradiance, (0, 0), max(0.3, sss_mm * ppm))
        radiance[..., c] = albedo[..., c] * e + sheen
    albedo_lum = (albedo[::8, ::8] @ np.array([0.2126, 0.7152, 0.0722], np.float32)).ravel()
    del irradiance, albedo

    # Camera: exposure, white balance, optics, sensor noise, sRGB, JPEG.
    # The photographer exposes for the skin: part-way toward a mid-tone, as a
    # clinic's camera does, so darker skin is not rendered nearly black.
    skin_lum = float(np.median(albedo_lum)) if albedo_lum.size else 0.3
    auto = float(np.clip((0.3 / max(skin_lum, 1e-3)) ** 0.6, 0.7, 4.0))
    gains = np.asarray(capture.white_balance, np.float32) * np.float32(
        0.8 * auto * capture.exposure
    )
    radiance *= gains
    if camera.blur_px > 0:
        radiance = cv2.GaussianBlur(radiance, (0, 0), camera.blur_px)
    if capture.noise > 0:
        sigma = np.sqrt(capture.noise**2 + 0.6 * capture.noise * np.clip(radiance, 0, None))
        radiance += (rng.standard_normal(radiance.shape).astype(np.float32) * sigma).astype(
            np.float32
        )
    np.clip(radiance, 0.0, 1.0, out=radiance)
    srgb = np.where(
        radiance <= 0.0031308, radiance * 12.92, 1.055 * np.power(radiance, 1 / 2.4) - 0.055
    )
    rgb = np.clip(srgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
    encoded = encode_photo(rgb, capture.jpeg_quality, capture.captured_at)
    if capture.jpeg_quality is not None:
        decoded = cv2.imdecode(np.frombuffer(encoded, np.uint8), cv2.IMREAD_COLOR)
        rgb = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)

    truth = {
        "schema": "scarview.synth-truth/1",
        "patient_seed": patient.seed,
        "fitzpatrick": patient.fitzpatrick,
        "session": session,
        "px_per_mm": round(ppm, 6),
        "image_from_skin": [[float(x) for x in row] for row in H],
        "light": {"azimuth_deg": light.azimuth_deg, "elevation_deg": light.elevation_deg},
        "capture": {
            "exposure": capture.exposure,
            "white_balance": list(capture.white_balance),
            "jpeg_quality": capture.jpeg_quality,
        },
        "marker_mm": patient.marker_mm,
        "count": len(scar_truth),
        "area_mm2": round(sum(s["area_mm2"] for s in scar_truth), 5),
        "by_type": {
            t_: {
                "count": sum(1 for s in scar_truth if s["type"] == t_),
                "area_mm2": round(sum(s["area_mm2"] for s in scar_truth if s["type"] == t_), 5),
            }
            for t_ in ("icepick", "boxcar", "rolling")
        },
        "scars": scar_truth,
    }
    return RenderedPhoto(
        rgb=np.ascontiguousarray(rgb),
        encoded=encoded,
        labels=labels,
        image_from_skin=H,
        px_per_mm=ppm,
        marker_corners_xy=marker_corners,
        truth=truth,
    )


def _draw_marker(
    patient: Patient,
    H: NDArray[np.float64],
    u: NDArray[np.float32],
    v: NDArray[np.float32],
    albedo: NDArray[np.float32],
    height: NDArray[np.float32],
) -> NDArray[np.float64]:
    """Paint the flat paper marker (4x4 ArUco + white quiet zone), anti-aliased."""
    side = patient.marker_mm
    module = side / 6.0
    half_paper = 4.0 * module
    a = math.radians(patient.marker_angle_deg)
    c, s = math.cos(a), math.sin(a)
    cu, cv_ = patient.marker_center_mm
    corners_mm = np.array(
        [
            [-3 * module, -3 * module],
            [3 * module, -3 * module],
            [3 * module, 3 * module],
            [-3 * module, 3 * module],
        ]
    )
    rot = np.array([[c, -s], [s, c]])
    corners_skin = corners_mm @ rot.T + np.array([cu, cv_])
    corners_img = cv2.perspectiveTransform(corners_skin[None].astype(np.float64), H)[0]
    win = _window(H, (cu, cv_), half_paper * math.sqrt(2) + 0.2, u.shape[1], u.shape[0])
    if win is None:
        return corners_img
    x0, y0, x1, y1 = win
    Hinv = np.linalg.inv(H)
    bits = patient.marker_bits.astype(np.float32)
    ink = np.zeros((y1 - y0, x1 - x0), np.float32)
    paper = np.zeros_like(ink)
    n = 4  # supersampling per axis
    for oy in range(n):
        for ox in range(n):
            xs = np.arange(x0, x1, dtype=np.float64)[None, :] + (ox + 0.5) / n - 0.5
            ys = np.arange(y0, y1, dtype=np.float64)[:, None] + (oy + 0.5) / n - 0.5
            den = Hinv[2, 0] * xs + Hinv[2, 1] * ys + Hinv[2, 2]
            su = (Hinv[0, 0] * xs + Hinv[0, 1] * ys + Hinv[0, 2]) / den - cu
            sv = (Hinv[1, 0] * xs + Hinv[1, 1] * ys + Hinv[1, 2]) / den - cv_
            mu = c * su + s * sv  # marker frame
            mv = -s * su + c * sv
            on_paper = (np.abs(mu) < half_paper) & (np.abs(mv) < half_paper)
            col = np.floor(mu / module + 3).astype(np.int64)
            row = np.floor(mv / module + 3).astype(np.int64)
            in_code = (col >= 0) & (col < 6) & (row >= 0) & (row < 6)
            black = np.zeros(on_paper.shape, np.float32)
            black[in_code] = 1.0 - bits[row[in_code], col[in_code]]
            ink += black
            paper += on_paper
    ink /= n * n
    paper /= n * n
    white = np.float32(0.82)
    printed = white * (1.0 - ink) + np.float32(0.035) * ink
    for ch in range(3):
        region = albedo[y0:y1, x0:x1, ch]
        region[...] = region * (1.0 - paper) + printed * paper
    # The paper is flat: the skin's fine relief does not show through it.
    region_h = height[y0:y1, x0:x1]
    smooth = -patient.curvature_per_mm * (u[y0:y1, x0:x1] ** 2 + v[y0:y1, x0:x1] ** 2)
    region_h[...] = region_h * (1.0 - paper) + smooth * paper
    return corners_img


def encode_photo(
    rgb: NDArray[np.uint8], jpeg_quality: int | None, captured_at: datetime | None = None
) -> bytes:
    """Encode a photo as a camera would: JPEG (with EXIF date) or lossless PNG."""
    img = Image.fromarray(rgb, "RGB")
    exif = Image.Exif()
    if captured_at is not None:
        stamp = captured_at.strftime("%Y:%m:%d %H:%M:%S")
        exif[0x0132] = stamp  # DateTime
        exif[0x010F] = "ScarView"  # Make
        exif[0x0110] = "Synthetic skin camera"  # Model
        exif.get_ifd(0x8769)[0x9003] = stamp  # DateTimeOriginal
    buf = io.BytesIO()
    if jpeg_quality is None:
        img.save(buf, format="PNG", exif=exif)
    else:
        img.save(buf, format="JPEG", quality=int(jpeg_quality), exif=exif, subsampling=0)
    return buf.getvalue()


def random_camera(
    rng: np.random.Generator,
    *,
    width: int = 1200,
    height: int = 900,
    px_per_mm: tuple[float, float] = (12.0, 20.0),
    rotation_deg: tuple[float, float] = (-10.0, 10.0),
    shift_mm: float = 3.0,
    perspective: float = 0.02,
    base: Camera | None = None,
) -> Camera:
    """Draw a camera pose.

    With ``base``, the pose is relative to it (the same view photographed again):
    its scale is multiplied by a factor drawn from ``px_per_mm`` understood as a
    ratio range, its rotation offset by ``rotation_deg`` and its centre moved by
    up to ``shift_mm``.
    """
    persp = (
        float(rng.uniform(-perspective, perspective)),
        float(rng.uniform(-perspective, perspective)),
    )
    if base is None:
        return Camera(
            width=width,
            height=height,
            px_per_mm=float(np.exp(rng.uniform(np.log(px_per_mm[0]), np.log(px_per_mm[1])))),
            rotation_deg=float(rng.uniform(*rotation_deg)),
            center_mm=(
                float(rng.uniform(-shift_mm, shift_mm)),
                float(rng.uniform(-shift_mm, shift_mm)),
            ),
            perspective=persp,
            blur_px=float(rng.uniform(0.4, 0.9)),
        )
    ratio = float(np.exp(rng.uniform(np.log(px_per_mm[0]), np.log(px_per_mm[1]))))
    return Camera(
        width=base.width,
        height=base.height,
        px_per_mm=base.px_per_mm * ratio,
        rotation_deg=base.rotation_deg + float(rng.uniform(*rotation_deg)),
        center_mm=(
            base.center_mm[0] + float(rng.uniform(-shift_mm, shift_mm)),
            base.center_mm[1] + float(rng.uniform(-shift_mm, shift_mm)),
        ),
        perspective=persp,
        blur_px=float(rng.uniform(0.4, 0.9)),
    )


def random_light(
    rng: np.random.Generator, *, elevation_deg: tuple[float, float] = (25.0, 60.0)
) -> Light:
    """A directional light from any azimuth at an elevation in the given range."""
    return Light(
        azimuth_deg=float(rng.uniform(0, 360)),
        elevation_deg=float(rng.uniform(*elevation_deg)),
        ambient=float(rng.uniform(0.2, 0.4)),
        specular=float(rng.uniform(0.0, 0.06)),
    )


def random_capture(
    rng: np.random.Generator,
    *,
    exposure: float = 0.3,
    white_balance: float = 0.08,
    jpeg_quality: tuple[int, int] = (75, 95),
    captured_at: datetime | None = None,
) -> Capture:
    """Exposure within +-``exposure``, white balance within +-``white_balance``, JPEG."""
    return Capture(
        exposure=float(1.0 + rng.uniform(-exposure, exposure)),
        white_balance=(
            float(1.0 + rng.uniform(-white_balance, white_balance)),
            1.0,
            float(1.0 + rng.uniform(-white_balance, white_balance)),
        ),
        noise=float(rng.uniform(0.002, 0.006)),
        jpeg_quality=int(rng.integers(jpeg_quality[0], jpeg_quality[1] + 1)),
        captured_at=captured_at,
    )


@dataclass(frozen=True)
class SessionJitter:
    """How much the set-up moves between sessions when a clinic photographs a view again.

    Every range is symmetric around the baseline session's value. A zero
    means that quantity does not vary (and nothing is drawn for it).

    Attributes
    ----------
    zoom : tuple of float
        Range of the ratio of a session's px per mm to the baseline's.
    rotation_deg : float
        Largest rotation of the camera, degrees.
    shift_mm : float
        Largest move of the photo's centre on the skin, mm, in u and in v.
    perspective : float
        Largest projective term of the camera (see :class:`Camera`).
    light_azimuth_deg : float
        Largest turn of the light's azimuth, degrees.
    light_elevation_deg : float
        Largest change of the light's elevation, degrees.
    capture_minutes : int
        The capture time is the session's date plus a whole number of minutes
        drawn below this (0: exactly the date).
    exposure : float
        Largest relative change of exposure (0.1 = +-10 %).
    white_balance : float
        Largest relative change of the red and of the blue gain.
    """

    zoom: tuple[float, float] = (0.95, 1.05)
    rotation_deg: float = 6.0
    shift_mm: float = 3.0
    perspective: float = 0.015
    light_azimuth_deg: float = 20.0
    light_elevation_deg: float = 0.0
    capture_minutes: int = 0
    exposure: float = 0.0
    white_balance: float = 0.0


def session_captures(
    patient: Patient,
    n_sessions: int,
    rng: np.random.Generator,
    *,
    camera: Camera,
    light: Light | None = None,
    capture: Capture | None = None,
    jitter: SessionJitter | None = None,
    dates: Sequence[datetime | None] | None = None,
) -> Iterator[RenderedPhoto]:
    """Photograph the same view of a patient at each session, as a clinic does.

    Session 0 (the baseline) is taken with ``camera`` itself; every later one
    with a camera moved from it by :func:`random_camera` within ``jitter``
    (zoom, rotation, shift, perspective; a new optical blur). At every session
    the light turns and tilts a little from ``light``, and the capture time,
    exposure and white balance drift from ``capture``, within ``jitter``.
    Session ``k`` shows the patient after ``k`` treatments; its sensor noise is
    seeded with ``k``.

    Parameters
    ----------
    patient : Patient
    n_sessions : int
        Photos to take, baseline included.
    rng : numpy.random.Generator
        Source of the jitter. The photos are rendered lazily, one per
        iteration, and each draws from ``rng`` when it is rendered, in a fixed
        order: the camera (from session 1 on), then the light's azimuth and
        elevation, the capture minutes, the exposure, the red and blue gains
        (each only when its jitter is not zero). The same seed gives the same
        photos.
    camera : Camera
        The baseline session's camera.
    light : Light, optional
        The light the sessions vary around (default :class:`Light`).
    capture : Capture, optional
        Exposure, white balance, noise and JPEG quality the sessions vary
        around (default :class:`Capture`).
    jitter : SessionJitter, optional
        How much varies (default :class:`SessionJitter`).
    dates : sequence of datetime or None, optional
        Each session's capture time (EXIF) before ``jitter.capture_minutes``;
        default ``capture.captured_at``.

    Yields
    ------
    RenderedPhoto
        Session 0, 1, ... ``n_sessions - 1``; ``photo.homography_to(baseline)``
        maps a session's pixels onto the baseline's.
    """
    light = light or Light()
    capture = capture or Capture()
    jitter = jitter or SessionJitter()
    if dates is not None and len(dates) < n_sessions:
        raise ValueError(f"{n_sessions} sessions need {n_sessions} dates, got {len(dates)}.")
    for session in range(n_sessions):
        session_camera = camera
        if session > 0:
            session_camera = random_camera(
                rng,
                base=camera,
                px_per_mm=jitter.zoom,
                rotation_deg=(-jitter.rotation_deg, jitter.rotation_deg),
                shift_mm=jitter.shift_mm,
                perspective=jitter.perspective,
            )
        session_light = light
        if jitter.light_azimuth_deg:
            turn = jitter.light_azimuth_deg
            azimuth = light.azimuth_deg + float(rng.uniform(-turn, turn))
            session_light = replace(session_light, azimuth_deg=azimuth)
        if jitter.light_elevation_deg:
            tilt = jitter.light_elevation_deg
            elevation = float(rng.uniform(light.elevation_deg - tilt, light.elevation_deg + tilt))
            session_light = replace(session_light, elevation_deg=elevation)
        when = capture.captured_at if dates is None else dates[session]
        if jitter.capture_minutes:
            minutes = int(rng.integers(0, jitter.capture_minutes))
            when = None if when is None else when + timedelta(minutes=minutes)
        session_capture = replace(capture, captured_at=when)
        if jitter.exposure:
            change = float(rng.uniform(-jitter.exposure, jitter.exposure))
            session_capture = replace(session_capture, exposure=capture.exposure * (1.0 + change))
        if jitter.white_balance:
            w = jitter.white_balance
            red, green, blue = capture.white_balance
            red *= 1.0 + float(rng.uniform(-w, w))
            blue *= 1.0 + float(rng.uniform(-w, w))
            session_capture = replace(session_capture, white_balance=(red, green, blue))
        yield render(
            patient,
            session=session,
            camera=session_camera,
            light=session_light,
            capture=session_capture,
            seed=session,
        )
