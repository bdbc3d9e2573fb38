"""The clinical record of a session: the treatment given and the scar grades scored.

Every published table ScarView scores with lives in this module, once:

* **Goodman and Baron qualitative** global grade, 1 to 4 (Goodman & Baron,
  Dermatol Surg 2006): :data:`GB_QUALITATIVE_GRADES`.
* **Goodman and Baron quantitative** global score, 0 to 84 (Goodman & Baron,
  J Cosmet Dermatol 2006; 5:48-52): :data:`GB_QUANTITATIVE_ITEMS`,
  :func:`count_multiplier`, :func:`keloid_points`. Each scar *description* (not
  each grade letter) is scored on its own: its points times a multiplier from
  the number of scars of that description (1 for 1-10, 2 for 11-20, 3 for more
  than 20). Hyperplastic papular scars score the same way with 2 points;
  keloidal or hypertrophic scars score by their total area instead (6, 12 or
  18). The maximum is therefore 3 × (2×1 + 3×2 + 4×3 + 1×2) + 18 = 84.
* **ECCA** (échelle d'évaluation clinique des cicatrices d'acné; Dréno et al.,
  Dermatology 2007; 214:46-51): six items, each its weight times an extent
  rating 0 to 3 (:data:`ECCA_ITEMS`, :func:`ecca_extent_from_count`); maximum 540.
  The weights of the two raised-scar items (50 and 60) are the least certain
  of the table; they are kept here only, so a correction is one edit.
* **Patient-reported outcomes**: an instrument's name and its total score only
  (licensed questionnaires: the questions' text is never stored).

It also defines the session's treatment record and :func:`suggest_from_measurement`,
which turns a photo's measured scar counts into a *starting point* for the two
calculators (always editable, always marked as suggested).

Everything here is pure: frozen dataclasses in and out, no I/O. Invalid input
raises :class:`ValueError` whose message is one sentence for the clinician.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from math import isfinite
from typing import Final, Literal

from scarview.core.types import Scar, ScarSummary

#: Version of the scoring tables below; stored beside every saved grade.
SCALES_VERSION: Final = "gb2006-ecca2007/1"

#: Largest scar count a calculator accepts for one description (a sanity bound).
MAX_SCAR_COUNT: Final = 9999


# ------------------------------------------------------------------- validation


def _check_count(name: str, value: object) -> int:
    """Return ``value`` as a scar count, or raise one sentence."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number of scars, not {value!r}.")
    if value < 0:
        raise ValueError(f"{name} cannot be negative ({value} was entered).")
    if value > MAX_SCAR_COUNT:
        raise ValueError(f"{name} of {value} is more than the {MAX_SCAR_COUNT} scars allowed.")
    return value


