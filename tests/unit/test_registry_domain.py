"""Registry domain: semantic versions, model validation, list queries, file names."""

import pytest

from services.registry import domain, schemas
from shared.errors import ValidationError

# -- semver ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "1.0.0",
        "0.0.1",
        "10.20.30",
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-0.3.7",
        "1.0.0-x.7.z.92",
        "1.0.0+20130313144700",
        "1.0.0-beta+exp.sha.5114f85",
        "1.0.0-x-y-z.--",
    ],
)
def test_valid_semver(value):
    assert domain.is_semver(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "1",
        "1.0",
        "v1.0.0",
        "01.0.0",
        "1.02.0",
        "1.0.0-",
        "1.0.0-01",
        "1.0.0+",
        "1.0.0 ",
        "1.0.0-alpha..1",
        "a.b.c",
        None,
        100,
    ],
)
def test_invalid_semver(value):
    assert not domain.is_semver(value)


def test_semver_precedence_follows_the_spec():
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.9.0",
        "1.10.0",
        "2.0.0",
    ]
    parsed = [domain.parse_semver(v) for v in ordered]
    assert parsed == sorted(parsed)
    assert sorted(reversed(parsed)) == parsed
    # build metadata does not change precedence
    assert domain.parse_semver("1.0.0+a") == domain.parse_semver("1.0.0+b")


def test_versions_sorted_newest_first_numerically_not_lexically():
    models = [
        {"version": v, "created_at": f"2026-01-0{i}"}
        for i, v in enumerate(["1.9.0", "1.10.0", "1.2.0", "1.10.0-rc.1", "0.9.9"], start=1)
    ]
    versions = [m["version"] for m in domain.sort_by_version_desc(models)]
    assert versions == ["1.10.0", "1.10.0-rc.1", "1.9.0", "1.2.0", "0.9.9"]


# -- create / update validation -----------------------------------------------------


def test_create_fills_defaults():
    model = schemas.load_create({"name": "  churn  "})
    assert model["name"] == "churn"
    assert model["version"] == "1.0.0"
    assert model["status"] == "draft"
    assert model["tags"] == [] and model["parameters"] == {} and model["metrics"] == {}
    assert model["input_schema"] is None


def test_create_validates_every_field_with_details():
    with pytest.raises(ValidationError) as caught:
        schemas.load_create(
            {
                "version": "1.0",
                "type": "deep",
                "framework": "keras",
                "tags": "a,b",
                "metrics": {"auc": "0.9", "ok": True},
                "parameters": [],
                "bogus": 1,
            }
        )
    details = caught.value.details
    assert set(details) >= {
        "name",
        "version",
        "type",
        "framework",
        "tags",
        "metrics",
        "parameters",
        "bogus",
    }
    assert details["bogus"] == ["unknown field"]
    assert "semantic version" in details["version"][0]
    assert caught.value.status == 400


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_bad_names(name):
    with pytest.raises(ValidationError) as caught:
        schemas.load_create({"name": name})
    assert "name" in caught.value.details


def test_metrics_reject_non_numbers_and_accept_numbers():
    assert schemas.load_create({"name": "m", "metrics": {"auc": 0.9, "n": 3}})["metrics"] == {
        "auc": 0.9,
        "n": 3,
    }
    for bad in ("0.9", True, None, [1], float("nan"), float("inf")):
        with pytest.raises(ValidationError) as caught:
            schemas.load_create({"name": "m", "metrics": {"auc": bad}})
        assert "metrics" in caught.value.details


def test_read_only_and_non_object_payloads():
    with pytest.raises(ValidationError) as caught:
        schemas.load_create({"name": "m", "file": {}, "created_by": "x"})
    assert set(caught.value.details) == {"file", "created_by"}
    with pytest.raises(ValidationError):
        schemas.load_create(["name"])
    with pytest.raises(ValidationError):
        schemas.load_update("nope")


def test_update_is_partial_and_applies_no_defaults():
    assert schemas.load_update({"description": "d"}) == {"description": "d"}
    assert schemas.load_update({}) == {}
    with pytest.raises(ValidationError) as caught:
        schemas.load_update({"version": "one", "status": "deleted", "extra": 1})
    assert set(caught.value.details) == {"version", "status", "extra"}


