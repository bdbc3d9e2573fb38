-- ScarView patient library, schema version 2: where each photo's capture date
-- came from, the scale marker's printed size, and ground-truth masks
-- ('<view>.mask.png' beside a photo) kept under 'derived/'.

ALTER TABLE photos ADD COLUMN captured_at_source TEXT
    CHECK (captured_at_source IS NULL OR captured_at_source IN ('exif', 'mtime'));
ALTER TABLE photos ADD COLUMN calibration_marker_mm REAL
    CHECK (calibration_marker_mm IS NULL OR calibration_marker_mm > 0);
ALTER TABLE photos ADD COLUMN truth_mask_file TEXT;

-- Libraries written by schema 1 took every capture date from EXIF.
UPDATE photos SET captured_at_source = 'exif' WHERE captured_at IS NOT NULL;