def _check_real(name: str, value: object, unit: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, not {value!r}.")
    number = float(value)
    if not isfinite(number):
        raise ValueError(f"{name} must be a finite number{f' of {unit}' if unit else ''}.")
    return number


def _fmt(value: float) -> str:
    """A number as a clinician would write it (no trailing ``.0``)."""
    return f"{value:g}"


# -------------------------------------------------- Goodman and Baron qualitative


@dataclass(frozen=True)
class QualitativeGrade:
    """One grade of the Goodman and Baron qualitative global scale.

    Attributes
    ----------
    grade : int
        1 to 4.
    name : str
        ``"Macular"``, ``"Mild"``, ``"Moderate"`` or ``"Severe"``.
    description : str
        What the grade means, in the clinic's words.
    """

    grade: int
    name: str
    description: str


#: Goodman and Baron qualitative global acne-scarring grades (1 to 4).
GB_QUALITATIVE_GRADES: Final[tuple[QualitativeGrade, ...]] = (
    QualitativeGrade(
        1,
        "Macular",
        "Flat erythematous or pigmented marks: a change of colour only, not of contour.",
    ),
    QualitativeGrade(
        2,
        "Mild",
        "Mild atrophy not obvious at a social distance of 50 cm or more; covered by make-up "
        "or the shadow of beard hair.",
    ),
    QualitativeGrade(
        3,
        "Moderate",
        "Atrophy obvious at 50 cm or more, not easily covered by make-up, but flattened by "
        "stretching the skin.",
    ),
    QualitativeGrade(
        4,
        "Severe",
        "Atrophy obvious at 50 cm or more, not covered by make-up and not flattened by "
        "stretching the skin.",
    ),
)


def goodman_baron_qualitative(grade: int) -> QualitativeGrade:
    """Return the Goodman and Baron qualitative grade ``grade``.

    Parameters
    ----------
    grade : int
        1 (macular) to 4 (severe).

    Returns
    -------
    QualitativeGrade

    Raises
    ------
    ValueError
        If ``grade`` is not a whole number from 1 to 4.
    """
    if isinstance(grade, bool) or not isinstance(grade, int) or not 1 <= grade <= 4:
        raise ValueError(
            f"The Goodman and Baron qualitative grade must be 1, 2, 3 or 4, not {grade!r}."
        )
    return GB_QUALITATIVE_GRADES[grade - 1]


# ------------------------------------------------ Goodman and Baron quantitative

GBGrade = Literal["A", "B", "C", "D"]


@dataclass(frozen=True)
class GBItem:
    """One scar description of the Goodman and Baron quantitative table.

    Attributes
    ----------
    key : str
        The field of :class:`GoodmanBaronInput` holding its scar count.
    grade : {"A", "B", "C", "D"}
        Its grade letter (A milder, B moderate, C severe, D hyperplastic).
    points : int
        Points per count band (multiplied by :func:`count_multiplier`).
    label : str
        The description as the published table gives it.
    """

    key: str
    grade: GBGrade
    points: int
    label: str


#: The counted descriptions of the Goodman and Baron quantitative score, in table order.
GB_QUANTITATIVE_ITEMS: Final[tuple[GBItem, ...]] = (
    GBItem("macular", "A", 1, "Macular erythematous or pigmented scars"),
    GBItem("mild_dish", "A", 1, "Mildly atrophic dish-like scars"),
    GBItem("moderate_dish", "B", 2, "Moderately atrophic dish-like scars"),
    GBItem("punched_out_shallow", "B", 2, "Punched-out scars with shallow bases, < 5 mm"),
    GBItem("shallow_broad", "B", 2, "Shallow but broad atrophic areas"),
    GBItem(
        "punched_out_deep_normal",
        "C",
        3,
        "Punched-out scars with deep but normal-appearing bases, < 5 mm",
    ),
    GBItem(
        "punched_out_deep_abnormal", "C", 3, "Punched-out scars with deep abnormal bases, < 5 mm"
    ),
    GBItem("linear_troughed", "C", 3, "Linear or troughed dermal scarring"),
    GBItem("deep_broad", "C", 3, "Deep, broad atrophic areas"),
    GBItem("papular", "D", 2, "Hyperplastic papular scars"),
)

#: Keloidal or hypertrophic scars (grade D) are scored by their total area, not a count:
#: below 5 cm² 6 points, from 5 to 20 cm² 12 points, above 20 cm² 18 points.
GB_KELOID_SMALL_BELOW_CM2: Final = 5.0
GB_KELOID_LARGE_ABOVE_CM2: Final = 20.0
GB_KELOID_POINTS: Final[tuple[int, int, int]] = (6, 12, 18)
GB_KELOID_MAX_POINTS: Final = max(GB_KELOID_POINTS)
GB_KELOID_LABEL: Final = "Keloidal or hypertrophic scars (total area)"

#: Count bands of the multiplier: ``(largest count of the band, multiplier)``; above, 3.
GB_COUNT_BANDS: Final[tuple[tuple[int, int], ...]] = ((0, 0), (10, 1), (20, 2))
GB_MAX_MULTIPLIER: Final = 3

#: The highest Goodman and Baron quantitative score (84).
GB_QUANTITATIVE_MAX: Final = (
    sum(item.points for item in GB_QUANTITATIVE_ITEMS) * GB_MAX_MULTIPLIER + GB_KELOID_MAX_POINTS
)


def count_multiplier(count: int) -> int:
    """Return the Goodman and Baron count multiplier of ``count`` scars of one description.

    Parameters
    ----------
    count : int
        Scars of one description (0 or more).

    Returns
    -------
    int
        0 for none, 1 for 1-10 scars, 2 for 11-20, 3 for more than 20.
    """
    count = _check_count("A scar count", count)
    for upper, multiplier in GB_COUNT_BANDS:
        if count <= upper:
            return multiplier
    return GB_MAX_MULTIPLIER


def keloid_points(area_cm2: float) -> int:
    """Return the Goodman and Baron points of keloidal or hypertrophic scars of a total area.

    Parameters
    ----------
    area_cm2 : float
        Their total area in cm² (0 when there are none).

    Returns
    -------
    int
        0 for none, 6 below 5 cm², 12 from 5 to 20 cm², 18 above 20 cm².
    """
    area = _check_real("The keloidal or hypertrophic scar area", area_cm2, "cm²")
    if area < 0:
        raise ValueError(
            f"The keloidal or hypertrophic scar area cannot be negative ({_fmt(area)} cm²)."
        )
    if area == 0:
        return 0
    small, medium, large = GB_KELOID_POINTS
    if area < GB_KELOID_SMALL_BELOW_CM2:
        return small
    if area <= GB_KELOID_LARGE_ABOVE_CM2:
        return medium
    return large


@dataclass(frozen=True)
class GoodmanBaronInput:
    """What the clinician enters for the Goodman and Baron quantitative score.

    Every ``*`` field is the number of scars of that description on the
    assessed area (see :data:`GB_QUANTITATIVE_ITEMS`); ``keloid_area_cm2`` is the
    total area of keloidal or hypertrophic scars in cm².
    """

    macular: int = 0
    mild_dish: int = 0
    moderate_dish: int = 0
    punched_out_shallow: int = 0
    shallow_broad: int = 0
    punched_out_deep_normal: int = 0
    punched_out_deep_abnormal: int = 0
    linear_troughed: int = 0
    deep_broad: int = 0
    papular: int = 0
    keloid_area_cm2: float = 0.0

    def __post_init__(self) -> None:
        """Check every count and the area."""
        for item in GB_QUANTITATIVE_ITEMS:
            _check_count(f"The count of {item.label.lower()}", getattr(self, item.key))
        keloid_points(self.keloid_area_cm2)

    def count_of(self, key: str) -> int:
        """Return the count entered for the description ``key``."""
        if key not in GB_ITEM_KEYS:
            raise ValueError(f"{key!r} is not a Goodman and Baron scar description.")
        return int(getattr(self, key))

    def to_dict(self) -> dict[str, float]:
        """Return the counts and the area by field name (for storage)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> GoodmanBaronInput:
        """Rebuild from :meth:`to_dict`'s output; unknown keys are refused."""
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"Unknown Goodman and Baron fields: {', '.join(sorted(unknown))}.")
        values: dict[str, object] = dict(data)
        if "keloid_area_cm2" in values:
            values["keloid_area_cm2"] = _check_real(
                "The keloidal or hypertrophic scar area", values["keloid_area_cm2"], "cm²"
            )
        return cls(**values)  # type: ignore[arg-type]


