"""The stage seam: the fault in force, its override, the county faults, the timing."""

from __future__ import annotations

import pytest

from jobs.stages import Fault, InjectedFault, Stages, county_faults, current_fault, inject_fault


def test_the_environment_names_the_fault_and_inject_fault_overrides_it(monkeypatch):
    monkeypatch.setenv("BAOXUE_FAIL_AT", "cases")
    assert current_fault() == Fault("cases")
    with inject_fault(""):  # none, whatever the environment says
        Stages().start("cases")
    with inject_fault("record"), pytest.raises(InjectedFault, match="before stage 'record'"):
        stages = Stages()
        stages.start("cases")
        stages.start("record")
    monkeypatch.setenv("BAOXUE_FAIL_AT", "nope")
    with pytest.raises(ValueError, match="is not a stage"):
        current_fault()


def test_county_faults_restrict_the_stage_fault_to_some_counties(monkeypatch):
    monkeypatch.delenv("BAOXUE_FAIL_COUNTY", raising=False)
    assert county_faults(["a", "b"], Fault("cases")) == {"a": Fault("cases"), "b": Fault("cases")}
    monkeypatch.setenv("BAOXUE_FAIL_COUNTY", "b:exit_once")
    assert county_faults(["a", "b"], Fault()) == {"a": Fault(), "b": Fault("features", "exit_once")}
    with pytest.raises(ValueError, match="only die in a compute stage"):
        county_faults(["a", "b"], Fault("cases"))


def test_stages_time_each_stage_and_report_it():
    seen = []
    with inject_fault(""):
        stages = Stages(lambda name, s: seen.append(name), seconds={"lock": 0.5})
        for name in ("load", "features"):
            stages.start(name)
            stages.done(name)
    stages.add({"load": 1.0})
    assert seen == ["load", "features"] and set(stages.seconds) == {"lock", "load", "features"}
    assert stages.seconds["load"] >= 1.0
