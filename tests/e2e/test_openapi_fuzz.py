"""schemathesis against the served OpenAPI document, bounded: for every documented operation,
generated requests (valid and not) never get a 5xx, and every documented response matches its
schema. Runs against the real API with a real tenant's key."""

from __future__ import annotations

import asyncio
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.conftest import new_tenant
from tests.fixtures.stack import Stack

EXAMPLES = 12  # per operation: bounded, so CI stays quick


def _check_every_operation(stack: Stack, key: str) -> list[str]:
    schema = schemathesis.openapi.from_url(f"{stack.rest_url}/schema/openapi.json")
    failures: list[str] = []
    operations = 0
    for loaded in schema.get_all_operations():
        operation = loaded.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,  # the same requests on every run: a failure reproduces
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case: Any) -> None:
            case.call_and_validate(
                base_url=stack.rest_url,
                headers={"Authorization": f"Bearer {key}"},
                checks=[not_a_server_error, response_schema_conformance],
                timeout=30,
            )

        try:
            check()
        except Exception as error:
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
    assert operations > 30, f"only {operations} operations in the served schema"
    return failures


async def test_no_operation_answers_5xx_or_off_its_schema(stack: Stack) -> None:
    facts = await new_tenant(stack)
    failures = await asyncio.to_thread(_check_every_operation, stack, facts["api_key"])
    assert not failures, "\n\n".join(failures)