GB_ITEM_KEYS: Final[tuple[str, ...]] = tuple(item.key for item in GB_QUANTITATIVE_ITEMS)


@dataclass(frozen=True)
class GBItemScore:
    """One line of a Goodman and Baron quantitative score.

    Attributes
    ----------
    item : GBItem
    count : int
    multiplier : int
    score : int
        ``item.points * multiplier``.
    """

    item: GBItem
    count: int
    multiplier: int
    score: int


@dataclass(frozen=True)
class GoodmanBaronResult:
    """A Goodman and Baron quantitative score with its working.

    Attributes
    ----------
    total : int
        0 to :data:`GB_QUANTITATIVE_MAX` (84).
    items : tuple of GBItemScore
        One line per counted description, in table order.
    keloid_area_cm2 : float
    keloid_score : int
        0, 6, 12 or 18.
    by_grade : Mapping of str to int
        Subtotals of grades ``"A"``, ``"B"``, ``"C"`` and ``"D"`` (D includes keloids).
    maximum : int
        84.
    """

    total: int
    items: tuple[GBItemScore, ...]
    keloid_area_cm2: float
    keloid_score: int
    by_grade: Mapping[str, int] = field(default_factory=dict)
    maximum: int = GB_QUANTITATIVE_MAX


def goodman_baron_quantitative(inputs: GoodmanBaronInput) -> GoodmanBaronResult:
    """Score the Goodman and Baron quantitative global acne-scarring grade.

    Parameters
    ----------
    inputs : GoodmanBaronInput
        Scar counts per description and the keloid area.

    Returns
    -------
    GoodmanBaronResult
        The total (0 to 84) and every line of its working.

    Examples
    --------
    12 mildly atrophic dish-like scars (1 point, 11-20 → × 2) and 25 ice-pick
    scars with deep abnormal bases (3 points, > 20 → × 3): 2 + 9 = 11.

    >>> goodman_baron_quantitative(
    ...     GoodmanBaronInput(mild_dish=12, punched_out_deep_abnormal=25)
    ... ).total
    11
    """
    lines: list[GBItemScore] = []
    by_grade = dict.fromkeys(("A", "B", "C", "D"), 0)
    for item in GB_QUANTITATIVE_ITEMS:
        count = inputs.count_of(item.key)
        multiplier = count_multiplier(count)
        score = item.points * multiplier
        lines.append(GBItemScore(item, count, multiplier, score))
        by_grade[item.grade] += score
    keloid = keloid_points(inputs.keloid_area_cm2)
    by_grade["D"] += keloid
    total = sum(by_grade.values())
    return GoodmanBaronResult(
        total=total,
        items=tuple(lines),
        keloid_area_cm2=float(inputs.keloid_area_cm2),
        keloid_score=keloid,
        by_grade=by_grade,
    )


# -------------------------------------------------------------------------- ECCA


@dataclass(frozen=True)
class EccaItem:
    """One item of the ECCA scale.

    Attributes
    ----------
    key : str
        The field of :class:`EccaInput` holding its extent rating.
    weight : int
        Its weighting factor.
    label : str
    """

    key: str
    weight: int
    label: str


