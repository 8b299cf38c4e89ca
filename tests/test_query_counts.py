"""The hot pages cost a fixed number of queries, however many tickets or cases there are."""

import pytest
from sqlalchemy import event


@pytest.fixture
def count_queries(db):
    def run(fn) -> int:
        seen = []

        def before(*_args, **_kwargs):
            seen.append(1)

        event.listen(db.engine, "before_cursor_execute", before)
        try:
            fn()
        finally:
            event.remove(db.engine, "before_cursor_execute", before)
        return len(seen)

    return run


def test_case_view_queue_and_public_status_do_not_grow_with_the_data(
    client, users, submit, deliver_all, count_queries
):
    one = submit(services=["water"])
    four = submit()
    deliver_all()
    h = users["supervisor"][1]
    client.get("/api/v1/cases/none", headers=h)  # warm: the token's user is then known
    small = count_queries(lambda: client.get(f"/api/v1/cases/{one['reference']}", headers=h))
    big = count_queries(lambda: client.get(f"/api/v1/cases/{four['reference']}", headers=h))
    assert big == small

    q1 = count_queries(lambda: client.get("/api/v1/providers/zz-water/tickets", headers=h))
    for _ in range(5):
        submit(services=["water"])
    deliver_all()
    client.get("/api/v1/cases/none", headers=h)  # warm again after the commits
    q6 = count_queries(lambda: client.get("/api/v1/providers/zz-water/tickets", headers=h))
    assert q6 == q1

    url = f"/api/v1/public/cases/{four['reference']}?code={four['query_code']}"
    public = count_queries(lambda: client.get(url))
    assert public <= 15