def test_input_schema_shape():
    ok = schemas.load_create({"name": "m", "input_schema": [{"name": "age"}]})
    assert ok["input_schema"] == [{"name": "age", "type": "number"}]
    with pytest.raises(ValidationError):
        schemas.load_create({"name": "m", "input_schema": [{"type": "number"}]})


def test_status_rules():
    domain.check_status_change("archived", has_file=False)
    domain.check_status_change("ready", has_file=True)
    with pytest.raises(ValidationError):
        domain.check_status_change("ready", has_file=False)
    with pytest.raises(ValidationError):
        domain.check_status_change("draft", has_file=True)
    assert domain.status_after_upload("draft") == "ready"
    assert domain.status_after_upload("archived") == "archived"


# -- list queries ----------------------------------------------------------------


def test_sort_parsing():
    assert domain.parse_sort(None) == [("created_at", -1), ("_id", -1)]
    assert domain.parse_sort("name") == [("name", 1), ("_id", 1)]
    assert domain.parse_sort("-updated_at,name") == [("updated_at", -1), ("name", 1), ("_id", 1)]
    for bad in ("password", "-$where", "name;drop", "parameters.x"):
        with pytest.raises(ValidationError) as caught:
            domain.parse_sort(bad)
        assert "sort" in caught.value.details


def test_list_query_filters_and_paging():
    parsed = domain.build_list_query(
        {
            "q": "a.b*",
            "department": "Sales",
            "region": "EMEA",
            "status": "ready",
            "type": "regression",
            "framework": "onnx",
            "tags": ["x", "y"],
            "tag": "z",
            "page": "3",
            "per_page": 50,
            "sort": "name",
        }
    )
    f = parsed.filter
    assert f["department"] == "Sales" and f["status"] == "ready" and f["framework"] == "onnx"
    assert f["tags"] == {"$all": ["x", "y", "z"]}
    assert f["$or"][0]["name"] == {"$regex": r"a\.b\*", "$options": "i"}
    assert (parsed.page, parsed.per_page, parsed.skip) == (3, 50, 100)
    assert domain.build_list_query(None).per_page == 20


@pytest.mark.parametrize(
    "query,field",
    [
        ({"page": 0}, "page"),
        ({"page": "x"}, "page"),
        ({"per_page": 201}, "per_page"),
        ({"per_page": 0}, "per_page"),
        ({"status": "gone"}, "status"),
        ({"type": "x"}, "type"),
        ({"tags": [1]}, "tags"),
        ({"q": "x" * 201}, "q"),
        ({"color": "red"}, "color"),
        ({"sort": "secret"}, "sort"),
        ({"department": {"$ne": 1}}, "department"),
    ],
)
def test_bad_list_queries(query, field):
    with pytest.raises(ValidationError) as caught:
        domain.build_list_query(query)
    assert field in caught.value.details


# -- files ---------------------------------------------------------------------------


def test_safe_filename():
    assert domain.safe_filename("../../etc/passwd", "pickle") == "etc_passwd"
    assert domain.safe_filename("my model.joblib", "joblib") == "my_model.joblib"
    assert domain.safe_filename("../..", "joblib") == "model.joblib"
    assert domain.safe_filename("", "pickle") == "model.pkl"
    assert domain.safe_filename(None, "onnx") == "model.onnx"
    assert len(domain.safe_filename("a" * 400 + ".skops", "skops")) == 255
    assert domain.safe_filename("a" * 400 + ".skops", "skops").endswith(".skops")


def test_input_schema_from_inspection():
    assert domain.input_schema_from({"feature_names": None}) is None
    assert domain.input_schema_from({"feature_names": ["a", "b"], "feature_types": ["number"]}) == [
        {"name": "a", "type": "number"},
        {"name": "b", "type": "number"},
    ]


def test_list_query_must_be_an_object():
    with pytest.raises(ValidationError):
        domain.build_list_query(["q"])