#: The six ECCA items with their weights (Dréno 2007); the last two are the least certain.
ECCA_ITEMS: Final[tuple[EccaItem, ...]] = (
    EccaItem("v_shaped", 15, "V-shaped atrophic scars, diameter < 2 mm"),
    EccaItem("u_shaped", 20, "U-shaped atrophic scars, diameter 2-4 mm"),
    EccaItem("m_shaped", 25, "M-shaped atrophic scars, diameter > 4 mm"),
    EccaItem("elastolysis", 10, "Superficial elastolysis"),
    EccaItem("hypertrophic_recent", 50, "Hypertrophic inflammatory scars, < 2 years old"),
    EccaItem("keloid_old", 60, "Keloid or hypertrophic scars, > 2 years old"),
)

#: The extent ratings: ``rating -> meaning``.
ECCA_EXTENTS: Final[Mapping[int, str]] = {
    0: "none",
    1: "fewer than 5 scars",
    2: "5 to 20 scars",
    3: "more than 20 scars",
}

#: Count bands of the extent rating: ``(largest count of the band, rating)``; above, 3.
ECCA_COUNT_BANDS: Final[tuple[tuple[int, int], ...]] = ((0, 0), (4, 1), (20, 2))

#: The highest ECCA score (540).
ECCA_MAX: Final = sum(item.weight for item in ECCA_ITEMS) * max(ECCA_EXTENTS)

ECCA_ITEM_KEYS: Final[tuple[str, ...]] = tuple(item.key for item in ECCA_ITEMS)


def ecca_extent_from_count(count: int) -> int:
    """Return the ECCA extent rating of ``count`` scars of one item.

    Parameters
    ----------
    count : int
        Scars of the item (0 or more).

    Returns
    -------
    int
        0 for none, 1 for fewer than 5, 2 for 5 to 20, 3 for more than 20.
    """
    count = _check_count("A scar count", count)
    for upper, rating in ECCA_COUNT_BANDS:
        if count <= upper:
            return rating
    return max(ECCA_EXTENTS)


@dataclass(frozen=True)
class EccaInput:
    """The extent rating (0 to 3, see :data:`ECCA_EXTENTS`) of each ECCA item."""

    v_shaped: int = 0
    u_shaped: int = 0
    m_shaped: int = 0
    elastolysis: int = 0
    hypertrophic_recent: int = 0
    keloid_old: int = 0

    def __post_init__(self) -> None:
        """Check every rating is 0, 1, 2 or 3."""
        for item in ECCA_ITEMS:
            value = getattr(self, item.key)
            if isinstance(value, bool) or not isinstance(value, int) or value not in ECCA_EXTENTS:
                raise ValueError(
                    f"The ECCA rating of {item.label.lower()} must be 0, 1, 2 or 3, not {value!r}."
                )

    @classmethod
    def from_counts(cls, **counts: int) -> EccaInput:
        """Rate each item from a scar count (``EccaInput.from_counts(v_shaped=12)``)."""
        unknown = set(counts) - set(ECCA_ITEM_KEYS)
        if unknown:
            raise ValueError(f"Unknown ECCA items: {', '.join(sorted(unknown))}.")
        return cls(**{key: ecca_extent_from_count(n) for key, n in counts.items()})

    def rating_of(self, key: str) -> int:
        """Return the rating entered for the item ``key``."""
        if key not in ECCA_ITEM_KEYS:
            raise ValueError(f"{key!r} is not an ECCA item.")
        return int(getattr(self, key))

    def to_dict(self) -> dict[str, int]:
        """Return the ratings by item key (for storage)."""
        return {key: self.rating_of(key) for key in ECCA_ITEM_KEYS}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> EccaInput:
        """Rebuild from :meth:`to_dict`'s output; unknown keys are refused."""
        unknown = set(data) - set(ECCA_ITEM_KEYS)
        if unknown:
            raise ValueError(f"Unknown ECCA items: {', '.join(sorted(unknown))}.")
        return cls(**data)  # type: ignore[arg-type]


@dataclass(frozen=True)
class EccaItemScore:
    """One line of an ECCA score: ``score = item.weight * rating``."""

    item: EccaItem
    rating: int
    score: int


@dataclass(frozen=True)
class EccaResult:
    """An ECCA score with its working.

    Attributes
    ----------
    total : int
        0 to :data:`ECCA_MAX` (540).
    items : tuple of EccaItemScore
    maximum : int
    """

    total: int
    items: tuple[EccaItemScore, ...]
    maximum: int = ECCA_MAX


def ecca(inputs: EccaInput) -> EccaResult:
    """Score the ECCA acne-scar scale.

    Parameters
    ----------
    inputs : EccaInput
        Extent rating 0-3 of each of the six items.

    Returns
    -------
    EccaResult
        The total (0 to 540) and every line of its working.

    Examples
    --------
    Ice-pick scars 5-20 (15 × 2) and rolling scars fewer than 5 (25 × 1): 55.

    >>> ecca(EccaInput(v_shaped=2, m_shaped=1)).total
    55
    """
    lines = tuple(
        EccaItemScore(item, inputs.rating_of(item.key), item.weight * inputs.rating_of(item.key))
        for item in ECCA_ITEMS
    )
    return EccaResult(total=sum(line.score for line in lines), items=lines)


