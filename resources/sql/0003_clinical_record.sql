-- ScarView patient library, schema version 3: the clinical record of each
-- session -- the treatment given and the clinical grades scored.
--
-- New tables only: nothing existing is altered, so every older row stays as it
-- was and a library opened by an older ScarView is refused by its version
-- check, never half-read. The sessions table keeps its free 'notes'; treatment
-- details live here, one table per kind of record.
--
-- Both tables are append-only like analyses: saving a session's record adds a
-- row, and the row with the highest id is the session's current record, so
-- every earlier version stays for audit. Rows follow their session into and
-- out of the trash (they are filtered through sessions.trash_id).
-- Units are in the column names; the scales' tables are those of
-- scarview.core.grading, whose version is stored in scales_version.

CREATE TABLE session_treatments (
    id                   INTEGER PRIMARY KEY,
    session_id           INTEGER NOT NULL REFERENCES sessions (id),
    procedures_json      TEXT NOT NULL
                         CHECK (json_valid(procedures_json)
                                AND json_type(procedures_json) = 'array'
                                AND json_array_length(procedures_json) > 0),
    other_procedure      TEXT NOT NULL DEFAULT '',
    device               TEXT NOT NULL DEFAULT '',
    needle_depth_mm      REAL CHECK (needle_depth_mm IS NULL
                                     OR needle_depth_mm BETWEEN 0.1 AND 3.0),
    passes               INTEGER CHECK (passes IS NULL OR passes BETWEEN 1 AND 20),
    anaesthesia          TEXT NOT NULL DEFAULT '',
    clinician            TEXT NOT NULL DEFAULT '',
    immediate_reactions  TEXT NOT NULL DEFAULT '',
    erythema_days        INTEGER CHECK (erythema_days IS NULL
                                        OR erythema_days BETWEEN 0 AND 365),
    pih                  INTEGER NOT NULL DEFAULT 0 CHECK (pih IN (0, 1)),
    infection            INTEGER NOT NULL DEFAULT 0 CHECK (infection IN (0, 1)),
    tram_track           INTEGER NOT NULL DEFAULT 0 CHECK (tram_track IN (0, 1)),
    other_adverse_events TEXT NOT NULL DEFAULT '',
    notes                TEXT NOT NULL DEFAULT '',
    saved_at             TEXT NOT NULL
);
CREATE INDEX session_treatments_by_session ON session_treatments (session_id, id);

CREATE TABLE session_grades (
    id                        INTEGER PRIMARY KEY,
    session_id                INTEGER NOT NULL REFERENCES sessions (id),
    gb_qualitative            INTEGER CHECK (gb_qualitative IS NULL
                                             OR gb_qualitative BETWEEN 1 AND 4),
    -- The counts entered (JSON object), the score they gave, and which fields
    -- still hold a value suggested from the measurement (JSON array).
    gb_quantitative_json      TEXT CHECK (gb_quantitative_json IS NULL
                                          OR json_valid(gb_quantitative_json)),
    gb_quantitative_score     INTEGER CHECK (gb_quantitative_score IS NULL
                                             OR gb_quantitative_score BETWEEN 0 AND 84),
    gb_quantitative_suggested TEXT NOT NULL DEFAULT '[]'
                              CHECK (json_valid(gb_quantitative_suggested)),
    ecca_json                 TEXT CHECK (ecca_json IS NULL OR json_valid(ecca_json)),
    ecca_score                INTEGER CHECK (ecca_score IS NULL OR ecca_score BETWEEN 0 AND 540),
    ecca_suggested            TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(ecca_suggested)),
    -- A patient-reported outcome: the instrument's name and total score only.
    pro_instrument            TEXT,
    pro_score                 REAL,
    pro_score_min             REAL,
    pro_score_max             REAL,
    scales_version            TEXT NOT NULL,
    saved_at                  TEXT NOT NULL,
    CHECK ((gb_quantitative_json IS NULL) = (gb_quantitative_score IS NULL)),
    CHECK ((ecca_json IS NULL) = (ecca_score IS NULL)),
    CHECK ((pro_instrument IS NULL) = (pro_score IS NULL))
);
CREATE INDEX session_grades_by_session ON session_grades (session_id, id);
