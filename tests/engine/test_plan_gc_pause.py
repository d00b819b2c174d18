import gc

from app.domain.records import Kind
from app.sync import compose


def test_the_engine_plans_with_the_collector_paused_and_resumes_it(world, monkeypatch):
    seen = []
    real = compose.KindPlanner.plan

    def plan(self):
        seen.append(gc.isenabled())
        return real(self)

    monkeypatch.setattr(compose.KindPlanner, "plan", plan)
    world.crm.add(Kind.PERSON, {"first_name": "Ann", "email1": "ann@x.test"})
    world.sync()
    assert seen and not any(seen) and gc.isenabled()
    assert [i.fields["first_name"] for i in world.mailbox.live(Kind.PERSON)] == ["Ann"]


def test_a_cycle_runs_with_the_heap_it_began_with_frozen_and_thaws_it(world, monkeypatch):
    frozen_while_planning = []
    real = compose.KindPlanner.plan

    def plan(self):
        frozen_while_planning.append(gc.get_freeze_count())
        return real(self)

    monkeypatch.setattr(compose.KindPlanner, "plan", plan)
    world.crm.add(Kind.PERSON, {"first_name": "Ann", "email1": "ann@x.test"})
    world.sync()
    assert frozen_while_planning and all(n > 0 for n in frozen_while_planning)
    assert gc.get_freeze_count() == 0


def test_a_failing_cycle_thaws_the_heap_too(world, monkeypatch):
    def plan(self):
        raise RuntimeError("planning failed")

    monkeypatch.setattr(compose.KindPlanner, "plan", plan)
    world.crm.add(Kind.PERSON, {"first_name": "Ann", "email1": "ann@x.test"})
    try:
        world.sync()
    except RuntimeError:
        pass
    assert gc.get_freeze_count() == 0