# ---------------------------------------------------- patient-reported outcomes

#: Instruments ScarView knows the score range of: ``name -> (lowest, highest)``.
#: Any other instrument may be recorded with its range entered by hand.
KNOWN_PRO_INSTRUMENTS: Final[Mapping[str, tuple[float, float]]] = {
    "ACNE-Q Appearance of Scars": (0.0, 100.0),
    "DLQI": (0.0, 30.0),
    "CADI": (0.0, 15.0),
}

#: Longest instrument name accepted: a name, never a question's text.
MAX_INSTRUMENT_CHARS: Final = 60


@dataclass(frozen=True)
class PatientReportedOutcome:
    """A patient-reported outcome: the instrument's name and its total score, nothing else.

    Licensed questionnaires may not be reproduced, so no question or answer text
    is ever stored; a name that looks like a question is refused.

    Attributes
    ----------
    instrument : str
        E.g. ``"ACNE-Q Appearance of Scars"`` (at most 60 characters, one line).
    total_score : float
        The instrument's total (or scale) score as the patient's form gives it.
    score_min, score_max : float or None
        The instrument's score range; filled in from :data:`KNOWN_PRO_INSTRUMENTS`
        when not given. The score must lie inside it.
    """

    instrument: str
    total_score: float
    score_min: float | None = None
    score_max: float | None = None

    def __post_init__(self) -> None:
        """Check the name and the score; fill in a known instrument's range."""
        name = " ".join(str(self.instrument).split())
        if not name:
            raise ValueError("Name the questionnaire the patient-reported score comes from.")
        if len(name) > MAX_INSTRUMENT_CHARS or name.endswith("?") or "\n" in self.instrument:
            raise ValueError(
                "Enter only the questionnaire's name (at most "
                f"{MAX_INSTRUMENT_CHARS} characters), never the text of its questions."
            )
        object.__setattr__(self, "instrument", name)
        score = _check_real("The patient-reported score", self.total_score)
        object.__setattr__(self, "total_score", score)
        known = KNOWN_PRO_INSTRUMENTS.get(name)
        low = self.score_min if self.score_min is not None else (known[0] if known else None)
        high = self.score_max if self.score_max is not None else (known[1] if known else None)
        if low is not None:
            low = _check_real("The lowest score of the questionnaire", low)
        if high is not None:
            high = _check_real("The highest score of the questionnaire", high)
        if low is not None and high is not None and low >= high:
            raise ValueError(
                f"The questionnaire's lowest score ({_fmt(low)}) must be below its highest "
                f"({_fmt(high)})."
            )
        if (low is not None and score < low) or (high is not None and score > high):
            span = f"from {_fmt(low)}" if low is not None else ""
            span += f"{' ' if span else ''}to {_fmt(high)}" if high is not None else ""
            raise ValueError(f"A {name} score must be {span}; {_fmt(score)} was entered.")
        object.__setattr__(self, "score_min", low)
        object.__setattr__(self, "score_max", high)

    def to_dict(self) -> dict[str, object]:
        """Return the fields by name (for storage)."""
        return {
            "instrument": self.instrument,
            "total_score": self.total_score,
            "score_min": self.score_min,
            "score_max": self.score_max,
        }


# ------------------------------------------------------------------ the session


@dataclass(frozen=True)
class SessionGrades:
    """The clinical grades scored at one session; each may be left out (``None``).

    Attributes
    ----------
    gb_qualitative : int or None
        Goodman and Baron qualitative grade 1 to 4.
    gb_quantitative : GoodmanBaronInput or None
        The counts the Goodman and Baron quantitative score is computed from.
    ecca : EccaInput or None
        The extent ratings the ECCA score is computed from.
    pro : PatientReportedOutcome or None
    gb_quantitative_suggested : frozenset of str
        Fields of ``gb_quantitative`` still holding a value suggested from the
        measurement that the clinician has not edited or accepted.
    ecca_suggested : frozenset of str
        The same for ``ecca``.
    """

    gb_qualitative: int | None = None
    gb_quantitative: GoodmanBaronInput | None = None
    ecca: EccaInput | None = None
    pro: PatientReportedOutcome | None = None
    gb_quantitative_suggested: frozenset[str] = frozenset()
    ecca_suggested: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        """Check the qualitative grade and the suggested-field names."""
        if self.gb_qualitative is not None:
            goodman_baron_qualitative(self.gb_qualitative)
        gb_fields = {f.name for f in fields(GoodmanBaronInput)}
        if not set(self.gb_quantitative_suggested) <= gb_fields:
            raise ValueError("A suggested Goodman and Baron field is not one of the calculator's.")
        if not set(self.ecca_suggested) <= set(ECCA_ITEM_KEYS):
            raise ValueError("A suggested ECCA field is not one of the calculator's.")
        object.__setattr__(
            self,
            "gb_quantitative_suggested",
            frozenset(self.gb_quantitative_suggested) if self.gb_quantitative else frozenset(),
        )
        object.__setattr__(
            self, "ecca_suggested", frozenset(self.ecca_suggested) if self.ecca else frozenset()
        )

    @property
    def gb_quantitative_result(self) -> GoodmanBaronResult | None:
        """The Goodman and Baron quantitative score, when its counts were entered."""
        return (
            None
            if self.gb_quantitative is None
            else goodman_baron_quantitative(self.gb_quantitative)
        )

    @property
    def ecca_result(self) -> EccaResult | None:
        """The ECCA score, when its ratings were entered."""
        return None if self.ecca is None else ecca(self.ecca)

    @property
    def is_empty(self) -> bool:
        """True when nothing was graded."""
        return (
            self.gb_qualitative is None
            and self.gb_quantitative is None
            and self.ecca is None
            and self.pro is None
        )


