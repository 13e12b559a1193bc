"""The learning-rate schedule: exponential decay per segment, changes that never jump unless asked."""

import pytest

from drawstudio.train.schedule import Segment, change, from_list, learning_rate, to_list

BASE = [Segment(start=0, lr=1e-3, decay=0.5, every=100)]


def test_rate_decays_by_the_factor_every_period_and_smoothly_between():
    assert learning_rate(0, BASE) == pytest.approx(1e-3)
    assert learning_rate(100, BASE) == pytest.approx(5e-4)
    assert learning_rate(300, BASE) == pytest.approx(1.25e-4)
    assert learning_rate(50, BASE) == pytest.approx(1e-3 * 0.5**0.5)


def test_a_step_before_the_first_segment_uses_the_first_segment():
    later = [Segment(start=10, lr=1e-3, decay=0.5, every=10)]
    assert learning_rate(0, later) == pytest.approx(2e-3)  # 1e-3 · 0.5^(−10/10)


def test_the_newest_segment_that_has_started_governs():
    segments = [Segment(0, 1e-3, 0.5, 100), Segment(200, 1.0, 0.1, 10)]
    assert learning_rate(199, segments) == pytest.approx(1e-3 * 0.5**1.99)
    assert learning_rate(200, segments) == pytest.approx(1.0)
    assert learning_rate(210, segments) == pytest.approx(0.1)


def test_changing_only_the_decay_continues_from_the_rate_reached():
    # at step 200 the rate has halved twice: 2.5e-4; the new decay 0.1 every 100 starts from there
    changed = change(BASE, 200, decay=0.1)
    assert changed[-1] == Segment(start=200, lr=pytest.approx(2.5e-4), decay=0.1, every=100)
    assert learning_rate(199, changed) == pytest.approx(1e-3 * 0.5**1.99)
    assert learning_rate(200, changed) == pytest.approx(2.5e-4)
    assert learning_rate(300, changed) == pytest.approx(2.5e-5)


def test_changing_only_the_period_continues_from_the_rate_reached():
    changed = change(BASE, 100, every=10)
    assert learning_rate(100, changed) == pytest.approx(5e-4)
    assert learning_rate(110, changed) == pytest.approx(2.5e-4)


def test_changing_the_rate_jumps_to_it_and_keeps_the_decay():
    changed = change(BASE, 100, lr=1e-2)
    assert changed[-1] == Segment(start=100, lr=1e-2, decay=0.5, every=100)
    assert learning_rate(99, changed) == pytest.approx(1e-3 * 0.5**0.99)
    assert learning_rate(200, changed) == pytest.approx(5e-3)


def test_the_rate_holds_until_the_decay_starts_then_decays_from_there():
    held = [Segment(start=0, lr=1e-3, decay=0.5, every=100, decay_start=300)]
    assert learning_rate(0, held) == pytest.approx(1e-3)
    assert learning_rate(299, held) == pytest.approx(1e-3)
    assert learning_rate(300, held) == pytest.approx(1e-3)
    assert learning_rate(350, held) == pytest.approx(1e-3 * 0.5**0.5)
    assert learning_rate(500, held) == pytest.approx(2.5e-4)


def test_a_change_during_the_hold_keeps_the_decay_waiting():
    # the plateau rule halves the rate at step 100: 5e-4, still flat until step 300, then halving every 100
    held = [Segment(start=0, lr=1e-3, decay=0.5, every=100, decay_start=300)]
    changed = change(held, 100, lr=5e-4)
    assert changed[-1] == Segment(start=100, lr=5e-4, decay=0.5, every=100, decay_start=300)
    assert learning_rate(299, changed) == pytest.approx(5e-4)
    assert learning_rate(400, changed) == pytest.approx(2.5e-4)


def test_a_change_after_the_decay_started_decays_from_its_own_step():
    held = [Segment(start=0, lr=1e-3, decay=0.5, every=100, decay_start=300)]
    changed = change(held, 400, every=50)  # 5e-4 at 400, then halving every 50
    assert learning_rate(400, changed) == pytest.approx(5e-4)
    assert learning_rate(450, changed) == pytest.approx(2.5e-4)


