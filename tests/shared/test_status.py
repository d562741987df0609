import pytest

from shared.status import IllegalTransition, StudyStatus, allowed_moves, check_transition

S = StudyStatus


def test_happy_path_is_legal() -> None:
    path = [S.RECEIVED, S.QUEUED, S.CLASSIFYING, S.RETRIEVING, S.DRAFTING, S.AWAITING_REVIEW, S.SIGNED_OFF, S.AMENDED]
    for current, target in zip(path, path[1:]):
        check_transition(current, target)


@pytest.mark.parametrize("current,target", [
    (S.RECEIVED, S.AWAITING_REVIEW),
    (S.AWAITING_REVIEW, S.QUEUED),
    (S.SIGNED_OFF, S.AWAITING_REVIEW),
    (S.REJECTED, S.SIGNED_OFF),
    (S.CANCELLED, S.QUEUED),
    (S.SIGNED_OFF, S.SIGNED_OFF),
])
def test_illegal_moves_raise(current: StudyStatus, target: StudyStatus) -> None:
    with pytest.raises(IllegalTransition):
        check_transition(current, target)


def test_every_status_has_moves_and_a_ups_state() -> None:
    for status in S:
        assert isinstance(allowed_moves(status), frozenset)
        assert status.ups_state in {"SCHEDULED", "IN PROGRESS", "COMPLETED", "CANCELED"}


def test_failed_study_can_be_retried() -> None:
    check_transition(S.FAILED, S.QUEUED)
    assert not S.FAILED.is_terminal
    assert S.SIGNED_OFF.is_terminal
