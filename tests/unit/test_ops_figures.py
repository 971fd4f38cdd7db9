from services.ops.figures import Figures, Rates, Seen
from services.ops.lag_status import LagStatus, PartitionHistory, Sample, worst


def history(*readings) -> PartitionHistory:
    h = PartitionHistory()
    for i, (committed, end) in enumerate(readings):
        h.add(Sample(float(i), committed, end))
    return h


def test_a_consumer_that_caught_up_in_the_window_is_ok():
    assert history((10, 15), (15, 15), (15, 20)).status() is LagStatus.OK


def test_lag_with_no_progress_is_stalled():
    assert history((10, 12), (10, 15), (10, 19)).status() is LagStatus.STALLED


def test_progress_with_ever_growing_lag_is_falling_behind():
    assert history((10, 12), (11, 15), (12, 19)).status() is LagStatus.FALLING_BEHIND


def test_progress_with_steady_lag_is_ok():
    assert history((10, 15), (15, 20), (20, 25)).status() is LagStatus.OK


def test_the_worst_partition_decides_the_group():
    assert worst([LagStatus.OK, LagStatus.STALLED, LagStatus.FALLING_BEHIND]) is LagStatus.STALLED


def test_rates_count_per_second_and_forget_the_old():
    rates = Rates()
    for second, key in [(100, "council"), (100, "council"), (101, "ccg")]:
        rates.add(second, key)
    assert rates.series(101, 2) == {"ccg": [0, 1], "council": [2, 0]}
    rates.add(500, "council")
    assert 100 not in rates.buckets  # more than five minutes before 500
    assert rates.per_second(500, 10) == {"council": 0.1}


def test_figures_record_by_topic_tenant_and_type():
    figures = Figures()
    figures.record(Seen(1000.2, "it.requests", 0, 7, "council", "uk.hps.it.request.submitted", "gateway", "id", "r"))
    assert figures.by_tenant.series(1000, 1) == {"council": [1]}
    assert figures.by_type.series(1000, 1) == {"uk.hps.it.request.submitted": [1]}
    assert figures.latest[-1].offset == 7
