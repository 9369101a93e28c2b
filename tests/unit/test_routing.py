from bot.routing import least_loaded, next_round_robin


def test_round_robin_goes_around_in_id_order():
    agents = [7, 3, 5]
    picks, last = [], None
    for _ in range(4):
        last = next_round_robin(agents, last)
        picks.append(last)
    assert picks == [3, 5, 7, 3]


def test_round_robin_survives_the_last_agent_leaving_the_team():
    assert next_round_robin([3, 5], last_assigned=4) == 5
    assert next_round_robin([3, 5], last_assigned=9) == 3


def test_round_robin_with_nobody_gives_nobody():
    assert next_round_robin([], None) is None


def test_least_loaded_prefers_fewest_then_lowest_id():
    assert least_loaded({4: 2, 2: 1, 9: 1}) == 2
    assert least_loaded({}) is None
