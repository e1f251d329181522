from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from returnhub.domain.errors import IllegalTransition
from returnhub.domain.lifecycle import (
    FINAL_STATES,
    TRANSITIONS,
    ReturnAction,
    ReturnState,
    allowed_actions,
    next_state,
)


@pytest.mark.parametrize("transition", TRANSITIONS, ids=lambda t: f"{t.source}-{t.action}")
def test_every_table_row_moves(transition: object) -> None:
    from returnhub.domain.lifecycle import Transition

    assert isinstance(transition, Transition)
    assert next_state(transition.source, transition.action) is transition.target


def test_illegal_move_lists_allowed() -> None:
    with pytest.raises(IllegalTransition) as caught:
        next_state(ReturnState.REQUESTED, ReturnAction.PROCESS)
    assert caught.value.allowed == ["authorize", "reject", "cancel", "expire", "flag"]
    assert caught.value.errors[0].message == (
        "cannot process a return that is requested; allowed from requested: "
        "authorize, reject, cancel, expire, flag"
    )


def test_final_states_allow_nothing() -> None:
    for state in FINAL_STATES:
        assert allowed_actions(state) == []
    with pytest.raises(IllegalTransition) as caught:
        next_state(ReturnState.CLOSED, ReturnAction.REOPEN)
    assert "none (the return is final)" in caught.value.message


def test_every_state_is_reachable_from_requested() -> None:
    seen = {ReturnState.REQUESTED}
    frontier = [ReturnState.REQUESTED]
    while frontier:
        state = frontier.pop()
        for t in TRANSITIONS:
            if t.source is state and t.target not in seen:
                seen.add(t.target)
                frontier.append(t.target)
    assert seen == set(ReturnState)


@given(st.lists(st.sampled_from(list(ReturnAction)), max_size=30))
def test_random_action_sequences_only_follow_the_table(actions: list[ReturnAction]) -> None:
    state = ReturnState.REQUESTED
    legal = {(t.source, t.action): t.target for t in TRANSITIONS}
    for action in actions:
        if (state, action) in legal:
            expected = legal[(state, action)]
            state = next_state(state, action)
            assert state is expected
        else:
            with pytest.raises(IllegalTransition):
                next_state(state, action)
    assert state in set(ReturnState)
