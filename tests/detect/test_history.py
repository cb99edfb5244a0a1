import numpy as np

from rca_service.detect.history import SignalRows


def test_rows_with_changing_signal_sets_become_one_matrix():
    rows = SignalRows(maxlen=3)
    rows.append(["b", "a"], np.array([2.0, 1.0]))
    rows.append(["a", "c"], np.array([3.0, np.nan]))
    rows.append(["a"], np.array([4.0]))
    rows.append(["c"], np.array([5.0]))  # the first row falls out
    signals, m = rows.matrix()
    assert len(rows) == 3
    assert signals == ["a", "c"]
    np.testing.assert_array_equal(m, [[3.0, np.nan], [4.0, np.nan], [np.nan, 5.0]])


def test_rows_copy_values_and_round_trip_through_dicts():
    rows = SignalRows(maxlen=10)
    v = np.array([1.0, np.nan])
    rows.append(["x", "y"], v)
    v[0] = 99.0  # the caller reuses its buffer
    assert rows.to_dicts() == [{"x": 1.0}]
    again = SignalRows(maxlen=10)
    again.extend_dicts(rows.to_dicts())
    assert again.matrix()[0] == ["x"] and again.matrix()[1].tolist() == [[1.0]]


def test_rows_with_one_signal_set_stack_in_sorted_column_order():
    rows = SignalRows(maxlen=5)
    for i in range(4):
        rows.append(["b", "a", "c"], np.array([i, 10.0 + i, np.nan if i == 2 else 20.0 + i]))
    signals, m = rows.matrix()
    assert signals == ["a", "b", "c"]
    np.testing.assert_array_equal(m[:, 0], [10, 11, 12, 13])
    np.testing.assert_array_equal(m[2], [12.0, 2.0, np.nan])
