"""Load-test scenarios: each drives bots through one kind of conference activity."""
