"""Pure logic of the reporting read side: contributions, histograms, periods, queries."""

from datetime import UTC, datetime

import pytest

from services.reporting import domain
from shared.errors import ValidationError


def _execution(status, **extra):
    return {"id": "e1", "status": status, "trigger": "manual", "model_id": "m1",
            "department": "Finance", "region": "Europe",
            "created_at": "2026-03-02T10:15:00.000Z", **extra}


def test_a_status_change_moves_one_count_from_the_old_status_to_the_new():
    before = domain.execution_contributions(_execution("running"))
    after = domain.execution_contributions(_execution("succeeded", duration_s=2.0, rows=10))
    diff = {(c, k): incs for c, k, _, incs in domain.difference(before, after)}
    assert diff[("counters", "executions|running")] == {"n": -1}
    assert diff[("counters", "executions|succeeded")] == {"n": 1}
    hour = diff[("buckets", "hour|2026-03-02T10:00:00+00:00|Finance|Europe")]
    assert hour["status.running"] == -1 and hour["status.succeeded"] == 1
    assert hour["rows"] == 10 and hour["compute_s"] == 2.0 and hour["timed"] == 1


def test_the_same_state_twice_changes_nothing():
    state = _execution("failed", duration_s=1.0)
    assert domain.difference(domain.execution_contributions(state),
                             domain.execution_contributions(state)) == []


def test_a_model_moved_to_another_department_leaves_the_old_one():
    old = {"id": "m", "type": "regression", "department": "RH", "region": None}
    new = {**old, "department": "Finance"}
    diff = {k: i for _, k, _, i in domain.difference(domain.model_contributions(old),
                                                     domain.model_contributions(new))}
    assert diff == {"models_dr|RH|(none)": {"n": -1}, "models_dr|Finance|(none)": {"n": 1}}


@pytest.mark.parametrize("duration", [0.05, 0.8, 3.3, 42.0, 900.0])
def test_the_histogram_percentile_is_within_twelve_percent(duration):
    hist = {domain.hist_index(duration): 1}
    assert abs(domain.percentile(hist, 0.5) - duration) / duration <= 0.125


def test_percentiles_of_a_spread():
    hist: dict[int, int] = {}
    for value in range(1, 101):
        index = domain.hist_index(float(value))
        hist[index] = hist.get(index, 0) + 1
    assert abs(domain.percentile(hist, 0.95) - 95) / 95 <= 0.125
    assert domain.percentile({}, 0.5) is None


def test_a_period_is_aligned_on_its_grain():
    now = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
    start, end = domain.period({"from": "2026-03-01T05:10:00Z", "to": "2026-03-02T10:30:00Z"},
                               "day", now)
    assert start == datetime(2026, 3, 1, tzinfo=UTC) and end == datetime(2026, 3, 3, tzinfo=UTC)


