"""DynamoDB: the environments table (conditional state transitions), the activity reports, the benchmarks."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from orchestrator.adapters.aws import table
from orchestrator.errors import AlreadyRecorded, EnvironmentConflict, EnvironmentNotFound, InvalidRequest
from orchestrator.models.record import ATTRIBUTES, BenchmarkRun, EnvironmentRecord, record_from_item, to_item
from orchestrator.observability import logger

# Who changed a record when no API caller did: the workflow, the idle sweep, the reconciler.
SYSTEM = "neuronlab"


def _to_item(data: dict[str, Any]) -> dict[str, Any]:
    """JSON-able dict (typed parts allowed) -> DynamoDB item (floats become Decimal, None values are dropped)."""
    return json.loads(json.dumps({k: to_item(v) for k, v in data.items() if v is not None}, default=str),
                      parse_float=Decimal)


def _known(names: Any) -> None:
    """Every attribute written to an environment record is a field of EnvironmentRecord."""
    unknown = set(names) - ATTRIBUTES
    if unknown:
        raise ValueError(f"not attributes of an environment record: {', '.join(sorted(unknown))}")


def _from_item(item: dict[str, Any]) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return plain(item)


class EnvironmentStore:
    def __init__(self, table_name: str) -> None:
        self._table = table(table_name)

    def get(self, name: str) -> EnvironmentRecord:
        item = self._table.get_item(Key={"name": name}, ConsistentRead=True).get("Item")
        if item is None:
            raise EnvironmentNotFound(f"environment {name!r} does not exist")
        return record_from_item(_from_item(item))

    def find(self, name: str) -> EnvironmentRecord | None:
        try:
            return self.get(name)
        except EnvironmentNotFound:
            return None

    def list(self) -> list[EnvironmentRecord]:
        # The environments table holds one small item per environment: a Scan is its listing.
        items: list[EnvironmentRecord] = []
        kwargs: dict[str, Any] = {}
        while True:
            page = self._table.scan(**kwargs)
            items += [record_from_item(_from_item(i)) for i in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return sorted(items, key=lambda i: i.name)
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def create(self, record: EnvironmentRecord) -> None:
        """Insert a new record; EnvironmentConflict when one exists."""
        try:
            self._table.put_item(Item=_to_item(to_item(record)), ConditionExpression=Attr("name").not_exists())
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise EnvironmentConflict(f"environment {record.name!r} already exists") from None
            raise

    def transition(self, name: str, expected: set[str], changes: dict[str, Any],
                   remove: tuple[str, ...] = (), by: str = SYSTEM) -> EnvironmentRecord:
        """Set `changes` only if the record's state is one of `expected`; two writers cannot both win.
        A change of state records who made it (`updatedBy`: the API's caller, or NeuronLab itself)."""
        _known([*changes, *remove])
        if "state" in changes:
            changes = {**changes, "updatedBy": by}
        values = _to_item(changes)
        names = {f"#{k}": k for k in [*values, *remove, "state"]}
        update = "SET " + ", ".join(f"#{k} = :{k}" for k in values)
        if remove:
            update += " REMOVE " + ", ".join(f"#{k}" for k in remove)
        expected_values = {f":expected{i}": s for i, s in enumerate(sorted(expected))}
        try:
            response = self._table.update_item(
                Key={"name": name},
                UpdateExpression=update,
                ConditionExpression=f"#state IN ({', '.join(expected_values)})",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={**{f":{k}": v for k, v in values.items()}, **expected_values},
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            current = self.find(name)
            state = current.state if current else "missing"
            raise EnvironmentConflict(
                f"environment {name!r} is {state}; expected {' or '.join(sorted(expected))}", state
            ) from None
        if "state" in changes:
            logger.info("state change", extra={"environment": name, "state": changes["state"], "by": by})
        return record_from_item(_from_item(response["Attributes"]))

    def claim_benchmark(self, name: str, run: BenchmarkRun, replacing: str | None) -> EnvironmentRecord:
        """Record `run` as the environment's one benchmark, if it is READY and no other run holds the slot
        (or the holder is `replacing`, a run that has ended without clearing it)."""
        free = "attribute_not_exists(benchmarkRun)"
        if replacing:
            free = f"({free} OR benchmarkRun.executionArn = :replacing)"
        try:
            response = self._table.update_item(
                Key={"name": name}, UpdateExpression="SET benchmarkRun = :run, updatedAt = :now",
                ConditionExpression=f"#state = :ready AND {free}", ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":run": _to_item(to_item(run)), ":now": run.started_at, ":ready": "READY",
                                           **({":replacing": replacing} if replacing else {})},
                ReturnValues="ALL_NEW")
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            current = self.get(name)
            holder = current.benchmark_run.execution_arn if current.benchmark_run else None
            raise EnvironmentConflict(f"environment {name!r} is {current.state}" + (
                f"; benchmark {holder} is running: wait for it" if holder else ""), current.state) from None
        return record_from_item(_from_item(response["Attributes"]))


def activity_report(table_name: str, name: str) -> dict[str, Any] | None:
    """The notebook task's latest activity report for environment `name` (written by its sidecar only)."""
    item = table(table_name).get_item(Key={"name": name}).get("Item")
    return _from_item(item["report"]) if item and "report" in item else None


# The key attributes a page of each listing ends on: a nextToken must be exactly that.
_PAGE_KEYS = {None: {"series", "runKey"}, "byEnvironment": {"series", "runKey", "environment"},
              "byKind": {"series", "runKey", "kind"}, "byModel": {"series", "runKey", "model"}}
# The partition holding one item per confirmed regression (a collection in the base table: no index to add)
REGRESSIONS = "#regressions"
# The partitions holding each model's comparison across instance types ("#compare#" + model)
COMPARISON = "#compare#"
# The partitions holding one pointer per run ("#run#" + run id) to its series and run key
RUNS = "#run#"
RUN_POINTER = "run"
# What change detection reads of each run in a series window
_WINDOW_ATTRIBUTES = ("runKey", "throughput", "latency_ms", "verdict", "changePoint", "versions", "image_digest",
                      "ami_id", "availability_zone", "compiler_args")


def _start_key(next_token: str, index: str | None) -> dict[str, str]:
    """A nextToken this API returned for this listing, decoded; anything else is a 400, never a 5xx."""
    try:
        key = json.loads(base64.b64decode(next_token.encode(), altchars=b"-_", validate=True))
    except (ValueError, UnicodeError):
        key = None
    if not (isinstance(key, dict) and set(key) == _PAGE_KEYS[index]
            and all(isinstance(v, str) and 0 < len(v) <= 1024 for v in key.values())):
        raise InvalidRequest("nextToken: not a token this API returned for this listing")
    return key


class BenchmarkStore:
    """Partition: series (model#instanceType#backend#workload); sort: runKey (start time#run id).

    Every listing is a Query that reads only what it returns (no FilterExpression): a series; the index
    byEnvironment (environment, runKey); byModel (model, runKey); byKind (kind, runKey) for everything; the
    partition REGRESSIONS, one item per confirmed regression; COMPARISON + model + workload, one item per instance
    type x backend. A run is found by its run id through its pointer (RUNS + run id).
    """

    def __init__(self, table_name: str) -> None:
        self._table = table(table_name)

    def put(self, item: dict[str, Any], only_new: bool = False) -> None:
        """Store a run and its run-id pointer (RUNS + run id: what `run()` reads) in one transaction.

        AlreadyRecorded when the run id names another run, when `only_new` and the history has this run, or when
        the run would replace one of another environment (a result a task can write never overwrites another
        environment's run)."""
        run = _to_item({**item, "kind": "benchmark"})
        if only_new:
            condition, values = "attribute_not_exists(runKey)", {}
        else:
            condition = "attribute_not_exists(runKey) OR environment = :environment"
            values = {":environment": run.get("environment", "")}
        pointer = {"series": f"{RUNS}{item['run_id']}", "runKey": RUN_POINTER, "kind": "run",
                   "target": {"series": item["series"], "runKey": item["runKey"]}}
        try:
            self._table.meta.client.transact_write_items(TransactItems=[
                {"Put": {"TableName": self._table.name, "Item": run, "ConditionExpression": condition,
                         **({"ExpressionAttributeValues": values} if values else {})}},
                {"Put": {"TableName": self._table.name, "Item": pointer,
                         "ConditionExpression": "attribute_not_exists(runKey) OR target = :target",
                         "ExpressionAttributeValues": {":target": pointer["target"]}}}])
        except ClientError as error:
            if error.response["Error"]["Code"] == "TransactionCanceledException":
                raise AlreadyRecorded(f"run {item['run_id']} ({item['runKey']} of {item['series']}) is already in "
                                      "the history, or its run id names another run") from None
            raise

    def run(self, run_id: str) -> dict[str, Any] | None:
        """A stored run by its run id (two reads: the pointer, then the run); None when there is none."""
        pointer = self._table.get_item(Key={"series": f"{RUNS}{run_id}", "runKey": RUN_POINTER}).get("Item")
        if not pointer:
            return None
        found = self._table.get_item(Key=pointer["target"]).get("Item")
        return _from_item(found) if found else None

    def series_window(self, series: str, before_run_key: str, limit: int) -> list[dict[str, Any]]:
        """The series' last `limit` runs before this one, oldest first (what change detection reads)."""
        response = self._table.query(
            KeyConditionExpression=Key("series").eq(series) & Key("runKey").lt(before_run_key),
            ScanIndexForward=False, Limit=limit,
            ProjectionExpression=", ".join(f"#{i}" for i in range(len(_WINDOW_ATTRIBUTES))),
            ExpressionAttributeNames={f"#{i}": name for i, name in enumerate(_WINDOW_ATTRIBUTES)})
        return [_from_item(i) for i in reversed(response["Items"])]

    def mark_change(self, series: str, run_key: str, change: dict[str, Any]) -> None:
        """Record a confirmed change on its first run: change detection starts a new segment there."""
        self._table.update_item(Key={"series": series, "runKey": run_key}, UpdateExpression="SET changePoint = :c",
                                ConditionExpression=Attr("runKey").exists(),
                                ExpressionAttributeValues={":c": _to_item(change)})

    def put_regression(self, item: dict[str, Any]) -> None:
        """One item per confirmed regression, keyed by its first bad run, in the REGRESSIONS partition."""
        self._table.put_item(Item=_to_item({**item, "series": REGRESSIONS, "kind": "regression"}))

    def put_comparison(self, model: str, workload: str, configuration: str, item: dict[str, Any]) -> None:
        """Replace the comparison item of `model` doing `workload` on one instance type x backend. Its identity
        under a key of its own (`compared`), so that it joins no index of runs."""
        identity = ("model", "instance_type", "backend", "workload")
        level = {k: v for k, v in item.items() if k not in identity}
        self._table.put_item(Item=_to_item({**level, "compared": {k: item[k] for k in identity},
                                            "series": f"{COMPARISON}{model}#{workload}", "runKey": configuration,
                                            "kind": "comparison"}))

    def comparison(self, model: str, workload: str, limit: int = 50,
                   next_token: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """A page of `model`'s comparison items for `workload`, one per instance type x backend."""
        items, token = self._page({"KeyConditionExpression": Key("series").eq(f"{COMPARISON}{model}#{workload}")},
                                  limit, next_token, newest_first=False)
        return [{**i.pop("compared"), **i} for i in items], token

    def regressions(self, since: str, limit: int = 50,
                    next_token: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """Confirmed regressions whose first bad run started at or after `since` (ISO time), newest first."""
        return self._page({"KeyConditionExpression": Key("series").eq(REGRESSIONS) & Key("runKey").gte(since)},
                          limit, next_token)

    def query(self, *, series: str | None = None, environment: str | None = None, model: str | None = None,
              limit: int = 50, next_token: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first. One of: a series, an environment, a model, or every run (byKind)."""
        if series:
            kwargs: dict[str, Any] = {"KeyConditionExpression": Key("series").eq(series)}
        elif environment:
            kwargs = {"IndexName": "byEnvironment", "KeyConditionExpression": Key("environment").eq(environment)}
        elif model:
            kwargs = {"IndexName": "byModel", "KeyConditionExpression": Key("model").eq(model)}
        else:
            kwargs = {"IndexName": "byKind", "KeyConditionExpression": Key("kind").eq("benchmark")}
        return self._page(kwargs, limit, next_token)

    def _page(self, kwargs: dict[str, Any], limit: int, next_token: str | None,
              newest_first: bool = True) -> tuple[list[dict[str, Any]], str | None]:
        if next_token:
            kwargs["ExclusiveStartKey"] = _start_key(next_token, kwargs.get("IndexName"))
        response = self._table.query(ScanIndexForward=not newest_first, Limit=limit, **kwargs)
        last = response.get("LastEvaluatedKey")
        token = base64.urlsafe_b64encode(json.dumps(last, default=str).encode()).decode() if last else None
        return [_from_item(i) for i in response["Items"]], token
