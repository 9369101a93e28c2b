import pytest

from bot.errors import ConfigError, InvalidTransition
from bot.model import Status
from bot.workflow import Workflow


def test_default_lifecycle_allows_the_usual_path_and_reopen():
    flow = Workflow.from_config({})
    path = [Status.OPEN, Status.IN_PROGRESS, Status.WAITING_CUSTOMER, Status.RESOLVED, Status.CLOSED]
    for current, target in zip(path, path[1:], strict=False):
        flow.check(current, target)
    flow.check(Status.RESOLVED, Status.OPEN)
    flow.check(Status.CLOSED, Status.OPEN)


def test_closed_ticket_cannot_jump_back_to_work():
    with pytest.raises(InvalidTransition, match="from closed to in_progress; from closed it can go to open"):
        Workflow.from_config({}).check(Status.CLOSED, Status.IN_PROGRESS)


def test_same_status_is_refused_with_a_clear_message():
    with pytest.raises(InvalidTransition, match="already open"):
        Workflow.from_config({}).check(Status.OPEN, Status.OPEN)


def test_configured_transitions_replace_the_default():
    flow = Workflow.from_config({"open": ["in_progress"], "in_progress": ["resolved"]})
    flow.check(Status.OPEN, Status.IN_PROGRESS)
    with pytest.raises(InvalidTransition, match="it can go to in_progress"):
        flow.check(Status.OPEN, Status.RESOLVED)
    with pytest.raises(InvalidTransition, match="nothing"):
        flow.check(Status.RESOLVED, Status.OPEN)


def test_unknown_status_in_config_names_the_option_and_the_statuses():
    with pytest.raises(ConfigError, match="status_transitions.*open, in_progress"):
        Workflow.from_config({"open": ["done"]})
