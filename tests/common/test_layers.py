"""`hf_methods.common.layers.parse_layers`: layer selections written as text."""

import pytest

from hf_methods.common.layers import parse_layers


@pytest.mark.parametrize(
    "spec,num_layers,expected",
    [
        (None, 30, None),
        ("", 30, None),
        ("all", 30, None),
        (" ALL ", None, None),
        ("22-24", 30, [22, 23, 24]),
        ("0,5,7", 30, [0, 5, 7]),
        ("7,0,5,5", 30, [0, 5, 7]),
        ("2-4,9", 30, [2, 3, 4, 9]),
        ("3-5,4-6", None, [3, 4, 5, 6]),
        ("last2", 30, [28, 29]),
        ("last40", 30, list(range(30))),
        ("4", 5, [4]),
    ],
)
def test_parse_layers(spec, num_layers, expected):
    assert parse_layers(spec, num_layers) == expected


@pytest.mark.parametrize(
    "spec,num_layers,match",
    [
        ("a-b", 30, "must look like"),
        ("1,,2", 30, "must look like"),
        ("-3", 30, "must look like"),
        ("5-", 30, "must look like"),
        ("9-3", 30, "is empty"),
        ("last", 30, "positive N"),
        ("last0", 30, "positive N"),
        ("last4", None, "known number of layers"),
        ("28-31", 30, r"in \[0, 30\), got \[30, 31\]"),
    ],
)
def test_bad_specs_raise_naming_the_argument(spec, num_layers, match):
    with pytest.raises(ValueError, match=match) as error:
        parse_layers(spec, num_layers, name="--act_layers")
    assert "--act_layers" in str(error.value)
