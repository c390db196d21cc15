"""A CSV export of a paged report holds the lines of every page."""

from services.gateway.blueprints import reports


def _paged_reporting(total):
    asked = []

    def rpc(service, method, name, query):
        asked.append(dict(query))
        start = (query["page"] - 1) * query["per_page"]
        items = [{"id": n} for n in range(start, min(total, start + query["per_page"]))]
        return {"items": items, "total": total, "page": query["page"],
                "per_page": query["per_page"]}
    return rpc, asked


def test_every_page_is_read_until_the_total(monkeypatch):
    rpc, asked = _paged_reporting(450)
    monkeypatch.setattr(reports, "rpc", rpc)
    report = reports._every_page("model-performance", {"department": "Finance"})
    assert [item["id"] for item in report["items"]] == list(range(450))
    assert [q["page"] for q in asked] == [1, 2, 3]
    assert all(q["per_page"] == 200 and q["department"] == "Finance" for q in asked)


def test_the_export_stops_at_its_line_limit(monkeypatch):
    rpc, asked = _paged_reporting(10_000)
    monkeypatch.setattr(reports, "rpc", rpc)
    monkeypatch.setattr(reports, "CSV_MAX_LINES", 500)
    assert len(reports._every_page("deployment-status", {})["items"]) == 500
    assert len(asked) == 3
