"""Clinical calculators against hand-worked examples from the published tables."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from scarview.core.grading import (
    ECCA_ITEM_KEYS,
    ECCA_ITEMS,
    ECCA_MAX,
    GB_ITEM_KEYS,
    GB_QUANTITATIVE_ITEMS,
    GB_QUANTITATIVE_MAX,
    EccaInput,
    GoodmanBaronInput,
    PatientReportedOutcome,
    SessionGrades,
    TreatmentRecord,
    count_multiplier,
    ecca,
    ecca_extent_from_count,
    goodman_baron_qualitative,
    goodman_baron_quantitative,
    keloid_points,
    score_scale,
    suggest_from_measurement,
)
from scarview.core.types import Scar, ScarSummary, TypeSummary


def _one_sentence(message: str) -> bool:
    return message.endswith(".") and "\n" not in message and message[0].isupper()


# ------------------------------------------------------------- the tables' shape


def test_tables_match_the_input_fields() -> None:
    gb_fields = [f.name for f in fields(GoodmanBaronInput)]
    assert gb_fields == [*GB_ITEM_KEYS, "keloid_area_cm2"]
    assert [f.name for f in fields(EccaInput)] == list(ECCA_ITEM_KEYS)
    # Published structure: A has 2 descriptions at 1 point, B 3 at 2, C 4 at 3, D papular 2.
    by_grade: dict[str, list[int]] = {}
    for item in GB_QUANTITATIVE_ITEMS:
        by_grade.setdefault(item.grade, []).append(item.points)
    assert by_grade == {"A": [1, 1], "B": [2, 2, 2], "C": [3, 3, 3, 3], "D": [2]}
    assert [item.weight for item in ECCA_ITEMS] == [15, 20, 25, 10, 50, 60]


# ------------------------------------------------- Goodman and Baron quantitative


@pytest.mark.parametrize(
    ("count", "multiplier"),
    [(0, 0), (1, 1), (10, 1), (11, 2), (20, 2), (21, 3), (400, 3)],
)
def test_count_multiplier_band_edges(count: int, multiplier: int) -> None:
    assert count_multiplier(count) == multiplier


@pytest.mark.parametrize(
    ("area_cm2", "points"),
    [(0.0, 0), (0.1, 6), (4.99, 6), (5.0, 12), (12.5, 12), (20.0, 12), (20.01, 18), (300.0, 18)],
)
def test_keloid_points_by_area(area_cm2: float, points: int) -> None:
    assert keloid_points(area_cm2) == points


def test_quantitative_hand_worked_example_with_band_edges() -> None:
    inputs = GoodmanBaronInput(
        macular=3,  # A 1 pt x1 = 1
        mild_dish=10,  # A 1 pt, 10 scars -> x1 = 1
        moderate_dish=11,  # B 2 pt, 11 scars -> x2 = 4
        punched_out_shallow=20,  # B 2 pt, 20 scars -> x2 = 4
        shallow_broad=21,  # B 2 pt, 21 scars -> x3 = 6
        punched_out_deep_abnormal=1,  # C 3 pt x1 = 3
        linear_troughed=5,  # C 3 pt x1 = 3
        papular=15,  # D 2 pt x2 = 4
        keloid_area_cm2=4.9,  # D < 5 cm2 = 6
    )
    result = goodman_baron_quantitative(inputs)
    assert result.total == 32
    assert dict(result.by_grade) == {"A": 2, "B": 14, "C": 6, "D": 10}
    lines = {line.item.key: (line.count, line.multiplier, line.score) for line in result.items}
    assert lines["mild_dish"] == (10, 1, 1)
    assert lines["moderate_dish"] == (11, 2, 4)
    assert lines["punched_out_shallow"] == (20, 2, 4)
    assert lines["shallow_broad"] == (21, 3, 6)
    assert lines["punched_out_deep_normal"] == (0, 0, 0)
    assert result.keloid_score == 6
    assert sum(line.score for line in result.items) + result.keloid_score == result.total


def test_quantitative_typical_microneedling_patient() -> None:
    # 25 ice-pick (C, x3 = 9), 8 shallow boxcar (B, x1 = 2), 12 rolling dish-like (B, x2 = 4).
    inputs = GoodmanBaronInput(
        punched_out_deep_abnormal=25, punched_out_shallow=8, moderate_dish=12
    )
    assert goodman_baron_quantitative(inputs).total == 15


def test_quantitative_maximum_is_84() -> None:
    worst = GoodmanBaronInput(**dict.fromkeys(GB_ITEM_KEYS, 21), keloid_area_cm2=20.5)
    result = goodman_baron_quantitative(worst)
    assert result.total == GB_QUANTITATIVE_MAX == 84 == result.maximum
    assert dict(result.by_grade) == {"A": 6, "B": 18, "C": 36, "D": 24}
    # One scar fewer in a band edge brings one description down a band.
    lower = GoodmanBaronInput(
        **{key: 21 for key in GB_ITEM_KEYS if key != "deep_broad"},
        deep_broad=20,
        keloid_area_cm2=20.0,
    )
    assert goodman_baron_quantitative(lower).total == 84 - 3 - 6


def test_quantitative_none_is_zero() -> None:
    assert goodman_baron_quantitative(GoodmanBaronInput()).total == 0


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"macular": -1}, "cannot be negative"),
        ({"papular": 2.5}, "whole number"),
        ({"deep_broad": True}, "whole number"),
        ({"mild_dish": 10_000}, "more than"),
        ({"keloid_area_cm2": -0.5}, "cannot be negative"),
        ({"keloid_area_cm2": float("nan")}, "finite"),
        ({"keloid_area_cm2": "3"}, "must be a number"),
    ],
)
def test_quantitative_rejects_invalid_input(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment) as info:
        GoodmanBaronInput(**kwargs)  # type: ignore[arg-type]
    assert _one_sentence(str(info.value))


def test_quantitative_round_trips_through_a_dict() -> None:
    inputs = GoodmanBaronInput(macular=4, deep_broad=22, keloid_area_cm2=7.5)
    assert GoodmanBaronInput.from_dict(inputs.to_dict()) == inputs
    with pytest.raises(ValueError, match="Unknown"):
        GoodmanBaronInput.from_dict({"ice_pick": 3})


# --------------------------------------------------- Goodman and Baron qualitative


def test_qualitative_grades() -> None:
    assert [goodman_baron_qualitative(g).name for g in (1, 2, 3, 4)] == [
        "Macular",
        "Mild",
        "Moderate",
        "Severe",
    ]
    assert "stretch" in goodman_baron_qualitative(4).description
    for bad in (0, 5, -1, True, 2.0):
        with pytest.raises(ValueError, match="1, 2, 3 or 4") as info:
            goodman_baron_qualitative(bad)  # type: ignore[arg-type]
        assert _one_sentence(str(info.value))


# ------------------------------------------------------------------------- ECCA


@pytest.mark.parametrize(
    ("count", "rating"),
    [(0, 0), (1, 1), (4, 1), (5, 2), (10, 2), (11, 2), (20, 2), (21, 3), (90, 3)],
)
def test_ecca_extent_band_edges(count: int, rating: int) -> None:
    assert ecca_extent_from_count(count) == rating


def test_ecca_hand_worked_example() -> None:
    # V 5-20 (15 x 2 = 30), U < 5 (20 x 1 = 20), M > 20 (25 x 3 = 75),
    # recent hypertrophic < 5 (50 x 1 = 50): 175.
    result = ecca(EccaInput(v_shaped=2, u_shaped=1, m_shaped=3, hypertrophic_recent=1))
    assert result.total == 175
    assert [line.score for line in result.items] == [30, 20, 75, 0, 50, 0]


def test_ecca_from_counts() -> None:
    inputs = EccaInput.from_counts(v_shaped=4, u_shaped=5, m_shaped=21, elastolysis=0)
    assert inputs == EccaInput(v_shaped=1, u_shaped=2, m_shaped=3)
    assert ecca(inputs).total == 15 + 40 + 75
    with pytest.raises(ValueError, match="Unknown ECCA"):
        EccaInput.from_counts(boxcar=3)


def test_ecca_maximum_is_540() -> None:
    result = ecca(EccaInput(**dict.fromkeys(ECCA_ITEM_KEYS, 3)))
    assert result.total == ECCA_MAX == 540 == result.maximum
    assert ecca(EccaInput()).total == 0


@pytest.mark.parametrize("bad", [4, -1, 1.5, True, None])
def test_ecca_rejects_ratings_out_of_range(bad: object) -> None:
    with pytest.raises(ValueError, match="0, 1, 2 or 3") as info:
        EccaInput(u_shaped=bad)  # type: ignore[arg-type]
    assert _one_sentence(str(info.value))


# ------------------------------------------------------ patient-reported outcome


def test_pro_known_instrument_gets_its_range() -> None:
    pro = PatientReportedOutcome("  DLQI ", 7)
    assert pro.instrument == "DLQI" and pro.total_score == 7.0
    assert (pro.score_min, pro.score_max) == (0.0, 30.0)
    with pytest.raises(ValueError, match="from 0 to 30; 31 was entered"):
        PatientReportedOutcome("DLQI", 31)


def test_pro_other_instrument_with_and_without_range() -> None:
    free = PatientReportedOutcome("Clinic VAS", 6.5)
    assert free.score_min is None and free.score_max is None
    ranged = PatientReportedOutcome("Clinic VAS", 6.5, 0, 10)
    assert ranged.score_max == 10.0
    with pytest.raises(ValueError, match="must be below"):
        PatientReportedOutcome("Clinic VAS", 5, 10, 0)
    with pytest.raises(ValueError, match="11 was entered"):
        PatientReportedOutcome("Clinic VAS", 11, 0, 10)


@pytest.mark.parametrize(
    "instrument",
    ["", "   ", "How much do your scars bother you?", "x" * 61, "ACNE-Q\nQuestion 1"],
)
def test_pro_stores_a_name_never_question_text(instrument: str) -> None:
    with pytest.raises(ValueError) as info:
        PatientReportedOutcome(instrument, 50)
    assert _one_sentence(str(info.value))


def test_pro_score_must_be_finite() -> None:
    with pytest.raises(ValueError, match="finite"):
        PatientReportedOutcome("Clinic VAS", float("inf"))


# ------------------------------------------------------------------- treatment


def test_treatment_record_orders_procedures_and_describes_itself() -> None:
    record = TreatmentRecord(
        procedures=("prp", "microneedling", "prp"),
        needle_depth_mm=1.5,
        passes=4,
        erythema_days=2,
        pih=True,
    )
    assert record.procedures == ("microneedling", "prp")
    assert record.procedure_text == "Microneedling + PRP (platelet-rich plasma)"
    assert record.adverse_events == ("erythema 2 days", "post-inflammatory hyperpigmentation")
    other = TreatmentRecord(procedures=("other",), other_procedure=" Fractional CO2 ")
    assert other.procedure_text == "Fractional CO2"


@pytest.mark.parametrize("depth", [0.1, 0.75, 3.0])
def test_needle_depth_inside_the_range(depth: float) -> None:
    assert TreatmentRecord(needle_depth_mm=depth).needle_depth_mm == depth


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"needle_depth_mm": 0.05}, "from 0.1 to 3.0 mm; 0.05 mm was entered"),
        ({"needle_depth_mm": 3.01}, "from 0.1 to 3.0 mm; 3.01 mm was entered"),
        ({"needle_depth_mm": float("nan")}, "finite"),
        ({"passes": 0}, "passes"),
        ({"passes": 21}, "passes"),
        ({"passes": 2.5}, "passes"),
        ({"erythema_days": -1}, "erythema"),
        ({"procedures": ()}, "at least one procedure"),
        ({"procedures": ("laser",)}, "not a procedure"),
        ({"procedures": ("other",)}, "Describe the other procedure"),
        ({"other_procedure": "peel"}, "'Other' is not chosen"),
        ({"pih": "yes"}, "true or false"),
    ],
)
def test_treatment_record_rejects_invalid_input(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment) as info:
        TreatmentRecord(**kwargs)  # type: ignore[arg-type]
    assert _one_sentence(str(info.value))


# ---------------------------------------------------------------- session grades


def test_session_grades_scores_and_suggested_fields() -> None:
    grades = SessionGrades(
        gb_qualitative=3,
        gb_quantitative=GoodmanBaronInput(punched_out_deep_abnormal=12),
        ecca=EccaInput(v_shaped=2),
        gb_quantitative_suggested=frozenset({"punched_out_deep_abnormal"}),
    )
    assert grades.gb_quantitative_result is not None
    assert grades.gb_quantitative_result.total == 6
    assert grades.ecca_result is not None and grades.ecca_result.total == 30
    assert not grades.is_empty and SessionGrades().is_empty
    # Suggested marks without the calculator's inputs mean nothing and are dropped.
    assert SessionGrades(ecca_suggested=frozenset({"v_shaped"})).ecca_suggested == frozenset()
    with pytest.raises(ValueError, match="qualitative"):
        SessionGrades(gb_qualitative=5)
    with pytest.raises(ValueError, match="suggested"):
        SessionGrades(ecca=EccaInput(), ecca_suggested=frozenset({"icepick"}))


def test_score_scales() -> None:
    assert score_scale("gb_quantitative").maximum == 84
    assert score_scale("ecca").maximum == 540
    with pytest.raises(ValueError, match="not a clinical score"):
        score_scale("vss")


# -------------------------------------------------------------------- suggestion


def _scar(scar_id: int, scar_type: str, depth_mm: float | None) -> Scar:
    return Scar(
        id=scar_id,
        type=scar_type,  # type: ignore[arg-type]
        area_px=10,
        area_mm2=0.1,
        diameter_mm=0.36,
        centroid_xy=(1.0, 1.0),
        bbox_xywh=(0, 0, 3, 3),
        contour=np.zeros((3, 2)),
        confidence=0.9,
        depth_mm=depth_mm,
    )


def test_suggestion_maps_measured_types_onto_both_calculators() -> None:
    summary = ScarSummary(
        count=36,
        area_mm2=20.0,
        area_px=2000,
        roi_area_mm2=900.0,
        area_fraction=0.02,
        by_type={
            "icepick": TypeSummary(25, 2.0),
            "boxcar": TypeSummary(8, 8.0),
            "rolling": TypeSummary(3, 10.0),
        },
    )
    suggestion = suggest_from_measurement(summary)
    assert suggestion.suggested
    gb = suggestion.goodman_baron
    assert (gb.punched_out_deep_abnormal, gb.punched_out_shallow, gb.moderate_dish) == (25, 8, 3)
    assert gb.macular == gb.papular == 0 and gb.keloid_area_cm2 == 0
    # 25 ice pick C x3 = 9, 8 shallow boxcar B x1 = 2, 3 rolling dish-like B x1 = 2.
    assert goodman_baron_quantitative(gb).total == 13
    assert suggestion.ecca == EccaInput(v_shaped=3, u_shaped=2, m_shaped=1)
    assert ecca(suggestion.ecca).total == 45 + 40 + 25
    assert suggestion.ecca_fields == {"v_shaped", "u_shaped", "m_shaped"}
    assert "macular" not in suggestion.goodman_baron_fields
    assert any("depth is unknown" in note for note in suggestion.notes)
    assert all(_one_sentence(note) for note in suggestion.notes)


def test_suggestion_uses_a_known_boxcar_depth() -> None:
    summary = ScarSummary(3, 1.0, 100, None, 0.01, {"boxcar": TypeSummary(3, 1.0)})
    scars = [_scar(1, "boxcar", 0.8), _scar(2, "boxcar", 0.2), _scar(3, "boxcar", None)]
    suggestion = suggest_from_measurement(summary, scars=scars)
    gb = suggestion.goodman_baron
    assert (gb.punched_out_deep_normal, gb.punched_out_shallow) == (1, 2)
    assert gb.punched_out_deep_abnormal == gb.moderate_dish == 0
    assert not any("depth is unknown" in note for note in suggestion.notes)


def test_suggestion_of_an_empty_measurement_is_all_zero() -> None:
    suggestion = suggest_from_measurement(ScarSummary(0, 0.0, 0, None, 0.0, {}))
    assert goodman_baron_quantitative(suggestion.goodman_baron).total == 0
    assert ecca(suggestion.ecca).total == 0
