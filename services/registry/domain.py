"""Registry domain: semantic versions, model validation, list queries. No I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering
from typing import Any

from shared import limits
from shared.errors import ValidationError

MODEL_TYPES = ("classification", "regression", "clustering", "forecasting", "other")
FRAMEWORKS = ("scikit-learn", "onnx", "tensorflow", "pytorch", "xgboost", "other")
STATUSES = ("draft", "ready", "archived")
DEFAULT_VERSION = "1.0.0"
NAME_MAX = limits.NAME_MAX

# -- semantic versions (https://semver.org/spec/v2.0.0.html) ------------------

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


@total_ordering
@dataclass(frozen=True)
class SemVer:
    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: str = ""

    def _key(self) -> tuple:
        # A release ranks above its pre-releases; numeric identifiers rank
        # below alphanumeric ones and compare as numbers. Build metadata is
        # ignored for precedence.
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __lt__(self, other: SemVer) -> bool:
        return self._key() < other._key()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SemVer) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


def parse_semver(value: str) -> SemVer:
    """``"1.10.0-rc.1+build"`` → SemVer; raises ``ValueError`` when not SemVer 2.0.0."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    match = _SEMVER.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.0.0)")
    major, minor, patch, pre, build = match.groups()
    return SemVer(
        int(major), int(minor), int(patch), tuple(pre.split(".")) if pre else (), build or ""
    )


def is_semver(value: Any) -> bool:
    try:
        parse_semver(value)
    except ValueError:
        return False
    return True