#: What can be done at a session (several may be combined), in display order.
PROCEDURES: Final[tuple[str, ...]] = (
    "microneedling",
    "rf_microneedling",
    "prp",
    "serum",
    "led",
    "subcision",
    "tca_cross",
    "other",
)
PROCEDURE_LABELS: Final[Mapping[str, str]] = {
    "microneedling": "Microneedling",
    "rf_microneedling": "RF microneedling",
    "prp": "PRP (platelet-rich plasma)",
    "serum": "Serum",
    "led": "LED light",
    "subcision": "Subcision",
    "tca_cross": "TCA CROSS",
    "other": "Other",
}

#: The adverse events recorded as yes or no: ``field -> words``.
_ADVERSE_FLAGS: Final[Mapping[str, str]] = {
    "pih": "post-inflammatory hyperpigmentation",
    "infection": "infection",
    "tram_track": "tram-track marks",
}

#: Needle depths accepted, in millimetres (inclusive).
NEEDLE_DEPTH_MIN_MM: Final = 0.1
NEEDLE_DEPTH_MAX_MM: Final = 3.0
#: Passes accepted (inclusive).
PASSES_MIN: Final = 1
PASSES_MAX: Final = 20
#: Days of erythema accepted (inclusive).
ERYTHEMA_DAYS_MAX: Final = 365


