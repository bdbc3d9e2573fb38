"""ScarView's own synthetic skin: photos of pitted scars with known ground truth.

A deterministic, physically motivated generator used by the tests, the
benchmarks and ``sample_images/``:

* the skin is a plane described in millimetres: a height map (atrophic scars of
  the three Jacob types, pores, raised papules, micro-relief and the cheek's
  slow curvature) and an albedo (Fitzpatrick base colour, mottling, pores,
  brown post-inflammatory hyperpigmentation, red erythema, hair);
* a flat printed ArUco scale marker lies on it;
* a directional light (azimuth, elevation) shades it with Lambertian diffuse
  reflection, cast shadows, ambient occlusion in deep pits, subsurface blur
  and a little specular sheen;
* a camera views it through a homography (scale in px per mm, rotation,
  translation, mild perspective), then applies exposure, white balance,
  optical blur, sensor noise, the sRGB curve and JPEG compression.

The truth is the measurand of ``CLINICAL.md``: skin depressed by at least
0.05 mm below the surrounding surface, for each scar.
"""

from scarview.synth.render import (
    Camera,
    Capture,
    Light,
    RenderedPhoto,
    SessionJitter,
    random_camera,
    random_capture,
    random_light,
    render,
    session_captures,
)
from scarview.synth.skin import (
    DEPRESSION_THRESHOLD_MM,
    FITZPATRICK_SRGB,
    Patient,
    ScarSpec,
    make_patient,
    scar_depth_at_session,
)

__all__ = [
    "DEPRESSION_THRESHOLD_MM",
    "FITZPATRICK_SRGB",
    "Camera",
    "Capture",
    "Light",
    "Patient",
    "RenderedPhoto",
    "ScarSpec",
    "SessionJitter",
    "make_patient",
    "random_camera",
    "random_capture",
    "random_light",
    "render",
    "scar_depth_at_session",
    "session_captures",
]
