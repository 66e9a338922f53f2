"""Task names and branch names: hostile input is refused or made safe, never passed through."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kasmos.supervisor.errors import InvalidArgument
from kasmos.workers.git.naming import check_branch, check_ref_problem, sanitize, task_branch
from kasmos.workers.store import names


@pytest.mark.parametrize(
    ("raw", "slug"),
    [
        ("Auth Refactor", "auth-refactor"),
        ("; rm -rf ~", "rm-rf"),
        ("$(id)", "id"),
        ("--a--b--", "a-b"),
        ("x/y/", "x/y"),
    ],
)
def test_sanitize(raw: str, slug: str) -> None:
    assert sanitize(raw) == slug


@pytest.mark.parametrize("name", ["; rm -rf ~", "$(id)", "日本語", "..", "a..b", "---", "x.lock", "a@{b"])
def test_task_branch_is_always_a_valid_ref(name: str) -> None:
    branch = task_branch(name)
    assert branch.startswith("plan/")
    assert check_ref_problem(branch) is None


@given(st.text(max_size=300))
def test_task_branch_valid_for_any_text(name: str) -> None:
    assert check_ref_problem(task_branch(name)) is None


@pytest.mark.parametrize(
    "bad",
    ["", "-x", "a..b", "a b", "a~b", "a:b", "x/", "/x", "a//b", ".x", "x.lock", "a\nb", "a@{1}", "x" * 300],
)
def test_check_branch_refuses(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        check_branch(bad)


@pytest.mark.parametrize("ok", ["; rm -rf ~", "$(id)", "日本語のタスク", "auth-refactor", "a b"])
def test_task_names_stored_verbatim(ok: str) -> None:
    assert names.normalize(ok) == ok
    assert names.normalize(ok + ".md") == ok


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "  ",
        "../../etc",
        "a/b",
        "a\\b",
        "line\nbreak",
        "tab\there",
        "nul\x00",
        ".hidden",
        "..",
        "x" * 300,
        " pad",
    ],
)
def test_task_names_refused(bad: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        names.normalize(bad)
    assert info.value.one_line().startswith("error: invalid task name")
    assert "\n" not in info.value.one_line()