@dataclass(frozen=True)
class TreatmentRecord:
    """What was done at one session and how the skin reacted.

    Attributes
    ----------
    procedures : tuple of str
        Keys of :data:`PROCEDURES` (stored in that order, without repeats), e.g.
        ``("microneedling", "prp")``.
    other_procedure : str
        What ``"other"`` was; required with it, refused without it.
    device : str
        Device or pen, cartridge and needle configuration.
    needle_depth_mm : float or None
        Deepest needle setting used, 0.1 to 3.0 mm.
    passes : int or None
        Passes over the treated area, 1 to 20.
    anaesthesia : str
        E.g. ``"Topical lidocaine 5 %, 45 min"``.
    clinician : str
        Who treated.
    immediate_reactions : str
        E.g. ``"pinpoint bleeding, oedema"``.
    erythema_days : int or None
        Days the redness lasted (0 to 365).
    pih, infection, tram_track : bool
        Adverse events: post-inflammatory hyperpigmentation, infection,
        tram-track marks.
    other_adverse_events : str
    notes : str
        Free notes.
    """

    procedures: tuple[str, ...] = ("microneedling",)
    other_procedure: str = ""
    device: str = ""
    needle_depth_mm: float | None = None
    passes: int | None = None
    anaesthesia: str = ""
    clinician: str = ""
    immediate_reactions: str = ""
    erythema_days: int | None = None
    pih: bool = False
    infection: bool = False
    tram_track: bool = False
    other_adverse_events: str = ""
    notes: str = ""

    def __post_init__(self) -> None:
        """Check every field; put the procedures in table order."""
        chosen = tuple(self.procedures)
        if not chosen:
            raise ValueError("Choose at least one procedure done at this session.")
        unknown = [p for p in chosen if p not in PROCEDURES]
        if unknown:
            raise ValueError(
                f"The procedure {unknown[0]!r} is not a procedure ScarView records; "
                f"use one of {', '.join(PROCEDURES)}."
            )
        object.__setattr__(self, "procedures", tuple(p for p in PROCEDURES if p in chosen))
        other = self.other_procedure.strip()
        if "other" in chosen and not other:
            raise ValueError("Describe the other procedure that was done.")
        if other and "other" not in chosen:
            raise ValueError("An other procedure is described but 'Other' is not chosen.")
        object.__setattr__(self, "other_procedure", other)
        if self.needle_depth_mm is not None:
            depth = _check_real("The needle depth", self.needle_depth_mm, "mm")
            if not NEEDLE_DEPTH_MIN_MM <= depth <= NEEDLE_DEPTH_MAX_MM:
                raise ValueError(
                    f"The needle depth must be from {NEEDLE_DEPTH_MIN_MM} to "
                    f"{NEEDLE_DEPTH_MAX_MM} mm; {_fmt(depth)} mm was entered."
                )
            object.__setattr__(self, "needle_depth_mm", depth)
        if self.passes is not None and (
            isinstance(self.passes, bool)
            or not isinstance(self.passes, int)
            or not PASSES_MIN <= self.passes <= PASSES_MAX
        ):
            raise ValueError(
                f"The number of passes must be a whole number from {PASSES_MIN} to "
                f"{PASSES_MAX}; {self.passes!r} was entered."
            )
        if self.erythema_days is not None and (
            isinstance(self.erythema_days, bool)
            or not isinstance(self.erythema_days, int)
            or not 0 <= self.erythema_days <= ERYTHEMA_DAYS_MAX
        ):
            raise ValueError(
                f"The days of erythema must be a whole number from 0 to {ERYTHEMA_DAYS_MAX}; "
                f"{self.erythema_days!r} was entered."
            )
        for name, label in _ADVERSE_FLAGS.items():
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"Whether there was {label} must be true or false.")

    @property
    def procedure_text(self) -> str:
        """The procedures for a person, e.g. ``"Microneedling + PRP (platelet-rich plasma)"``."""
        names = [
            self.other_procedure if p == "other" else PROCEDURE_LABELS[p] for p in self.procedures
        ]
        return " + ".join(names)

    @property
    def adverse_events(self) -> tuple[str, ...]:
        """The adverse events recorded, in words (empty when none)."""
        events: list[str] = []
        if self.erythema_days:
            events.append(
                f"erythema {self.erythema_days} day{'s' if self.erythema_days != 1 else ''}"
            )
        events.extend(label for name, label in _ADVERSE_FLAGS.items() if getattr(self, name))
        if self.other_adverse_events.strip():
            events.append(self.other_adverse_events.strip())
        return tuple(events)

    def to_dict(self) -> dict[str, object]:
        """Return the fields by name (for storage)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["procedures"] = list(self.procedures)
        return data


# -------------------------------------------------------------------- suggestion

#: Boxcar scars deeper than this (mm) count as deep (G&B C) when a depth is known.
BOXCAR_DEEP_MM: Final = 0.5

#: How measured scar types feed the calculators (documented in :func:`suggest_from_measurement`).
GB_FROM_TYPE: Final[Mapping[str, str]] = {
    "icepick": "punched_out_deep_abnormal",
    "boxcar": "punched_out_shallow",
    "rolling": "moderate_dish",
}
GB_DEEP_BOXCAR: Final = "punched_out_deep_normal"
ECCA_FROM_TYPE: Final[Mapping[str, str]] = {
    "icepick": "v_shaped",
    "boxcar": "u_shaped",
    "rolling": "m_shaped",
}


@dataclass(frozen=True)
class GradeSuggestion:
    """Calculator inputs suggested from a measurement: a starting point, never a grade.

    Attributes
    ----------
    goodman_baron : GoodmanBaronInput
        Counts of the descriptions a measurement can inform; the others are 0.
    goodman_baron_fields : frozenset of str
        The fields the measurement informs (the GUI fills and marks only these).
    ecca : EccaInput
    ecca_fields : frozenset of str
    notes : tuple of str
        What the suggestion cannot know, one sentence each, for the clinician.
    suggested : bool
        Always True: these values must be shown as suggested until edited.
    """

    goodman_baron: GoodmanBaronInput
    goodman_baron_fields: frozenset[str]
    ecca: EccaInput
    ecca_fields: frozenset[str]
    notes: tuple[str, ...]
    suggested: bool = True


def suggest_from_measurement(
    summary: ScarSummary, *, scars: Sequence[Scar] = ()
) -> GradeSuggestion:
    """Suggest calculator inputs from the scars ScarView measured in a photo.

    The mapping from the measured (Jacob) types is:

    ============  ==================================  ===================================
    measured      ECCA item (extent from the count)   Goodman and Baron description
    ============  ==================================  ===================================
    ice pick      V-shaped atrophic, < 2 mm           C: punched-out, deep abnormal bases
    boxcar        U-shaped atrophic, 2-4 mm           B: punched-out, shallow bases; or C:
                                                      punched-out, deep normal bases when
                                                      the scar's depth is known > 0.5 mm
    rolling       M-shaped atrophic, > 4 mm           B: moderately atrophic dish-like
    ============  ==================================  ===================================

    It is only a starting point: the photo shows one view (a whole-face scale
    needs the whole face), the depth from shading is relative, and macular,
    papular, keloidal or hypertrophic scars and elastolysis are not measured at
    all (their fields are left out of the suggestion).

    Parameters
    ----------
    summary : ScarSummary
        The photo's totals; ``summary.by_type[t].count`` are the counts used.
    scars : sequence of Scar, optional
        The photo's scars; when given, boxcar scars with a known ``depth_mm``
        above :data:`BOXCAR_DEEP_MM` are counted as deep.

    Returns
    -------
    GradeSuggestion
    """
    counts = {t: (s.count if s is not None else 0) for t, s in summary.by_type.items()}
    for scar_type in GB_FROM_TYPE:
        counts.setdefault(scar_type, 0)
    deep_boxcar = sum(
        1
        for s in scars
        if s.type == "boxcar" and s.depth_mm is not None and s.depth_mm > BOXCAR_DEEP_MM
    )
    deep_boxcar = min(deep_boxcar, counts["boxcar"])
    gb_counts = {
        GB_FROM_TYPE["icepick"]: counts["icepick"],
        GB_FROM_TYPE["boxcar"]: counts["boxcar"] - deep_boxcar,
        GB_DEEP_BOXCAR: deep_boxcar,
        GB_FROM_TYPE["rolling"]: counts["rolling"],
    }
    ecca_counts = {ECCA_FROM_TYPE[t]: counts[t] for t in ECCA_FROM_TYPE}
    notes = [
        "Suggested from the scars measured in one photo: review every value, since a "
        "whole-face scale needs the whole face.",
        "Macular, papular, keloidal or hypertrophic scars and elastolysis are not measured; "
        "enter them from the examination.",
    ]
    if counts["boxcar"] and not any(s.type == "boxcar" and s.depth_mm is not None for s in scars):
        notes.append(
            "Boxcar depth is unknown, so every boxcar scar is counted as shallow (B); "
            "move deep ones to grade C."
        )
    return GradeSuggestion(
        goodman_baron=GoodmanBaronInput(**gb_counts),
        goodman_baron_fields=frozenset(gb_counts),
        ecca=EccaInput.from_counts(**ecca_counts),
        ecca_fields=frozenset(ecca_counts),
        notes=tuple(notes),
    )


# ------------------------------------------------------------- score catalogue


@dataclass(frozen=True)
class ScoreScale:
    """A clinical score a trend chart can plot.

    Attributes
    ----------
    key : str
        ``"gb_quantitative"``, ``"ecca"``, ``"gb_qualitative"`` or ``"pro"``.
    label : str
    minimum, maximum : float or None
        The scale's range (``None`` for a patient-reported outcome, whose range
        depends on the instrument).
    """

    key: str
    label: str
    minimum: float | None
    maximum: float | None


CLINICAL_SCORES: Final[tuple[ScoreScale, ...]] = (
    ScoreScale("gb_quantitative", "Goodman & Baron quantitative", 0, GB_QUANTITATIVE_MAX),
    ScoreScale("ecca", "ECCA", 0, ECCA_MAX),
    ScoreScale("gb_qualitative", "Goodman & Baron qualitative", 1, 4),
    ScoreScale("pro", "Patient-reported outcome", None, None),
)


def score_scale(key: str) -> ScoreScale:
    """Return the :class:`ScoreScale` named ``key``."""
    for scale in CLINICAL_SCORES:
        if scale.key == key:
            return scale
    raise ValueError(
        f"{key!r} is not a clinical score; use one of {', '.join(s.key for s in CLINICAL_SCORES)}."
    )


__all__ = [
    "CLINICAL_SCORES",
    "ECCA_EXTENTS",
    "ECCA_ITEMS",
    "ECCA_ITEM_KEYS",
    "ECCA_MAX",
    "GB_ITEM_KEYS",
    "GB_KELOID_LABEL",
    "GB_QUALITATIVE_GRADES",
    "GB_QUANTITATIVE_ITEMS",
    "GB_QUANTITATIVE_MAX",
    "KNOWN_PRO_INSTRUMENTS",
    "NEEDLE_DEPTH_MAX_MM",
    "NEEDLE_DEPTH_MIN_MM",
    "PROCEDURES",
    "PROCEDURE_LABELS",
    "SCALES_VERSION",
    "EccaInput",
    "EccaItem",
    "EccaResult",
    "GBItem",
    "GoodmanBaronInput",
    "GoodmanBaronResult",
    "GradeSuggestion",
    "PatientReportedOutcome",
    "QualitativeGrade",
    "ScoreScale",
    "SessionGrades",
    "TreatmentRecord",
    "count_multiplier",
    "ecca",
    "ecca_extent_from_count",
    "goodman_baron_qualitative",
    "goodman_baron_quantitative",
    "keloid_points",
    "score_scale",
    "suggest_from_measurement",
]
