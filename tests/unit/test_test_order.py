"""The order make test's parallel workers get the tests in
(tests/conftest.py: worksteal_lanes)."""

from tests import conftest


def _shares(items, workers):
    """The contiguous shares xdist's worksteal hands out first."""
    shares, start, left = [], 0, len(items)
    for share in range(workers, 0, -1):
        size = left // share
        shares.append(items[start:start + size])
        start, left = start + size, left - size
    return shares


def test_each_share_starts_with_its_turn_of_the_long_tests():
    items = ["short%02d" % n for n in range(30)]
    for position in (3, 17, 18, 25, 29):
        items[position] = "long%02d" % position
    ordered = conftest.worksteal_lanes(items, 4,
                                       lambda item: item.startswith("long"))
    assert sorted(ordered) == sorted(items)
    shares = _shares(ordered, 4)
    assert [share[0] for share in shares] == ["long03", "long17", "long18",
                                              "long25"]
    assert shares[0][1] == "long29"
    assert [len(share) for share in shares] == [7, 7, 8, 8]
    # The short tests keep pytest's order (module fixtures stay together).
    shorts = [item for item in ordered if item.startswith("short")]
    assert shorts == [item for item in items if item.startswith("short")]


def test_more_long_tests_than_room_and_none_at_all():
    items = ["long%d" % n for n in range(5)] + ["short"]
    ordered = conftest.worksteal_lanes(items, 4,
                                       lambda item: item.startswith("long"))
    assert sorted(ordered) == sorted(items)
    assert ordered[:2] == ["long0", "long4"]
    plain = ["a", "b", "c"]
    assert conftest.worksteal_lanes(plain, 2, lambda item: False) == plain