@pytest.mark.parametrize("query, field", [
    ({"interval": "month"}, "interval"),
    ({"from": "yesterday"}, "from"),
    ({"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, "to"),
    ({"interval": "hour", "from": "2020-01-01T00:00:00Z"}, "from"),
])
def test_bad_trend_parameters_name_the_parameter(query, field):
    with pytest.raises(ValidationError) as caught:
        domain.trend_query(query, datetime(2026, 3, 2, tzinfo=UTC))
    assert field in caught.value.details


def test_an_unknown_parameter_is_named():
    with pytest.raises(ValidationError) as caught:
        domain.check_known("department-usage", {"departement": "x"})
    assert "departement" in caught.value.details


def test_versions_sort_semantically():
    keys = sorted(["1.9.0", "1.10.0", "1.10.0-rc1", "2.0.0"], key=domain.version_key)
    assert keys == ["1.9.0", "1.10.0-rc1", "1.10.0", "2.0.0"]


def test_trends_fill_every_point_of_the_period():
    spec = domain.trend_query({"interval": "day", "from": "2026-03-01T00:00:00Z",
                               "to": "2026-03-04T00:00:00Z"}, datetime(2026, 3, 5, tzinfo=UTC))
    bucket = {"start": datetime(2026, 3, 2, tzinfo=UTC), "status": {"succeeded": 3, "failed": 1},
              "rows": 30, "compute_s": 4.0, "hist": {"50": 4}}
    out = domain.trends(spec, [bucket])
    assert [p["total"] for p in out["points"]] == [0, 4, 0]
    assert out["totals"]["success_rate"] == 0.75 and out["totals"]["rows"] == 30


def test_a_rebuild_total_is_the_sum_of_the_contributions():
    totals = domain.Totals()
    for n in range(3):
        totals.add(domain.execution_contributions(_execution("succeeded", duration_s=1.0,
                                                             rows=5, id=f"e{n}")))
    merged = {(c, k): i for c, k, _, i in totals.result()}
    assert merged[("counters", "executions|succeeded")] == {"n": 3}
    assert merged[("model_days", "m1|all")]["rows"] == 15


def test_the_report_order_is_name_then_newest_version():
    models = [{"name": "b", "version": "1.0.0"}, {"name": "a", "version": "1.9.0"},
              {"name": "a", "version": "1.10.0"}, {"name": "a b", "version": "2.0.0"}]
    ordered = sorted(models, key=domain.sort_key)
    assert [(m["name"], m["version"]) for m in ordered] == [
        ("a", "1.10.0"), ("a", "1.9.0"), ("a b", "2.0.0"), ("b", "1.0.0")]


def test_a_page_is_a_bounded_range_of_the_directory():
    keys = [f"k{i:04d}" for i in range(0, 1000)]
    directory = keys[::domain.DIRECTORY_STEP]
    low, high, offset = domain.directory_slice(directory, len(keys), page=3, per_page=25)
    page = [k for k in keys if low <= k and (high is None or k < high)][offset:offset + 25]
    assert page == keys[50:75]
    low, high, offset = domain.directory_slice(directory, len(keys), page=40, per_page=25)
    assert high is None
    assert [k for k in keys if low <= k][offset:offset + 25] == keys[975:1000]
    assert domain.directory_slice(directory, len(keys), page=41, per_page=25) is None


def test_the_analytics_copy_defaults_to_a_sqlite_file_under_var_dir(monkeypatch, tmp_path):
    from shared.config import analytics_db_url

    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.delenv("ANALYTICS_DB_URL", raising=False)
    assert analytics_db_url() == f"sqlite:///{tmp_path}/analytics/analytics.db"
    monkeypatch.setenv("ANALYTICS_DB_URL", "postgresql+psycopg://a:b@db/analytics")
    assert analytics_db_url() == "postgresql+psycopg://a:b@db/analytics"


def _department_days(executions):
    """The department-day documents the contributions of ``executions`` add up to, nested
    one level as the read model stores them."""
    totals = domain.Totals()
    for execution in executions:
        totals.add(domain.execution_contributions(execution))
    docs = {}
    for collection, key, fields, incs in totals.result():
        if collection != "department_days":
            continue
        doc = docs.setdefault(key, dict(fields))
        for name, value in incs.items():
            head, _, tail = name.partition(".")
            doc.setdefault(head, {})[tail] = value
    return list(docs.values())


def test_department_usage_sums_every_department_of_one_document_per_day():
    odd = "R.&D $labs"  # field-name characters MongoDB reserves
    runs = [_execution("succeeded", id="a", duration_s=2.0, rows=10, department=odd),
            _execution("failed", id="b", duration_s=1.0, department=odd, region="Asia"),
            _execution("succeeded", id="c", duration_s=4.0, rows=5),
            _execution("succeeded", id="d", duration_s=1.0, rows=7,
                       created_at="2026-03-03T08:00:00.000Z")]
    days = _department_days(runs)
    spec = {"from": datetime(2026, 3, 1, tzinfo=UTC), "to": datetime(2026, 3, 4, tzinfo=UTC)}
    everywhere = [d for d in days if d["region"] == domain.ALL]
    assert len(everywhere) == 2  # two days, whatever the number of departments
    items = {i["department"]: i for i in
             domain.department_usage(spec, [], [], everywhere)["items"]}
    assert items[odd]["executions"] == 2 and items[odd]["failed"] == 1
    assert items[odd]["rows_scored"] == 10 and items[odd]["compute_s"] == 3.0
    assert items["Finance"]["executions"] == 2 and items["Finance"]["rows_scored"] == 12
    assert items["Finance"]["success_rate"] == 1.0
    asia = [d for d in days if d["region"] == "Asia"]
    only = domain.department_usage({**spec, "region": "Asia"}, [], [], asia)["items"]
    assert [(i["department"], i["executions"]) for i in only] == [(odd, 1)]
    one = domain.department_usage({**spec, "department": "Finance"}, [], [], everywhere)
    assert [i["department"] for i in one["items"]] == ["Finance"]
