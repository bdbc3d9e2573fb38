-- ScarView patient library, schema version 1.
--
-- Applied by scarview.store.schema in one transaction with PRAGMA user_version.
-- Conventions: times are ISO 8601 text (UTC with offset for bookkeeping, naive
-- local time for EXIF capture times), dates are 'YYYY-MM-DD', file paths are
-- relative to the library folder (or, for trashed rows, to their trash folder),
-- lengths are in millimetres and pixels as the column names say.
-- Nothing is deleted: re-analysis adds rows, deletion moves rows to the trash.

CREATE TABLE trash (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('patient', 'session', 'photo')),
    item_id     INTEGER NOT NULL,
    folder      TEXT NOT NULL UNIQUE,  -- 'trash/<timestamp>-<kind>-<id>'
    description TEXT NOT NULL,
    trashed_at  TEXT NOT NULL,
    restored_at TEXT
);

CREATE TABLE patients (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL CHECK (length(trim(code)) > 0),
    name        TEXT,
    birth_date  TEXT CHECK (birth_date IS NULL OR date(birth_date) = birth_date),
    fitzpatrick INTEGER CHECK (fitzpatrick IS NULL OR fitzpatrick BETWEEN 1 AND 6),
    notes       TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    trash_id    INTEGER REFERENCES trash (id)
);
CREATE UNIQUE INDEX patients_live_code ON patients (code) WHERE trash_id IS NULL;

-- Treatment details (device, needle depth, adjuncts, side effects) belong to
-- the clinical-record schema, added by a later migration.
CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY,
    patient_id   INTEGER NOT NULL REFERENCES patients (id),
    label        TEXT NOT NULL CHECK (length(trim(label)) > 0),
    session_date TEXT CHECK (session_date IS NULL OR date(session_date) = session_date),
    notes        TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    trash_id     INTEGER REFERENCES trash (id)
);
CREATE UNIQUE INDEX sessions_live_label ON sessions (patient_id, label) WHERE trash_id IS NULL;
CREATE INDEX sessions_by_patient ON sessions (patient_id, session_date);

CREATE TABLE photos (
    id                          INTEGER PRIMARY KEY,
    session_id                  INTEGER NOT NULL REFERENCES sessions (id),
    sha256                      TEXT NOT NULL CHECK (length(sha256) = 64),
    stored_name                 TEXT NOT NULL,  -- 'originals/ab/<sha256>.jpg'
    original_name               TEXT NOT NULL,
    source_path                 TEXT,
    view                        TEXT,           -- 'frontal', 'left-45', ... or NULL
    captured_at                 TEXT,
    width                       INTEGER NOT NULL CHECK (width > 0),
    height                      INTEGER NOT NULL CHECK (height > 0),
    file_size_bytes             INTEGER NOT NULL CHECK (file_size_bytes > 0),
    format                      TEXT NOT NULL DEFAULT '',
    camera_model                TEXT,
    orientation                 INTEGER NOT NULL DEFAULT 1,
    px_per_mm                   REAL CHECK (px_per_mm IS NULL OR px_per_mm > 0),
    calibration_method          TEXT NOT NULL DEFAULT 'none'
                                CHECK (calibration_method IN ('marker', 'manual', 'none')),
    calibration_uncertainty_pct REAL,
    imported_at                 TEXT NOT NULL,
    trash_id                    INTEGER REFERENCES trash (id)
);
CREATE UNIQUE INDEX photos_live_sha256 ON photos (sha256) WHERE trash_id IS NULL;
CREATE INDEX photos_sha256 ON photos (sha256);
CREATE INDEX photos_by_session ON photos (session_id);

CREATE TABLE analyses (
    id                INTEGER PRIMARY KEY,
    photo_id          INTEGER NOT NULL REFERENCES photos (id),
    created_at        TEXT NOT NULL,
    algorithm_version TEXT NOT NULL,
    settings_json     TEXT NOT NULL CHECK (json_valid(settings_json)),
    calibration_json  TEXT NOT NULL CHECK (json_valid(calibration_json)),
    px_per_mm         REAL,
    summary_json      TEXT NOT NULL CHECK (json_valid(summary_json)),
    scar_count        INTEGER NOT NULL,
    area_mm2          REAL,
    roi_json          TEXT CHECK (roi_json IS NULL OR json_valid(roi_json)),
    light_azimuth_deg REAL,
    warnings_json     TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(warnings_json)),
    mask_file         TEXT NOT NULL  -- 16-bit label PNG under 'derived/'
);
CREATE INDEX analyses_by_photo ON analyses (photo_id, id);

CREATE TABLE analysis_scars (
    analysis_id INTEGER NOT NULL REFERENCES analyses (id),
    scar_id     INTEGER NOT NULL,
    type        TEXT NOT NULL CHECK (type IN ('icepick', 'boxcar', 'rolling')),
    area_px     INTEGER NOT NULL,
    area_mm2    REAL,
    diameter_mm REAL,
    centroid_x  REAL NOT NULL,
    centroid_y  REAL NOT NULL,
    bbox_x      INTEGER NOT NULL,
    bbox_y      INTEGER NOT NULL,
    bbox_w      INTEGER NOT NULL,
    bbox_h      INTEGER NOT NULL,
    contour_xy  BLOB NOT NULL,  -- little-endian float64 pairs (x, y), photo pixels
    confidence  REAL NOT NULL,
    depth_mm    REAL,
    source      TEXT NOT NULL DEFAULT 'auto' CHECK (source IN ('auto', 'manual')),
    PRIMARY KEY (analysis_id, scar_id)
) WITHOUT ROWID;

-- A later photo mapped onto its session-baseline photo (AFTER onto BEFORE pixels).
CREATE TABLE alignments (
    id                INTEGER PRIMARY KEY,
    photo_id          INTEGER NOT NULL REFERENCES photos (id),
    baseline_photo_id INTEGER NOT NULL REFERENCES photos (id),
    created_at        TEXT NOT NULL,
    ok                INTEGER NOT NULL CHECK (ok IN (0, 1)),
    method            TEXT NOT NULL,
    homography_json   TEXT CHECK (homography_json IS NULL OR json_valid(homography_json)),
    inliers           INTEGER NOT NULL DEFAULT 0,
    inlier_ratio      REAL NOT NULL DEFAULT 0,
    rmse_px           REAL,
    ecc               REAL,
    reason            TEXT,
    warnings_json     TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(warnings_json)),
    residuals_json    TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(residuals_json)),
    CHECK (photo_id <> baseline_photo_id)
);
CREATE INDEX alignments_by_photo ON alignments (photo_id, id);

-- A clinician's edit of one photo's result; applied again after every re-analysis.
CREATE TABLE corrections (
    id           INTEGER PRIMARY KEY,
    photo_id     INTEGER NOT NULL REFERENCES photos (id),
    kind         TEXT NOT NULL,
    payload_json TEXT NOT NULL CHECK (json_valid(payload_json)),
    created_at   TEXT NOT NULL,
    deleted_at   TEXT  -- set when undone; the row is kept
);
CREATE INDEX corrections_by_photo ON corrections (photo_id, id);
