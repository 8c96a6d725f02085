"""Calibration presets of the simulated county (SIMULATOR.md). Every number is a field here.

``reap_2010``: a poor rural county around 2010, high dropout. ``current``: after the 2020
clearing campaign, low confirmed dropout and suspected-dropout episodes far more common
than confirmed dropouts. Numbers marked *assumption* in SIMULATOR.md are assumptions
here too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

__all__ = ["Preset", "PRESETS", "get_preset"]


@dataclass(frozen=True, kw_only=True)
class Preset:
    name: str
    start_year: int  # first simulated school year starts in September of this year

    # annual dropout by grade (index 1..9); junior high from Yi 2012, primary from MoE
    annual_dropout: tuple[float, ...]
    noshow_g7: float  # 小升初 no-show share among students promoted from grade 6
    episode_share_fatal: float  # share of 疑似辍学 episodes that become dropout

    left_behind_both: float  # share with both parents away
    left_behind_one: float  # share with one parent away
    mother_share_single: float = 0.20  # mother away among single-parent left-behind
    left_behind_persistence: float = 0.80  # chance the status carries over a Spring Festival
    boarding_junior: float = 0.60
    boarding_primary: float = 0.10
    poverty: float = 0.30
    disabled: float = 0.01
    overage: float = 0.15
    migrant_child: float = 0.02
    only_child: float = 0.30
    siblings_2plus: float = 0.35
    parent_chronic: float = 0.05
    parent_disabled: float = 0.02

    # relative risks on the annual hazard (multiplicative)
    rr_bottom20: float = 3.0
    rr_trend_minus_1sd: float = 1.5
    rr_poor: float = 2.0
    rr_parent_ill: float = 1.5
    rr_mother_away: float = 1.6  # mother away, including both parents away
    rr_father_only: float = 0.9
    rr_overage_per_year: float = 1.6
    rr_boarding: float = 1.0
    boarding_school_sd: float = 0.2  # school-to-school spread of the boarding effect (log scale)
    rr_male: float = 1.15
    rr_anxiety_per_sd: float = 1.15  # latent, unobserved
    rr_siblings_2plus: float = 1.3
    rr_far_day_student: float = 1.1  # > 5 km and not boarding
    rr_returned: float = 2.0  # a returned dropout (复学生) is at higher risk
    school_sd: float = 0.4  # school random effect (log scale)
    unobserved_sd: float = 0.5  # total sd of the unobserved part of the log hazard, anxiety included

    # timing of episodes (shares of the year's episodes)
    timing_autumn_start: float = 0.35  # weeks 1-3 of the autumn term
    timing_after_festival: float = 0.30  # the 2-3 weeks after the spring term starts
    timing_pre_zhongkao: float = 0.10  # month before 中考, grade 9 only
    autumn_window_days: int = 21
    festival_window_days: int = 21
    zhongkao_window_days: int = 30

    # behaviour
    unexcused_base: float = 0.005  # daily unexcused probability (0.3-1% of student-days)
    unexcused_spring_factor: float = 1.3
    late_rate: float = 0.010
    left_early_rate: float = 0.005
    leave_start_rate: float = 0.007  # a sick/personal leave spell starts on a school day
    leave_mean_days: float = 1.8
    long_leave_start_rate: float = 0.0004  # a leave of more than 5 days starts
    precursor_days: tuple[int, int] = (28, 56)  # unexcused absence rises 4-8 weeks before
    precursor_peak: tuple[float, float] = (0.10, 0.30)
    long_leave_before_dropout: float = 0.05
    nonfatal_precursor_days: tuple[int, int] = (7, 28)
    nonfatal_precursor_peak: tuple[float, float] = (0.03, 0.12)
    nonfatal_run_mean: float = 7.0  # school days out in an episode that ends in a return
    dropout_return_share: float = 0.30  # dropouts brought back at the next term's start

    # registry churn per year
    transfer_out: float = 0.015
    transfer_in: float = 0.008
    deceased: float = 0.0002
    abroad: float = 0.0003
    suspend: float = 0.002
    repeat_primary: float = 0.015
    repeat_junior: float = 0.008
    class_change_midyear: float = 0.01

    # household events per year
    parent_illness_rate: float = 0.02
    parent_death_rate: float = 0.003
    divorce_rate: float = 0.01
    disaster_rate: float = 0.005
    house_move_rate: float = 0.02
    poverty_exit_rate: float = 0.10
    poverty_entry_rate: float = 0.02

    # schools
    levels_only_school_share: float = 0.30
    class_size_primary: int = 40
    class_size_junior: int = 48
    students_per_township: int = 2500

    extra: dict[str, float] = field(default_factory=dict)

    @property
    def unobserved_other_sd(self) -> float:
        """The sd of the unobserved part that is not anxiety, so the total is ``unobserved_sd``."""
        a = math.log(self.rr_anxiety_per_sd)
        return math.sqrt(max(self.unobserved_sd**2 - a**2, 0.0))


PRESETS: dict[str, Preset] = {
    "reap_2010": Preset(
        name="reap_2010",
        start_year=2008,
        annual_dropout=(0.0, 0.005, 0.005, 0.005, 0.005, 0.005, 0.015, 0.057, 0.090, 0.060),
        noshow_g7=0.03,
        episode_share_fatal=0.45,
        left_behind_both=0.16,
        left_behind_one=0.19,
        boarding_junior=0.60,
        boarding_primary=0.10,
        poverty=0.30,
        overage=0.15,
        migrant_child=0.02,
        rr_poor=2.0,
    ),
    "current": Preset(
        name="current",
        start_year=2022,
        annual_dropout=(0.0, 0.0005, 0.0005, 0.0005, 0.0005, 0.0005, 0.002, 0.008, 0.013, 0.010),
        noshow_g7=0.003,
        episode_share_fatal=0.20,
        left_behind_both=0.12,
        left_behind_one=0.13,
        boarding_junior=0.65,
        boarding_primary=0.12,
        poverty=0.15,
        overage=0.08,
        migrant_child=0.03,
        rr_poor=1.4,
    ),
}


def get_preset(name: str, **overrides: float) -> Preset:
    """A preset by name, optionally with fields replaced.

    >>> get_preset("current").annual_dropout[8]
    0.013
    """
    try:
        base = PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
    return replace(base, **overrides) if overrides else base
