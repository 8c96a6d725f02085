"""The simulated county: every contract table for a county, plus the truth behind it.

The public interface of the simulator (calibrated to SIMULATOR.md). Everything outside this
package imports from here, never from a module inside it:

- :func:`simulate_county`, :class:`SimulatedCounty`, :func:`write_county`, :func:`read_truth`
  and :data:`TRUTH_DIR`: simulate a county, write it, and read its truth back;
- :class:`Preset`, :data:`PRESETS`, :func:`get_preset`: the calibration presets;
- :class:`SchoolYear`, :func:`school_year`, :data:`SPRING_FESTIVAL`: the county's calendar;
- :func:`make_messy`, :data:`FAULT_KINDS`, :data:`MESSY_CONFIG`: the faults real exports have;
- :func:`simulate_province`, :func:`plan_province`, :class:`CountyPlan`, :func:`county_code`:
  a province of counties, written as Hive-style partitions.

Examples
--------
>>> county = simulate_county(students=400, years=3, seed=1, preset="reap_2010")
>>> sorted(county.frames)[:4]
['aid', 'attendance', 'calendar', 'classes']
>>> county.meta["students_total"] > 400
True
"""

from features.sim.calendar import SPRING_FESTIVAL, SchoolYear, school_year
from features.sim.county import TRUTH_DIR, SimulatedCounty, read_truth, simulate_county, write_county
from features.sim.messy import FAULT_KINDS, MESSY_CONFIG, make_messy
from features.sim.presets import PRESETS, Preset, get_preset
from features.sim.province import CountyPlan, county_code, plan_province, simulate_province

__all__ = [
    "FAULT_KINDS",
    "MESSY_CONFIG",
    "PRESETS",
    "SPRING_FESTIVAL",
    "TRUTH_DIR",
    "CountyPlan",
    "Preset",
    "SchoolYear",
    "SimulatedCounty",
    "county_code",
    "get_preset",
    "make_messy",
    "plan_province",
    "read_truth",
    "school_year",
    "simulate_county",
    "simulate_province",
    "write_county",
]
