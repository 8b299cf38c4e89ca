"""The hot pages cost a fixed number of queries, however many tickets or cases there are."""

import pytest


@pytest.fixture
def count_queries(statements):
    return lambda fn: len(statements(fn))


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