def sort_by_version_desc(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Newest semantic version first; same precedence → newest created first."""

    def key(model: dict[str, Any]):
        try:
            version = parse_semver(model.get("version", ""))
        except ValueError:  # stored before validation existed: rank last
            version = SemVer(-1, 0, 0)
        return (version, model.get("created_at") or "")

    return sorted(models, key=key, reverse=True)


# -- status ------------------------------------------------------------------


def check_status_change(new_status: str, has_file: bool) -> None:
    """``ready`` needs a file; a model with a file is ``ready`` or ``archived``."""
    message = None
    if new_status == "ready" and not has_file:
        message = "a model is ready only once a valid file is attached"
    elif new_status == "draft" and has_file:
        message = "a model with a valid file is ready or archived, not draft"
    if message:
        raise ValidationError(f"status: {message}", {"status": [message]})


def status_after_upload(current: str) -> str:
    return "archived" if current == "archived" else "ready"


# -- list queries --------------------------------------------------------------

SORTABLE = (
    "name",
    "version",
    "created_at",
    "updated_at",
    "type",
    "framework",
    "department",
    "region",
    "status",
)
#: The fields whose distinct values ``model_facets`` lists (the web app's filters).
FACETS = ("department", "region", "status", "type", "framework")
DEFAULT_SORT = "-created_at"
PER_PAGE_DEFAULT = limits.PER_PAGE_DEFAULT
PER_PAGE_MAX = limits.PER_PAGE_MAX
QUERY_KEYS = (
    "q",
    "department",
    "region",
    "status",
    "type",
    "framework",
    "tags",
    "tag",
    "sort",
    "page",
    "per_page",
)
Q_MAX = limits.QUERY_MAX
#: What ``q`` searches (case-insensitive, anywhere in the text).
SEARCHED = ("name", "description")


def parse_sort(value: str | None) -> list[tuple[str, int]]:
    """``"-created_at,name"`` → ``[("created_at", -1), ("name", 1), ("_id", -1)]``.

    Only whitelisted fields (each has an index); ``_id`` breaks ties so pages
    are stable. Raises ``ValidationError`` naming ``sort``.
    """
    value = DEFAULT_SORT if value in (None, "") else value
    if not isinstance(value, str):
        raise ValidationError("sort: must be a string", {"sort": ["must be a string"]})
    keys: list[tuple[str, int]] = []
    for part in value.split(","):
        part = part.strip()
        direction = -1 if part.startswith("-") else 1
        name = part.lstrip("+-")
        if name == "id":
            name = "_id"
        if name not in SORTABLE and name != "_id":
            message = f"cannot sort by {name!r}; allowed: {', '.join(SORTABLE)}"
            raise ValidationError(f"sort: {message}", {"sort": [message]})
        if any(existing == name for existing, _ in keys):
            continue
        keys.append((name, direction))
    if not any(name == "_id" for name, _ in keys):
        keys.append(("_id", keys[-1][1] if keys else -1))
    return keys


def _int(
    value: Any, field: str, errors: dict[str, list[str]], low: int, high: int | None, default: int
) -> int:
    if value in (None, ""):
        return default
    if isinstance(value, bool):
        errors[field] = ["must be an integer"]
        return default
    try:
        number = int(value)
        if isinstance(value, float) and number != value:
            raise ValueError
    except (TypeError, ValueError):
        errors[field] = ["must be an integer"]
        return default
    if number < low or (high is not None and number > high):
        errors[field] = [f"must be between {low} and {high}" if high else f"must be ≥ {low}"]
    return number


@dataclass
class ListQuery:
    filter: dict[str, Any]
    sort: list[tuple[str, int]]
    page: int
    per_page: int

    @property
    def skip(self) -> int:
        return (self.page - 1) * self.per_page


def build_list_query(query: dict[str, Any] | None) -> ListQuery:
    """Validate ``list_models`` query keys into a Mongo filter, sort and page."""
    if query is not None and not isinstance(query, dict):
        raise ValidationError(
            "invalid list query: expected an object", {"_schema": ["expected an object"]}
        )
    query = {k: v for k, v in (query or {}).items() if v is not None}
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(query) - set(QUERY_KEYS))
    for key in unknown:
        errors[key] = ["unknown query parameter"]
    mongo: dict[str, Any] = {}
    for key in ("department", "region", "status", "type", "framework"):
        value = query.get(key)
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            errors[key] = ["must be a string"]
            continue
        if len(value) > limits.NAME_MAX:
            errors[key] = [f"at most {limits.NAME_MAX} characters"]
        elif key == "status" and value not in STATUSES:
            errors[key] = [f"must be one of: {', '.join(STATUSES)}"]
        elif key == "type" and value not in MODEL_TYPES:
            errors[key] = [f"must be one of: {', '.join(MODEL_TYPES)}"]
        elif key == "framework" and value not in FRAMEWORKS:
            errors[key] = [f"must be one of: {', '.join(FRAMEWORKS)}"]
        mongo[key] = value
    tags: list[Any] = []
    for key in ("tags", "tag"):
        value = query.get(key)
        if value in (None, "", []):
            continue
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(t, str) for t in values):
            errors[key] = ["must be a list of strings"]
            continue
        tags.extend(t for t in values if t)
    if tags:
        mongo["tags"] = {"$all": sorted(set(tags))}
    q = query.get("q")
    if q not in (None, ""):
        if not isinstance(q, str):
            errors["q"] = ["must be a string"]
        elif len(q) > Q_MAX:
            errors["q"] = [f"at most {Q_MAX} characters"]
        else:
            # SecantusDB has no $text: escaped case-insensitive regex.
            pattern = {"$regex": re.escape(q.strip()), "$options": "i"}
            mongo["$or"] = [{field: pattern} for field in SEARCHED]
    page = _int(query.get("page"), "page", errors, 1, limits.PAGE_MAX, 1)
    per_page = _int(query.get("per_page"), "per_page", errors, 1, PER_PAGE_MAX, PER_PAGE_DEFAULT)
    try:
        sort = parse_sort(query.get("sort"))
    except ValidationError as exc:
        errors.update(exc.details)
        sort = parse_sort(None)
    if errors:
        raise ValidationError("invalid list query: " + ", ".join(sorted(errors)), errors)
    return ListQuery(mongo, sort, page, per_page)


# -- model files -----------------------------------------------------------------

FILENAME_MAX = 255


def safe_filename(filename: Any, fmt: str) -> str:
    """The sanitised original name, kept as metadata only (never a path)."""
    from werkzeug.utils import secure_filename

    name = secure_filename(filename) if isinstance(filename, str) else ""
    if not name:
        extension = {"pickle": "pkl"}.get(fmt, fmt or "bin")
        name = f"model.{extension}"
    if len(name) > FILENAME_MAX:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: FILENAME_MAX - len(ext) - 1] + dot + ext) if dot else name[:FILENAME_MAX]
    return name


def input_schema_from(info: dict[str, Any]) -> list[dict[str, str]] | None:
    names = info.get("feature_names")
    if not names:
        return None
    types = info.get("feature_types") or []
    schema = []
    for index, name in enumerate(names):
        kind = types[index] if index < len(types) and types[index] else "number"
        schema.append({"name": str(name), "type": str(kind)})
    return schema
