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
