"""The kept statistics answers: one computation per key at a time, and a waiter is not
left without an answer when the request computing it goes away."""

from __future__ import annotations

import asyncio

import pytest

from services.stats.answers import Answers


async def test_waiters_compute_again_when_the_computing_request_is_cancelled():
    answers = Answers()
    started = asyncio.Event()

    async def slow(_now):
        started.set()
        await asyncio.sleep(30)
        return b"never"

    async def quick(_now):
        return b"{}"

    leader = asyncio.create_task(answers.get("k", slow))
    await started.wait()
    waiter = asyncio.create_task(answers.get("k", quick))
    await asyncio.sleep(0)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert (await asyncio.wait_for(waiter, 5)).body == b"{}"
    assert answers.computed == 1


async def test_a_failed_computation_fails_its_waiters_and_is_not_kept():
    answers = Answers()
    release = asyncio.Event()

    async def failing(_now):
        await release.wait()
        raise RuntimeError("database gone")

    leader = asyncio.create_task(answers.get("k", failing))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(answers.get("k", failing))
    await asyncio.sleep(0)
    release.set()
    for task in (leader, waiter):
        with pytest.raises(RuntimeError):
            await task

    async def ok(_now):
        return b"{}"

    assert (await answers.get("k", ok)).body == b"{}"


async def test_at_most_max_keys_answers_are_kept():
    answers = Answers(max_keys=4)

    async def body(_now):
        return b"{}"

    for k in range(10):
        await answers.get(k, body)
    assert 1 <= len(answers._kept) <= 4  # noqa: SLF001
    assert answers.fresh(9, answers._kept[9].computed_at) is not None  # noqa: SLF001
