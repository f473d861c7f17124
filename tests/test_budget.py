import asyncio
import random
import threading

import pytest

from hia import Budget, BudgetExhausted, InputError


def test_reserve_commit_release():
    budget = Budget(2)
    a = budget.reserve()
    b = budget.reserve()
    assert budget.remaining == 0 and budget.try_reserve() is None
    with pytest.raises(BudgetExhausted):
        budget.reserve()
    a.commit()
    b.release()
    assert (budget.used, budget.reserved, budget.remaining) == (1, 0, 1)
    a.commit()  # settling twice changes nothing
    assert budget.used == 1


def test_context_manager_releases_unless_committed():
    budget = Budget(1)
    with pytest.raises(RuntimeError):
        with budget.reserve():
            raise RuntimeError("call failed")
    assert budget.remaining == 1
    with budget.reserve() as r:
        r.commit()
    assert budget.used == 1 and budget.remaining == 0


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True, None])
def test_budget_must_be_a_positive_whole_number(bad):
    with pytest.raises(InputError, match="budget"):
        Budget(bad)


def test_threads_never_overspend():
    budget = Budget(50)
    committed = []
    lock = threading.Lock()

    def worker():
        for _ in range(40):
            r = budget.try_reserve()
            if r is None:
                return
            if random.random() < 0.3:
                r.release()  # a failed call gives its unit back
            else:
                r.commit()
                with lock:
                    committed.append(1)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(committed) == budget.used == 50
    assert budget.reserved == 0


def test_asyncio_tasks_never_overspend():
    budget = Budget(30)

    async def worker():
        spent = 0
        while (r := budget.try_reserve()) is not None:
            await asyncio.sleep(random.random() / 1000)  # the "call", awaited while reserved
            r.commit()
            spent += 1
        return spent

    async def main():
        return sum(await asyncio.gather(*(worker() for _ in range(64))))

    assert asyncio.run(main()) == 30 == budget.used