def test_a_change_after_a_change_continues_from_the_second_segment():
    first = change(BASE, 100, decay=0.1)  # 5e-4 at 100, ×0.1 per 100 steps
    second = change(first, 150, every=50)  # 5e-4 · 0.1^0.5 at 150, ×0.1 per 50 steps
    reached = 5e-4 * 0.1**0.5
    assert learning_rate(150, second) == pytest.approx(reached)
    assert learning_rate(200, second) == pytest.approx(reached * 0.1)
    assert [s.start for s in second] == [0, 100, 150]


def test_a_change_at_the_step_of_an_earlier_change_replaces_it():
    first = change(BASE, 100, lr=1.0)
    second = change(first, 100, decay=0.9)
    # the second change continues from the first one's rate at its own start, then replaces it
    assert second == [BASE[0], Segment(start=100, lr=1.0, decay=0.9, every=100)]


def test_a_change_in_the_past_drops_the_segments_after_it():
    later = change(BASE, 300, lr=1.0)
    rewritten = change(later, 200, decay=0.9)
    assert [s.start for s in rewritten] == [0, 200]
    assert rewritten[-1].lr == pytest.approx(2.5e-4)


def test_schedule_survives_a_round_trip_through_plain_lists():
    segments = change(BASE, 100, decay=0.1)
    items = to_list(segments)
    assert items[1] == {"start": 100, "lr": pytest.approx(5e-4), "decay": 0.1, "every": 100, "decay_start": 0}
    assert from_list(items) == segments
    assert from_list([{"start": "3", "lr": "0.5", "decay": 1, "every": 2.0}]) == [Segment(3, 0.5, 1.0, 2)]
    held = [Segment(0, 1e-3, 0.5, 100, decay_start=300)]
    assert from_list(to_list(held)) == held


def test_the_schedule_is_rebuilt_from_a_runs_records_with_a_resume_restoring_what_a_kill_lost():
    from drawstudio.train.schedule import from_records

    first = Segment(0, 1e-3, 1.0, 1000)
    changed = {"kind": "schedule", "step": 100, "lr": 5e-4, "decay": 0.5, "every": 10}
    assert from_records(first, []) == [first]
    assert from_records(first, [changed]) == [first, Segment(100, 5e-4, 0.5, 10)]
    # a change at step 300 was recorded, then the process died; the checkpoint of step 200 did not hold it
    lost = {"kind": "schedule", "step": 300, "lr": 1e-5, "decay": 1.0, "every": 1}
    resume = {"kind": "resume", "step": 200, "schedule": to_list([first, Segment(100, 5e-4, 0.5, 10)])}
    rebuilt = from_records(first, [changed, lost, resume])
    assert rebuilt == [first, Segment(100, 5e-4, 0.5, 10)]
    assert learning_rate(110, rebuilt) == pytest.approx(2.5e-4)


def test_a_stored_schedule_that_cannot_be_one_is_refused():
    from drawstudio.errors import ConfigError

    good = {"start": 0, "lr": 1e-3, "decay": 1.0, "every": 1000}
    with pytest.raises(ValueError, match="^the learning-rate schedule has no segments$"):
        from_list([])
    with pytest.raises(ValueError, match=r"out of order \(step 5 after 10\)"):
        from_list([{**good, "start": 10}, {**good, "start": 5}])
    with pytest.raises(ValueError, match=r"out of order \(step 10 after 10\)"):
        from_list([{**good, "start": 10}, {**good, "start": 10}])
    for field, junk, named in (("lr", -1.0, "lr"), ("decay", 2.0, "lr_decay"), ("every", 0, "decay_every"),
                               ("decay_start", -1, "decay_start")):
        with pytest.raises(ConfigError, match=f"^{named}="):
            from_list([{**good, field: junk}])
    assert from_list([good]) == [Segment(0, 1e-3, 1.0, 1000)]
